//! `X-Twilio-Signature` (https://www.twilio.com/docs/usage/webhooks/webhooks-security;
//! twilio-python `twilio/request_validator.py`; `reference/providers.md` §1.3).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The signature Twilio computes: Base64(HMAC-SHA1(auth token, URL + each POST parameter's
/// name and value, sorted by name, then value)). For a GET, `params` is empty: the parameters
/// are in the URL.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `header` is Twilio's signature of this request. Like Twilio's own validators, it
/// accepts the URL with the port as given, without it, and with the scheme's default port
/// added, "since signature generation on the back end is inconsistent". Constant-time compare.
pub fn is_valid(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let header = header.trim().as_bytes();
    url_variants(url).iter().any(|candidate| {
        let expected = signature(auth_token, candidate, params);
        expected.len() == header.len() && bool::from(expected.as_bytes().ct_eq(header))
    })
}

/// `url` as given, without its port, and with the scheme's default port.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let (authority, path) = rest
        .find(['/', '?'])
        .map_or((rest, ""), |i| rest.split_at(i));
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    out.push(format!("{scheme}://{host}{path}"));
    out.push(format!("{scheme}://{host}:{default_port}{path}"));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Twilio's documented example (webhooks-security page).
    #[test]
    fn twilios_own_test_vector_matches() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(is_valid(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn a_tampered_parameter_a_wrong_url_or_token_fail() {
        let params = pairs(&[("CallSid", "CA1"), ("Digits", "1234")]);
        let url = "https://example.com/twilio/pin";
        let good = signature("token", url, &params);
        assert!(is_valid("token", url, &params, &good));
        assert!(!is_valid(
            "token",
            url,
            &pairs(&[("CallSid", "CA1"), ("Digits", "1235")]),
            &good
        ));
        assert!(!is_valid(
            "token",
            "https://example.com/twilio/voice",
            &params,
            &good
        ));
        assert!(!is_valid("other", url, &params, &good));
        assert!(!is_valid("token", url, &params, ""));
    }

    #[test]
    fn the_port_variants_twilio_uses_are_accepted() {
        let params = pairs(&[("CallSid", "CA1")]);
        let signed_with_port = signature("t", "https://example.com:443/twilio/voice?x=1", &params);
        assert!(is_valid(
            "t",
            "https://example.com/twilio/voice?x=1",
            &params,
            &signed_with_port
        ));
        let signed_without = signature("t", "https://example.com/twilio/voice", &params);
        assert!(is_valid(
            "t",
            "https://example.com:443/twilio/voice",
            &params,
            &signed_without
        ));
        assert!(!is_valid(
            "t",
            "https://example.com:8443/twilio/other",
            &params,
            &signed_without
        ));
    }
}
