//! `X-Twilio-Signature` checking with structured input. `is_valid` must never panic on any
//! token, URL, parameters and header; the signature the crate computes itself (`signature`)
//! must verify for the same request, whatever the order of the parameters and with whitespace
//! around the header, while that signature with one byte changed must not.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pinbridge::providers::twilio::auth::{is_valid, signature};

#[derive(Arbitrary, Debug)]
struct Input {
    token: String,
    url: String,
    params: Vec<(String, String)>,
    header: String,
    tamper_at: u8,
    tamper_bits: u8,
}

/// One byte of a Base64 signature changed, staying ASCII and never whitespace (which the
/// verifier trims): flips one of the low five bits.
fn tampered(sig: &str, at: u8, bits: u8) -> String {
    let mut bytes = sig.as_bytes().to_vec();
    let i = usize::from(at) % bytes.len();
    bytes[i] ^= 1 << (bits % 5);
    if bytes[i].is_ascii_whitespace() {
        bytes[i] = b'!';
    }
    String::from_utf8(bytes).expect("ASCII stays ASCII")
}

fuzz_target!(|input: Input| {
    let Input {
        token,
        url,
        params,
        header,
        tamper_at,
        tamper_bits,
    } = input;

    let _ = is_valid(&token, &url, &params, &header);

    let sig = signature(&token, &url, &params);
    assert!(
        is_valid(&token, &url, &params, &sig),
        "own signature refused: {sig}"
    );
    assert!(is_valid(&token, &url, &params, &format!(" {sig}\t")));

    let mut reversed = params.clone();
    reversed.reverse();
    assert_eq!(
        signature(&token, &url, &reversed),
        sig,
        "parameter order changed the signature"
    );
    assert!(is_valid(&token, &url, &reversed, &sig));

    let bad = tampered(&sig, tamper_at, tamper_bits);
    assert_ne!(bad, sig);
    assert!(
        !is_valid(&token, &url, &params, &bad),
        "tampered signature accepted: {bad}"
    );
});
