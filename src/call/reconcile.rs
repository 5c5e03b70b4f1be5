//! The reconciler: closes the records of calls whose end report never came (Exotel's status
//! callback, Twilio's `<Dial action>` and status callback, Plivo's hangup, 8x8's and
//! Vonage's events), which would otherwise stay `in_progress` forever.
//!
//! Every instance runs it ([`Reconciler::spawn`]), every `PINBRIDGE_RECONCILE_INTERVAL`:
//!
//! 1. It reads the oldest calls without an end that started longer than
//!    `PINBRIDGE_RECONCILE_AFTER` ago, [`BATCH`] at a time
//!    ([`storage::calls::open_calls`]).
//! 2. It claims each with a conditional update ([`storage::calls::claim_open`]): with several
//!    instances on one PostgreSQL, one of them reconciles a call, the others skip it.
//! 3. Past `PINBRIDGE_RECONCILE_GIVE_UP` after its start, the call is closed as `unknown`.
//!    Before that, a call whose provider can be asked ([`CallDetails::can_look_up`]) is looked
//!    up: ended there, it is closed with the outcome found ([`end_of`]); still going, it is
//!    looked at again `PINBRIDGE_RECONCILE_AFTER` later; a look-up that fails is tried again
//!    as late, and after [`MAX_LOOKUP_ERRORS`] failures in a row the call is closed as
//!    `unknown`. A call whose provider can not be asked (8x8, Vonage, or no REST credentials)
//!    waits for the give-up deadline, since its end report may still come.
//!
//! A call is closed through [`Sessions::close_unreported`], the write of a provider's end
//! report: the call log, the callbacks (a closed call's bridge still answers a callback) and
//! `call.completed` / `call.unanswered` stay as they would have been. Then
//! `pinbridge_calls_reconciled_total`, one log line (provider, masked CallSid, outcome, why)
//! and the event `call.reconciled`. A provider's end report that arrives after all still
//! writes its values over the reconciler's.

use std::sync::Arc;
use std::time::Duration;

use crate::call::flow::{DialStatus, Outcome};
use crate::call::session::Sessions;
use crate::domain::PROVIDERS;
use crate::domain::clock::now_ms;
use crate::outbound::call_details::{CallDetails, Ended, Found};
use crate::outbound::events::{CallData, EventKind, Events, ReconciledData};
use crate::storage::calls::{CallEnd, OpenCall};
use crate::storage::{self, Db};

/// Calls read and looked at per batch.
pub const BATCH: i64 = 50;

/// Batches per round at most: a backlog (calls left open before the reconciler ran) is
/// worked off a few thousand calls a round, not one batch an interval.
const MAX_BATCHES: usize = 40;

/// Failed look-ups in a row after which a call is closed as `unknown`.
pub const MAX_LOOKUP_ERRORS: i64 = 5;

/// How long a claim holds a call: longer than a look-up may take.
const CLAIM: Duration = Duration::from_secs(15);

/// When the reconciler acts, from `PINBRIDGE_RECONCILE_*` ([`crate::config::Reconcile`]).
#[derive(Debug, Clone, Copy)]
pub struct ReconcileTimes {
    /// A call open this long after its start is looked up; one still going, again as late.
    pub after: Duration,
    /// A call open this long after its start is closed as `unknown`.
    pub give_up: Duration,
    /// How often a round runs.
    pub interval: Duration,
}

impl From<&crate::config::Reconcile> for ReconcileTimes {
    fn from(r: &crate::config::Reconcile) -> Self {
        Self {
            after: r.after,
            give_up: r.give_up,
            interval: r.interval,
        }
    }
}

/// Why a call was closed: the `reason` of `call.reconciled` and of the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    ProviderStatus,
    LookupErrors,
    GaveUp,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::ProviderStatus => "provider_status",
            Self::LookupErrors => "lookup_errors",
            Self::GaveUp => "gave_up",
        }
    }
}

/// The reconciler of one instance. Cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    sessions: Sessions,
    db: Db,
    details: Arc<CallDetails>,
    events: Events,
    times: ReconcileTimes,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The end to record for a call that its provider says has ended, `bridged` or not.
///
/// The dialled leg's own status, when the provider tells it (Exotel's `Leg2Status`), says how
/// a bridged call ended. Else the call's status does: `completed` after a bridge with a
/// duration above zero is `connected`; `completed` after a bridge without one can not be told
/// apart and is `unknown`; `completed` without a bridge is left to the call's phase
/// (`abandoned`, or `pin_failed` when its PIN attempts were used up); `busy`, `no-answer`,
/// `failed` and `canceled` are those outcomes. The seconds of conversation are the provider's
/// conversation duration, else, for a connected call, the call's duration (menus included).
pub fn end_of(found: &Ended, bridged: bool) -> CallEnd {
    let answered = found.duration_secs.is_some_and(|d| d > 0);
    let (dial_status, unknown) = match (bridged, found.dialled_leg, found.status) {
        (true, Some(leg), _) => (Some(leg), false),
        (true, None, DialStatus::Completed) if answered => (Some(DialStatus::Completed), false),
        (true, None, DialStatus::Completed) => (None, true),
        (false, _, DialStatus::Completed) => (None, false),
        (_, _, other) => (Some(other), false),
    };
    let connected = dial_status == Some(DialStatus::Completed);
    CallEnd {
        dial_status,
        dial_call_status: dial_status.map(|_| found.raw_status.clone()),
        talk_secs: found
            .talk_secs
            .or(if connected { found.duration_secs } else { None }),
        outcome: unknown.then_some(Outcome::Unknown),
        ..CallEnd::default()
    }
}

/// The end of a call closed without knowing how it ended.
fn unknown_end() -> CallEnd {
    CallEnd {
        outcome: Some(Outcome::Unknown),
        ..CallEnd::default()
    }
}

impl Reconciler {
    /// The reconciler closing calls through `sessions`, reading them in `db`, asking
    /// `details`, telling `events`, at `times`.
    pub fn new(
        sessions: Sessions,
        db: Db,
        details: Arc<CallDetails>,
        events: Events,
        times: ReconcileTimes,
    ) -> Self {
        Self {
            sessions,
            db,
            details,
            events,
            times,
        }
    }

    /// Runs a round every [`ReconcileTimes::interval`] on the current Tokio runtime, until
    /// the database is closed (the server stopped). Logs once which providers' calls can be
    /// looked up.
    pub fn spawn(self) {
        tracing::info!(
            looked_up = %self.details.providers().join(", "),
            after_secs = self.times.after.as_secs(),
            give_up_secs = self.times.give_up.as_secs(),
            "reconciler on: calls without an end report are looked up at these providers, and closed as unknown at the give-up deadline"
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.times.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if self.sessions.is_closed() {
                    break;
                }
                if let Err(e) = self.round().await {
                    if self.sessions.is_closed() {
                        break;
                    }
                    crate::metrics::database_error(e.is_unavailable());
                    tracing::error!(error = %e, "reconciler round failed");
                }
            }
        });
    }

    /// One round: batches of open calls until one closes or puts back none, or
    /// [`MAX_BATCHES`]. Returns how many calls it closed.
    ///
    /// Errors: the database's.
    pub async fn round(&self) -> Result<usize, storage::Error> {
        let mut closed = 0;
        for _ in 0..MAX_BATCHES {
            let now = now_ms();
            let open = storage::calls::open_calls(
                &self.db,
                now.saturating_sub(ms(self.times.after)),
                now,
                BATCH,
            )
            .await?;
            let mut handled = 0;
            for call in &open {
                match self.reconcile(call).await? {
                    Handled::Closed => {
                        closed += 1;
                        handled += 1;
                    }
                    Handled::PutBack => handled += 1,
                    Handled::Skipped => {}
                }
            }
            if open.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) || handled == 0 {
                break;
            }
        }
        Ok(closed)
    }

    /// Claims `call` and closes it or puts it back.
    async fn reconcile(&self, call: &OpenCall) -> Result<Handled, storage::Error> {
        let now = now_ms();
        if !storage::calls::claim_open(
            &self.db,
            &call.provider,
            &call.call_sid,
            now,
            now.saturating_add(ms(CLAIM)),
        )
        .await?
        {
            return Ok(Handled::Skipped);
        }
        let give_up_at = call.started_at.saturating_add(ms(self.times.give_up));
        let provider = PROVIDERS.iter().find(|p| **p == call.provider).copied();
        let put_back = |next: i64, errors: i64| {
            storage::calls::release(&self.db, &call.provider, &call.call_sid, next, errors)
        };
        let Some(provider) = provider else {
            // Not a provider pinbridge has: nothing to close it through.
            put_back(i64::MAX, call.reconcile_errors).await?;
            return Ok(Handled::PutBack);
        };
        if now >= give_up_at {
            return self
                .close(call, provider, &unknown_end(), Reason::GaveUp, None)
                .await;
        }
        if !self.details.can_look_up(provider) {
            put_back(give_up_at, call.reconcile_errors).await?;
            return Ok(Handled::PutBack);
        }
        let again = now.saturating_add(ms(self.times.after)).min(give_up_at);
        match self.details.look_up(provider, &call.call_sid).await {
            Ok(Found::Ended(ended)) => {
                let end = end_of(&ended, call.bridged());
                self.close(
                    call,
                    provider,
                    &end,
                    Reason::ProviderStatus,
                    Some(ended.raw_status),
                )
                .await
            }
            Ok(Found::Live { status }) => {
                tracing::debug!(provider, provider.status = %status, "call still going at its provider");
                put_back(again, 0).await?;
                Ok(Handled::PutBack)
            }
            Err(e) => {
                crate::metrics::reconcile_lookup_error(provider);
                let errors = call.reconcile_errors.saturating_add(1);
                tracing::warn!(provider, errors, error = %e, "call-details look-up failed");
                if errors >= MAX_LOOKUP_ERRORS {
                    return self
                        .close(call, provider, &unknown_end(), Reason::LookupErrors, None)
                        .await;
                }
                put_back(again, errors).await?;
                Ok(Handled::PutBack)
            }
        }
    }

    /// Closes `call` with `end`; counts it, logs it and emits `call.reconciled`.
    async fn close(
        &self,
        call: &OpenCall,
        provider: &'static str,
        end: &CallEnd,
        reason: Reason,
        provider_status: Option<String>,
    ) -> Result<Handled, storage::Error> {
        let Some(inbound) = self.sessions.identify(
            provider,
            Some(&call.call_sid),
            call.caller.as_deref(),
            call.virtual_number.as_deref(),
        ) else {
            // A stored id that is no CallSid can not be written through the call path.
            storage::calls::release(
                &self.db,
                &call.provider,
                &call.call_sid,
                i64::MAX,
                call.reconcile_errors,
            )
            .await?;
            return Ok(Handled::PutBack);
        };
        let outcome = self
            .sessions
            .close_unreported(&inbound, end, now_ms())
            .await?;
        crate::metrics::call_reconciled(provider, outcome.as_str());
        tracing::info!(
            provider,
            call.sid = %inbound.call_sid.for_log(),
            outcome = outcome.as_str(),
            reason = reason.as_str(),
            "call without an end report closed by the reconciler"
        );
        self.announce(provider, &call.call_sid, outcome, reason, provider_status)
            .await;
        Ok(Handled::Closed)
    }

    /// Emits `call.reconciled`; failures are logged, the record is closed either way.
    async fn announce(
        &self,
        provider: &'static str,
        call_sid: &str,
        outcome: Outcome,
        reason: Reason,
        provider_status: Option<String>,
    ) {
        if !self.events.is_enabled() {
            return;
        }
        let record = match storage::calls::get(&self.db, provider, call_sid).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(provider, error = %e, "call.reconciled not stored");
                return;
            }
        };
        let data = ReconciledData {
            call: CallData::of(record, outcome),
            reason: reason.as_str().to_owned(),
            provider_status,
        };
        let key = format!("call.reconciled:{provider}:{call_sid}");
        if let Err(e) = self
            .events
            .emit(EventKind::CallReconciled, &key, data.to_json())
            .await
        {
            tracing::warn!(provider, error = %e, "call.reconciled not stored");
        }
    }
}

/// What became of one open call in a round.
enum Handled {
    Closed,
    PutBack,
    /// Another reconciler holds it, or it ended meanwhile.
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(status: DialStatus, duration: Option<i64>, leg: Option<DialStatus>) -> Ended {
        Ended {
            status,
            raw_status: "raw".into(),
            duration_secs: duration,
            talk_secs: None,
            dialled_leg: leg,
        }
    }

    #[test]
    fn provider_statuses_become_the_outcomes_of_the_call_log() {
        use DialStatus::*;
        let bridged = crate::domain::Phase::Resolved {
            order_id: "o".into(),
        };
        let outcome = |e: &Ended, was_bridged: bool, phase: &crate::domain::Phase| {
            let end = end_of(e, was_bridged);
            end.outcome
                .unwrap_or_else(|| Outcome::of(phase, end.dial_status, true))
        };
        for (found, want) in [
            (ended(Completed, Some(40), None), Outcome::Connected),
            (ended(Completed, Some(0), None), Outcome::Unknown),
            (
                ended(Completed, Some(40), Some(NoAnswer)),
                Outcome::NoAnswer,
            ),
            (ended(Busy, Some(0), None), Outcome::Busy),
            (ended(NoAnswer, None, None), Outcome::NoAnswer),
            (ended(Failed, None, None), Outcome::Failed),
            (ended(Canceled, None, None), Outcome::Canceled),
        ] {
            assert_eq!(outcome(&found, true, &bridged), want, "{found:?}");
        }
        let collecting = crate::domain::Phase::CollectingPin;
        assert_eq!(
            outcome(&ended(Completed, Some(30), None), false, &collecting),
            Outcome::Abandoned
        );
        assert_eq!(
            outcome(
                &ended(Completed, Some(30), None),
                false,
                &crate::domain::Phase::Exhausted
            ),
            Outcome::PinFailed
        );
        let connected = end_of(&ended(Completed, Some(40), None), true);
        assert_eq!(connected.talk_secs, Some(40));
        assert_eq!(connected.dial_call_status.as_deref(), Some("raw"));
        let abandoned = end_of(&ended(Completed, Some(30), None), false);
        assert_eq!(
            (abandoned.talk_secs, abandoned.dial_call_status),
            (None, None)
        );
    }
}
