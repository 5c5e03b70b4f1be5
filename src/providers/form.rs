//! Form-encoded parameters as Twilio, Plivo and Exotel send them: the query string of a GET,
//! or the `application/x-www-form-urlencoded` body of a POST.

use std::collections::HashMap;

/// The parameters of one request, every one optional.
#[derive(Debug, Clone, Default)]
pub struct FormParams {
    values: HashMap<String, String>,
    /// The body's pairs in the order received (what signatures are computed over).
    body_pairs: Vec<(String, String)>,
}

impl FormParams {
    /// Reads the query string and the form body, if any; a key present in both takes the
    /// body's value. Never fails: undecodable input yields fewer parameters.
    pub fn parse(query: &str, form_body: Option<&str>) -> Self {
        let mut values: HashMap<String, String> = HashMap::new();
        let query_pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).unwrap_or_default();
        values.extend(query_pairs);
        let body_pairs: Vec<(String, String)> = form_body
            .map(|b| serde_urlencoded::from_str(b).unwrap_or_default())
            .unwrap_or_default();
        values.extend(body_pairs.iter().cloned());
        Self { values, body_pairs }
    }

    /// The value of `key`, trimmed; `None` when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of `key` exactly as received, empty included.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The pairs of the form body, as received.
    pub fn body_pairs(&self) -> &[(String, String)] {
        &self.body_pairs
    }
}
