//! Exotel's only authentication: the secret path segment of its URLs (`reference/exotel.md` §5:
//! "no signatures on applet or callback requests").

use subtle::ConstantTimeEq;

/// True when the secret in the request path is the configured one, compared in constant time.
pub fn secret_matches(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_matches() {
        assert!(secret_matches("s3cret-path-segment", "s3cret-path-segment"));
        assert!(!secret_matches(
            "s3cret-path-segmenT",
            "s3cret-path-segment"
        ));
        assert!(!secret_matches("s3cret", "s3cret-path-segment"));
        assert!(!secret_matches("", "s3cret-path-segment"));
    }
}
