//! Who may reach pinbridge: the admin tokens, the proxies whose `X-Forwarded-For` is
//! believed, and the networks Exotel and 8x8 webhooks may come from.

use anyhow::{Context, bail};
use ipnet::IpNet;

use crate::domain::token_digest;

use super::raw::Raw;

/// The shortest admin token accepted, in characters.
const ADMIN_TOKEN_MIN_LEN: usize = 16;

/// Access to the admin API and UI, and to the webhooks of the providers that sign nothing.
#[derive(Debug, Clone)]
pub struct Access {
    /// The admin tokens: each entry of `PINBRIDGE_ADMIN_TOKENS` (`name:token[:pii],...`, so one
    /// can be rotated without downtime), then `PINBRIDGE_ADMIN_TOKEN` as `admin` (with pii).
    /// Tokens marked `:pii` see full phone numbers in the admin API; the others see them
    /// masked. Empty: one is generated on the first start, printed once, and only its SHA-256
    /// is stored in the database.
    pub admin_tokens: Vec<AdminToken>,
    /// `PINBRIDGE_TRUSTED_PROXIES`: CIDR list of the proxies in front of pinbridge; only a
    /// request from one of them may name its client in `X-Forwarded-For`. Default: none.
    pub trusted_proxies: Vec<IpNet>,
    /// `PINBRIDGE_ALLOWED_SOURCE_NETWORKS`: CIDR list (`203.0.113.0/24,2001:db8::/32`); when
    /// set, Exotel and 8x8 webhooks from other addresses get 403. `None`: any address.
    pub allowed_source_networks: Option<Vec<IpNet>>,
}

/// One admin token as kept in memory: its name, its SHA-256, and whether it may see full
/// numbers. The token itself is not kept, so it can not leak from here.
#[derive(Clone)]
pub struct AdminToken {
    /// The name logged for what it does (`admin` for `PINBRIDGE_ADMIN_TOKEN`).
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// May see full phone numbers (and choose PINs).
    pub pii: bool,
}

impl AdminToken {
    /// The token `token`, kept as its digest.
    pub fn new(name: &str, token: &str, pii: bool) -> Self {
        Self {
            name: name.to_owned(),
            sha256: token_digest(token),
            pii,
        }
    }
}

/// Neither the token nor its digest prints.
impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("pii", &self.pii)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Errors: a malformed `PINBRIDGE_ADMIN_TOKENS` entry, a token shorter than 16
    /// characters, or a network that is not one; each naming the setting.
    pub(super) fn parse(raw: &Raw) -> anyhow::Result<Self> {
        let mut admin_tokens = match &raw.admin_tokens {
            Some(list) => admin_tokens(list)?,
            None => Vec::new(),
        };
        if let Some(token) = &raw.admin_token {
            if token.len() < ADMIN_TOKEN_MIN_LEN {
                bail!("PINBRIDGE_ADMIN_TOKEN must be at least 16 characters");
            }
            admin_tokens.push(AdminToken::new("admin", token, true));
        }
        Ok(Self {
            admin_tokens,
            trusted_proxies: raw
                .trusted_proxies
                .as_deref()
                .map(|list| networks(list, "PINBRIDGE_TRUSTED_PROXIES"))
                .transpose()?
                .unwrap_or_default(),
            allowed_source_networks: raw
                .allowed_source_networks
                .as_deref()
                .map(|list| networks(list, "PINBRIDGE_ALLOWED_SOURCE_NETWORKS"))
                .transpose()?,
        })
    }
}

/// The entries of `PINBRIDGE_ADMIN_TOKENS`: `name:token` or `name:token:pii`, comma-separated.
fn admin_tokens(list: &str) -> anyhow::Result<Vec<AdminToken>> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(token)) = (parts.next(), parts.next()) else {
                bail!("PINBRIDGE_ADMIN_TOKENS: each entry is name:token or name:token:pii");
            };
            let pii = match parts.next() {
                None => false,
                Some("pii") => true,
                Some(_) => {
                    bail!("PINBRIDGE_ADMIN_TOKENS: the third part of an entry can only be pii")
                }
            };
            if name.is_empty() || token.len() < ADMIN_TOKEN_MIN_LEN {
                bail!(
                    "PINBRIDGE_ADMIN_TOKENS: {name:?} needs a name and a token of at least 16 characters"
                );
            }
            Ok(AdminToken::new(name, token, pii))
        })
        .collect()
}

/// A comma-separated list of CIDR networks (a bare address is a network of one), the value of
/// the setting `name`. Errors name the setting and the entry.
fn networks(list: &str, name: &str) -> anyhow::Result<Vec<IpNet>> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                .with_context(|| format!("{name}: {n:?} is not a CIDR network such as 10.0.0.0/8"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;
    use crate::domain::token_digest;

    #[test]
    fn admin_tokens_are_read_as_written_and_kept_as_digests() {
        let s = load_env(&[
            (
                "PINBRIDGE_ADMIN_TOKENS",
                "ops:ops-token-0123456789:pii,ci:ci-token-0123456789ab",
            ),
            ("PINBRIDGE_ADMIN_TOKEN", "the-admin-token-0123"),
        ])
        .unwrap();
        let tokens = &s.access.admin_tokens;
        assert_eq!(tokens.len(), 3);
        assert_eq!(
            (tokens[0].name.as_str(), tokens[0].sha256, tokens[0].pii),
            ("ops", token_digest("ops-token-0123456789"), true)
        );
        assert_eq!((tokens[1].name.as_str(), tokens[1].pii), ("ci", false));
        assert_eq!(
            (tokens[2].name.as_str(), tokens[2].sha256, tokens[2].pii),
            ("admin", token_digest("the-admin-token-0123"), true)
        );
        for (name, bad) in [
            ("PINBRIDGE_ADMIN_TOKENS", "ops:short"),
            ("PINBRIDGE_ADMIN_TOKENS", "ops"),
            ("PINBRIDGE_ADMIN_TOKENS", "ops:ops-token-0123456789:admin"),
            ("PINBRIDGE_ADMIN_TOKEN", "short"),
        ] {
            let e = load_env(&[(name, bad)]).unwrap_err().to_string();
            assert!(e.contains(name), "{bad}: {e}");
        }
    }

    #[test]
    fn networks_are_read_once_and_a_bad_one_names_its_setting() {
        let s = load_env(&[
            ("PINBRIDGE_ALLOWED_SOURCE_NETWORKS", "10.0.0.0/8, 192.0.2.7"),
            ("PINBRIDGE_TRUSTED_PROXIES", "2001:db8::/32"),
        ])
        .unwrap();
        let allowed = s.access.allowed_source_networks.unwrap();
        assert_eq!(allowed.len(), 2);
        assert!(allowed[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(s.access.trusted_proxies.len(), 1);
        let defaults = load_env(&[]).unwrap();
        assert_eq!(defaults.access.allowed_source_networks, None);
        assert!(defaults.access.trusted_proxies.is_empty());
        for name in [
            "PINBRIDGE_ALLOWED_SOURCE_NETWORKS",
            "PINBRIDGE_TRUSTED_PROXIES",
        ] {
            let e = load_env(&[(name, "10.0.0.0/33")]).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
