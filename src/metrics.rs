//! Prometheus metrics: the recorder behind `GET /metrics`, and one function per metric so
//! that names and labels are written once.
//!
//! Every label value is a `&'static str` from a closed set (provider, applet, outcome,
//! decision, cache name, event type): never a phone number, a PIN, a CallSid or an order id,
//! which would leak personal data and make the series unbounded. One exception: the guessing
//! gauges ([`pin_exposure`]) are labelled with the virtual number, the business's own
//! published number (every customer sees it as caller ID), and only those with active PINs
//! or a budget spent have a series.
//!
//! The `metrics` facade records into one global recorder per process, installed by
//! [`install`] on the first call (every [`crate::app::startup::Application`] of the process, the
//! many a test binary starts included, shares it). Before that, recordings are dropped.
//!
//! Beside pinbridge's own metrics: the standard `process_*` metrics (CPU seconds, resident
//! memory, open file descriptors, start time; read at each scrape), `pinbridge_build_info`, and
//! the HTTP requests by status class, counted by the request log ([`crate::telemetry`]). Every
//! counter is shown from the start, at zero for each label set it can take: a series that
//! appears only at its first increment hides that increment from `rate()` and `increase()`,
//! and an alert on it has nothing to compare with until then.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Upper bounds of the latency histograms' buckets, in seconds: a webhook's budget is well
/// under one second.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The collector of the `process_*` metrics, read at each [`render`].
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// The providers as the metrics label them: each provider module's `PROVIDER`.
pub const PROVIDERS: [&str; 5] = ["exotel", "twilio", "plivo", "8x8", "vonage"];

/// The outcomes a call can end with, as `pinbridge_calls_total` labels them.
const ENDED: [crate::domain::Outcome; 8] = {
    use crate::domain::Outcome::*;
    [
        Connected, NoAnswer, Busy, Canceled, Failed, PinFailed, Abandoned, Unknown,
    ]
};

/// The providers whose calls the reconciler can look up (`outbound::call_details`).
const LOOKED_UP: [&str; 3] = ["exotel", "twilio", "plivo"];

/// The event types of the event webhooks (`outbound::events`), as
/// `pinbridge_event_deliveries_total` labels them.
const EVENT_TYPES: [&str; 9] = [
    "call.completed",
    "call.unanswered",
    "call.reconciled",
    "pin.locked",
    "pin.budget_spent",
    "booking.expired",
    "pool.allocation_refused",
    "pool.headroom_low",
    "booking.virtual_number_changed",
];

/// Installs the Prometheus recorder as the process's global `metrics` recorder, once, and
/// returns the handle that renders it. Later calls return the same handle. If another
/// recorder was installed first (by an embedding program), it stays, and the handle renders
/// an empty page; a warning says so.
///
/// Also starts a thread that drains histogram samples every 5 s, so that memory stays
/// bounded when nothing scrapes.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        // Only an empty bucket list is refused.
        let builder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        describe();
        let process = PROCESS.get_or_init(metrics_process::Collector::default);
        process.describe();
        ::metrics::gauge!("pinbridge_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        register_counters();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread");
        }
        handle
    })
}

/// The metrics in the Prometheus text exposition format (version 0.0.4), for `GET /metrics`.
pub fn render() -> String {
    let handle = install();
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    handle.render()
}

/// Shows every counter at zero for each label set it can take (see the module's
/// documentation). The webhook steps (`pinbridge_steps_total`, `pinbridge_step_fallbacks_total`)
/// are left to their first step: their applets and decisions differ by provider, and the
/// product of all of them would be mostly series that can never move.
fn register_counters() {
    use ::metrics::counter;
    let zero = |c: ::metrics::Counter| c.increment(0);
    for provider in PROVIDERS {
        for outcome in ENDED {
            zero(
                counter!("pinbridge_calls_total", "provider" => provider, "outcome" => outcome.as_str()),
            );
        }
        for outcome in ENDED {
            zero(
                counter!("pinbridge_calls_reconciled_total", "provider" => provider, "outcome" => outcome.as_str()),
            );
        }
        for name in [
            "pinbridge_wrong_pins_total",
            "pinbridge_pin_budget_refusals_total",
            "pinbridge_unsigned_requests_total",
            "pinbridge_replays_refused_total",
        ] {
            zero(counter!(name, "provider" => provider));
        }
    }
    for provider in LOOKED_UP {
        zero(counter!("pinbridge_reconcile_lookup_errors_total", "provider" => provider));
    }
    zero(counter!("pinbridge_pin_lockouts_total"));
    for scope in ["number", "every_number"] {
        zero(counter!("pinbridge_pin_budget_spent_total", "scope" => scope));
    }
    for result in ["hit", "miss"] {
        zero(
            counter!("pinbridge_cache_requests_total", "cache" => "call_state", "result" => result),
        );
    }
    for kind in ["unavailable", "statement"] {
        zero(counter!("pinbridge_database_errors_total", "kind" => kind));
    }
    for result in ["placed", "refused", "uncertain"] {
        zero(counter!("pinbridge_click_to_calls_total", "result" => result));
    }
    for result in ["sent", "skipped", "failed"] {
        zero(counter!("pinbridge_sms_total", "result" => result));
    }
    for kind in EVENT_TYPES {
        for result in ["delivered", "retry", "abandoned"] {
            zero(counter!("pinbridge_event_deliveries_total", "type" => kind, "result" => result));
        }
    }
    for class in crate::telemetry::STATUS_CLASSES {
        zero(counter!(crate::telemetry::HTTP_REQUESTS_TOTAL, "class" => class));
    }
}

fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "pinbridge_calls_total",
        "Call end reports recorded, by provider and the call's outcome (connected, no_answer, busy, canceled, failed, pin_failed, abandoned); a repeated report counts again."
    );
    describe_counter!(
        "pinbridge_calls_reconciled_total",
        "Calls whose end report never came, closed by the reconciler, by provider and the outcome given (from the provider's call-details API, or unknown)."
    );
    describe_counter!(
        "pinbridge_reconcile_lookup_errors_total",
        "Look-ups of a call at its provider's call-details API that gave no answer (no connection, timeout, HTTP error, unreadable answer), by provider."
    );
    describe_counter!(
        "pinbridge_steps_total",
        "Webhook steps answered, by provider, applet and decision."
    );
    describe_histogram!(
        "pinbridge_step_duration_seconds",
        Unit::Seconds,
        "Time pinbridge took to answer one webhook step, by provider and applet."
    );
    describe_counter!(
        "pinbridge_strangers_questions_total",
        "Questions to the business about callers with no route, by result (chosen, not_active, timeout, error, status, bad_answer)."
    );
    describe_counter!(
        "pinbridge_step_fallbacks_total",
        "Webhook steps answered with the safe fallback, by provider, applet and reason (storage, budget)."
    );
    describe_counter!(
        "pinbridge_wrong_pins_total",
        "Wrong PINs keyed, by provider."
    );
    describe_counter!(
        "pinbridge_pin_lockouts_total",
        "Callers locked out of PIN entry after too many wrong PINs."
    );
    describe_counter!(
        "pinbridge_pin_budget_spent_total",
        "Guessing budgets spent by a wrong PIN, by scope (number: one virtual number's; every_number: that of the orders valid on every number). Unknown callers are refused there until the budget leaks back."
    );
    describe_gauge!(
        "pinbridge_pin_density",
        "By virtual number (\"*\": the orders valid on every number): the chance that one guessed PIN of the densest length hits an active PIN reachable there."
    );
    describe_gauge!(
        "pinbridge_pin_guessing_exposure",
        "By virtual number (\"*\": the orders valid on every number): the customer numbers that wrong PINs keyed there over the last 24 hours could have reached, as an expectation."
    );
    describe_gauge!(
        "pinbridge_pin_budget_spent_ratio",
        "By virtual number (\"*\": the orders valid on every number): the share of its guessing budget spent now; at 1 or more, callers not known there are refused."
    );
    describe_counter!(
        "pinbridge_pin_budget_refusals_total",
        "PINs not taken because the number's guessing budget was spent and the caller was not known there, by provider."
    );
    describe_counter!(
        "pinbridge_unsigned_requests_total",
        "Webhook requests let in without any authentication because PINBRIDGE_UNSIGNED_PROVIDERS lists their provider (local testing only), by provider."
    );
    describe_counter!(
        "pinbridge_replays_refused_total",
        "Signed webhook requests refused because their one-time token (Plivo nonce, Vonage jti) was used before, by provider."
    );
    describe_counter!(
        "pinbridge_cache_requests_total",
        "Cache look-ups, by cache and result (hit, miss)."
    );
    describe_counter!(
        "pinbridge_database_errors_total",
        "Database errors, by kind (unavailable: unreachable or gone; statement: refused)."
    );
    describe_gauge!(
        "pinbridge_build_info",
        "Always 1, labelled with the version of the running pinbridge."
    );
    describe_counter!(
        crate::telemetry::HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by status class (1xx to 5xx)."
    );
    describe_counter!(
        "pinbridge_click_to_calls_total",
        "Click-to-call requests to Exotel, by result (placed, refused, uncertain)."
    );
    describe_counter!(
        "pinbridge_sms_total",
        "SMS after unanswered calls, by result (sent, skipped, failed)."
    );
    describe_gauge!(
        "pinbridge_events_backlog",
        "Events waiting for delivery to PINBRIDGE_EVENTS_URL (all instances)."
    );
    describe_counter!(
        "pinbridge_pool_allocations_refused_total",
        "Bookings refused pool_exhausted by this instance, by the country (ISO 3166-1 alpha-2, empty: any) and provider (any: none named) asked for."
    );
    describe_counter!(
        "pinbridge_event_deliveries_total",
        "Event delivery attempts, by event type and result (delivered, retry, abandoned)."
    );
    describe_counter!(
        "pinbridge_exotel_heartbeat_unknown_sids_total",
        "ExoPhone SIDs Exotel's heartbeat reported affected that no virtual number of the pool has (set its exotel_sid)."
    );
}

/// A call's end was recorded, the call's outcome then being `outcome`
/// ([`crate::call::flow::Outcome::as_str`]): `pinbridge_calls_total{provider, outcome}`. Counted per
/// end report: a report the provider delivers again, or a second report of the same call
/// (Twilio's status callback after its dial action), counts again.
pub fn call_ended(provider: &'static str, outcome: &'static str) {
    ::metrics::counter!("pinbridge_calls_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

/// The reconciler closed a call of `provider` whose end report never came, with `outcome`
/// ([`crate::domain::Outcome::as_str`]): `pinbridge_calls_reconciled_total{provider, outcome}`.
pub fn call_reconciled(provider: &'static str, outcome: &'static str) {
    ::metrics::counter!("pinbridge_calls_reconciled_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

/// A look-up at `provider`'s call-details API gave no answer:
/// `pinbridge_reconcile_lookup_errors_total{provider}`.
pub fn reconcile_lookup_error(provider: &'static str) {
    ::metrics::counter!("pinbridge_reconcile_lookup_errors_total", "provider" => provider)
        .increment(1);
}

/// One webhook step of `applet` answered `decision` ([`crate::call::flow::decision_name`]) after
/// `elapsed`: `pinbridge_steps_total{provider, applet, decision}` and the histogram
/// `pinbridge_step_duration_seconds{provider, applet}`.
pub fn step(
    provider: &'static str,
    applet: &'static str,
    decision: &'static str,
    elapsed: Duration,
) {
    ::metrics::counter!(
        "pinbridge_steps_total",
        "provider" => provider,
        "applet" => applet,
        "decision" => decision
    )
    .increment(1);
    ::metrics::histogram!(
        "pinbridge_step_duration_seconds",
        "provider" => provider,
        "applet" => applet
    )
    .record(elapsed.as_secs_f64());
}

/// A step answered its safe fallback because `reason` (`storage`: a database error,
/// `budget`: the time budget was spent): `pinbridge_step_fallbacks_total`.
pub fn step_fallback(provider: &'static str, applet: &'static str, reason: &'static str) {
    ::metrics::counter!(
        "pinbridge_step_fallbacks_total",
        "provider" => provider,
        "applet" => applet,
        "reason" => reason
    )
    .increment(1);
}

/// The business was asked about a caller with no route, with `result`: `chosen` (an
/// active party, order or the desk), `not_active` (it named none active on the number),
/// `timeout`, `error`, `status` or `bad_answer`: `pinbridge_strangers_questions_total`.
pub fn strangers_question(result: &'static str) {
    ::metrics::counter!("pinbridge_strangers_questions_total", "result" => result).increment(1);
}

/// A wrong PIN was keyed: `pinbridge_wrong_pins_total{provider}`.
pub fn wrong_pin(provider: &'static str) {
    ::metrics::counter!("pinbridge_wrong_pins_total", "provider" => provider).increment(1);
}

/// A webhook request was let in unchecked because `PINBRIDGE_UNSIGNED_PROVIDERS` lists its
/// provider: `pinbridge_unsigned_requests_total{provider}`.
pub fn unsigned_request(provider: &'static str) {
    ::metrics::counter!("pinbridge_unsigned_requests_total", "provider" => provider).increment(1);
}

/// A signed request was refused as a replay: `pinbridge_replays_refused_total{provider}`.
pub fn replay_refused(provider: &'static str) {
    ::metrics::counter!("pinbridge_replays_refused_total", "provider" => provider).increment(1);
}

/// A caller was locked out of PIN entry: `pinbridge_pin_lockouts_total`.
pub fn lockout() {
    ::metrics::counter!("pinbridge_pin_lockouts_total").increment(1);
}

/// A wrong PIN spent the last of a guessing budget: `pinbridge_pin_budget_spent_total{scope}`
/// (`number` or `every_number`).
pub fn pin_budget_spent(scope: &'static str) {
    ::metrics::counter!("pinbridge_pin_budget_spent_total", "scope" => scope).increment(1);
}

/// One virtual number's guessing gauges (`*`: the orders valid on every number).
#[derive(Debug, Clone, PartialEq)]
pub struct GuessingGauge {
    pub virtual_number: String,
    /// The chance that one guess hits, 0 to 1.
    pub density: f64,
    /// Customer numbers last day's wrong PINs could have reached, as an expectation.
    pub exposure: f64,
    /// The share of the budget spent now.
    pub spent_ratio: f64,
}

/// Sets the guessing gauges of every number in `gauges`, and zero for those in `shown` (the
/// numbers of the caller's earlier call) that are no longer there:
/// `pinbridge_pin_density`, `pinbridge_pin_guessing_exposure` and
/// `pinbridge_pin_budget_spent_ratio`, by `virtual_number`. `shown` becomes this call's.
pub fn pin_exposure(
    shown: &std::sync::Mutex<std::collections::BTreeSet<String>>,
    gauges: &[GuessingGauge],
) {
    let mut shown = shown
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = |g: &GuessingGauge| {
        let label = g.virtual_number.clone();
        ::metrics::gauge!("pinbridge_pin_density", "virtual_number" => label.clone())
            .set(g.density);
        ::metrics::gauge!("pinbridge_pin_guessing_exposure", "virtual_number" => label.clone())
            .set(g.exposure);
        ::metrics::gauge!("pinbridge_pin_budget_spent_ratio", "virtual_number" => label)
            .set(g.spent_ratio);
    };
    let now: std::collections::BTreeSet<String> =
        gauges.iter().map(|g| g.virtual_number.clone()).collect();
    for gone in shown.difference(&now) {
        set(&GuessingGauge {
            virtual_number: gone.clone(),
            density: 0.0,
            exposure: 0.0,
            spent_ratio: 0.0,
        });
    }
    for g in gauges {
        set(g);
    }
    *shown = now;
}

/// A PIN was not taken because the number's guessing budget was spent and the caller was not
/// known there: `pinbridge_pin_budget_refusals_total{provider}`.
pub fn pin_budget_refusal(provider: &'static str) {
    ::metrics::counter!("pinbridge_pin_budget_refusals_total", "provider" => provider).increment(1);
}

/// A look-up in the cache `name` (`call_state`, ...) hit or missed:
/// `pinbridge_cache_requests_total{cache, result}`.
pub fn cache(name: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    ::metrics::counter!("pinbridge_cache_requests_total", "cache" => name, "result" => result)
        .increment(1);
}

/// A database error: `pinbridge_database_errors_total{kind}`, `kind` being `unavailable`
/// (the database unreachable, gone, full or read-only) or `statement`.
pub fn database_error(unavailable: bool) {
    let kind = if unavailable {
        "unavailable"
    } else {
        "statement"
    };
    ::metrics::counter!("pinbridge_database_errors_total", "kind" => kind).increment(1);
}

/// `pinbridge_events_backlog`: events waiting for delivery.
pub fn events_backlog(pending: i64) {
    // Exact up to 2^53 events.
    ::metrics::gauge!("pinbridge_events_backlog").set(pending as f64);
}

/// A click-to-call request to Exotel's `Calls/connect` came to `result`: `placed`, `refused`
/// (Exotel said no) or `uncertain` (no answer that says whether the call was placed):
/// `pinbridge_click_to_calls_total{result}`.
pub fn click_to_call(result: &'static str) {
    ::metrics::counter!("pinbridge_click_to_calls_total", "result" => result).increment(1);
}

/// The SMS after an unanswered call came to `result`: `sent`, `skipped` (cooldown, already
/// sent, nothing to text) or `failed`: `pinbridge_sms_total{result}`.
pub fn sms(result: &'static str) {
    ::metrics::counter!("pinbridge_sms_total", "result" => result).increment(1);
}

/// One delivery attempt of an event of type `kind` came to `result` (`delivered`, `retry`,
/// `abandoned`): `pinbridge_event_deliveries_total{type, result}`.
pub fn event_delivery(kind: &'static str, result: &'static str) {
    ::metrics::counter!("pinbridge_event_deliveries_total", "type" => kind, "result" => result)
        .increment(1);
}

/// Exotel's heartbeat reported `n` affected ExoPhone SIDs that no number of the pool has:
/// `pinbridge_exotel_heartbeat_unknown_sids_total`. No label: a SID is not shown.
pub fn heartbeat_unknown_sids(n: usize) {
    ::metrics::counter!("pinbridge_exotel_heartbeat_unknown_sids_total")
        .increment(u64::try_from(n).unwrap_or(u64::MAX));
}

/// A booking was refused `pool_exhausted`: `pinbridge_pool_allocations_refused_total{country,
/// provider}`. `country` is an ISO 3166-1 alpha-2 code (or empty) and `provider` one of
/// [`PROVIDERS`] or `any`: a bounded set, never a party's number.
pub fn allocation_refused(country: &str, provider: &str) {
    ::metrics::counter!(
        "pinbridge_pool_allocations_refused_total",
        "country" => country.to_owned(),
        "provider" => provider.to_owned()
    )
    .increment(1);
}

/// A gauge of the pool: its name, its help text, and its value for one country and provider.
type PoolGauge = (
    &'static str,
    &'static str,
    fn(&crate::storage::pool::PoolGroup) -> i64,
);

/// The pool's gauges in the Prometheus text format, from the database of the app that is
/// scraped (not the process's recorder, which every app of a test process shares), one
/// series per country and provider: `pinbridge_pool_numbers`, `pinbridge_pool_healthy_numbers`,
/// `pinbridge_pool_allocatable_numbers`, `pinbridge_pool_busiest_party_load` and
/// `pinbridge_pool_headroom`. Shows `pinbridge_pool_allocations_refused_total` at zero for
/// each of them, so that its first refusal is seen by `increase()`.
pub fn pool_gauges(groups: &[crate::storage::pool::PoolGroup]) -> String {
    use std::fmt::Write;
    for g in groups {
        ::metrics::counter!(
            "pinbridge_pool_allocations_refused_total",
            "country" => g.country.clone(),
            "provider" => g.provider.clone()
        )
        .increment(0);
    }
    let mut out = String::new();
    let gauges: [PoolGauge; 5] = [
        (
            "pinbridge_pool_numbers",
            "Virtual numbers in the pool, reserved and drained ones included, by country and provider.",
            |g| g.numbers,
        ),
        (
            "pinbridge_pool_healthy_numbers",
            "Virtual numbers that take calls, by country and provider (all of them until numbers have a health).",
            |g| g.healthy,
        ),
        (
            "pinbridge_pool_allocatable_numbers",
            "Virtual numbers allocation may give (not reserved, not drained), by country and provider.",
            |g| g.allocatable,
        ),
        (
            "pinbridge_pool_busiest_party_load",
            "The most bookings one party has active on these numbers, by country and provider.",
            |g| g.busiest_load,
        ),
        (
            "pinbridge_pool_headroom",
            "Allocatable numbers less the busiest party's load: the further bookings that party can be given, by country and provider.",
            crate::storage::pool::PoolGroup::headroom,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for g in groups.iter().filter(|g| g.numbers > 0) {
            let _ = writeln!(
                out,
                "{name}{{country=\"{}\",provider=\"{}\"}} {}",
                label(&g.country),
                label(&g.provider),
                value(g)
            );
        }
    }
    out
}

/// A label value escaped as the text format asks (backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::pool::PoolGroup;

    #[test]
    fn the_pool_gauges_are_one_series_per_country_and_provider_with_their_headroom() {
        let group = |country: &str, provider: &str, numbers, busiest| PoolGroup {
            country: country.into(),
            provider: provider.into(),
            numbers,
            healthy: numbers,
            allocatable: numbers,
            busiest_load: busiest,
            refused: 0,
        };
        let text = pool_gauges(&[group("IN", "exotel", 5, 3), group("", "any", 0, 0)]);
        assert!(
            text.contains("pinbridge_pool_headroom{country=\"IN\",provider=\"exotel\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "pinbridge_pool_busiest_party_load{country=\"IN\",provider=\"exotel\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE pinbridge_pool_numbers gauge"),
            "{text}"
        );
        // A country and provider with refusals and no number has no gauge to show.
        assert!(!text.contains("provider=\"any\""), "{text}");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
