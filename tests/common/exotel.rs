//! The Exotel call a test places: the seed's applet requests, with a CallSid and a caller
//! of its own.

use super::VIRTUAL_NUMBER;

/// One inbound Exotel call: the seed's parameters with its own CallSid and caller.
#[derive(Debug, Clone)]
pub struct Call {
    /// Exotel's `CallSid`.
    pub sid: String,
    /// The caller (`CallFrom`, `From`), in the national form Exotel sends.
    pub from: String,
}

impl Call {
    /// The call `sid` from the seeds' courier, `07709562799`.
    pub fn new(sid: &str) -> Self {
        Self {
            sid: sid.into(),
            from: "07709562799".into(),
        }
    }

    /// The query string of an applet request in the PIN flow, shaped like the seed's Connect
    /// sample (seed 003, "Pin based Number"); `digits` is sent wrapped in quotes as Exotel does.
    pub fn query(&self, digits: Option<&str>) -> String {
        let mut pairs = vec![
            ("CallFrom", self.from.clone()),
            ("CallSid", self.sid.clone()),
            ("CallTo", VIRTUAL_NUMBER.into()),
            ("CallType", "call-attempt".into()),
            ("Created", "Fri, 16 Jul 2021 18:24:05".into()),
            ("CurrentTime", "2021-07-16 18:24:12".into()),
            ("DialCallDuration", "0".into()),
            ("DialCallStatus", "null".into()),
            ("DialWhomNumber", "".into()),
            ("Direction", "incoming".into()),
            ("EndTime", "1970-01-01 05:30:00".into()),
            ("ForwardedFrom", "null".into()),
            ("From", self.from.clone()),
            ("ProcessStatus", "null".into()),
            ("RecordingUrl", "null".into()),
            ("StartTime", "2021-07-16 18:24:05".into()),
            ("To", VIRTUAL_NUMBER.into()),
            ("flow_id", "383431".into()),
            ("tenant_id", "53926".into()),
        ];
        if let Some(d) = digits {
            pairs.push(("digits", format!("\"{d}\"")));
        }
        serde_urlencoded::to_string(pairs).unwrap()
    }
}
