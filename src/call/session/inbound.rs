//! Identifying a call from what a provider sent.

use std::sync::Arc;

use super::Sessions;
use crate::domain::{CallSid, PhoneNumber};
use crate::storage::calls::CallKey;

/// One inbound call as a provider adapter identified it ([`Sessions::identify`]).
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The provider's name, part of the call's key (`exotel`).
    pub provider: &'static str,
    pub call_sid: CallSid,
    /// The caller, when the number parsed.
    pub caller: Option<PhoneNumber>,
    /// The caller as received, kept for the record when it did not parse.
    pub caller_raw: Option<String>,
    /// The dialled virtual number, when it parsed.
    pub virtual_number: Option<PhoneNumber>,
    /// The dialled number as received.
    pub virtual_number_raw: Option<String>,
}

impl Sessions {
    /// Identifies a call from what `provider` sent: its CallSid (`None` when it is missing or
    /// malformed: such a request gets its handler's fallback), the caller and the dialled
    /// number (read in [`super::SessionConfig::region`]; kept as received when they do not
    /// parse).
    pub fn identify(
        &self,
        provider: &'static str,
        call_sid: Option<&str>,
        caller: Option<&str>,
        dialled: Option<&str>,
    ) -> Option<Inbound> {
        let call_sid = CallSid::parse(call_sid?).ok()?;
        let region = self.config.region;
        let parse = |n: Option<&str>| n.and_then(|n| PhoneNumber::parse(n, region).ok());
        Some(Inbound {
            provider,
            call_sid,
            caller: parse(caller),
            // PostgreSQL can not store a NUL character; nothing that dials or reads needs one.
            caller_raw: caller.map(|c| c.replace('\0', "")),
            virtual_number: parse(dialled),
            virtual_number_raw: dialled.map(|d| d.replace('\0', "")),
        })
    }
}

impl Inbound {
    /// `provider:CallSid`, unique among all calls.
    pub fn key(&self) -> String {
        format!("{}:{}", self.provider, self.call_sid.as_ref())
    }

    /// The caller as the attempt limits key it: E.164, else `anonymous`. Callers who withhold
    /// their number, and caller IDs that are not a dialable number, share one allowance:
    /// a request can not earn a fresh one by sending a new string.
    pub fn caller_key(&self) -> String {
        self.caller
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |n| n.to_string())
    }

    /// The virtual number as the attempt limits and the guessing budget key it: E.164, else
    /// `unknown` (one budget for every dialled number that does not parse, which only orders
    /// valid on every number can match).
    pub fn virtual_number_key(&self) -> String {
        self.virtual_number
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string())
    }

    /// The call as its writes name it: each party in E.164 when it parsed, else as received.
    pub(super) fn write_key(&self) -> CallKey {
        let shared = |parsed: &Option<PhoneNumber>, raw: &Option<String>| {
            parsed
                .as_ref()
                .map(PhoneNumber::shared)
                .or_else(|| raw.as_deref().map(Arc::from))
        };
        CallKey {
            provider: self.provider,
            call_sid: self.call_sid.shared(),
            caller: shared(&self.caller, &self.caller_raw),
            virtual_number: shared(&self.virtual_number, &self.virtual_number_raw),
        }
    }
}
