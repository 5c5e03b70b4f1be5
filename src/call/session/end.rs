//! The end of a call (or of its dialled leg), as a provider reports it: the record's outcome,
//! the metric, the business's event and the SMS after an unanswered call. When the database
//! is unreachable or too slow, the end waits in memory ([`super::pending`]) and is written
//! when it answers again.

use std::time::Duration;

use super::{Inbound, Sessions};
use crate::call::flow::{self, Outcome};
use crate::domain::PhoneNumber;
use crate::domain::clock::now_ms;
use crate::outbound::events::{CallData, EventKind};
use crate::storage::{self, calls::CallEnd};
use crate::telemetry::StepLine;

/// How often the call ends kept through an outage are retried while there are some.
const RETRY_EVERY: Duration = Duration::from_secs(1);

impl Sessions {
    /// Records the end of a call (or of its dialled leg) reported to `applet`; failures are
    /// logged, never answered: the provider gets its acknowledgement whatever happens. A
    /// report without a usable call (`None`) is logged and dropped. When the database is
    /// unreachable or too slow, the end is kept and written when it answers again.
    pub async fn record_end(&self, applet: &'static str, call: Option<&Inbound>, end: &CallEnd) {
        let Some(call) = call else {
            tracing::warn!(applet, "status report without a usable call id");
            return;
        };
        let at = now_ms();
        let mut end = end.clone();
        if let Some(desk) = &self.config.fallback_number
            && (self.bridged_to(desk, &end) || self.fallback_bridged.contains_key(&call.key()))
        {
            end.fallback_to = Some(desk.to_string());
        }
        let write = self.write_end(call, &end, at);
        match tokio::time::timeout(self.config.webhook_timeout, write).await {
            Ok(Ok(outcome)) => crate::telemetry::log_step(StepLine::Ended {
                provider: call.provider,
                applet,
                call_sid: call.call_sid.as_ref().to_owned(),
                outcome: Outcome::as_str(outcome),
            }),
            Ok(Err(e)) if !e.is_unavailable() => {
                tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), error = %e, "call end not recorded");
            }
            // Unreachable or too slow: kept, and written when the database answers again
            // (writing an end twice is harmless).
            _ => self.pending.push(call.clone(), end, at),
        }
    }

    /// Stores where the recording of `call` is (a provider's recording callback), within the
    /// webhook time budget; nothing else of the call changes. Failures are logged, never
    /// answered: the provider gets its acknowledgement. A report without a usable call
    /// (`None`) is logged and dropped.
    pub async fn record_recording(&self, applet: &'static str, call: Option<&Inbound>, url: &str) {
        let Some(call) = call else {
            tracing::warn!(applet, "recording report without a usable call id");
            return;
        };
        let write =
            storage::calls::set_recording_url(&self.db, call.provider, call.call_sid.as_ref(), url);
        match tokio::time::timeout(self.config.webhook_timeout, write).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), "recording of an unknown call not stored");
            }
            Ok(Err(e)) => {
                tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), error = %e, "recording URL not stored");
            }
            Err(_) => {
                tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), "time budget spent; recording URL not stored");
            }
        }
    }

    /// True when the provider reports having dialled `desk` (the steps may have run on
    /// another instance).
    fn bridged_to(&self, desk: &PhoneNumber, end: &CallEnd) -> bool {
        end.dialled
            .as_deref()
            .and_then(|d| PhoneNumber::parse(d, self.config.region).ok())
            .is_some_and(|d| d == *desk)
    }

    /// Closes a call whose end report never came with the end the reconciler found
    /// (`crate::call::reconcile`), through the same write as a provider's end report: the
    /// record ([`storage::calls::record_end`]), `pinbridge_calls_total`, and `call.completed`
    /// or `call.unanswered` ([`Self::announce_end`]). No SMS: the call ended too long ago for
    /// a "we could not reach you" to help.
    ///
    /// Errors: the database's.
    pub async fn close_unreported(
        &self,
        call: &Inbound,
        end: &CallEnd,
        at: i64,
    ) -> Result<Outcome, storage::Error> {
        self.write_end_as(call, end, at, false).await
    }

    /// Writes the end of a call reported at `at` (unix ms), keeping that time even when
    /// written late ([`storage::calls::record_end`]); then counts it (`pinbridge_calls_total`),
    /// tells the business ([`Self::announce_end`]) and texts an unanswered caller.
    async fn write_end(
        &self,
        call: &Inbound,
        end: &CallEnd,
        at: i64,
    ) -> Result<Outcome, storage::Error> {
        self.write_end_as(call, end, at, true).await
    }

    /// [`Self::write_end`], texting an unanswered caller only when `text` is set.
    async fn write_end_as(
        &self,
        call: &Inbound,
        end: &CallEnd,
        at: i64,
        text: bool,
    ) -> Result<Outcome, storage::Error> {
        let known = if self.config.cache_call_state {
            self.cache.get(&call.key()).map(|s| s.state.clone())
        } else {
            None
        };
        let outcome = self
            .writer
            .end_call(call.write_key(), known, end.clone(), at)
            .await?;
        // The call is over: memory holds the calls in progress only. A repeated report reads
        // the database.
        if self.config.cache_call_state {
            self.cache.invalidate(&call.key());
        }
        crate::metrics::call_ended(call.provider, outcome.as_str());
        self.announce_end(call, end, outcome).await;
        if !text {
            return Ok(outcome);
        }
        crate::outbound::sms::text_if_unanswered(
            self.sms.as_ref(),
            call.provider,
            &call.call_sid,
            outcome,
        );
        Ok(outcome)
    }

    /// Emits `call.unanswered` (the dialled party did not answer, or was busy) or
    /// `call.completed` (every other end: connected, abandoned, PIN attempts used up, failed)
    /// once per call. A call that was bridged waits for the report of its dialled leg, which
    /// carries the dial status, so that a caller's leg reported first does not speak for it.
    /// Failures are logged: the call's record is written whether or not the business hears.
    async fn announce_end(&self, call: &Inbound, end: &CallEnd, outcome: Outcome) {
        if !self.events.is_enabled() || outcome == Outcome::InProgress {
            return;
        }
        let record = match storage::calls::get(&self.db, call.provider, call.call_sid.as_ref())
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(provider = call.provider, call.sid = %call.call_sid.for_log(), error = %e, "call end event not stored");
                return;
            }
        };
        if end.dial_status.is_none() && record.destination.is_some() {
            return;
        }
        let kind = match outcome {
            flow::Outcome::NoAnswer | flow::Outcome::Busy => EventKind::CallUnanswered,
            _ => EventKind::CallCompleted,
        };
        let data = CallData::of(record, outcome);
        let key = format!("call.ended:{}", call.key());
        if let Err(e) = self.events.emit(kind, &key, data.to_json()).await {
            tracing::warn!(provider = call.provider, call.sid = %call.call_sid.for_log(), error = %e, "call end event not stored");
        }
    }

    /// How many call ends wait for the database.
    pub fn pending_ends(&self) -> usize {
        self.pending.len()
    }

    /// Writes the call ends kept through an outage, in order, stopping at the first that
    /// fails (it stays first). Returns how many were written.
    pub async fn flush_pending_ends(&self) -> usize {
        let mut written = 0;
        while let Some(next) = self.pending.pop() {
            match self.write_end(&next.call, &next.end, next.at).await {
                Ok(_) => written += 1,
                Err(e) => {
                    tracing::debug!(error = %e, "call ends still waiting for the database");
                    self.pending.put_back(next);
                    return written;
                }
            }
        }
        written
    }

    /// Retries the call ends kept through an outage once a second, until the database is
    /// closed (the server stopped).
    pub fn spawn_pending_flusher(&self) {
        let sessions = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETRY_EVERY);
            loop {
                tick.tick().await;
                if sessions.is_closed() {
                    break;
                }
                if sessions.pending.is_empty() {
                    continue;
                }
                let written = sessions.flush_pending_ends().await;
                if written > 0 {
                    tracing::info!(
                        written,
                        waiting = sessions.pending.len(),
                        "call ends kept during a database outage written"
                    );
                }
            }
        });
    }
}
