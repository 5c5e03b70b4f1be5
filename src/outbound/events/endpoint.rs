//! Where events may be posted: the checks on `PINBRIDGE_EVENTS_URL` at load, and the resolver
//! that never connects to a link-local or unspecified address (the cloud metadata service),
//! whatever a host name resolves to at delivery time.

/// Why an events URL ([`check_endpoint`]) is refused. Each message reads after the name of
/// the setting (`PINBRIDGE_EVENTS_URL must be ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("is not a URL such as https://hooks.example.com/pinbridge")]
    NotAUrl,
    #[error("must be an https:// URL, not {0}://")]
    Scheme(String),
    #[error("has no host")]
    NoHost,
    #[error(
        "must be https://; http:// is allowed only to a loopback host (127.0.0.0/8, ::1, localhost) with PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK=true, for local testing"
    )]
    PlainHttp,
    #[error(
        "must not point at a link-local, unspecified, multicast or broadcast address (such as the cloud metadata service 169.254.169.254)"
    )]
    ForbiddenAddress,
}

/// Checks an events URL (`PINBRIDGE_EVENTS_URL`) before anything is posted to it: https
/// only, so events and their signatures travel encrypted; http only to a loopback host
/// (127.0.0.0/8, `::1`, `localhost`) and only with `allow_http_loopback`
/// (`PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK`, for a receiver on the same machine in tests);
/// never a host that is a link-local (169.254.0.0/16, fe80::/10, where clouds serve their
/// metadata and credentials), unspecified (0.0.0.0/8, `::`, which reach the local host),
/// multicast or broadcast address, whatever the scheme. Other schemes (`file`, `gopher`)
/// are refused. Host names are checked again when they are resolved ([`forbidden_address`]).
///
/// Errors: [`EndpointError`], naming what is wrong.
pub fn check_endpoint(raw: &str, allow_http_loopback: bool) -> Result<(), EndpointError> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| EndpointError::NotAUrl)?;
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(EndpointError::Scheme(scheme.chars().take(16).collect()));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(EndpointError::NoHost)?;
    // The URL parser writes an IP literal host in its canonical form (`0xa9.0xfe.0xa9.0xfe`
    // becomes `169.254.169.254`), IPv6 in brackets.
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok();
    if ip.is_some_and(forbidden_address) {
        return Err(EndpointError::ForbiddenAddress);
    }
    if scheme == "http" {
        let loopback = match ip {
            Some(ip) => canonical(ip).is_loopback(),
            None => host.eq_ignore_ascii_case("localhost"),
        };
        if !(allow_http_loopback && loopback) {
            return Err(EndpointError::PlainHttp);
        }
    }
    Ok(())
}

/// `ip`, with an IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) as the IPv4 one it maps.
fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

/// Whether events must never be posted to `ip`: a link-local address (169.254.0.0/16,
/// fe80::/10: the cloud metadata service), an unspecified one (0.0.0.0/8, `::`: the local
/// host on Linux), multicast or broadcast. IPv4-mapped IPv6 addresses count as their IPv4.
pub fn forbidden_address(ip: std::net::IpAddr) -> bool {
    match canonical(ip) {
        std::net::IpAddr::V4(v4) => {
            v4.is_link_local() || v4.octets()[0] == 0 || v4.is_multicast() || v4.is_broadcast()
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast()
        }
    }
}

/// The system resolver, keeping only the addresses [`forbidden_address`] allows: a host
/// name that resolves to the metadata service (or is rebound to it later) is never
/// connected to, though the name passed [`check_endpoint`].
pub(in crate::outbound) struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::task::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0))
                    .map(Iterator::collect::<Vec<_>>)
            })
            .await??;
            let allowed: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| !forbidden_address(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(
                    "the events host resolves only to link-local or unspecified addresses".into(),
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_addresses_of_the_metadata_service_are_never_connected_to() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "::",
        ] {
            assert!(forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "::1", "10.0.0.7", "203.0.113.9", "2001:db8::7"] {
            assert!(!forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn host_names_resolve_without_their_link_local_or_unspecified_addresses() {
        use reqwest::dns::Resolve;
        let name = |n: &str| n.parse::<reqwest::dns::Name>().unwrap();
        let local: Vec<_> = GuardedResolver
            .resolve(name("localhost"))
            .await
            .unwrap()
            .collect();
        assert!(!local.is_empty());
        assert!(local.iter().all(|a| a.ip().is_loopback()), "{local:?}");
        // The system resolver reads numeric names as the address they spell.
        for metadata in ["169.254.169.254", "0.0.0.0", "fe80::1"] {
            let refused = GuardedResolver.resolve(name(metadata)).await;
            assert!(refused.is_err(), "{metadata} was resolved");
        }
    }
}
