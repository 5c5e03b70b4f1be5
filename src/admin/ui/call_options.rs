//! A bridge's own options (migration 0014) as the admin pages show them: one short line per
//! virtual number, order or booking; what is not set is the setting's, and not shown.

use crate::domain::CallOptions;

/// `o` in a few words (`hi · ring 20 s · up to 900 s · recorded · whisper`), `settings` when
/// nothing is set.
pub fn summary(o: &CallOptions) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(l) = &o.language {
        parts.push(l.clone());
    }
    if let Some(s) = o.ring_timeout_secs {
        parts.push(format!("ring {s} s"));
    }
    if let Some(s) = o.max_conversation_secs {
        parts.push(format!("up to {s} s"));
    }
    match o.record {
        Some(true) => parts.push("recorded".into()),
        Some(false) => parts.push("not recorded".into()),
        None => {}
    }
    match o.whisper {
        Some(true) => parts.push("whisper".into()),
        Some(false) => parts.push("no whisper".into()),
        None => {}
    }
    if parts.is_empty() {
        "settings".into()
    } else {
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_set_is_shown() {
        assert_eq!(summary(&CallOptions::default()), "settings");
        let o = CallOptions {
            language: Some("hi".into()),
            ring_timeout_secs: Some(20),
            max_conversation_secs: None,
            record: Some(false),
            whisper: Some(true),
        };
        assert_eq!(summary(&o), "hi · ring 20 s · not recorded · whisper");
    }
}
