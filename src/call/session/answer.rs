//! A step as a provider's handler runs it: within the webhook time budget, with a safe
//! fallback when storage fails, and with its line in the call's step log, its metric and its
//! log line. Also the answers that are the same on every provider: the fallback desk
//! ([`Sessions::unavailable`]), sorry ([`sorry`]), and keyed digits read as a flow event.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Inbound, Sessions, Stored};
use crate::call::flow::{self, CallEvent, Decision, Phase, Prompt};
use crate::domain::Pin;
use crate::domain::clock::now_ms;
use crate::storage::{self, steps::StepLog};
use crate::telemetry::StepLine;

/// The answer when a provider-driven call can not be served: say sorry, dial no one.
pub fn sorry() -> Decision {
    Decision::Goodbye {
        prompt: Prompt::NoOneToDial,
    }
}

impl Sessions {
    /// Runs one flow event of `call` for `applet` and returns what to answer: the engine's
    /// decision, or `fallback` when the request has no usable CallSid (`None`), storage
    /// failed, or the step took longer than `PINBRIDGE_WEBHOOK_TIMEOUT`. Every step, fallen
    /// back or not, is counted, logged (CallSid only) and written to the call's step log.
    pub async fn answer(
        &self,
        applet: &'static str,
        call: Option<&Inbound>,
        event: CallEvent,
        fallback: Decision,
    ) -> Decision {
        let Some(call) = call else {
            tracing::warn!(applet, "request without a usable call id");
            return fallback;
        };
        let started = Instant::now();
        let at = now_ms();
        let event_name = event_name(&event);
        let stepped = self
            .within_budget(applet, call, self.step(call, event))
            .await;
        self.finish(applet, call, started, at, event_name, stepped, fallback)
    }

    /// Exotel's Connect applet: whom to dial. In a flow without a `check-pin` Passthru,
    /// Connect carries the `digits` that Gather collected: while the call collects its PIN,
    /// they are checked first, as a step of their own, from the one read of the call's state
    /// that serves both steps. Falls back like [`Self::answer`], to [`Self::unavailable`].
    pub async fn dial(
        &self,
        applet: &'static str,
        call: Option<&Inbound>,
        digits: Option<&str>,
    ) -> Decision {
        let unavailable = self.unavailable(call);
        let (Some(call), Some(digits)) = (call, digits) else {
            return self
                .answer(applet, call, CallEvent::DialNeeded, unavailable)
                .await;
        };
        let Some(mut stored) = self.within_budget(applet, call, self.stored(call)).await else {
            self.remember_fallback(call, &unavailable);
            return unavailable;
        };
        // A call not stored yet (Connect before any other applet) is a new call: collecting.
        let collecting = stored
            .as_ref()
            .is_none_or(|s| s.state.phase == Phase::CollectingPin && !s.state.ended);
        if collecting {
            let digits = self.digits_event(digits);
            match self
                .answer_from(applet, call, stored, digits, &unavailable)
                .await
            {
                Ok((_, after)) => stored = after,
                Err(fallback) => return fallback,
            }
        }
        match self
            .answer_from(applet, call, stored, CallEvent::DialNeeded, &unavailable)
            .await
        {
            Ok((decision, _)) | Err(decision) => decision,
        }
    }

    /// Runs `event` from the call as `stored` and does a step's bookkeeping, like
    /// [`Self::answer`]. `Ok` with the decision and the call as stored after the step, or
    /// `Err` with the fallback answered when the step failed.
    async fn answer_from(
        &self,
        applet: &'static str,
        call: &Inbound,
        stored: Option<Arc<Stored>>,
        event: CallEvent,
        fallback: &Decision,
    ) -> Result<(Decision, Option<Arc<Stored>>), Decision> {
        let started = Instant::now();
        let at = now_ms();
        let event_name = event_name(&event);
        let stepped = self
            .within_budget(applet, call, self.advance(call, stored, event))
            .await;
        let (decision, after) = stepped.unzip();
        let decision = self.finish(
            applet,
            call,
            started,
            at,
            event_name,
            decision,
            fallback.clone(),
        );
        match after {
            Some(after) => Ok((decision, after)),
            None => Err(decision),
        }
    }

    /// Exotel's goodbye Greeting: why no one was dialled, from the call's state; when it can
    /// not be read (no usable CallSid, storage failed), that there is no one to dial.
    pub async fn farewell(&self, applet: &'static str, call: Option<&Inbound>) -> Prompt {
        let Some(call) = call else {
            return Prompt::NoOneToDial;
        };
        self.within_budget(applet, call, self.state(call))
            .await
            .map_or(Prompt::NoOneToDial, |state| flow::farewell(&state))
    }

    /// The bookkeeping of a step that ran (`Some`) or failed (`None`, answered `fallback`):
    /// remembers a bridge to the desk, counts, writes the step log in the background, logs.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        applet: &'static str,
        call: &Inbound,
        started: Instant,
        at: i64,
        event_name: &'static str,
        stepped: Option<Decision>,
        fallback: Decision,
    ) -> Decision {
        let fell_back = stepped.is_none();
        let decision = stepped.unwrap_or(fallback);
        self.remember_fallback(call, &decision);
        let elapsed = started.elapsed();
        let decision_name = flow::decision_name(&decision);
        crate::metrics::step(call.provider, applet, decision_name, elapsed);
        // Written in the background, in batches: the answer does not wait for it.
        self.writer.record(StepLog {
            provider: call.provider,
            call_sid: call.call_sid.as_ref().to_owned(),
            at,
            applet,
            event: event_name,
            decision: decision_name,
            detail: step_detail(&decision, fell_back),
            elapsed_us: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
        });
        crate::telemetry::log_step(StepLine::Step {
            provider: call.provider,
            applet,
            call_sid: call.call_sid.as_ref().to_owned(),
            decision: decision_name,
        });
        decision
    }

    /// Runs `work` within the webhook time budget, grown by the time `work` gives the
    /// business to answer a question ([`extend_budget`]). On a storage error or a spent
    /// budget, logs why (with the CallSid only) and returns `None`, so the handler answers
    /// its fallback.
    pub async fn within_budget<T>(
        &self,
        applet: &'static str,
        call: &Inbound,
        work: impl Future<Output = Result<T, storage::Error>>,
    ) -> Option<T> {
        let extra = Arc::new(AtomicU64::new(0));
        let work = EXTRA_BUDGET.scope(Arc::clone(&extra), work);
        tokio::pin!(work);
        let started = tokio::time::Instant::now();
        let base = self.config.webhook_timeout;
        let done = loop {
            let deadline = started + budget_now(base, &extra);
            match tokio::time::timeout_at(deadline, &mut work).await {
                Ok(done) => break Ok(done),
                // The budget grew while the step ran: wait for the rest of it.
                Err(_) if started + budget_now(base, &extra) > deadline => {}
                Err(spent) => break Err(spent),
            }
        };
        match done {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                crate::metrics::database_error(e.is_unavailable());
                crate::metrics::step_fallback(call.provider, applet, "storage");
                tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), error = %e, "storage failed; answering the safe fallback");
                None
            }
            Err(_) => {
                crate::metrics::step_fallback(call.provider, applet, "budget");
                tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), "time budget spent; answering the safe fallback");
                None
            }
        }
    }

    /// The answer when a call can not be served because storage failed (the database
    /// unreachable or too slow): dial `PINBRIDGE_FALLBACK_NUMBER` with the virtual number as
    /// caller ID when it is set, else [`sorry`]. Without a usable call (`None`), always
    /// [`sorry`].
    pub fn unavailable(&self, call: Option<&Inbound>) -> Decision {
        match (&self.config.fallback_number, call) {
            (Some(desk), Some(call)) => Decision::Bridge {
                to: desk.clone(),
                caller_id: call.virtual_number.clone(),
                route: flow::Route::Fallback,
                bridging: flow::Bridging::default(),
            },
            _ => sorry(),
        }
    }

    /// Notes that `call` was answered `decision`, when that is a bridge to the fallback
    /// number, so that the call's end is recorded as such ([`Self::record_end`]).
    fn remember_fallback(&self, call: &Inbound, decision: &Decision) {
        if let Decision::Bridge {
            route: flow::Route::Fallback,
            ..
        } = decision
        {
            self.fallback_bridged.insert(call.key(), ());
        }
    }

    /// The flow event for keyed digits: nothing keyed is a timeout; anything else is an
    /// entry, which may not even be a well-formed PIN (and then costs an attempt like a wrong
    /// one). Surrounding spaces and the finishing `#`, which some providers pass on, are
    /// dropped here.
    pub fn digits_event(&self, digits: &str) -> CallEvent {
        let digits = digits.trim().trim_end_matches('#').trim();
        if digits.is_empty() {
            return CallEvent::NoInput;
        }
        let policy = &self.config.policy;
        CallEvent::Digits {
            pin: Pin::parse(digits, policy.pin_min_len, policy.pin_max_len).ok(),
        }
    }
}

tokio::task_local! {
    /// Milliseconds added to the running step's budget ([`extend_budget`]).
    static EXTRA_BUDGET: Arc<AtomicU64>;
}

/// Gives the running step `extra` more time than `PINBRIDGE_WEBHOOK_TIMEOUT`: the time a
/// question to the business may take, which is not the database's. Outside a step's budget
/// (the admin UI's test call), nothing.
pub(super) fn extend_budget(extra: Duration) {
    let ms = u64::try_from(extra.as_millis()).unwrap_or(u64::MAX);
    let _ = EXTRA_BUDGET.try_with(|e| e.fetch_add(ms, Ordering::Relaxed));
}

/// The step's budget as it stands: `base` and what was added to it.
fn budget_now(base: Duration, extra: &AtomicU64) -> Duration {
    base + Duration::from_millis(extra.load(Ordering::Relaxed))
}

/// The name of a flow event in the step log.
fn event_name(event: &CallEvent) -> &'static str {
    match event {
        CallEvent::Started => "started",
        CallEvent::Incoming => "incoming",
        CallEvent::PromptNeeded => "prompt_needed",
        CallEvent::Digits { pin: Some(_) } => "digits",
        CallEvent::Digits { pin: None } => "digits_malformed",
        CallEvent::NoInput => "no_input",
        CallEvent::DialNeeded => "dial_needed",
        CallEvent::Ended => "ended",
    }
}

/// The name of a prompt in the step log (never its values).
fn prompt_name(prompt: &Prompt) -> &'static str {
    match prompt {
        Prompt::Welcome => "welcome",
        Prompt::EnterPin => "enter_pin",
        Prompt::WrongPin { .. } => "wrong_pin",
        Prompt::NoInput { .. } => "no_input",
        Prompt::AttemptsUsedUp => "attempts_used_up",
        Prompt::NoOneToDial => "no_one_to_dial",
        Prompt::TryLater => "try_later",
    }
}

/// What a step decided, for the step log's `detail`: the prompt or the route, never a number
/// or digits.
fn step_detail(decision: &Decision, fell_back: bool) -> Option<String> {
    let detail = match decision {
        Decision::Greet { prompt }
        | Decision::AskForPin { prompt, .. }
        | Decision::Goodbye { prompt } => Some(format!("prompt: {}", prompt_name(prompt))),
        Decision::Bridge { route, .. } => Some(format!("route: {}", route.as_str())),
        Decision::Recorded => None,
    };
    if fell_back {
        Some(format!(
            "{} (fallback)",
            detail.as_deref().unwrap_or("no detail")
        ))
    } else {
        detail
    }
}
