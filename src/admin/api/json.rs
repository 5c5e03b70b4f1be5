//! The admin API's JSON bodies: read like `web::Json`, refused in the API's own words, naming
//! the field that is wrong (`customer_number: expected a string, found an integer`), never a
//! parser's line and column.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use crate::http::limits;

/// A JSON body of type `T`. Refusals (400 `invalid_body`, 413 `payload_too_large`) are the
/// API's JSON errors.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|_| {
                ApiError::client(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body is larger than {} bytes", limits::MAX_BODY_BYTES),
                )
            })?;
            parse(&bytes)
                .map(ApiJson)
                .map_err(|message| ApiError::bad_request("invalid_body", message).into())
        })
    }
}

/// `bytes` as a `T`, or what is wrong with it, naming the field.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the body is empty; send a JSON object".to_owned());
    }
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let what = words(e.inner());
        match e.path().to_string().as_str() {
            "." => format!("the body is not the JSON object this request takes: {what}"),
            field => format!("{field}: {what}"),
        }
    })?;
    reader
        .end()
        .map_err(|e| format!("the body holds more than one JSON value: {}", words(&e)))?;
    Ok(value)
}

/// A serde_json error without its line and column, which say nothing to the reader of a
/// one-line body.
fn words(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        order_id: String,
        customer_number: String,
        expires_in_secs: Option<u64>,
    }

    #[test]
    fn a_bad_field_is_named_and_no_line_or_column_is_given() {
        let wrong_type = parse::<Order>(br#"{"order_id": "A", "customer_number": 98123}"#);
        assert_eq!(
            wrong_type.unwrap_err(),
            "customer_number: invalid type: integer `98123`, expected a string"
        );
        let missing = parse::<Order>(br#"{"order_id": "A"}"#).unwrap_err();
        assert_eq!(
            missing,
            "the body is not the JSON object this request takes: missing field `customer_number`"
        );
        let unknown =
            parse::<Order>(br#"{"order_id": "A", "customer_number": "1", "pinn": 1}"#).unwrap_err();
        assert!(unknown.contains("unknown field `pinn`"), "{unknown}");
        assert!(!unknown.contains("line"), "{unknown}");
        let negative =
            parse::<Order>(br#"{"order_id":"A","customer_number":"1","expires_in_secs":-5}"#)
                .unwrap_err();
        assert!(negative.starts_with("expires_in_secs: "), "{negative}");
        assert_eq!(
            parse::<Order>(b"  ").unwrap_err(),
            "the body is empty; send a JSON object"
        );
        assert!(parse::<Order>(b"{").unwrap_err().contains("EOF"));
    }
}
