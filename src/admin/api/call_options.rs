//! The fields of a bridge's own options (migration 0014) as the API takes and shows them on
//! orders, bookings and virtual numbers: `language`, `ring_timeout_secs`,
//! `max_conversation_secs`, `record`, `whisper`. `null` (or absent) inherits: an order's or
//! booking's value, else its virtual number's, else the setting.

use serde::{Deserialize, Deserializer};

use crate::domain::{CallOptionError, CallOptions, CallOptionsChange};
use crate::http::error::ApiError;

/// For a PATCH field: absent is `None` (kept), `null` is `Some(None)` (cleared: inherits
/// again), a value is `Some(Some(value))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The 400 of an option out of its bounds: `invalid_language`, `invalid_ring_timeout_secs` or
/// `invalid_max_conversation_secs`, the message naming the field and its bounds.
pub fn error(e: CallOptionError) -> ApiError {
    let code = match e.field {
        "language" => "invalid_language",
        "ring_timeout_secs" => "invalid_ring_timeout_secs",
        _ => "invalid_max_conversation_secs",
    };
    ApiError::bad_request(code, e.message)
}

/// Checks a new order's or booking's options and lower-cases its language.
///
/// Errors: [`error`]'s.
pub fn checked(mut options: CallOptions) -> Result<CallOptions, ApiError> {
    if let Some(l) = &options.language {
        options.language = Some(crate::domain::parse_language(l).map_err(error)?);
    }
    options.check().map_err(error)?;
    Ok(options)
}

/// Checks a change of options.
///
/// Errors: [`error`]'s.
pub fn checked_change(mut change: CallOptionsChange) -> Result<CallOptionsChange, ApiError> {
    change.check().map_err(error)?;
    Ok(change)
}
