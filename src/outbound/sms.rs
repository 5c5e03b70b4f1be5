//! The SMS after an unanswered call: when a masked call ends with no answer or busy, the party
//! who did not answer gets a text through Exotel's `Sms/send` telling them who tried to call
//! and which virtual number to call back (seed 003, "Add on Automations: Send an automated
//! SMS in case of unanswered calls").
//!
//! Who gets it: for a PIN call, the order's customer; for a booking call, the dialled party;
//! for a click-to-call, its `To` party, when its leg (Exotel's `Legs[1]`) was not answered.
//! Callback and fallback calls get none. The order or booking must still be active.
//!
//! At most one SMS per call, and per order (or booking) per `PINBRIDGE_SMS_COOLDOWN`, decided
//! in the database ([`storage::outbound::claim_sms`]) so that repeated deliveries and several
//! instances send one. Sending runs in the background: the webhook answer never waits for
//! Exotel. Logs carry the call id, the order or booking id and a masked number, never the
//! number or the text.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use minijinja::context;
use tokio::sync::Notify;

use crate::config::Settings;
use crate::domain::clock::now_ms;
use crate::domain::{BookingStatus, OrderStatus, PhoneNumber, log_safe};
use crate::outbound::exotel_api::{ExotelApi, SendSms};
use crate::storage::outbound::SmsClaim;
use crate::storage::{self, Db};

/// The shipped text (`templates/sms/unanswered.txt`), used when `PINBRIDGE_SMS_TEMPLATE` is
/// unset.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/sms/unanswered.txt");

/// The longest SMS `Body` Exotel takes, characters (`reference/exotel.md` §4.2).
pub const MAX_BODY_CHARS: usize = 2000;

/// The values an SMS template can use.
#[derive(Debug, Clone, Copy)]
pub struct SmsVars<'a> {
    /// The order's id; for a booking, its reference, else its id.
    pub order_id: &'a str,
    /// The booking's id; empty for an order.
    pub booking_id: &'a str,
    /// The number to call back (E.164): the virtual number the call came from.
    pub virtual_number: &'a str,
    /// `PINBRIDGE_BRAND`.
    pub brand: &'a str,
}

/// What an SMS template may name and produce in the [`crate::sandbox`]: at most
/// [`MAX_BODY_CHARS`] characters of four bytes.
pub const RULES: crate::sandbox::Rules = crate::sandbox::Rules {
    what: "the SMS text",
    variables: &["order_id", "booking_id", "virtual_number", "brand"],
    max_output_bytes: 4 * MAX_BODY_CHARS,
};

/// Renders an SMS template in the [`crate::sandbox`] (the greetings' rules and bounds, with
/// [`RULES`]), trimmed.
///
/// Errors: the template breaks a rule of the sandbox (a syntax error, an unknown variable, a
/// construct that is not allowed), or renders empty or longer than [`MAX_BODY_CHARS`]; the
/// message says which.
pub fn render(template: &str, vars: &SmsVars<'_>) -> Result<String, String> {
    let text = crate::sandbox::render(
        &RULES,
        template,
        context! {
            order_id => vars.order_id,
            booking_id => vars.booking_id,
            virtual_number => vars.virtual_number,
            brand => vars.brand,
        },
    )?;
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err("the text is empty".to_owned());
    }
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(format!(
            "the text is longer than {MAX_BODY_CHARS} characters"
        ));
    }
    Ok(text)
}

/// Checks `PINBRIDGE_SMS_TEMPLATE` (or the shipped default when `None`) by rendering it with
/// sample values. Errors as [`render`].
pub fn check_template(template: Option<&str>) -> Result<(), String> {
    let sample = SmsVars {
        order_id: "OD-1001",
        booking_id: "bk_sample",
        virtual_number: "+917314853246",
        brand: "pinbridge",
    };
    render(template.unwrap_or(DEFAULT_TEMPLATE), &sample).map(|_| ())
}

/// Which end report asks for the SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A flow call's dialled leg ended with no answer or busy (Exotel's `call-end` Passthru and
    /// the other providers' end reports): PIN and booking calls.
    DialOutcome,
    /// A click-to-call's status callback says its `To` leg was not answered.
    ClickToCall,
}

/// What one SMS decision came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Exotel accepted it: its `SMSMessage.Sid`.
    Sent { sid: String },
    /// None is due, and why (for the log).
    Skipped(&'static str),
}

/// The settings `PINBRIDGE_EXOTEL_*` that SMS needs and that are not set (empty: SMS is on).
pub fn missing_settings(settings: &Settings) -> Vec<&'static str> {
    let mut missing = settings.outbound.exotel_api.missing();
    if settings.outbound.sms.from.is_none() {
        missing.push("PINBRIDGE_EXOTEL_SMS_FROM");
    }
    missing
}

/// Sends the SMS after unanswered calls; shared by all workers.
#[derive(Debug)]
pub struct UnansweredSms {
    db: Db,
    api: Arc<ExotelApi>,
    from: String,
    dlt_entity_id: Option<String>,
    dlt_template_id: Option<String>,
    template: String,
    brand: String,
    cooldown_ms: i64,
    /// SMS decisions spawned and not finished ([`UnansweredSms::drain`]).
    in_flight: AtomicUsize,
    /// Woken when `in_flight` falls to zero.
    idle: Notify,
}

/// One spawned SMS decision, counted in its sender's `in_flight` until dropped: when the
/// decision ends, panics, or is dropped unrun.
struct Counted(Arc<UnansweredSms>);

impl Drop for Counted {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Whom one SMS goes to, and about what.
struct Target {
    /// `order:<id>` or `booking:<id>`: what the cooldown counts.
    subject: String,
    to: PhoneNumber,
    order_id: String,
    booking_id: String,
    virtual_number: String,
}

impl UnansweredSms {
    /// The sender, when SMS is on: the Exotel API client exists and `PINBRIDGE_EXOTEL_SMS_FROM`
    /// is set (see [`missing_settings`]).
    pub fn new(settings: &Settings, db: Db, api: Option<Arc<ExotelApi>>) -> Option<Self> {
        let sms = &settings.outbound.sms;
        Some(Self {
            db,
            api: api?,
            from: sms.from.clone()?,
            dlt_entity_id: sms.dlt_entity_id.clone(),
            dlt_template_id: sms.dlt_template_id.clone(),
            template: sms
                .template
                .clone()
                .unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned()),
            brand: settings.calls.brand.clone(),
            cooldown_ms: i64::try_from(sms.cooldown.as_millis()).unwrap_or(i64::MAX),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Decides and sends the SMS of the call `provider`/`call_sid` in the background, logging
    /// the result (call id, order or booking id, masked number).
    pub fn spawn(self: &Arc<Self>, provider: &'static str, call_sid: String, trigger: Trigger) {
        // Counted before the webhook answers, so that a drain that starts after the answer
        // waits for this decision.
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let counted = Counted(Arc::clone(self));
        tokio::spawn(async move {
            let this = &counted.0;
            match this.send_for(provider, &call_sid, trigger).await {
                Ok(Sent::Sent { sid }) => {
                    crate::metrics::sms("sent");
                    tracing::info!(provider, call.sid = %log_safe(&call_sid), sms.sid = %log_safe(&sid), "SMS sent after an unanswered call");
                }
                Ok(Sent::Skipped(why)) => {
                    crate::metrics::sms("skipped");
                    tracing::debug!(provider, call.sid = %log_safe(&call_sid), why, "no SMS after this unanswered call");
                }
                Err(e) => {
                    crate::metrics::sms("failed");
                    tracing::error!(provider, call.sid = %log_safe(&call_sid), error = %e, "the SMS after an unanswered call failed");
                }
            }
        });
    }

    /// Returns once every SMS decision spawned so far ([`UnansweredSms::spawn`]) has ended:
    /// sent, skipped or failed, and the outcome stored. Tests wait for it before they check
    /// that no SMS went out; nothing on the call path waits for it.
    pub async fn drain(&self) {
        loop {
            let idle = self.idle.notified();
            let mut idle = std::pin::pin!(idle);
            // Registered before the count is read: a decision ending in between still wakes it.
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Decides and sends the SMS of one call: finds whom it is for, claims it in the database
    /// (once per call, once per order or booking per cooldown), renders and sends it.
    ///
    /// Errors: the database's, Exotel's ([`crate::outbound::exotel_api::ExotelError`]) or the
    /// template's; a failed send gives the cooldown back.
    pub async fn send_for(
        &self,
        provider: &'static str,
        call_sid: &str,
        trigger: Trigger,
    ) -> anyhow::Result<Sent> {
        let Some(record) = storage::calls::get(&self.db, provider, call_sid).await? else {
            return Ok(Sent::Skipped("no call record"));
        };
        let route = record.route.as_deref();
        let due = match trigger {
            Trigger::DialOutcome => matches!(route, Some("pin" | "booking")),
            Trigger::ClickToCall => route == Some(storage::outbound::ROUTE),
        };
        if !due {
            return Ok(Sent::Skipped("not a route that sends SMS"));
        }
        let now = now_ms();
        let target = match (&record.order_id, &record.booking_id) {
            (Some(order_id), _) if route != Some("booking") => {
                self.order_target(order_id, record.virtual_number.as_deref(), now)
                    .await?
            }
            (_, Some(booking_id)) => {
                self.booking_target(booking_id, record.destination.as_deref(), now)
                    .await?
            }
            _ => None,
        };
        let Some(target) = target else {
            return Ok(Sent::Skipped("no active order or booking to text about"));
        };
        let claim = storage::outbound::claim_sms(
            &self.db,
            provider,
            call_sid,
            &target.subject,
            self.cooldown_ms,
            now,
        )
        .await?;
        match claim {
            SmsClaim::Claimed => {}
            SmsClaim::AlreadyDecided => return Ok(Sent::Skipped("decided before")),
            SmsClaim::CoolingDown => {
                return Ok(Sent::Skipped("one was sent within PINBRIDGE_SMS_COOLDOWN"));
            }
        }
        let sent = self.send(&target).await;
        let sid = sent.as_ref().ok().map(String::as_str);
        storage::outbound::finish_sms(&self.db, provider, call_sid, &target.subject, sid, now_ms())
            .await?;
        let sid = sent?;
        tracing::info!(
            provider,
            call.sid = %log_safe(call_sid),
            sms.subject = %log_safe(&target.subject),
            sms.to = %target.to.masked(),
            "SMS accepted by Exotel"
        );
        Ok(Sent::Sent { sid })
    }

    /// Renders and sends one SMS; Exotel's `SMSMessage.Sid`.
    async fn send(&self, target: &Target) -> anyhow::Result<String> {
        let body = render(
            &self.template,
            &SmsVars {
                order_id: &target.order_id,
                booking_id: &target.booking_id,
                virtual_number: &target.virtual_number,
                brand: &self.brand,
            },
        )
        .map_err(|e| anyhow::anyhow!("PINBRIDGE_SMS_TEMPLATE: {e}"))?;
        let sms = SendSms {
            from: self.from.clone(),
            to: target.to.clone(),
            body,
            dlt_entity_id: self.dlt_entity_id.clone(),
            dlt_template_id: self.dlt_template_id.clone(),
        };
        Ok(self.api.send_sms(&sms).await?.sid)
    }

    /// An active order's customer, and the number the call came from (the call's virtual
    /// number, else the order's).
    async fn order_target(
        &self,
        order_id: &str,
        call_virtual_number: Option<&str>,
        now: i64,
    ) -> Result<Option<Target>, crate::storage::Error> {
        let Some(order) = storage::orders::get(&self.db, order_id)
            .await?
            .filter(|o| o.status(now) == OrderStatus::Active)
        else {
            return Ok(None);
        };
        let to = order.customer_number;
        let Some(virtual_number) = call_virtual_number
            .map(str::to_owned)
            .or(order.virtual_number.map(String::from))
        else {
            return Ok(None);
        };
        Ok(Some(Target {
            subject: format!("order:{order_id}"),
            to,
            order_id: order.order_id,
            booking_id: String::new(),
            virtual_number,
        }))
    }

    /// The dialled party of an active booking (it must be one of its parties).
    async fn booking_target(
        &self,
        booking_id: &str,
        dialled: Option<&str>,
        now: i64,
    ) -> Result<Option<Target>, crate::storage::Error> {
        let Some(booking) = storage::bookings::get(&self.db, booking_id)
            .await?
            .filter(|b| b.status(now) == BookingStatus::Active)
        else {
            return Ok(None);
        };
        let Some(to) = dialled
            .filter(|d| {
                *d == booking.party_a.as_ref()
                    || booking.party_b.as_ref().is_some_and(|b| *d == b.as_ref())
            })
            .and_then(PhoneNumber::from_e164)
        else {
            return Ok(None);
        };
        Ok(Some(Target {
            subject: format!("booking:{booking_id}"),
            to,
            order_id: booking
                .reference
                .clone()
                .unwrap_or_else(|| booking.booking_id.clone()),
            booking_id: booking.booking_id,
            virtual_number: booking.virtual_number.into(),
        }))
    }
}

/// Texts the customer when the dialled party did not answer or was busy
/// ([`UnansweredSms`]), with SMS configured. In the background, decided once per
/// call in the database: a repeated delivery sends nothing more, and the answer never waits
/// for Exotel. For call ends written as they come and those written after an outage alike.
pub fn text_if_unanswered(
    sms: Option<&Arc<UnansweredSms>>,
    provider: &'static str,
    call_sid: &crate::domain::CallSid,
    outcome: crate::domain::Outcome,
) {
    use crate::domain::Outcome;
    if matches!(outcome, Outcome::NoAnswer | Outcome::Busy)
        && let Some(sms) = sms
    {
        sms.spawn(provider, call_sid.as_ref().to_owned(), Trigger::DialOutcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_text_names_the_order_and_the_number_to_call_back() {
        let vars = SmsVars {
            order_id: "OD-7",
            booking_id: "",
            virtual_number: "+917314853246",
            brand: "Swift",
        };
        assert_eq!(
            render(DEFAULT_TEMPLATE, &vars).unwrap(),
            "Your courier tried to call you about order OD-7; call back on +917314853246"
        );
        assert_eq!(
            render(" {{ booking_id }} ", &vars).unwrap_err(),
            "the text is empty"
        );
    }

    #[test]
    fn templates_are_checked() {
        assert!(check_template(None).is_ok());
        assert!(check_template(Some("{{ brand }} missed you; call {{ virtual_number }}")).is_ok());
        let e = check_template(Some("Call {{ phone }}")).unwrap_err();
        assert!(e.contains("unknown variable"), "{e}");
        assert!(check_template(Some("{% if %}")).is_err());
        assert!(check_template(Some("   ")).is_err());
        assert!(check_template(Some(&"x".repeat(MAX_BODY_CHARS + 1))).is_err());
    }

    #[test]
    fn the_sms_text_has_the_greetings_limits() {
        let doubling = "{% set ns = namespace(s=brand) %}{% for i in range(31) %}\
                        {% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
        let e = check_template(Some(doubling)).unwrap_err();
        assert!(
            e.starts_with(
                "`{% set %}` is not allowed in the SMS text (line 1): only text, \
                 {{ order_id }}, {{ booking_id }}, {{ virtual_number }} and {{ brand }}"
            ),
            "{e}"
        );
        let e = check_template(Some("{{ order_id * 100000 }}")).unwrap_err();
        assert!(e.starts_with("`*` is not allowed"), "{e}");
        // Past 2,000 characters of four bytes each, the sandbox stops writing.
        let long = format!("{{{{ '{}' ~ brand }}}}", "😀".repeat(MAX_BODY_CHARS));
        let e = check_template(Some(&long)).unwrap_err();
        assert_eq!(
            e,
            format!("it renders longer than {} bytes", 4 * MAX_BODY_CHARS)
        );
    }
}
