//! The CSV upload forms of the admin UI (orders, trusted callers): a file chosen in the
//! browser, or CSV text pasted into the page.

use actix_web::{HttpRequest, web};
use serde::Deserialize;

/// The largest CSV accepted from the browser, in bytes: about 50,000 orders
/// ([`ORDER_ROW_BYTES`]).
const MAX_CSV_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of a typical row of an orders CSV (an order id, two numbers, a PIN, an expiry time).
pub(super) const ORDER_ROW_BYTES: usize = 80;

/// Bytes of a typical row of a trusted callers CSV (a number and a name).
pub(super) const CALLER_ROW_BYTES: usize = 30;

/// The upload limit as the forms state it before a file is chosen, for rows of about
/// `row_bytes`: "4 MB, about 50,000 rows" (rounded down to ten thousands).
pub(super) fn limit_in_words(row_bytes: usize) -> String {
    let rows = (MAX_CSV_BYTES / row_bytes.max(1)) / 10_000 * 10_000;
    format!(
        "{} MB, about {} rows",
        MAX_CSV_BYTES / (1024 * 1024),
        crate::import::thousands(rows as u64)
    )
}

/// What an upload form sent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CsvForm {
    pub csrf: String,
    /// The file's content when one was chosen, else the pasted text.
    pub csv_text: String,
    /// The `skip_bad` checkbox, ticked: import the good rows and report the bad ones.
    #[serde(deserialize_with = "ticked")]
    pub skip_bad: bool,
}

/// A checkbox is sent (with any value) when ticked, and left out when not.
fn ticked<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let _ = String::deserialize(d)?;
    Ok(true)
}

/// Reads an upload form: `multipart/form-data` with a file in `csv` (the upload) or text in
/// `csv_text`, or a plain form with `csv_text`. A file, when given, wins over the text.
///
/// Errors: 413 past [`MAX_CSV_BYTES`], 400 for a body that is not such a form.
pub(super) async fn read_csv_form(
    req: &HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<CsvForm> {
    use futures_util::StreamExt;
    let is_multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let too_large = || actix_web::error::ErrorPayloadTooLarge("the CSV is larger than 4 MB");
    if !is_multipart {
        let body = payload
            .to_bytes_limited(MAX_CSV_BYTES)
            .await
            .map_err(|_| too_large())??;
        return serde_urlencoded::from_bytes(&body).map_err(actix_web::error::ErrorBadRequest);
    }
    let mut form = CsvForm::default();
    let mut file: Option<Vec<u8>> = None;
    let mut parts = actix_multipart::Multipart::new(req.headers(), payload);
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(actix_web::error::ErrorBadRequest)?;
        let name = part.name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(actix_web::error::ErrorBadRequest)?;
            if bytes.len() + chunk.len() > MAX_CSV_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => form.csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "csv_text" => form.csv_text = String::from_utf8_lossy(&bytes).into_owned(),
            "csv" if !bytes.is_empty() => file = Some(bytes),
            "skip_bad" => form.skip_bad = true,
            _ => {}
        }
    }
    if let Some(file) = file {
        form.csv_text = String::from_utf8_lossy(&file).into_owned();
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_stated_in_megabytes_and_the_rows_it_holds() {
        assert_eq!(limit_in_words(ORDER_ROW_BYTES), "4 MB, about 50,000 rows");
        assert_eq!(limit_in_words(CALLER_ROW_BYTES), "4 MB, about 130,000 rows");
    }
}
