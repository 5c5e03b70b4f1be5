//! Event webhooks: signed POSTs to the business's endpoint (a wiremock server here), retried
//! until a 2xx, across restarts, once per dedupe key; and the receiver code of docs/admin-api.md.

use std::path::Path;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use pinbridge::outbound::events::{CallData, EventKind, Events, EventsConfig};
use pinbridge::storage::{Db, PoolSettings};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::Row;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::{ADMIN_TOKEN, TestApp, fresh_database_url, spawn_app, spawn_app_with};
use crate::helpers::a_minute_ago_ms;

const SECRET: &str = "test-events-secret-0123456789";
const HOOK_PATH: &str = "/hooks/pinbridge";

async fn events_app(server: &MockServer) -> TestApp {
    events_app_with(server, |_| {}).await
}

/// [`events_app`] with settings of its own.
async fn events_app_with(
    server: &MockServer,
    change: impl FnOnce(&mut pinbridge::config::Settings),
) -> TestApp {
    let url = format!("{}{HOOK_PATH}", server.uri());
    spawn_app_with(|s| {
        s.outbound.events.url = Some(url);
        // The wiremock endpoint listens on http://127.0.0.1.
        s.outbound.events.allow_http_loopback = true;
        s.outbound.events.secret = Some(SECRET.into());
        change(s);
    })
    .await
}

/// An endpoint answering `status` to every event.
async fn answer(server: &MockServer, status: u16) {
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
}

/// The requests `server` received, once there are at least `n` (waits up to 15 s).
async fn received(server: &MockServer, n: usize) -> Vec<Request> {
    for _ in 0..300 {
        let requests = server.received_requests().await.unwrap_or_default();
        if requests.len() >= n {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = server.received_requests().await.unwrap_or_default().len();
    panic!("the endpoint received {got} request(s), not {n}");
}

/// One outbox row: (dedupe key, status, attempts, leased).
type Row4 = (String, String, i64, bool);

async fn outbox(database_url: &str) -> Vec<Row4> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await.unwrap();
    let rows = sqlx::query(
        "select dedupe_key, status, attempts, leased_until from event_outbox order by created_at, dedupe_key",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>("dedupe_key"),
            r.get::<String, _>("status"),
            r.get::<i64, _>("attempts"),
            r.get::<Option<i64>, _>("leased_until").is_some(),
        )
    })
    .collect();
    pool.close().await;
    rows
}

/// Waits up to 15 s until the outbox satisfies `done`; returns it.
async fn outbox_until(database_url: &str, done: impl Fn(&[Row4]) -> bool) -> Vec<Row4> {
    for _ in 0..300 {
        let rows = outbox(database_url).await;
        if done(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the outbox never got there: {:?}",
        outbox(database_url).await
    );
}

fn header<'r>(request: &'r Request, name: &str) -> &'r str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("a {name} header"))
        .to_str()
        .unwrap()
}

fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

fn hmac_hex(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn now_secs() -> i64 {
    pinbridge::domain::clock::now_ms() / 1000
}

/// Runs the receiver code of docs/admin-api.md (`tests/receiver_verify.py`) on a delivery: does it accept it?
fn python_receiver_accepts(secret: &str, signature: &str, body: &[u8]) -> bool {
    use std::io::Write;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("python3")
        .arg(dir.join("tests/receiver_verify.py"))
        .arg(signature)
        .env("PINBRIDGE_EVENTS_SECRET", secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match out.status.code() {
        Some(0) => {
            assert_eq!(said, "valid");
            true
        }
        Some(1) => {
            assert_eq!(said, "invalid");
            false
        }
        other => panic!("the receiver script failed ({other:?}): {said}"),
    }
}

fn completed_call() -> Value {
    CallData {
        provider: "exotel".into(),
        call_sid: "c39894edd8a85d7fd95dbf5fdb65157g".into(),
        outcome: "connected".into(),
        route: Some("pin".into()),
        order_id: Some("OD-1001".into()),
        dial_seconds: Some(40),
        talk_seconds: Some(31),
        pin_attempts: Some(1),
        ..CallData::default()
    }
    .to_json()
}

#[tokio::test]
async fn an_event_arrives_signed_with_the_documented_shape_and_the_readme_receiver_accepts_it() {
    let server = MockServer::start().await;
    answer(&server, 200).await;
    let app = events_app(&server).await;

    let key = "call.completed:exotel:c39894edd8a85d7fd95dbf5fdb65157g";
    app.events
        .emit(EventKind::CallCompleted, key, completed_call())
        .await
        .unwrap();
    let requests = received(&server, 1).await;
    let delivery = &requests[0];

    assert_eq!(header(delivery, "content-type"), "application/json");
    assert_eq!(header(delivery, "x-pinbridge-event"), "call.completed");
    let body = body_json(delivery);
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "data", "id", "type"]);
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("evt_") && id.len() > 20, "{id}");
    assert_eq!(header(delivery, "x-pinbridge-event-id"), id);
    assert_eq!(body["type"], "call.completed");
    let created = pinbridge::domain::clock::parse_rfc3339(body["created_at"].as_str().unwrap())
        .expect("created_at is RFC 3339");
    assert!((pinbridge::domain::clock::now_ms() - created).abs() < 60_000);
    assert_eq!(body["data"], completed_call());
    assert!(
        std::str::from_utf8(&delivery.body)
            .unwrap()
            .starts_with(r#"{"id":"evt_"#),
        "id comes first"
    );

    // X-Pinbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">.
    let signature = header(delivery, "x-pinbridge-signature");
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .expect("t=...,v1=...");
    let t: i64 = t.parse().unwrap();
    assert!((now_secs() - t).abs() < 60, "a current timestamp");
    assert_eq!(v1, hmac_hex(SECRET, t, &delivery.body));
    assert!(pinbridge::outbound::events::verify(
        SECRET,
        signature,
        &delivery.body,
        now_secs(),
        pinbridge::outbound::events::SIGNATURE_TOLERANCE
    ));

    // docs/admin-api.md's Python receiver, on the real delivery.
    assert!(python_receiver_accepts(SECRET, signature, &delivery.body));
    let tampered = String::from_utf8(delivery.body.clone())
        .unwrap()
        .replace("\"talk_seconds\":31", "\"talk_seconds\":310");
    assert_ne!(tampered.as_bytes(), &delivery.body[..]);
    assert!(!python_receiver_accepts(
        SECRET,
        signature,
        tampered.as_bytes()
    ));
    assert!(!python_receiver_accepts(
        "another-secret",
        signature,
        &delivery.body
    ));
    let stale_t = now_secs() - 600;
    let stale = format!(
        "t={stale_t},v1={}",
        hmac_hex(SECRET, stale_t, &delivery.body)
    );
    assert!(
        !python_receiver_accepts(SECRET, &stale, &delivery.body),
        "a replay older than 5 minutes is refused"
    );

    // The same provider callback again: nothing new.
    app.events
        .emit(EventKind::CallCompleted, key, completed_call())
        .await
        .unwrap();
    app.drain().await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let rows = outbox(&app.database_url).await;
    assert_eq!(
        rows,
        vec![(key.to_owned(), "delivered".to_owned(), 1, false)]
    );
    assert_eq!(app.events.backlog().await.unwrap(), 0);
}

#[test]
fn the_receiver_script_holds_the_documented_code_verbatim() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(dir.join("docs/admin-api.md")).unwrap();
    let section = &readme[readme
        .find("## Event webhooks")
        .expect("docs/admin-api.md has an Event webhooks section")..];
    let start = section.find("```python\n").expect("a Python block") + "```python\n".len();
    let block = &section[start..][..section[start..].find("```").unwrap()];
    assert!(block.contains("def verify("));
    let script = std::fs::read_to_string(dir.join("tests/receiver_verify.py")).unwrap();
    assert!(
        script.contains(block),
        "tests/receiver_verify.py must hold the receiver code of docs/admin-api.md verbatim"
    );
}

/// A database of its own, migrated, for an [`Events`] with test timing.
async fn database(dir: &Path) -> (Db, String) {
    let url = fresh_database_url(dir).await;
    let db = Db::connect(&url, &PoolSettings::single()).await.unwrap();
    db.migrate().await.unwrap();
    (db, url)
}

fn fast() -> EventsConfig {
    EventsConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        poll_interval: Duration::from_millis(50),
        ..EventsConfig::default()
    }
}

#[tokio::test]
async fn an_endpoint_that_answers_500_or_400_gets_the_same_event_again_until_it_answers_2xx() {
    let server = MockServer::start().await;
    for (priority, status) in [(1, 500), (2, 400)] {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(3)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = database(dir.path()).await;
    let events = Events::with_config(
        db.clone(),
        Some(format!("{}{HOOK_PATH}", server.uri())),
        Some(SECRET.into()),
        fast(),
    )
    .unwrap();
    assert!(events.spawn_workers());

    events
        .emit(
            EventKind::PinLocked,
            "pin.locked:exotel:c1",
            json!({"provider": "exotel", "call_sid": "c1", "scope": "caller"}),
        )
        .await
        .unwrap();
    let rows = outbox_until(&url, |rows| rows.iter().all(|r| r.1 == "delivered")).await;
    assert_eq!(rows[0].2, 3, "500, 400, then 204");
    let requests = received(&server, 3).await;
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.body, requests[0].body, "the same event each time");
        let signature = header(r, "x-pinbridge-signature");
        assert!(python_receiver_accepts(SECRET, signature, &r.body));
    }
    events.shutdown().await;
    db.close().await;
}

#[tokio::test]
async fn an_endpoint_named_by_a_host_name_is_resolved_and_receives_the_event() {
    let server = MockServer::start().await;
    answer(&server, 204).await;
    let port = server.address().port();
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = database(dir.path()).await;
    let events = Events::with_config(
        db.clone(),
        Some(format!("http://localhost:{port}{HOOK_PATH}")),
        Some(SECRET.into()),
        fast(),
    )
    .unwrap();
    assert!(events.spawn_workers());
    events
        .emit(
            EventKind::PinLocked,
            "pin.locked:exotel:c-named",
            json!({"provider": "exotel", "call_sid": "c-named", "scope": "caller"}),
        )
        .await
        .unwrap();
    let rows = outbox_until(&url, |rows| rows.iter().all(|r| r.1 == "delivered")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(received(&server, 1).await.len(), 1);
    events.shutdown().await;
    db.close().await;
}

#[tokio::test]
async fn an_event_still_refused_past_the_give_up_time_is_abandoned() {
    let server = MockServer::start().await;
    answer(&server, 500).await;
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = database(dir.path()).await;
    let config = EventsConfig {
        give_up_after: Duration::ZERO,
        ..fast()
    };
    let events = Events::with_config(
        db.clone(),
        Some(format!("{}{HOOK_PATH}", server.uri())),
        Some(SECRET.into()),
        config,
    )
    .unwrap();
    events.spawn_workers();
    events
        .emit(
            EventKind::CallUnanswered,
            "call.unanswered:plivo:p1",
            json!({}),
        )
        .await
        .unwrap();
    let rows = outbox_until(&url, |rows| rows.iter().all(|r| r.1 == "abandoned")).await;
    assert_eq!(rows[0].2, 1);
    assert_eq!(events.backlog().await.unwrap(), 0);
    events.drain().await.unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "never again"
    );
    events.shutdown().await;
    db.close().await;
}

#[tokio::test]
async fn two_instances_on_one_database_post_each_event_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(100)))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (db_a, url) = database(dir.path()).await;
    let db_b = Db::connect(&url, &PoolSettings::single()).await.unwrap();
    let hook = format!("{}{HOOK_PATH}", server.uri());
    let a = Events::with_config(
        db_a.clone(),
        Some(hook.clone()),
        Some(SECRET.into()),
        fast(),
    )
    .unwrap();
    let b = Events::with_config(db_b.clone(), Some(hook), Some(SECRET.into()), fast()).unwrap();
    for i in 0..12 {
        let emitter = if i % 2 == 0 { &a } else { &b };
        emitter
            .emit(
                EventKind::PinLocked,
                &format!("pin.locked:twilio:CA{i}"),
                json!({"n": i}),
            )
            .await
            .unwrap();
    }
    a.spawn_workers();
    b.spawn_workers();
    outbox_until(&url, |rows| {
        rows.len() == 12 && rows.iter().all(|r| r.1 == "delivered")
    })
    .await;
    let requests = server.received_requests().await.unwrap();
    let mut ids: Vec<String> = requests
        .iter()
        .map(|r| header(r, "x-pinbridge-event-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    assert_eq!(requests.len(), 12, "no event was posted twice");
    a.shutdown().await;
    b.shutdown().await;
    db_a.close().await;
    db_b.close().await;
}

#[tokio::test]
async fn pending_events_are_delivered_after_a_restart_once_the_endpoint_is_back() {
    let server = MockServer::start().await;
    let down = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    let app = events_app(&server).await;
    app.events
        .emit(
            EventKind::CallUnanswered,
            "call.unanswered:exotel:c2",
            json!({"call_sid": "c2"}),
        )
        .await
        .unwrap();
    received(&server, 1).await;
    outbox_until(&app.database_url, |rows| rows.iter().any(|r| r.2 >= 1)).await;

    let app = app.restart().await;
    let rows = outbox(&app.database_url).await;
    assert_eq!(
        rows[0].1, "pending",
        "not delivered while the endpoint answered 503"
    );
    assert!(!rows[0].3, "the stopped instance left no lease behind");
    drop(down);
    answer(&server, 200).await;

    let rows = outbox_until(&app.database_url, |rows| rows[0].1 == "delivered").await;
    assert!(rows[0].2 >= 2);
    let requests = server.received_requests().await.unwrap();
    let last = requests.last().unwrap();
    assert_eq!(body_json(last)["type"], "call.unanswered");
    assert_eq!(body_json(last)["id"], body_json(&requests[0])["id"]);
    assert!(python_receiver_accepts(
        SECRET,
        header(last, "x-pinbridge-signature"),
        &last.body
    ));
}

#[tokio::test]
async fn booking_expired_is_posted_once_for_a_booking_that_expired_unclosed() {
    let server = MockServer::start().await;
    answer(&server, 200).await;
    // Three bookings on a pool of one number leave it no headroom: not this test's event.
    let app = events_app_with(&server, |s| s.allocation.headroom_alert = 0).await;
    let r = app
        .client
        .post(app.api("/virtual-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"number": "07314853246", "provider": "exotel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut ids = Vec::new();
    let bookings = [
        ("07709562799", "09812345678"),
        ("07709562700", "09812345600"),
        ("07709562711", "09812345611"),
    ];
    for (i, (a, b)) in bookings.into_iter().enumerate() {
        let r = app
            .client
            .post(app.api("/bookings"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"party_a": a, "party_b": b, "reference": format!("ride-{i}"), "ttl_seconds": 7200}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let booking: Value = r.json().await.unwrap();
        ids.push(booking["booking_id"].as_str().unwrap().to_owned());
    }
    // The second is closed before it expires: it ends, but does not expire.
    let closed = app
        .client
        .delete(app.api(&format!("/bookings/{}", ids[1])))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success());
    // The first two reach their expiry: the clock moves past it.
    app.sql(format!(
        "update bookings set expires_at = {} where booking_id in ('{}', '{}')",
        a_minute_ago_ms(),
        ids[0],
        ids[1]
    ))
    .await;

    // The sweeper runs when the server starts, then every 30 s.
    let app = app.restart().await;
    let requests = received(&server, 1).await;
    let body = body_json(&requests[0]);
    assert_eq!(body["type"], "booking.expired");
    assert_eq!(body["data"]["booking_id"], ids[0].as_str());
    assert_eq!(body["data"]["reference"], "ride-0");
    assert!(
        pinbridge::domain::clock::parse_rfc3339(body["data"]["expires_at"].as_str().unwrap())
            .is_some()
    );
    let text = String::from_utf8(requests[0].body.clone()).unwrap();
    for number in ["7709562799", "9812345678", "7314853246"] {
        // Every party and the virtual number, by their last ten digits.
        assert!(!text.contains(number), "no phone number in an event");
    }

    assert_eq!(
        app.events.sweep_expired_bookings().await.unwrap(),
        0,
        "once"
    );
    app.drain().await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let rows = outbox(&app.database_url).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, format!("booking.expired:{}", ids[0]));
}

#[tokio::test]
async fn without_an_events_url_nothing_is_stored_or_posted() {
    let app = spawn_app().await;
    assert!(!app.events.is_enabled());
    app.events
        .emit(
            EventKind::CallCompleted,
            "call.completed:exotel:c3",
            completed_call(),
        )
        .await
        .unwrap();
    assert_eq!(app.events.sweep_expired_bookings().await.unwrap(), 0);
    assert!(outbox(&app.database_url).await.is_empty());
}

/// The events posted so far (at least `n`), as (type, data), in the order they arrived.
async fn posted(server: &MockServer, n: usize) -> Vec<(String, Value)> {
    received(server, n)
        .await
        .iter()
        .map(|r| {
            let body = body_json(r);
            (
                body["type"].as_str().unwrap().to_owned(),
                body["data"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn exotel_calls_tell_the_business_how_they_ended_once_and_when_a_caller_is_locked_out() {
    let server = MockServer::start().await;
    answer(&server, 200).await;
    let url = format!("{}{HOOK_PATH}", server.uri());
    let app = spawn_app_with(|s| {
        s.outbound.events.url = Some(url);
        // The wiremock endpoint listens on http://127.0.0.1.
        s.outbound.events.allow_http_loopback = true;
        s.outbound.events.secret = Some(SECRET.into());
        s.guessing.caller_max_failures = 2;
    })
    .await;
    app.create_order("OD-EV1", "4821").await;

    // Bridged and answered; Exotel's call-end delivered twice.
    let call = crate::common::Call::new("ev-call-1");
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, crate::common::CUSTOMER_E164);
    let completed = call
        .query(None)
        .replace("DialCallStatus=null", "DialCallStatus=completed")
        .replace("DialCallDuration=0", "DialCallDuration=42");
    for _ in 0..2 {
        assert_eq!(app.exotel("call-end", &completed).await.status(), 200);
    }
    let events = posted(&server, 1).await;
    assert_eq!(events[0].0, "call.completed");
    let data = &events[0].1;
    assert_eq!(data["provider"], "exotel");
    assert_eq!(data["call_sid"], "ev-call-1");
    assert_eq!(data["outcome"], "connected");
    assert_eq!(data["route"], "pin");
    assert_eq!(data["order_id"], "OD-EV1");
    assert_eq!(data["dial_seconds"], 42);

    // Another caller keys three wrong PINs: the third locks it out (more than 2).
    let mut guess = crate::common::Call::new("ev-call-2");
    guess.from = "07709562700".into();
    for answer in [302, 302, 200] {
        // The third uses up the call's attempts too: on to Connect, which dials no one.
        assert_eq!(app.check_pin(&guess, "9999").await, answer);
    }
    let events = posted(&server, 2).await;
    assert_eq!(events[1].0, "pin.locked");
    assert_eq!(events[1].1["scope"], "caller");
    assert_eq!(events[1].1["call_sid"], "ev-call-2");
    // Its call ends without a dial: completed, the attempts used up; said once.
    for _ in 0..2 {
        assert_eq!(
            app.exotel("call-end", &guess.query(None)).await.status(),
            200
        );
    }
    let events = posted(&server, 3).await;
    assert_eq!(events[2].0, "call.completed");
    assert_eq!(events[2].1["outcome"], "pin_failed");
    assert_eq!(events[2].1["pin_attempts"], 3);

    // Nothing more arrives: one event per call end, one per lockout.
    app.drain().await;
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    let body = serde_json::to_string(&posted(&server, 3).await).unwrap();
    for number in ["7709562799", "7709562700", "9812345678", "4821", "9999"] {
        assert!(!body.contains(number), "{number} in an event");
    }
}

#[tokio::test]
async fn an_unanswered_exotel_call_is_posted_as_call_unanswered() {
    let server = MockServer::start().await;
    answer(&server, 200).await;
    let app = events_app(&server).await;
    app.create_order("OD-EV2", "4821").await;
    let call = crate::common::Call::new("ev-call-3");
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, crate::common::CUSTOMER_E164);
    // The caller's leg reported first, without a dial status, does not speak for the call.
    assert_eq!(
        app.exotel("call-end", &call.query(None)).await.status(),
        200
    );
    let no_answer = call
        .query(None)
        .replace("DialCallStatus=null", "DialCallStatus=no-answer");
    assert_eq!(app.exotel("call-end", &no_answer).await.status(), 200);
    let events = posted(&server, 1).await;
    assert_eq!(events[0].0, "call.unanswered");
    assert_eq!(events[0].1["outcome"], "no_answer");
    assert_eq!(events[0].1["order_id"], "OD-EV2");
    app.drain().await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
