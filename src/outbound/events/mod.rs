//! Event webhooks: `call.completed`, `call.unanswered`, `call.reconciled`, `pin.locked`,
//! `pin.budget_spent`, `booking.expired`, `pool.allocation_refused` and `pool.headroom_low`,
//! posted as signed JSON to the business's endpoint (`PINBRIDGE_EVENTS_URL`).
//!
//! An event is stored in the outbox ([`crate::storage::outbox`]) in the path of the request
//! that caused it, once per dedupe key, and posted by a background worker: at least once,
//! retried with exponential backoff and jitter until the endpoint answers 2xx, across
//! restarts, and by one instance at a time when several share a PostgreSQL (a row is claimed
//! with a lease before it is posted). Order is not guaranteed.
//!
//! The body is `{"id": "evt_...", "type": "call.completed", "created_at": "<RFC 3339>",
//! "data": {...}}`; `data` carries ids, the provider, the CallSid, outcomes and durations,
//! never a phone number or a PIN. The signature header is Stripe's scheme:
//! `X-Pinbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">`, keyed with
//! `PINBRIDGE_EVENTS_SECRET` (docs/admin-api.md, "Event webhooks").
//!
//! Owns: the outbox worker and delivery ([`Events`]). [`endpoint`] guards where a delivery may
//! go, [`payload`] is what it says, [`signature`] signs it.

mod endpoint;
mod payload;
mod signature;

/// The resolver of the events client, shared by the question to the business.
pub(in crate::outbound) use endpoint::GuardedResolver;
pub use endpoint::{EndpointError, check_endpoint, forbidden_address};
pub use payload::{
    CallData, EventKind, NumberChangedData, PinBudgetSpentData, PinLockedData, PoolData,
    ReconciledData,
};
pub use signature::{SIGNATURE_HEADER, SIGNATURE_TOLERANCE, sign, verify};

use std::sync::Arc;

use payload::Envelope;
use std::time::Duration;

use rand::RngExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::domain::clock::{now_ms, rfc3339};
use crate::storage::Db;
use crate::storage::outbox::{self, Attempt, NewEvent, OutboxEvent};

/// How delivery behaves. The defaults suit production; tests shorten the times.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Delay before the first retry; doubled on each further failure. Default 1 s.
    pub backoff_base: Duration,
    /// Longest delay between two attempts. Default 10 min.
    pub backoff_max: Duration,
    /// An event still undelivered this long after it was stored is abandoned (logged, kept
    /// as `abandoned`, counted in `pinbridge_event_deliveries_total{result="abandoned"}`).
    /// Default 3 days.
    pub give_up_after: Duration,
    /// How often the worker looks for due events when nothing wakes it. Default 1 s.
    pub poll_interval: Duration,
    /// Longest wait for the endpoint's answer. Default 10 s.
    pub request_timeout: Duration,
    /// How often expired bookings are looked for. Default 30 s.
    pub sweep_interval: Duration,
    /// How far back the sweeper looks for expired bookings: a booking that expired longer ago
    /// (while no instance ran) gets no event. Default 1 day.
    pub expiry_lookback: Duration,
    /// How long delivered and abandoned events are kept, which is how long their dedupe keys
    /// are remembered. At least `expiry_lookback` + 1 day (raised to that). Default 7 days.
    pub keep_done: Duration,
    /// Most events one worker posts at once. Default 8.
    pub concurrency: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(30),
            expiry_lookback: Duration::from_secs(24 * 3600),
            keep_done: Duration::from_secs(7 * 24 * 3600),
            concurrency: 8,
        }
    }
}

/// The event emitter and its delivery worker. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    /// `None`: no events URL, every emit is a no-op.
    inner: Option<Arc<Inner>>,
}

struct Inner {
    db: Db,
    url: String,
    secret: Option<String>,
    config: EventsConfig,
    client: reqwest::Client,
    /// Wakes the worker when an event was stored.
    wake: Notify,
    /// Set to true by [`Events::shutdown`]: the workers claim nothing more and end.
    stop: tokio::sync::watch::Sender<bool>,
    /// The running workers, awaited by [`Events::shutdown`].
    workers: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Held for a whole delivery round, so that [`Events::drain`] waits for the posts of a
    /// round under way; the call path never takes it.
    round: tokio::sync::Mutex<()>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Events {
    /// Events posted to `url` and signed with `secret`, with the default [`EventsConfig`].
    /// No URL (or a blank one): every emit is a no-op and no worker runs. No secret: events
    /// are posted without a signature header (a warning says so when the workers start).
    ///
    /// Errors: the HTTP client (with its guarded resolver, no redirects) could not be built.
    pub fn new(db: Db, url: Option<String>, secret: Option<String>) -> anyhow::Result<Self> {
        Self::with_config(db, url, secret, EventsConfig::default())
    }

    /// [`Events::new`] with delivery timing of one's own.
    pub fn with_config(
        db: Db,
        url: Option<String>,
        secret: Option<String>,
        mut config: EventsConfig,
    ) -> anyhow::Result<Self> {
        let Some(url) = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
            return Ok(Self { inner: None });
        };
        config.keep_done = config
            .keep_done
            .max(config.expiry_lookback + Duration::from_secs(24 * 3600));
        config.concurrency = config.concurrency.max(1);
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            // A redirected POST would become a GET elsewhere: a 3xx is a failed attempt.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(GuardedResolver))
            .user_agent(concat!("pinbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            // A default client would follow redirects and resolve any address.
            .map_err(|e| anyhow::anyhow!("the events HTTP client: {e}"))?;
        let secret = secret.filter(|s| !s.is_empty());
        Ok(Self {
            inner: Some(Arc::new(Inner {
                db,
                url,
                secret,
                config,
                client,
                wake: Notify::new(),
                stop: tokio::sync::watch::Sender::new(false),
                workers: std::sync::Mutex::new(None),
                round: tokio::sync::Mutex::new(()),
            })),
        })
    }

    /// True when an events URL is configured.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Stores an event of `kind` with `data` (ids, provider, CallSid, outcome, durations:
    /// never a full phone number, a PIN or a secret) in the outbox for delivery in the
    /// background, unless an event with `dedupe_key` was already stored: a repeated delivery
    /// of the same provider callback emits nothing new. Dedupe keys are remembered as long as
    /// [`EventsConfig::keep_done`] after delivery. Conventional keys:
    /// `call.completed:{provider}:{CallSid}`, `pin.locked:{provider}:{CallSid}`,
    /// `booking.expired:{booking_id}`.
    ///
    /// One insert; nothing when no URL is configured.
    ///
    /// Errors: the database's.
    pub async fn emit(
        &self,
        kind: EventKind,
        dedupe_key: &str,
        data: Value,
    ) -> Result<(), crate::storage::Error> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        inner.emit(kind, dedupe_key, data).await.map(|_| ())
    }

    /// Starts the delivery worker and the booking-expiry sweeper on the current Tokio runtime,
    /// once (later calls start nothing). They run until [`Events::shutdown`], or until the
    /// database pool is closed. Returns false when no URL is configured (nothing to start).
    pub fn spawn_workers(&self) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        let mut workers = inner
            .workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if workers.is_some() {
            return true;
        }
        if inner.secret.is_none() {
            tracing::warn!(
                "PINBRIDGE_EVENTS_SECRET is not set: events are posted without a signature"
            );
        }
        let inner = Arc::clone(inner);
        *workers = Some(tokio::spawn(async move {
            tokio::join!(
                Arc::clone(&inner).delivery_loop(),
                Arc::clone(&inner).sweep_loop()
            );
        }));
        true
    }

    /// Stops the workers: nothing more is claimed, and the posts under way finish and are
    /// recorded (waiting at most the request timeout and 2 s), so that no lease is left to
    /// expire. Call it before closing the database; the server does when it stops.
    pub async fn shutdown(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        inner.stop.send_replace(true);
        let running = inner
            .workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = running {
            let wait = inner.config.request_timeout + Duration::from_secs(2);
            if tokio::time::timeout(wait, handle).await.is_err() {
                tracing::warn!("event delivery did not stop in time");
            }
        }
    }

    /// Posts the events due now, once each (what the worker does each round). Returns how
    /// many were attempted. For tests and tools; the worker calls it by itself.
    ///
    /// Errors: the database's.
    pub async fn deliver_due(&self) -> Result<usize, crate::storage::Error> {
        match &self.inner {
            Some(inner) => Arc::clone(inner).deliver_due(i64::MAX).await,
            None => Ok(0),
        }
    }

    /// Returns once no event of this instance is being posted and none that was due when it
    /// was called is left unattempted: it waits for a round of the worker under way, then
    /// runs rounds itself until one finds nothing due. An event refused meanwhile waits for
    /// its retry, later, and is left to the worker. Tests wait for it before they check that
    /// nothing more was posted; nothing on the call path waits for it. Another instance's
    /// posts (on a shared PostgreSQL) are not waited for.
    ///
    /// Errors: the database's.
    pub async fn drain(&self) -> Result<(), crate::storage::Error> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let due_by = now_ms();
        while Arc::clone(inner).deliver_due(due_by).await? > 0 {}
        Ok(())
    }

    /// Emits `booking.expired` for each booking that expired (within
    /// [`EventsConfig::expiry_lookback`]) without being closed and has no such event yet
    /// (what the sweeper does each round). Returns how many were emitted.
    ///
    /// Errors: the database's.
    pub async fn sweep_expired_bookings(&self) -> Result<usize, crate::storage::Error> {
        match &self.inner {
            Some(inner) => inner.sweep_expired_bookings().await,
            None => Ok(0),
        }
    }

    /// Events waiting for delivery (all instances); 0 when no URL is configured.
    ///
    /// Errors: the database's.
    pub async fn backlog(&self) -> Result<i64, crate::storage::Error> {
        match &self.inner {
            Some(inner) => outbox::backlog(&inner.db).await,
            None => Ok(0),
        }
    }
}

impl Inner {
    async fn emit(
        &self,
        kind: EventKind,
        dedupe_key: &str,
        data: Value,
    ) -> Result<bool, crate::storage::Error> {
        let id = format!("evt_{}", crate::domain::random_token(24));
        let created_at = now_ms();
        let body = serde_json::to_string(&Envelope {
            id: &id,
            kind: kind.as_str(),
            created_at: rfc3339(created_at),
            data: &data,
        })
        .map_err(|e| crate::storage::Error::Internal(format!("an event as JSON: {e}")))?;
        let stored = outbox::insert(
            &self.db,
            &NewEvent {
                id: &id,
                dedupe_key,
                kind: kind.as_str(),
                body: &body,
                created_at,
            },
        )
        .await?;
        if stored {
            tracing::debug!(event.id = %id, event.kind = kind.as_str(), "event stored");
            self.wake.notify_one();
        }
        Ok(stored)
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow() || self.db.is_closed()
    }

    async fn delivery_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        loop {
            if self.stopping() {
                break;
            }
            match Arc::clone(&self).deliver_due(i64::MAX).await {
                Ok(_) => {}
                Err(_) if self.db.is_closed() => break,
                Err(e) => {
                    crate::metrics::database_error(e.is_unavailable());
                    tracing::error!(error = %e, "event delivery: the outbox could not be read");
                }
            }
            if let Ok(pending) = outbox::backlog(&self.db).await {
                crate::metrics::events_backlog(pending);
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One delivery round: claims and posts the events due by `due_by` (unix ms; at most now),
    /// a few at a time, and records each attempt. Returns how many were attempted.
    async fn deliver_due(self: Arc<Self>, due_by: i64) -> Result<usize, crate::storage::Error> {
        let _round = self.round.lock().await;
        let now = now_ms();
        let limit = i64::try_from(self.config.concurrency).unwrap_or(8);
        let ids = outbox::due(&self.db, due_by.min(now), limit).await?;
        // The lease outlasts one attempt, so a live claim is never taken over.
        let lease_until = now + ms(self.config.request_timeout) + 30_000;
        let mut posts = tokio::task::JoinSet::new();
        for id in ids {
            if self.stopping() {
                break;
            }
            if let Some(event) = outbox::claim(&self.db, &id, now, lease_until).await? {
                let inner = Arc::clone(&self);
                posts.spawn(async move { inner.deliver(event).await });
            }
        }
        let mut attempted = 0;
        while let Some(done) = posts.join_next().await {
            attempted += 1;
            if let Ok(Err(e)) = done {
                if self.db.is_closed() {
                    continue;
                }
                crate::metrics::database_error(e.is_unavailable());
                tracing::error!(error = %e, "event delivery: the attempt could not be recorded");
            }
        }
        Ok(attempted)
    }

    /// Posts one claimed event and records the attempt.
    async fn deliver(&self, event: OutboxEvent) -> Result<(), crate::storage::Error> {
        let kind = EventKind::parse(&event.kind).map_or("unknown", EventKind::as_str);
        let answer = self.post(&event).await;
        let now = now_ms();
        let attempts = event.attempts + 1;
        let (status, error, retry_after) = match answer {
            Ok((status, _)) if (200..300).contains(&status) => {
                outbox::record_attempt(&self.db, &event.id, Attempt::Delivered { status }, now)
                    .await?;
                crate::metrics::event_delivery(kind, "delivered");
                tracing::info!(event.id = %event.id, event.kind = kind, attempts, http.status_code = status, "event delivered");
                return Ok(());
            }
            Ok((status, retry_after)) => (Some(status), format!("HTTP {status}"), retry_after),
            Err(e) => (None, e, None),
        };
        let age = now.saturating_sub(event.created_at);
        if age >= ms(self.config.give_up_after) {
            outbox::record_attempt(
                &self.db,
                &event.id,
                Attempt::Abandoned {
                    status,
                    error: &error,
                },
                now,
            )
            .await?;
            crate::metrics::event_delivery(kind, "abandoned");
            tracing::error!(event.id = %event.id, event.kind = kind, attempts, error = %error, "event abandoned: the endpoint did not accept it in time");
            return Ok(());
        }
        let delay = backoff(&self.config, attempts, retry_after);
        outbox::record_attempt(
            &self.db,
            &event.id,
            Attempt::Retry {
                status,
                error: &error,
                next_attempt_at: now + ms(delay),
            },
            now,
        )
        .await?;
        crate::metrics::event_delivery(kind, "retry");
        let retry_in_ms = ms(delay);
        match status {
            // The endpoint refuses this event as such: a bug or a configuration to fix on
            // its side. It is retried all the same, so it arrives once that is fixed.
            Some(s) if (400..500).contains(&s) && s != 408 && s != 429 => {
                tracing::error!(event.id = %event.id, event.kind = kind, attempts, http.status_code = s, retry_in_ms, "the events endpoint refused the event; retrying");
            }
            _ => {
                tracing::warn!(event.id = %event.id, event.kind = kind, attempts, error = %error, retry_in_ms, "event not delivered; retrying");
            }
        }
        Ok(())
    }

    /// Posts the event: the endpoint's status and its `Retry-After` (seconds), or why there
    /// was no answer (never the URL, which may hold a token).
    async fn post(&self, event: &OutboxEvent) -> Result<(u16, Option<Duration>), String> {
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Pinbridge-Event", event.kind.as_str())
            .header("X-Pinbridge-Event-Id", event.id.as_str())
            .body(event.body.clone());
        if let Some(secret) = &self.secret {
            let t = now_ms() / 1000;
            request = request.header(SIGNATURE_HEADER, sign(secret, t, &event.body));
        }
        let response = request.send().await.map_err(|e| {
            // The cause chain (refused, timed out, TLS) without the URL.
            let e = e.without_url();
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            text
        })?;
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Ok((response.status().as_u16(), retry_after))
    }

    async fn sweep_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_purge: Option<std::time::Instant> = None;
        let mut stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => {}
            }
            if self.stopping() {
                break;
            }
            if let Err(e) = self.sweep_expired_bookings().await {
                if self.db.is_closed() {
                    break;
                }
                crate::metrics::database_error(e.is_unavailable());
                tracing::error!(error = %e, "booking expiry sweep failed");
            }
            if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_purge = Some(std::time::Instant::now());
                let cutoff = now_ms().saturating_sub(ms(self.config.keep_done));
                match outbox::purge_done(&self.db, cutoff).await {
                    Ok(n) if n > 0 => tracing::info!(purged.events = n, "old events purged"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "purging old events failed"),
                }
            }
        }
    }

    async fn sweep_expired_bookings(&self) -> Result<usize, crate::storage::Error> {
        const PREFIX: &str = "booking.expired:";
        let now = now_ms();
        let since = now.saturating_sub(ms(self.config.expiry_lookback));
        let mut emitted = 0;
        loop {
            let expired =
                outbox::expired_bookings_without_event(&self.db, PREFIX, since, now, 200).await?;
            let mut stored = 0;
            for b in &expired {
                let data = json!({
                    "booking_id": b.booking_id,
                    "reference": b.reference,
                    "created_at": rfc3339(b.created_at),
                    "expires_at": rfc3339(b.expires_at),
                });
                let key = format!("{PREFIX}{}", b.booking_id);
                if self.emit(EventKind::BookingExpired, &key, data).await? {
                    stored += 1;
                }
            }
            emitted += stored;
            // A full page may hide more; a page of already-emitted keys (another instance
            // raced us) does not loop forever.
            if expired.len() < 200 || stored == 0 {
                return Ok(emitted);
            }
        }
    }
}

/// The delay before the next attempt after `attempts` failed ones: `backoff_base` doubled
/// per further failure, at most `backoff_max`, with "equal jitter" (between half and all of
/// it), and never sooner than a `Retry-After` the endpoint asked for (itself capped at
/// `backoff_max`).
pub fn backoff(config: &EventsConfig, attempts: i64, retry_after: Option<Duration>) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = config
        .backoff_base
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(config.backoff_max);
    let half = full / 2;
    let jitter = rand::rng().random_range(0.0..=1.0);
    let delay = half + half.mul_f64(jitter);
    match retry_after {
        Some(asked) => delay.max(asked.min(config.backoff_max)),
        None => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter() {
        let config = EventsConfig::default();
        for _ in 0..50 {
            let first = backoff(&config, 1, None);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let fourth = backoff(&config, 4, None);
            assert!(fourth >= Duration::from_secs(4) && fourth <= Duration::from_secs(8));
            let late = backoff(&config, 40, None);
            assert!(late >= Duration::from_secs(300) && late <= Duration::from_secs(600));
        }
        let asked = backoff(&config, 1, Some(Duration::from_secs(30)));
        assert_eq!(asked, Duration::from_secs(30));
        let capped = backoff(&config, 1, Some(Duration::from_secs(86_400)));
        assert_eq!(capped, Duration::from_secs(600));
    }

    #[tokio::test]
    async fn without_a_url_nothing_is_stored() {
        let db = crate::storage::test_db().await;
        let events = Events::new(db.clone(), None, Some("s".into())).unwrap();
        assert!(!events.is_enabled());
        events
            .emit(EventKind::PinLocked, "k", json!({}))
            .await
            .unwrap();
        assert!(!events.spawn_workers());
        events.shutdown().await;
        let on = Events::new(db, Some("http://127.0.0.1:9/".into()), None).unwrap();
        assert_eq!(on.backlog().await.unwrap(), 0, "the table is empty");
    }
}
