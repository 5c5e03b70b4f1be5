//! Exotel's heartbeat webhook: the health of the account's ExoPhones, posted as JSON every
//! few minutes (<https://developer.exotel.com/api/heartbeat-webhook>, docs/providers.md).
//!
//! The body: `timestamp` (RFC 3339), `status_type` (`OK`, `WARNING`, `CRITICAL`,
//! `PAYLOAD_TOO_LARGE`), `incoming_affected` and `outgoing_affected` (arrays of ExoPhone
//! SIDs), and `data`, an object keyed by `phone_number_sid` with the details of each affected
//! ExoPhone. ExoPhones are named by SID only ("may not always be same as your phone number"),
//! so a number is matched by the `exotel_sid` set on it.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};

/// A heartbeat as posted; every field optional but `status_type`.
#[derive(Debug, Deserialize)]
pub struct Heartbeat {
    /// RFC 3339; logged, not used.
    #[serde(default)]
    pub timestamp: Option<String>,
    pub status_type: String,
    #[serde(default)]
    pub incoming_affected: Option<Vec<String>>,
    #[serde(default)]
    pub outgoing_affected: Option<Vec<String>>,
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
}

impl Heartbeat {
    /// The SIDs whose incoming calls are affected: those in `incoming_affected`, and those
    /// whose `data` entry gives `incoming_call.status` `major_outage` (at its top level or
    /// under `connectivity`, as the ExoPhone details API nests it). Outgoing trouble alone
    /// leaves a number in use: callers reach parties through incoming calls.
    pub fn incoming_affected(&self) -> HashSet<String> {
        let mut sids: HashSet<String> = self
            .incoming_affected
            .iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        for (sid, entry) in self.data.iter().flatten() {
            let status = |e: &Value| {
                e.get("incoming_call")
                    .and_then(|c| c.get("status"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let found = status(entry).or_else(|| entry.get("connectivity").and_then(status));
            if found.as_deref() == Some("major_outage") {
                sids.insert(sid.clone());
            }
        }
        sids
    }

    /// Whether the heartbeat lists every affected ExoPhone: `OK`, `WARNING` and `CRITICAL`
    /// do; `PAYLOAD_TOO_LARGE` (over Exotel's 10 MB) and any other status do not, so numbers
    /// missing from it are not taken to be well.
    pub fn is_complete(&self) -> bool {
        matches!(self.status_type.as_str(), "OK" | "WARNING" | "CRITICAL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_trouble_is_read_from_the_list_and_the_details() {
        let hb: Heartbeat = serde_json::from_str(
            r#"{"timestamp":"2018-08-22T15:19:23Z","status_type":"WARNING",
                "incoming_affected":["sid1"],"outgoing_affected":["sid4"],
                "data":{"sid1":{},"sid2":{"incoming_call":{"status":"major_outage"}},
                        "sid3":{"connectivity":{"incoming_call":{"status":"major_outage"}}},
                        "sid4":{"outgoing_call":{"status":"major_outage"},
                                "incoming_call":{"status":"active"}}}}"#,
        )
        .unwrap();
        let mut got: Vec<_> = hb.incoming_affected().into_iter().collect();
        got.sort();
        assert_eq!(got, ["sid1", "sid2", "sid3"]);
        assert!(hb.is_complete());
    }

    #[test]
    fn a_cut_heartbeat_is_not_complete() {
        let hb: Heartbeat =
            serde_json::from_str(r#"{"status_type":"PAYLOAD_TOO_LARGE","data":null}"#).unwrap();
        assert!(hb.incoming_affected().is_empty());
        assert!(!hb.is_complete());
    }
}
