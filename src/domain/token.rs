//! Random tokens and their digests: URL secrets, admin tokens, event ids, request ids.

use rand::RngExt;
use sha2::{Digest, Sha256};

/// A random URL-safe token of `len` characters from the operating system's CSPRNG.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// SHA-256 of a token.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
