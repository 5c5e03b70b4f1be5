//! What the admin API's lists share: pages read by a keyset cursor, newest first, and the
//! filters' values checked before any query runs.

use crate::domain::{PhoneNumber, Region};
use crate::http::error::ApiError;

/// The most items a page holds.
pub const MAX_PAGE: i64 = 500;

/// Items a page holds when the request does not say.
pub const DEFAULT_PAGE: i64 = 100;

/// The largest `offset` of the lists paged by offset (trusted callers, calls): far beyond any
/// list's length, and small enough that the next page's offset can not overflow.
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// Reads the `offset` of a list paged by offset: 0 to [`MAX_OFFSET`], default 0.
///
/// Errors: 400 `invalid_query`.
pub fn offset(raw: Option<i64>) -> Result<i64, ApiError> {
    let offset = raw.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("offset: from 0 to {MAX_OFFSET}"),
        ));
    }
    Ok(offset)
}

/// A page of a list: at most `limit` items, created before `before` (the `created_at`, unix
/// ms, and the id of the last item of the page before) when a cursor was given.
#[derive(Debug, Clone)]
pub struct Paging {
    pub limit: i64,
    pub before: Option<(i64, String)>,
}

impl Paging {
    /// Reads `limit` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]) and `cursor`, the `next` of
    /// a page: `{created_at}.{id}`, unix milliseconds then the id as it is (which may itself
    /// hold dots). An empty cursor is the first page.
    ///
    /// Errors: 400 `invalid_limit`, `invalid_cursor`.
    pub fn parse(limit: Option<i64>, cursor: Option<String>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit: from 1 to {MAX_PAGE}"),
            ));
        }
        let before = cursor
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.split_once('.')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                    .ok_or_else(|| {
                        ApiError::bad_request("invalid_cursor", "cursor: pass the `next` of a page")
                    })
            })
            .transpose()?;
        Ok(Self { limit, before })
    }

    /// How many rows to fetch: one more than the page, which tells whether a next page exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts `found` (fetched with [`Self::fetch`], newest first) to the page, and answers the
    /// `next` cursor: that of its last item (`key`: its `created_at` and id), or `None` on
    /// the last page.
    pub fn cut<T>(&self, found: &mut Vec<T>, key: impl Fn(&T) -> (i64, &str)) -> Option<String> {
        let limit = usize::try_from(self.limit).unwrap_or(0);
        if found.len() <= limit {
            return None;
        }
        found.truncate(limit);
        found.last().map(|last| {
            let (at, id) = key(last);
            format!("{at}.{id}")
        })
    }
}

/// The value of the filter `field` among `allowed` (name, value); `None` when absent or
/// empty.
///
/// Errors: 400 `code`, naming the field and the values it takes.
pub fn one_of<T: Copy>(
    field: &str,
    code: &'static str,
    raw: Option<&str>,
    allowed: &[(&str, T)],
) -> Result<Option<T>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => allowed
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(_, value)| Some(*value))
            .ok_or_else(|| {
                let names = allowed.iter().map(|(n, _)| *n).collect::<Vec<_>>();
                ApiError::bad_request(code, format!("{field}: one of {}", names.join(", ")))
            }),
    }
}

/// The phone number of the filter `field` (any form a number is written in) as E.164;
/// `None` when absent or empty.
///
/// Errors: 400 `invalid_number`, naming the field.
pub fn number(field: &str, raw: Option<&str>, region: Region) -> Result<Option<String>, ApiError> {
    raw.filter(|r| !r.is_empty())
        .map(|r| {
            PhoneNumber::parse(r, region)
                .map(String::from)
                .map_err(|e| ApiError::bad_request("invalid_number", format!("{field}: {e}")))
        })
        .transpose()
}
