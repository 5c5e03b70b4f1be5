//! The reconciler: calls whose end report never came are closed from the provider's
//! call-details API (a stand-in per API that checks the path and the basic auth it is sent),
//! or as `unknown` at the give-up deadline. A call is made old by moving its start back in
//! the database, so nothing waits for a clock; the reconciler runs every 50 ms.

use std::time::Duration;

use pinbridge::config::Settings;
use pinbridge::storage::calls::{claim_open, release};
use pinbridge::storage::{Db, PoolSettings};
use serde_json::{Value, json};
use wiremock::matchers::{basic_auth, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{TestApp, spawn_app_with};
use crate::scenarios::{self, Leg, PLIVO_TOKEN, Provider, Reply, TWILIO_TOKEN};

const EXOTEL_KEY: &str = "exotel-key-123";
const EXOTEL_TOKEN: &str = "exotel-token-456";
const EXOTEL_SID: &str = "acme1";
const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const PLIVO_AUTH_ID: &str = "MA2025RK4E639VJFZAGV";

/// The scenario app (every provider signed) with a fast reconciler, then `change`.
async fn spawn(change: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.server.public_url = Some(scenarios::PUBLIC_URL.into());
        s.providers.twilio = pinbridge::config::Signing::Signed(TWILIO_TOKEN.into());
        s.providers.plivo = pinbridge::config::Signing::Signed(PLIVO_TOKEN.into());
        s.reconcile.interval = Duration::from_millis(50);
        change(s);
    })
    .await
}

/// Exotel's REST API credentials, pointed at `stand_in`.
fn exotel_api(s: &mut Settings, stand_in: &MockServer) {
    s.outbound.exotel_api.api_key = Some(EXOTEL_KEY.into());
    s.outbound.exotel_api.api_token = Some(EXOTEL_TOKEN.into());
    s.outbound.exotel_api.account_sid = Some(EXOTEL_SID.into());
    s.outbound.exotel_api.base_url = stand_in.uri();
}

/// A call on `provider` bridged to the order's customer, whose end report is never sent.
async fn bridged_call(app: &TestApp, provider: Provider, sid: &str) -> Leg {
    scenarios::order(app, &format!("OD-{sid}"), "4821").await;
    let leg = Leg::new(sid, scenarios::COURIER);
    provider.start(app, &leg).await;
    let reply = provider.digits(app, &leg, "4821").await;
    assert!(matches!(reply, Reply::Dial { .. }), "{reply:?}");
    leg
}

/// Moves the start of the call `sid` back by `ago`, and forgets any look at it.
async fn started_ago(app: &TestApp, sid: &str, ago: Duration) {
    app.sql(format!(
        "update calls set started_at = started_at - {}, reconcile_at = null where call_sid = '{sid}'",
        ago.as_millis()
    ))
    .await;
}

/// The call log entry of `sid` once its outcome is no longer `in_progress` (10 s at most).
async fn closed_record(app: &TestApp, sid: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let record = app.call_record(sid).await;
        if record["outcome"] != "in_progress" {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sid} still open: {record}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The call's `reconcile_at` (unix ms), as the reconciler last set it.
async fn reconcile_at(app: &TestApp, sid: &str) -> Option<i64> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let at: Option<i64> = sqlx::query_scalar("select reconcile_at from calls where call_sid = $1")
        .bind(sid)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    at
}

/// Waits until the reconciler has looked the call up and put it back until `later_than`
/// from now or later (a claim alone holds it 15 s).
async fn put_back(app: &TestApp, sid: &str, later_than: Duration) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = pinbridge::domain::clock::now_ms();
        let wanted = now + i64::try_from(later_than.as_millis()).unwrap();
        if reconcile_at(app, sid).await.is_some_and(|at| at >= wanted) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sid} was never put back"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_call_whose_end_report_is_dropped_is_closed_from_exotels_call_details() {
    let exotel = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1/Accounts/{EXOTEL_SID}/Calls/ex-dropped-1.json"
        )))
        .and(query_param("details", "true"))
        .and(basic_auth(EXOTEL_KEY, EXOTEL_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Call": {
            "Sid": "ex-dropped-1", "ParentCallSid": null, "Status": "completed",
            "StartTime": "2026-12-07 10:48:33", "EndTime": "2026-12-07 10:49:50",
            "Duration": "77", "Direction": "inbound",
            "Details": {"ConversationDuration": 31, "Leg1Status": "completed", "Leg2Status": "completed"}
        }})))
        .expect(1)
        .mount(&exotel)
        .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let app = spawn(|s| {
        exotel_api(s, &exotel);
        s.outbound.events.url = Some(format!("{}/hooks", receiver.uri()));
        s.outbound.events.allow_http_loopback = true;
    })
    .await;
    bridged_call(&app, Provider::Exotel, "ex-dropped-1").await;
    assert_eq!(
        app.call_record("ex-dropped-1").await["outcome"],
        "in_progress"
    );

    started_ago(&app, "ex-dropped-1", Duration::from_secs(20 * 60)).await;
    let record = closed_record(&app, "ex-dropped-1").await;
    assert_eq!(record["outcome"], "connected", "{record}");
    assert_eq!(record["talk_seconds"], 31, "{record}");
    assert_eq!(record["dial_call_status"], "completed", "{record}");
    assert!(record["ended_at"].is_string(), "{record}");

    app.drain().await;
    let posted: Vec<Value> = receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let reconciled: Vec<&Value> = posted
        .iter()
        .filter(|e| e["type"] == "call.reconciled")
        .collect();
    assert_eq!(reconciled.len(), 1, "{posted:?}");
    let data = &reconciled[0]["data"];
    assert_eq!(data["call_sid"], "ex-dropped-1");
    assert_eq!(data["outcome"], "connected");
    assert_eq!(data["reason"], "provider_status");
    assert_eq!(data["provider_status"], "completed");
    assert!(
        !reconciled[0].to_string().contains("9812345678"),
        "no phone number in the event: {}",
        reconciled[0]
    );
    // The end went through the end report's path: the business hears call.completed too.
    assert!(
        posted.iter().any(|e| e["type"] == "call.completed"),
        "{posted:?}"
    );
}

#[tokio::test]
async fn a_call_whose_end_report_is_dropped_is_closed_from_twilios_call_resource() {
    let sid = "CA0000000000000000000000000000dr01";
    let twilio = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls/{sid}.json"
        )))
        .and(basic_auth(TWILIO_ACCOUNT, TWILIO_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sid": sid, "account_sid": TWILIO_ACCOUNT, "status": "completed",
            "duration": "95", "direction": "inbound",
            "start_time": "Mon, 07 Dec 2026 10:48:33 +0000",
            "end_time": "Mon, 07 Dec 2026 10:50:08 +0000"
        })))
        .expect(1)
        .mount(&twilio)
        .await;
    let app = spawn(|s| {
        s.reconcile.twilio_account_sid = Some(TWILIO_ACCOUNT.into());
        s.reconcile.twilio_api_base_url = twilio.uri();
    })
    .await;
    bridged_call(&app, Provider::Twilio, sid).await;
    started_ago(&app, sid, Duration::from_secs(20 * 60)).await;
    let record = closed_record(&app, sid).await;
    assert_eq!(record["outcome"], "connected", "{record}");
    assert_eq!(record["talk_seconds"], 95, "{record}");
}

#[tokio::test]
async fn a_call_whose_end_report_is_dropped_is_closed_from_plivos_call_record() {
    let uuid = "57a1b60a-5c0b-11e7-9082-ef888d0400e9";
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Account/{PLIVO_AUTH_ID}/Call/{uuid}/")))
        .and(basic_auth(PLIVO_AUTH_ID, PLIVO_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "answer_time": null, "bill_duration": 0, "billed_duration": 0,
            "call_direction": "inbound", "call_duration": 0, "call_uuid": uuid,
            "end_time": "2026-12-07 10:49:15+05:30", "initiation_time": "2026-12-07 10:48:04+05:30",
            "parent_call_uuid": null, "hangup_cause_name": "No Answer",
            "hangup_cause_code": 3010, "hangup_source": "Callee"
        })))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = spawn(|s| {
        s.reconcile.plivo_auth_id = Some(PLIVO_AUTH_ID.into());
        s.reconcile.plivo_api_base_url = plivo.uri();
    })
    .await;
    bridged_call(&app, Provider::Plivo, uuid).await;
    started_ago(&app, uuid, Duration::from_secs(20 * 60)).await;
    let record = closed_record(&app, uuid).await;
    assert_eq!(record["outcome"], "no_answer", "{record}");
    assert_eq!(record["dial_call_status"], "No Answer", "{record}");
}

#[tokio::test]
async fn a_call_still_in_progress_at_its_provider_stays_open() {
    let exotel = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1/Accounts/{EXOTEL_SID}/Calls/ex-long-1.json"
        )))
        .and(basic_auth(EXOTEL_KEY, EXOTEL_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Call": {
            "Sid": "ex-long-1", "Status": "in-progress", "Duration": null, "EndTime": null
        }})))
        .mount(&exotel)
        .await;
    let app = spawn(|s| exotel_api(s, &exotel)).await;
    bridged_call(&app, Provider::Exotel, "ex-long-1").await;
    started_ago(&app, "ex-long-1", Duration::from_secs(20 * 60)).await;
    // Put back until PINBRIDGE_RECONCILE_AFTER (15 min) from now: looked up, and left open.
    put_back(&app, "ex-long-1", Duration::from_secs(10 * 60)).await;
    assert_eq!(exotel.received_requests().await.unwrap().len(), 1);
    let record = app.call_record("ex-long-1").await;
    assert_eq!(record["outcome"], "in_progress", "{record}");
    assert!(record["ended_at"].is_null(), "{record}");
}

#[tokio::test]
async fn a_call_that_can_not_be_looked_up_becomes_unknown_at_the_give_up_deadline() {
    // No Exotel REST credentials: nothing to ask.
    let app = spawn(|_| {}).await;
    bridged_call(&app, Provider::Exotel, "ex-blind-1").await;

    // Before the deadline it waits for its end report, put back until the deadline.
    started_ago(&app, "ex-blind-1", Duration::from_secs(20 * 60)).await;
    put_back(&app, "ex-blind-1", Duration::from_secs(5 * 3600)).await;
    assert_eq!(
        app.call_record("ex-blind-1").await["outcome"],
        "in_progress"
    );

    // Past PINBRIDGE_RECONCILE_GIVE_UP (6 h) it is closed without an outcome.
    started_ago(&app, "ex-blind-1", Duration::from_secs(6 * 3600)).await;
    let record = closed_record(&app, "ex-blind-1").await;
    assert_eq!(record["outcome"], "unknown", "{record}");
    assert!(record["ended_at"].is_string(), "{record}");
    let (status, filtered) = app.get_json("/calls?outcome=unknown").await;
    assert_eq!(status, 200);
    assert_eq!(filtered["calls"].as_array().unwrap().len(), 1, "{filtered}");
}

#[tokio::test]
async fn a_call_whose_look_ups_keep_failing_becomes_unknown_and_the_failures_are_counted() {
    let exotel = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&exotel)
        .await;
    // Looked up again 100 ms after each failure.
    let app = spawn(|s| {
        exotel_api(s, &exotel);
        s.reconcile.after = Duration::from_millis(100);
    })
    .await;
    let errors = r#"pinbridge_reconcile_lookup_errors_total{provider="exotel"}"#;
    let unknown = r#"pinbridge_calls_reconciled_total{provider="exotel",outcome="unknown"}"#;
    let errors_before = app.metric_value(errors).await.unwrap_or(0.0);
    let unknown_before = app.metric_value(unknown).await.unwrap_or(0.0);
    Provider::Exotel
        .start(&app, &Leg::new("ex-erring-1", scenarios::COURIER))
        .await;
    let record = closed_record(&app, "ex-erring-1").await;
    assert_eq!(record["outcome"], "unknown", "{record}");
    let asked = exotel.received_requests().await.unwrap().len();
    assert_eq!(asked, 5, "closed after the fifth failed look-up");
    assert!(app.metric_value(errors).await.unwrap() - errors_before >= 5.0);
    assert!(app.metric_value(unknown).await.unwrap() - unknown_before >= 1.0);
}

#[tokio::test]
async fn two_reconcilers_on_one_database_reconcile_a_call_once() {
    let exotel = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1/Accounts/{EXOTEL_SID}/Calls/ex-race-1.json"
        )))
        .and(basic_auth(EXOTEL_KEY, EXOTEL_TOKEN))
        // Slow enough that the other instance's rounds run while this look-up is under way.
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"Call": {"Sid": "ex-race-1", "Status": "busy", "Duration": "0"}}),
                )
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&exotel)
        .await;
    let first = spawn(|s| {
        exotel_api(s, &exotel);
        s.reconcile.interval = Duration::from_millis(10);
    })
    .await;
    let url = first.database_url.clone();
    let second = spawn(|s| {
        exotel_api(s, &exotel);
        s.reconcile.interval = Duration::from_millis(10);
        s.database.url = url;
    })
    .await;
    bridged_call(&first, Provider::Exotel, "ex-race-1").await;
    started_ago(&first, "ex-race-1", Duration::from_secs(20 * 60)).await;
    let record = closed_record(&second, "ex-race-1").await;
    assert_eq!(record["outcome"], "busy", "{record}");
    // Once closed, no instance claims it again: one look-up was all.
    assert_eq!(exotel.received_requests().await.unwrap().len(), 1);
}

/// The claim itself, raced from two connection pools: on PostgreSQL (`TEST_DATABASE_URL`)
/// the second update waits for the first's row lock and then matches nothing.
#[tokio::test]
async fn of_two_claims_raced_on_one_call_exactly_one_wins() {
    let app = spawn(|_| {}).await;
    Provider::Exotel
        .start(&app, &Leg::new("ex-claim-1", scenarios::COURIER))
        .await;
    let settings = PoolSettings {
        max_connections: 2,
        ..PoolSettings::single()
    };
    let a = Db::connect(&app.database_url, &settings).await.unwrap();
    let b = Db::connect(&app.database_url, &settings).await.unwrap();
    for round in 0..20 {
        let now = pinbridge::domain::clock::now_ms();
        let (x, y) = tokio::join!(
            claim_open(&a, "exotel", "ex-claim-1", now, now + 60_000),
            claim_open(&b, "exotel", "ex-claim-1", now, now + 60_000),
        );
        let won = [x.unwrap(), y.unwrap()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {won:?}"
        );
        release(&a, "exotel", "ex-claim-1", 0, 0).await.unwrap();
    }
    a.close().await;
    b.close().await;
}
