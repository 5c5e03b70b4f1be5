//! Plivo signature V3: `X-Plivo-Signature-V3` (or `X-Plivo-Signature-Ma-V3`, signed with the
//! main account's token) and `X-Plivo-Signature-V3-Nonce`.
//!
//! Follows https://docs.plivo.com/docs/voice/xml/request/validation and, for the exact string
//! signed, plivo-python `plivo/utils/signature_v3.py` (`construct_get_url`,
//! `construct_post_url`, `get_signature_v3`, `validate_v3_signature`);
//! `reference/providers.md` §2.3 has worked examples. The unit tests below check vectors
//! computed with that library.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How the request reached pinbridge: the string signed differs between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Every parameter is in the URL's query string.
    Get,
    /// The parameters are the form body; the URL may carry a query string too.
    Post,
}

/// `url` without its query string and fragment, and the query's pairs, decoded as
/// `application/x-www-form-urlencoded` (Python's `parse_qs(keep_blank_values=True)`).
fn split_url(url: &str) -> (&str, Vec<(String, String)>) {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    match url.split_once('?') {
        Some((base, query)) => (
            base,
            serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default(),
        ),
        None => (url, Vec::new()),
    }
}

/// Groups pairs by name, each name's values sorted (names sort by code point, as in Python).
fn grouped<'a>(
    pairs: impl IntoIterator<Item = &'a (String, String)>,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k.as_str()).or_default().push(v.as_str());
    }
    for values in map.values_mut() {
        values.sort_unstable();
    }
    map
}

/// `k=v` for every value, sorted by name then value, joined by `&`: `get_sorted_query_string`.
fn sorted_query(map: &BTreeMap<&str, Vec<&str>>) -> String {
    map.iter()
        .flat_map(|(k, values)| values.iter().map(move |v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&")
}

/// The string Plivo signs (before `.` and the nonce are appended):
/// - GET (`construct_get_url`): the base URL (scheme, host, path), then, when there are any,
///   `?` and every query parameter (merged with `params`; the query wins on a shared name) as
///   sorted, *decoded* `k=v` joined by `&`;
/// - POST (`construct_post_url`) with a body: the base URL, `?`, the URL's query as above
///   followed by `.` when there is one, then every body parameter as `name` + `value`,
///   sorted, concatenated with no separator;
/// - POST without a body: as a GET of the URL alone.
pub fn signed_string(method: Method, url: &str, params: &[(String, String)]) -> String {
    let (base, query) = split_url(url);
    match method {
        Method::Get => {
            let mut map = grouped(params);
            // `params.update(get_map_from_query(query))`: the query's values replace.
            for (k, v) in grouped(&query) {
                map.insert(k, v);
            }
            let q = sorted_query(&map);
            if q.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{q}")
            }
        }
        Method::Post => {
            let q = sorted_query(&grouped(&query));
            if params.is_empty() {
                return if q.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{q}")
                };
            }
            let mut out = format!("{base}?{q}");
            if !q.is_empty() {
                out.push('.');
            }
            for (k, values) in grouped(params) {
                for v in values {
                    out.push_str(k);
                    out.push_str(v);
                }
            }
            out
        }
    }
}

/// Base64(HMAC-SHA256(auth token, signed string + `.` + nonce)): `get_signature_v3`.
pub fn signature(
    auth_token: &str,
    method: Method,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(signed_string(method, url, params).as_bytes());
    mac.update(b".");
    mac.update(nonce.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// How long a nonce is remembered, each accepted once within it. Plivo's V3 signature carries
/// no time, so a captured request could otherwise be sent again at will; a day outlasts any
/// call, and a request replayed later reaches a call that has ended, which dials no one.
pub const NONCE_KEPT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The longest nonce accepted: Plivo sends about twenty digits.
pub const MAX_NONCE_LEN: usize = 128;

/// True when one of the comma-separated signatures in `header` is this request's (Plivo may
/// send several, e.g. during a token rotation; `validate_v3_signature` accepts any). Each is
/// compared in constant time; an empty header or nonce never validates.
pub fn is_valid(
    auth_token: &str,
    method: Method,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
    header: &str,
) -> bool {
    if nonce.is_empty() {
        return false;
    }
    let expected = signature(auth_token, method, url, params, nonce);
    let expected = expected.as_bytes();
    header
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .fold(false, |found, candidate| {
            let candidate = candidate.as_bytes();
            let matches =
                candidate.len() == expected.len() && bool::from(candidate.ct_eq(expected));
            found | matches
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The worked examples of `reference/providers.md` §2.3.
    #[test]
    fn the_signed_strings_match_the_reference_examples() {
        let params = pairs(&[("To", "456"), ("CallUUID", "abc"), ("From", "123")]);
        assert_eq!(
            signed_string(Method::Post, "https://example.com/answer/", &params),
            "https://example.com/answer/?CallUUIDabcFrom123To456"
        );
        assert_eq!(
            signed_string(
                Method::Post,
                "https://example.com/answer/?x=1&a=2",
                &pairs(&[("To", "456"), ("CallUUID", "abc")])
            ),
            "https://example.com/answer/?a=2&x=1.CallUUIDabcTo456"
        );
        assert_eq!(
            signed_string(Method::Post, "https://example.com/answer/", &[]),
            "https://example.com/answer/"
        );
        assert_eq!(
            signed_string(
                Method::Get,
                "https://example.com/answer/?x=1",
                &pairs(&[("From", "123"), ("CallUUID", "abc")])
            ),
            "https://example.com/answer/?CallUUID=abc&From=123&x=1"
        );
    }

    // /tmp/sigvenv/bin/python -c '
    // from plivo.utils.signature_v3 import construct_get_url, get_signature_v3, validate_v3_signature
    // uri = "https://masking.example.com/plivo/answer?CallUUID=8f1e6c1a-2b3c-4d5e-9f00-112233445566&From=917709562799&To=917314853246&CallStatus=ringing&Direction=inbound&CallerName=Tom+%26+Jerry%27s&x=2&x=1"
    // print(construct_get_url(uri, {}).decode())
    // sig = get_signature_v3(b"test-plivo-auth-token", construct_get_url(uri, {}).decode(), b"12345678901234567890").decode()
    // print(sig, validate_v3_signature("GET", uri, "12345678901234567890", "test-plivo-auth-token", sig, {}))'
    const GET_URL: &str = "https://masking.example.com/plivo/answer?CallUUID=8f1e6c1a-2b3c-4d5e-9f00-112233445566&From=917709562799&To=917314853246&CallStatus=ringing&Direction=inbound&CallerName=Tom+%26+Jerry%27s&x=2&x=1";
    const GET_SIGNED: &str = "https://masking.example.com/plivo/answer?CallStatus=ringing&CallUUID=8f1e6c1a-2b3c-4d5e-9f00-112233445566&CallerName=Tom & Jerry's&Direction=inbound&From=917709562799&To=917314853246&x=1&x=2";
    const GET_SIGNATURE: &str = "nN56yRAwkWV7d6EUron43GHKD1o5r3Sdas2mNIzKxm8=";

    #[test]
    fn a_get_vector_from_plivo_python_matches() {
        assert_eq!(signed_string(Method::Get, GET_URL, &[]), GET_SIGNED);
        let sig = signature(
            "test-plivo-auth-token",
            Method::Get,
            GET_URL,
            &[],
            "12345678901234567890",
        );
        assert_eq!(sig, GET_SIGNATURE);
        assert!(is_valid(
            "test-plivo-auth-token",
            Method::Get,
            GET_URL,
            &[],
            "12345678901234567890",
            GET_SIGNATURE
        ));
    }

    // /tmp/sigvenv/bin/python -c '
    // from plivo.utils.signature_v3 import construct_post_url, get_signature_v3, validate_v3_signature
    // uri = "https://masking.example.com/plivo/pin"
    // params = {"CallUUID": "8f1e6c1a-2b3c-4d5e-9f00-112233445566", "From": "917709562799", "To": "917314853246", "CallStatus": "in-progress", "Direction": "inbound", "InputType": "dtmf", "Digits": "4821"}
    // print(construct_post_url(uri, dict(params)).decode())
    // sig = get_signature_v3(b"test-plivo-auth-token", construct_post_url(uri, dict(params)).decode(), b"98765432109876543210").decode()
    // print(sig, validate_v3_signature("POST", uri, "98765432109876543210", "test-plivo-auth-token", sig, params))'
    const POST_URL: &str = "https://masking.example.com/plivo/pin";
    const POST_SIGNED: &str = "https://masking.example.com/plivo/pin?CallStatusin-progressCallUUID8f1e6c1a-2b3c-4d5e-9f00-112233445566Digits4821DirectioninboundFrom917709562799InputTypedtmfTo917314853246";
    const POST_SIGNATURE: &str = "wMIyM3InQCOT531HdrLkuVlsuxvd5NdmqRAg5VQZ/FI=";

    fn post_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallUUID", "8f1e6c1a-2b3c-4d5e-9f00-112233445566"),
            ("From", "917709562799"),
            ("To", "917314853246"),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("InputType", "dtmf"),
            ("Digits", "4821"),
        ])
    }

    #[test]
    fn a_post_vector_from_plivo_python_matches() {
        assert_eq!(
            signed_string(Method::Post, POST_URL, &post_params()),
            POST_SIGNED
        );
        let sig = signature(
            "test-plivo-auth-token",
            Method::Post,
            POST_URL,
            &post_params(),
            "98765432109876543210",
        );
        assert_eq!(sig, POST_SIGNATURE);
    }

    // /tmp/sigvenv/bin/python -c '
    // from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
    // uri = "https://masking.example.com/plivo/hangup?leg=b&a=1"
    // params = {"CallUUID": "abc", "DialStatus": "completed"}
    // print(construct_post_url(uri, dict(params)).decode())
    // print(get_signature_v3(b"tok", construct_post_url(uri, dict(params)).decode(), b"1").decode())'
    const POST_QUERY_SIGNATURE: &str = "+zQq28apb7r7UA5Co2NUkNmNwZoKQ/9lWlfsOLIVYm8=";

    #[test]
    fn a_post_with_a_query_string_vector_from_plivo_python_matches() {
        let url = "https://masking.example.com/plivo/hangup?leg=b&a=1";
        let params = pairs(&[("CallUUID", "abc"), ("DialStatus", "completed")]);
        assert_eq!(
            signed_string(Method::Post, url, &params),
            "https://masking.example.com/plivo/hangup?a=1&leg=b.CallUUIDabcDialStatuscompleted"
        );
        assert_eq!(
            signature("tok", Method::Post, url, &params, "1"),
            POST_QUERY_SIGNATURE
        );
    }

    #[test]
    fn any_of_several_comma_separated_signatures_is_accepted() {
        let token = "test-plivo-auth-token";
        let nonce = "98765432109876543210";
        let other = signature(
            "another-token",
            Method::Post,
            POST_URL,
            &post_params(),
            nonce,
        );
        for header in [
            format!("{other},{POST_SIGNATURE}"),
            format!("{POST_SIGNATURE},{other}"),
            format!("{other}, {POST_SIGNATURE}"),
        ] {
            assert!(
                is_valid(
                    token,
                    Method::Post,
                    POST_URL,
                    &post_params(),
                    nonce,
                    &header
                ),
                "{header}"
            );
        }
        assert!(!is_valid(
            token,
            Method::Post,
            POST_URL,
            &post_params(),
            nonce,
            &format!("{other},{other}")
        ));
    }

    #[test]
    fn a_tampered_parameter_url_nonce_method_or_token_fails() {
        let token = "test-plivo-auth-token";
        let nonce = "98765432109876543210";
        let ok = |t: &str, m: Method, u: &str, p: &[(String, String)], n: &str, h: &str| {
            is_valid(t, m, u, p, n, h)
        };
        let params = post_params();
        assert!(ok(
            token,
            Method::Post,
            POST_URL,
            &params,
            nonce,
            POST_SIGNATURE
        ));
        let mut tampered = params.clone();
        tampered[6].1 = "4822".into();
        assert!(!ok(
            token,
            Method::Post,
            POST_URL,
            &tampered,
            nonce,
            POST_SIGNATURE
        ));
        assert!(!ok(
            token,
            Method::Post,
            "https://masking.example.com/plivo/answer",
            &params,
            nonce,
            POST_SIGNATURE
        ));
        assert!(!ok(
            token,
            Method::Post,
            POST_URL,
            &params,
            "1",
            POST_SIGNATURE
        ));
        assert!(!ok(
            token,
            Method::Get,
            POST_URL,
            &params,
            nonce,
            POST_SIGNATURE
        ));
        assert!(!ok(
            "other",
            Method::Post,
            POST_URL,
            &params,
            nonce,
            POST_SIGNATURE
        ));
        assert!(!ok(token, Method::Post, POST_URL, &params, nonce, ""));
        assert!(!ok(token, Method::Post, POST_URL, &params, nonce, ","));
        assert!(!ok(
            token,
            Method::Post,
            POST_URL,
            &params,
            "",
            POST_SIGNATURE
        ));
    }

    #[test]
    fn malformed_input_never_panics() {
        for url in [
            "",
            "?",
            "#",
            "https://x/?%zz=%%&=&&a",
            "https://x/p?a=\u{e9}#frag?b=1",
        ] {
            let _ = signature("t", Method::Get, url, &[], "n");
            let _ = signature("t", Method::Post, url, &pairs(&[("", "")]), "n");
        }
    }
}
