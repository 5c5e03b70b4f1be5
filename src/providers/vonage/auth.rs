//! Vonage signed webhooks: `Authorization: Bearer <JWT>`, HS256 with the account's signature
//! secret, whose `payload_hash` claim is the SHA-256 of the request payload ("Decoding signed
//! webhooks", https://developer.vonage.com/en/getting-started/concepts/webhooks#decoding-signed-webhooks;
//! `reference/providers.md` §4).
//!
//! The JWT's claims are `iat`, `jti`, `iss` (`Vonage`), `payload_hash`, `api_key` and
//! `application_id`; there is no `exp`, so none is required (one that is present is still
//! checked). A token is also held to its age ([`fresh`]): issued at most [`MAX_TOKEN_AGE`]
//! ago, and its `jti`, which the route accepts once, bounds replays to none at all. Vonage
//! retries a webhook at most once, about a second after a failed delivery
//! (`reference/providers.md` §4, "Timeouts and retries").

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The oldest token accepted, by its `iat`: generous beside Vonage's one retry a second after
/// a failed delivery, and short enough that a token captured from any event is useless soon.
pub const MAX_TOKEN_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// How far in the future an `iat` may lie: Vonage's clock and ours may differ a little.
pub const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest `jti` accepted (Vonage sends a UUID).
const MAX_JTI_LEN: usize = 128;

/// The claims pinbridge reads from Vonage's JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// Issued at, unix seconds.
    #[serde(default)]
    pub iat: Option<i64>,
    /// The token's unique id: each is accepted once.
    #[serde(default)]
    pub jti: Option<String>,
    /// Lowercase hex SHA-256 of the request body.
    #[serde(default)]
    pub payload_hash: Option<String>,
    #[serde(default)]
    pub application_id: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
}

/// What a request has to be checked against.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// A request with a body (POST): the `payload_hash` claim must be its SHA-256.
    Body(&'a [u8]),
    /// A GET, the answer webhook's default method: the signature alone is checked.
    ///
    /// Vonage's documents do not say reliably what `payload_hash` is over for a GET. Vonage
    /// support says to hash a JSON object of the query parameters, in the order received and
    /// without whitespace (https://api.support.vonage.com/hc/en-us/articles/19033783342876),
    /// and a public implementation reports that hashing the raw query string failed on real
    /// answer webhooks while that JSON form matched (`reference/providers.md` §4). Rebuilding
    /// JSON byte for byte (number or string values, escaping, key order) from a decoded query is
    /// a guess that would refuse real calls on any mismatch; the HS256 signature over the
    /// secret still proves the token is Vonage's.
    Query,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no Authorization: Bearer token")]
    MissingToken,
    #[error("the token is not an HS256 JWT signed with the signature secret")]
    BadToken,
    #[error("the token has no payload_hash claim")]
    MissingPayloadHash,
    #[error("the payload_hash claim does not match the body")]
    PayloadHashMismatch,
    #[error("the token has no iat, or was issued too long ago or in the future")]
    Stale,
    #[error("the token has no usable jti claim")]
    MissingJti,
}

/// The token's `jti`, when the token is fresh at `now_secs` (unix seconds): issued no more
/// than [`MAX_TOKEN_AGE`] ago and no more than [`CLOCK_SKEW`] ahead, with a `jti` of at most
/// 128 visible ASCII characters. The caller then accepts that `jti` once.
///
/// Errors: [`Refusal::Stale`] without an `iat` or outside that window;
/// [`Refusal::MissingJti`] without a usable `jti`.
pub fn fresh(claims: &Claims, now_secs: i64) -> Result<&str, Refusal> {
    let iat = claims.iat.ok_or(Refusal::Stale)?;
    let oldest = now_secs.saturating_sub(MAX_TOKEN_AGE.as_secs().cast_signed());
    let newest = now_secs.saturating_add(CLOCK_SKEW.as_secs().cast_signed());
    if !(oldest..=newest).contains(&iat) {
        return Err(Refusal::Stale);
    }
    claims
        .jti
        .as_deref()
        .filter(|j| {
            !j.is_empty() && j.len() <= MAX_JTI_LEN && j.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or(Refusal::MissingJti)
}

/// Lowercase hex SHA-256 of `body`: what Vonage puts in `payload_hash`.
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The token of an `Authorization` header value: `Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Verifies a Vonage webhook: `authorization` is the `Authorization` header value, if any.
/// The token must be an HS256 JWT signed with `secret` (no other algorithm is accepted); for a
/// [`Payload::Body`], its `payload_hash` must be the body's SHA-256 (compared in constant time).
pub fn verify(
    secret: &str,
    authorization: Option<&str>,
    payload: Payload<'_>,
) -> Result<Claims, Refusal> {
    let token = authorization
        .and_then(bearer_token)
        .ok_or(Refusal::MissingToken)?;
    // HS256 only; no claim required (Vonage sends no `exp`), but an `exp` or `nbf` that is
    // present is still honoured; no `aud` to check.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|_| Refusal::BadToken)?
    .claims;
    if let Payload::Body(body) = payload {
        let claimed = claims
            .payload_hash
            .as_deref()
            .ok_or(Refusal::MissingPayloadHash)?
            .trim()
            .to_ascii_lowercase();
        let expected = payload_hash(body);
        let same = claimed.len() == expected.len()
            && bool::from(claimed.as_bytes().ct_eq(expected.as_bytes()));
        if !same {
            return Err(Refusal::PayloadHashMismatch);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "test-vonage-signature-secret-0123456789";
    const BODY: &[u8] =
        br#"{"dtmf":{"digits":"4821","timed_out":false},"conversation_uuid":"CON-1"}"#;

    /// Made with PyJWT 2.15.1, independently of this crate:
    ///
    /// ```python
    /// import hashlib, jwt
    /// body = b'{"dtmf":{"digits":"4821","timed_out":false},"conversation_uuid":"CON-1"}'
    /// print(jwt.encode({"iat": 1700000000, "jti": "8f2b6c1e-0000-4000-8000-000000000001",
    ///                   "iss": "Vonage", "payload_hash": hashlib.sha256(body).hexdigest(),
    ///                   "api_key": "abcd1234",
    ///                   "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"},
    ///                  "test-vonage-signature-secret-0123456789", algorithm="HS256"))
    /// ```
    const PYJWT_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjhmMmI2YzFlLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImJhMjdhZTQzOWNjYTQ2MmRhZDZhODkzY2UyZjAxMDIyOTVkOTBhZmY5MjQwNmE1YjEwMWU3ZmU0ZGJjMDViMTAiLCJhcGlfa2V5IjoiYWJjZDEyMzQiLCJhcHBsaWNhdGlvbl9pZCI6ImFhYWFhYWFhLWJiYmItY2NjYy1kZGRkLTAxMjM0NTY3ODlhYiJ9.fl8ynycT5Xspo6-X_lnTEinPHi0e_mKp3nfSqxQuExE";

    fn sign(claims: &serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn the_pyjwt_vector_verifies_with_its_body() {
        let header = format!("Bearer {PYJWT_TOKEN}");
        let claims = verify(SECRET, Some(&header), Payload::Body(BODY)).unwrap();
        assert_eq!(
            claims.payload_hash.as_deref(),
            Some("ba27ae439cca462dad6a893ce2f0102295d90aff92406a5b101e7fe4dbc05b10")
        );
        assert_eq!(claims.payload_hash, Some(payload_hash(BODY)));
        assert_eq!(claims.api_key.as_deref(), Some("abcd1234"));
        assert_eq!(
            claims.application_id.as_deref(),
            Some("aaaaaaaa-bbbb-cccc-dddd-0123456789ab")
        );
        assert_eq!(
            verify(SECRET, Some(&header), Payload::Body(b"{}")),
            Err(Refusal::PayloadHashMismatch)
        );
        assert_eq!(
            verify("another-secret", Some(&header), Payload::Body(BODY)),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn only_a_fresh_token_with_a_jti_passes() {
        let now = 1_700_000_000;
        let claims = |iat: Option<i64>, jti: Option<&str>| Claims {
            iat,
            jti: jti.map(str::to_owned),
            ..Claims::default()
        };
        let jti = "8f2b6c1e-0000-4000-8000-000000000001";
        assert_eq!(fresh(&claims(Some(now), Some(jti)), now), Ok(jti));
        assert_eq!(fresh(&claims(Some(now - 299), Some(jti)), now), Ok(jti));
        assert_eq!(fresh(&claims(Some(now + 60), Some(jti)), now), Ok(jti));
        for stale in [
            None,
            Some(now - 301),
            Some(now - 90 * 86_400),
            Some(now + 61),
        ] {
            assert_eq!(
                fresh(&claims(stale, Some(jti)), now),
                Err(Refusal::Stale),
                "{stale:?}"
            );
        }
        let long = "j".repeat(129);
        for bad in [None, Some(""), Some("has space"), Some(long.as_str())] {
            assert_eq!(
                fresh(&claims(Some(now), bad), now),
                Err(Refusal::MissingJti),
                "{bad:?}"
            );
        }
        // The PyJWT vector carries both claims.
        let header = format!("Bearer {PYJWT_TOKEN}");
        let verified = verify(SECRET, Some(&header), Payload::Body(BODY)).unwrap();
        assert_eq!(
            fresh(&verified, 1_700_000_100),
            Ok("8f2b6c1e-0000-4000-8000-000000000001")
        );
    }

    #[test]
    fn payload_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            payload_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            payload_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_get_is_checked_by_its_signature_alone() {
        let token = sign(&json!({"iat": 1, "iss": "Vonage"}), SECRET);
        let header = format!("Bearer {token}");
        assert!(verify(SECRET, Some(&header), Payload::Query).is_ok());
        assert_eq!(
            verify(SECRET, Some(&header), Payload::Body(b"")),
            Err(Refusal::MissingPayloadHash)
        );
        assert_eq!(
            verify("other", Some(&header), Payload::Query),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn a_tampered_body_an_uppercase_hash_and_the_header_forms() {
        let token = sign(
            &json!({"iat": 1, "payload_hash": payload_hash(BODY).to_uppercase()}),
            SECRET,
        );
        assert!(
            verify(
                SECRET,
                Some(&format!("bearer  {token} ")),
                Payload::Body(BODY)
            )
            .is_ok()
        );
        let mut tampered = BODY.to_vec();
        tampered[22] = b'9';
        assert_eq!(
            verify(
                SECRET,
                Some(&format!("Bearer {token}")),
                Payload::Body(&tampered)
            ),
            Err(Refusal::PayloadHashMismatch)
        );
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some(&*token),
        ] {
            assert_eq!(
                verify(SECRET, header, Payload::Query),
                Err(Refusal::MissingToken),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(SECRET, Some(&format!("Basic {token}")), Payload::Query),
            Err(Refusal::MissingToken)
        );
        assert_eq!(
            verify(SECRET, Some("Bearer not.a.jwt"), Payload::Query),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn other_algorithms_and_unsigned_tokens_are_refused() {
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &json!({"payload_hash": payload_hash(BODY)}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            verify(
                SECRET,
                Some(&format!("Bearer {hs512}")),
                Payload::Body(BODY)
            ),
            Err(Refusal::BadToken)
        );
        // `alg: none` with the claims of a valid token and no signature.
        let valid = sign(&json!({"payload_hash": payload_hash(BODY)}), SECRET);
        let claims = valid.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
        assert_eq!(
            verify(SECRET, Some(&format!("Bearer {none}")), Payload::Body(BODY)),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn no_exp_is_required_but_a_past_one_is_refused() {
        let token = sign(&json!({"payload_hash": payload_hash(BODY)}), SECRET);
        assert!(
            verify(
                SECRET,
                Some(&format!("Bearer {token}")),
                Payload::Body(BODY)
            )
            .is_ok()
        );
        let token = sign(
            &json!({"exp": 1, "payload_hash": payload_hash(BODY)}),
            SECRET,
        );
        assert_eq!(
            verify(
                SECRET,
                Some(&format!("Bearer {token}")),
                Payload::Body(BODY)
            ),
            Err(Refusal::BadToken)
        );
    }
}
