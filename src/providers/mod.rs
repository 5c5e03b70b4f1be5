//! Provider adapters: each turns its provider's webhooks into flow events and renders the
//! flow's decisions in its own wire format. One module per provider, the same inner shape in
//! each: `params` (what the provider sends: a serde struct, every field optional, read through
//! [`lenient`]), `response` (render a decision), `auth` (signature or secret check).
//!
//! Owns: each provider's wire contract: parameters, signatures, answers. Must not touch: flow
//! rules (the call session decides; a handler reads, calls it, renders), SQL.

pub mod eight_by_eight;
pub mod exotel;
pub mod lenient;
pub mod plivo;
pub mod twilio;
pub mod vonage;
pub mod webhook;

use crate::domain::PhoneNumber;

/// The caller ID a bridge shows the dialled party: the virtual number the caller dialled
/// (E.164), or, when it did not parse, that number as the provider sent it; empty when neither
/// is known. Every adapter renders a bridge's caller ID through this.
pub fn caller_id_text(caller_id: Option<&PhoneNumber>, dialled: Option<&str>) -> String {
    caller_id
        .map(ToString::to_string)
        .or_else(|| dialled.map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_metrics_list_every_provider_by_its_own_name() {
        let providers = [
            super::exotel::PROVIDER,
            super::twilio::PROVIDER,
            super::plivo::PROVIDER,
            super::eight_by_eight::PROVIDER,
            super::vonage::PROVIDER,
        ];
        assert_eq!(crate::metrics::PROVIDERS, providers);
    }
}
