//! Vonage signed webhooks (`Authorization: Bearer <HS256 JWT>` whose `payload_hash` claim is the
//! body's SHA-256), with structured input. `verify` must never panic on any secret, header and
//! body, and its answers must agree with each other:
//!
//! - no `Bearer` token: `MissingToken`, for a body and for a query alike;
//! - accepted with a body: the token's `payload_hash` (trimmed, any case) is the body's hash, and
//!   the same token is accepted for a query; accepted for a query and carrying the body's hash:
//!   accepted with the body too.
//!
//! pinbridge has no public JWT signing helper, so tokens are signed here with one of its public
//! functions that computes the same MAC: Plivo's V3 `signature` of a GET to a URL with no query
//! is Base64(HMAC-SHA256(token, url + "." + nonce)), and an HS256 JWT's signature is
//! Base64url(HMAC-SHA256(secret, header_b64 + "." + claims_b64)). With that, a token of the
//! documented shape (HS256, the body's `payload_hash`, no `exp` or `nbf`) must verify and give
//! back its claims, the same token with one byte changed must not, nor one whose `exp` is long
//! past or whose `nbf` is far ahead.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pinbridge::providers::plivo::auth::{Method, signature as hmac_sha256_b64};
use pinbridge::providers::vonage::auth::{
    Claims, Payload, Refusal, bearer_token, payload_hash, verify,
};

#[derive(Arbitrary, Debug)]
struct Input {
    secret: String,
    body: Vec<u8>,
    token: Token,
}

#[derive(Arbitrary, Debug)]
enum Token {
    /// Any `Authorization` header at all, or none.
    Raw(Option<String>),
    /// A JWT signed with the secret.
    Signed {
        scheme: u8,
        jose: Jose,
        claims: ClaimsIn,
        tamper: Option<(u16, u8)>,
    },
}

#[derive(Arbitrary, Debug)]
enum Jose {
    Hs256,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum ClaimsIn {
    Raw(Vec<u8>),
    Fields {
        hash: Hash,
        api_key: Option<String>,
        application_id: Option<String>,
        iat: Option<i64>,
        exp: Option<i64>,
        nbf: Option<i64>,
    },
}

#[derive(Arbitrary, Debug)]
enum Hash {
    OfBody,
    OfBodyUppercase,
    Absent,
    Other(String),
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `header_b64.claims_b64.signature`, HS256 with `secret`.
fn sign(secret: &str, jose: &[u8], claims: &[u8]) -> String {
    let (h, c) = (b64url(jose), b64url(claims));
    let std_sig = hmac_sha256_b64(secret, Method::Get, &h, &[], &c);
    let sig: String = std_sig
        .chars()
        .filter(|c| *c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    format!("{h}.{c}.{sig}")
}

fn check_consistency(secret: &str, header: Option<&str>, body: &[u8]) {
    let with_body = verify(secret, header, Payload::Body(body));
    let for_query = verify(secret, header, Payload::Query);
    if header.and_then(bearer_token).is_none() {
        assert_eq!(with_body, Err(Refusal::MissingToken));
        assert_eq!(for_query, Err(Refusal::MissingToken));
        return;
    }
    assert_ne!(with_body, Err(Refusal::MissingToken));
    assert_ne!(for_query, Err(Refusal::MissingToken));
    let hash = payload_hash(body);
    if let Ok(claims) = &with_body {
        let claimed = claims
            .payload_hash
            .as_deref()
            .expect("accepted without payload_hash");
        assert_eq!(claimed.trim().to_ascii_lowercase(), hash);
        assert_eq!(
            for_query.as_ref(),
            Ok(claims),
            "accepted with the body but not for a query"
        );
    }
    match &for_query {
        Ok(claims) => {
            let matches = claims
                .payload_hash
                .as_deref()
                .is_some_and(|h| h.trim().to_ascii_lowercase() == hash);
            assert_eq!(
                with_body.is_ok(),
                matches,
                "{with_body:?} for claims {claims:?}"
            );
            if claims.payload_hash.is_none() {
                assert_eq!(with_body, Err(Refusal::MissingPayloadHash));
            }
        }
        Err(e) => assert_eq!(
            with_body.as_ref().err(),
            Some(e),
            "refused for a query only"
        ),
    }
}

fuzz_target!(|input: Input| {
    let Input {
        secret,
        body,
        token,
    } = input;
    let hash = payload_hash(&body);
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));

    let (scheme, jose, claims, tamper) = match token {
        Token::Raw(header) => {
            check_consistency(&secret, header.as_deref(), &body);
            return;
        }
        Token::Signed {
            scheme,
            jose,
            claims,
            tamper,
        } => (scheme, jose, claims, tamper),
    };

    let scheme = ["Bearer", "bearer", "BEARER", "Basic", ""][usize::from(scheme % 5)];
    let standard_header = matches!(jose, Jose::Hs256);
    let jose = match jose {
        Jose::Hs256 => br#"{"alg":"HS256","typ":"JWT"}"#.to_vec(),
        Jose::Raw(raw) => raw,
    };
    // What a token of the documented shape must verify to: `Some(Ok(claims))`; or that it must
    // be refused: `Some(Err(..))`; `None` when this target does not predict it.
    let mut expect: Option<Result<Claims, Refusal>> = None;
    let claims = match claims {
        ClaimsIn::Raw(raw) => raw,
        ClaimsIn::Fields {
            hash: h,
            api_key,
            application_id,
            iat,
            exp,
            nbf,
        } => {
            let payload_hash = match &h {
                Hash::OfBody => Some(hash.clone()),
                Hash::OfBodyUppercase => Some(hash.to_ascii_uppercase()),
                Hash::Absent => None,
                Hash::Other(s) => Some(s.clone()),
            };
            let mut fields = vec![r#""iss":"Vonage""#.to_owned()];
            let mut push =
                |name: &str, value: String| fields.push(format!("{}:{value}", json_str(name)));
            if let Some(v) = &payload_hash {
                push("payload_hash", json_str(v));
            }
            if let Some(v) = &api_key {
                push("api_key", json_str(v));
            }
            if let Some(v) = &application_id {
                push("application_id", json_str(v));
            }
            for (name, v) in [("iat", iat), ("exp", exp), ("nbf", nbf)] {
                if let Some(v) = v {
                    push(name, v.to_string());
                }
            }
            if standard_header && matches!(scheme, "Bearer" | "bearer" | "BEARER") {
                if exp.is_some_and(|e| e < 1_600_000_000) || nbf.is_some_and(|n| n > 4_000_000_000)
                {
                    expect = Some(Err(Refusal::BadToken));
                } else if exp.is_none()
                    && nbf.is_none()
                    && matches!(h, Hash::OfBody | Hash::OfBodyUppercase)
                {
                    expect = Some(Ok(Claims {
                        payload_hash,
                        application_id,
                        api_key,
                    }));
                }
            }
            format!("{{{}}}", fields.join(",")).into_bytes()
        }
    };

    let token = sign(&secret, &jose, &claims);
    let header = format!("{scheme} {token}");
    check_consistency(&secret, Some(&header), &body);
    match &expect {
        Some(Ok(want)) => {
            assert_eq!(
                verify(&secret, Some(&header), Payload::Body(&body)).as_ref(),
                Ok(want)
            );
        }
        Some(Err(want)) => {
            assert_eq!(
                verify(&secret, Some(&header), Payload::Body(&body)).as_ref(),
                Err(want)
            );
        }
        None => {}
    }

    if let (Some(Ok(_)), Some((at, bits))) = (&expect, tamper) {
        let mut bytes = token.into_bytes();
        let i = usize::from(at) % bytes.len();
        bytes[i] ^= 1 << (bits % 5);
        let bad = String::from_utf8(bytes).expect("ASCII stays ASCII");
        let bad_header = format!("{scheme} {bad}");
        assert_eq!(
            verify(&secret, Some(&bad_header), Payload::Body(&body)),
            Err(Refusal::BadToken),
            "tampered token accepted: {bad}"
        );
        check_consistency(&secret, Some(&bad_header), &body);
    }
});
