//! 8x8's webhook authentication: none is signed (`reference/providers.md` §3.5: "No HMAC or
//! signature scheme is documented for Voice webhooks"). What remains is the secret path segment
//! of the URLs, and the static `httpAuthHeader` a webhook may be created with
//! (`docs/connect/reference/create-a-new-webhook.api.mdx`: "<optional> Add authentification
//! header"), which 8x8 is taken to send as the `Authorization` header.

use crate::providers::exotel;

/// True when the secret in the request path is the configured one, compared in constant time
/// (the same check as Exotel's URLs).
pub fn secret_matches(given: &str, expected: &str) -> bool {
    exotel::auth::secret_matches(given, expected)
}

/// True when the request may pass: no header is configured, or the `Authorization` header is
/// exactly the configured `httpAuthHeader` value (byte for byte), compared in constant time. A
/// missing header never matches.
pub fn authorization_matches(configured: Option<&str>, header: Option<&[u8]>) -> bool {
    let Some(expected) = configured else {
        return true;
    };
    header
        .and_then(|h| std::str::from_utf8(h).ok())
        .is_some_and(|given| exotel::auth::secret_matches(given, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_configured_header_any_request_passes() {
        assert!(authorization_matches(None, None));
        assert!(authorization_matches(None, Some(b"anything")));
    }

    #[test]
    fn a_configured_header_must_be_sent_exactly() {
        let expected = Some("Basic cGluYnJpZGdlOnMzY3JldA==");
        assert!(authorization_matches(
            expected,
            Some(b"Basic cGluYnJpZGdlOnMzY3JldA==")
        ));
        assert!(!authorization_matches(expected, None));
        assert!(!authorization_matches(expected, Some(b"")));
        assert!(!authorization_matches(
            expected,
            Some(b"basic cGluYnJpZGdlOnMzY3JldA==")
        ));
        assert!(!authorization_matches(
            expected,
            Some(b"Basic cGluYnJpZGdlOnMzY3JldA== ")
        ));
        assert!(!authorization_matches(expected, Some(&[0xff, 0xfe])));
    }

    #[test]
    fn the_path_secret_is_the_exact_one() {
        assert!(secret_matches("abc123", "abc123"));
        assert!(!secret_matches("abc124", "abc123"));
        assert!(!secret_matches("", "abc123"));
    }
}
