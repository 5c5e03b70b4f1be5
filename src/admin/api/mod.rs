//! The JSON admin API under `/api/v1`: orders, bookings and the pool, trusted callers, the call
//! log and click-to-call. Bearer-token auth ([`super::AdminAuth`]); errors as
//! `{"error": {"code", "message"}}` ([`super::error::ApiError`]).
//!
//! Owns: the JSON shapes and validation of the admin API. Must not touch: SQL (storage), HTML
//! (the UI), provider formats.

pub mod bookings;
pub mod calls;
pub mod click_to_call;
pub mod orders;
pub mod trusted_callers;
pub mod virtual_numbers;
