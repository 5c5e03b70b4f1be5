//! Plivo signature V3 checking with structured input. `is_valid` must never panic on any token,
//! method, URL, parameters, nonce and header. For a non-empty nonce, the signature the crate
//! computes itself (`signature`) must verify, alone or after other comma-separated candidates,
//! whatever the order of the parameters, while that signature with one byte changed must not;
//! an empty nonce never verifies.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pinbridge::providers::plivo::auth::{Method, is_valid, signature, signed_string};

#[derive(Arbitrary, Debug)]
struct Input {
    token: String,
    post: bool,
    url: String,
    params: Vec<(String, String)>,
    nonce: String,
    header: String,
    tamper_at: u8,
    tamper_bits: u8,
}

/// One byte of a Base64 signature changed, staying ASCII and never whitespace or `,` (which the
/// verifier trims and splits on): flips one of the low five bits.
fn tampered(sig: &str, at: u8, bits: u8) -> String {
    let mut bytes = sig.as_bytes().to_vec();
    let i = usize::from(at) % bytes.len();
    bytes[i] ^= 1 << (bits % 5);
    if bytes[i].is_ascii_whitespace() || bytes[i] == b',' {
        bytes[i] = b'!';
    }
    String::from_utf8(bytes).expect("ASCII stays ASCII")
}

fuzz_target!(|input: Input| {
    let Input {
        token,
        post,
        url,
        params,
        nonce,
        header,
        tamper_at,
        tamper_bits,
    } = input;
    let method = if post { Method::Post } else { Method::Get };

    let _ = is_valid(&token, method, &url, &params, &nonce, &header);

    let signed = signed_string(method, &url, &params);
    let sig = signature(&token, method, &url, &params, &nonce);

    let mut reversed = params.clone();
    reversed.reverse();
    assert_eq!(
        signed_string(method, &url, &reversed),
        signed,
        "parameter order changed the string"
    );
    assert_eq!(signature(&token, method, &url, &reversed, &nonce), sig);

    if nonce.is_empty() {
        assert!(
            !is_valid(&token, method, &url, &params, &nonce, &sig),
            "empty nonce accepted"
        );
        return;
    }
    assert!(
        is_valid(&token, method, &url, &params, &nonce, &sig),
        "own signature refused: {sig}"
    );
    assert!(is_valid(&token, method, &url, &reversed, &nonce, &sig));
    assert!(
        is_valid(
            &token,
            method,
            &url,
            &params,
            &nonce,
            &format!("{header}, {sig} ,")
        ),
        "own signature refused after other candidates"
    );

    let bad = tampered(&sig, tamper_at, tamper_bits);
    assert_ne!(bad, sig);
    assert!(
        !is_valid(&token, method, &url, &params, &nonce, &bad),
        "tampered signature accepted: {bad}"
    );
});
