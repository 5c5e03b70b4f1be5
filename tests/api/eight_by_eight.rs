//! 8x8: JSON webhooks shaped like 8x8's documented samples (Voice Call Action, Call Status,
//! Session Summary), callflow answers parsed structurally and checked against 8x8's rules.

use std::sync::atomic::{AtomicU64, Ordering};

use pinbridge::providers::eight_by_eight::PIN_PROMPT_ACTION_ID;
use reqwest::Response;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp, spawn_app_with};
use crate::scenarios::{self, COURIER, CUSTOMER, EIGHT_BY_EIGHT_SECRET, Leg, Reply, VN};

/// The voice profile pinbridge uses unless configured otherwise.
const VOICE_PROFILE: &str = "en-US-BenjaminRUS";
/// The `Authorization` value of the webhook's `httpAuthHeader` in the tests that set one.
const AUTH_HEADER: &str = "Basic cGluYnJpZGdlOnRlc3Qtc2VjcmV0";

/// A fresh id per request: 8x8 gives every leg its own `callId` and every delivery its own
/// `eventId`; only `sessionId` stays.
fn fresh(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}-{:08x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The session id this driver uses for `leg`: what the call log shows.
pub fn record_sid(leg: &Leg) -> String {
    format!("sess-{}", leg.sid)
}

/// A Voice Call Action request for `leg`, shaped like 8x8's sample
/// (number-masking/call-action-handling.md): `CALL_RECEIVED`, or `ACTION_COMPLETED` echoing
/// `client_action_id` with `dtmf`.
pub(crate) fn call_action(leg: &Leg, completed: Option<(&str, Value)>) -> Value {
    let mut payload = json!({
        "eventId": fresh("evt"),
        "callId": fresh("call"),
        "sessionId": record_sid(leg),
        "subAccountId": "pinbridge_test",
        "callStatus": "CALL_RECEIVED",
        "callDirection": "INBOUND",
        "callType": "PSTN",
        "source": leg.from,
        "destination": leg.to,
        "sourceFormat": "MSISDN",
        "destinationFormat": "MSISDN",
        "sourceCountryCode": "IN",
        "destinationCountryCode": "IN",
        "destinationRefId": "vn-ref-1",
        "callDuration": 0,
        "sipCode": 200,
        "timestamp": "2024-05-16T04:12:01Z"
    });
    if let Some((client_action_id, dtmf)) = completed {
        payload["callStatus"] = "ACTION_COMPLETED".into();
        payload["clientActionId"] = client_action_id.into();
        payload["eventData"] = json!({ "dtmf": dtmf });
        payload["timestamp"] = "2024-05-16T04:12:11.217Z".into();
    }
    json!({
        "namespace": "VOICE",
        "eventType": "CALL_ACTION",
        "description": "Action request of a call",
        "payload": payload
    })
}

/// A Voice Session Summary of `leg`'s session, shaped like 8x8's "Success" sample
/// (number-masking/session-summary-number-masking.md): the caller's leg and, when `dialled`,
/// the bridged leg to `dialled` that talked `talk_secs`.
fn session_summary(leg: &Leg, status: &str, dialled: Option<(&str, i64)>) -> Value {
    let call_a = json!({
        "callId": fresh("call"),
        "callDirection": "INBOUND",
        "callType": "PSTN",
        "initiatedTimestamp": "2024-03-25T06:01:20Z",
        "connectedTimestamp": "2024-03-25T06:01:21Z",
        "disconnectedTimestamp": "2024-03-25T06:02:08Z",
        "source": leg.from,
        "destination": leg.to,
        "sourceFormat": "MSISDN",
        "destinationFormat": "MSISDN",
        "sourceCountryCode": "IN",
        "destinationCountryCode": "IN",
        "destinationRefId": "vn-ref-1",
        "callStatus": "COMPLETED",
        "callDuration": 47,
        "callQuality": {"mos": 4.5, "packetLossRate": 0, "jitter": 20}
    });
    let mut details = json!({ "callA": call_a });
    if let Some((to, talk_secs)) = dialled {
        details["callB"] = json!({
            "callId": fresh("call"),
            "callDirection": "OUTBOUND",
            "callType": "PSTN",
            "initiatedTimestamp": "2024-03-25T06:01:30Z",
            "connectedTimestamp": "2024-03-25T06:01:37Z",
            "disconnectedTimestamp": "2024-03-25T06:02:08Z",
            "source": leg.to,
            "destination": to,
            "sourceFormat": "MSISDN",
            "destinationFormat": "MSISDN",
            "sourceCountryCode": "IN",
            "destinationCountryCode": "IN",
            "sourceRefId": "vn-ref-1",
            "callStatus": status,
            "callDuration": talk_secs,
            "callQuality": {"mos": 4.5, "packetLossRate": 0, "jitter": 19}
        });
    }
    json!({
        "payload": {
            "sessionId": record_sid(leg),
            "subAccountId": "pinbridge_test",
            "sessionStatus": status,
            "startTime": "2024-03-25T06:01:20Z",
            "endTime": "2024-03-25T06:02:08Z",
            "lastAction": if dialled.is_some() { "MAKE_CALL" } else { "SAY_AND_CAPTURE" },
            "callCount": if dialled.is_some() { 2 } else { 1 },
            "details": details
        },
        "namespace": "VOICE",
        "eventType": "SESSION_SUMMARY",
        "description": "Summary of a completed call session"
    })
}

fn url(app: &TestApp, secret: &str, hook: &str) -> String {
    format!("{}/8x8/{secret}/{hook}", app.address)
}

/// POSTs a JSON body to `/8x8/{secret}/{hook}` as 8x8 does, with the test secret.
pub async fn post(app: &TestApp, hook: &str, body: &Value) -> Response {
    app.client
        .post(url(app, EIGHT_BY_EIGHT_SECRET, hook))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Parses a callflow answer into a neutral reply, checking 8x8's rules on the way
/// (ivr/call-action-handling.md; `reference/providers.md` §3.3).
pub fn parse(v: &Value) -> Reply {
    let client_action_id = v["clientActionId"].as_str().expect("a clientActionId");
    assert!(!client_action_id.is_empty());
    let flow = v["callflow"].as_array().expect("a callflow array");
    assert!(!flow.is_empty(), "{v}");
    for action in flow {
        let name = action["action"].as_str().expect("an action name");
        assert!(
            ["say", "playFile", "sayAndCapture", "makeCall", "hangup"].contains(&name),
            "{name} is not an 8x8 action"
        );
    }
    let first = &flow[0];
    let p = &first["params"];
    match first["action"].as_str().unwrap() {
        "sayAndCapture" => {
            assert_eq!(
                flow.len(),
                1,
                "nothing after sayAndCapture, hangup least: {v}"
            );
            assert_eq!(client_action_id, PIN_PROMPT_ACTION_ID);
            let text = p["promptMessage"].as_str().expect("promptMessage");
            assert!(!text.is_empty());
            assert_eq!(p["voiceProfile"], VOICE_PROFILE);
            assert_eq!(p["completeOnHash"], true);
            let max = p["maxDigits"].as_u64().expect("maxDigits with minDigits");
            let min = p["minDigits"].as_u64().expect("minDigits");
            assert!((1..26).contains(&max), "maxDigits {max}");
            assert_eq!(min, 4, "PINBRIDGE_PIN_MIN_LENGTH of the scenarios");
            assert!(min <= max);
            let digit = p["digitTimeout"].as_u64().expect("digitTimeout");
            let overall = p["overallTimeout"].as_u64().expect("overallTimeout");
            assert!(overall > digit, "overallTimeout must exceed digitTimeout");
            assert_eq!(p["noOfTries"], 1);
            Reply::Ask { text: text.into() }
        }
        "makeCall" => {
            assert_eq!(flow.len(), 1, "{v}");
            let source = p["source"].as_str().expect("source");
            let destination = p["destination"].as_str().expect("destination");
            assert!(
                source.starts_with('+') && destination.starts_with('+'),
                "{v}"
            );
            Reply::Dial {
                to: destination.into(),
                caller_id: source.into(),
            }
        }
        "say" => {
            assert_eq!(flow.len(), 2, "say then hangup: {v}");
            assert_eq!(flow[1], json!({"action": "hangup"}));
            assert_eq!(p["voiceProfile"], VOICE_PROFILE);
            Reply::Goodbye {
                text: p["text"].as_str().expect("text").into(),
            }
        }
        other => panic!("unexpected first action {other}: {v}"),
    }
}

async fn callflow_json(r: Response) -> Value {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

async fn callflow(r: Response) -> Reply {
    parse(&callflow_json(r).await)
}

/// The callflow answering the call.
pub async fn start_json(app: &TestApp, leg: &Leg) -> Value {
    callflow_json(post(app, "voice", &call_action(leg, None)).await).await
}

pub async fn start(app: &TestApp, leg: &Leg) -> Reply {
    parse(&start_json(app, leg).await)
}

/// The callflow answering the PIN prompt's completion with `digits`.
pub async fn digits_json(app: &TestApp, leg: &Leg, digits: &str) -> Value {
    let body = call_action(leg, Some((PIN_PROMPT_ACTION_ID, digits.into())));
    callflow_json(post(app, "voice", &body).await).await
}

pub async fn digits(app: &TestApp, leg: &Leg, digits: &str) -> Reply {
    parse(&digits_json(app, leg, digits).await)
}

pub async fn answered(app: &TestApp, leg: &Leg) {
    let r = post(
        app,
        "session",
        &session_summary(leg, "COMPLETED", Some((CUSTOMER, 31))),
    )
    .await;
    assert_eq!(r.status(), 200);
}

async fn calls(app: &TestApp) -> Vec<Value> {
    let (status, log) = app.get_json("/calls").await;
    assert_eq!(status, 200);
    log["calls"].as_array().unwrap().clone()
}

async fn order(app: &TestApp, pin: &str) {
    let r = app
        .post_order(
            json!({"order_id": "OD-1", "customer_number": CUSTOMER, "pin": pin,
                           "virtual_number": VN}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

/// 8x8's number-masking sample (seeds 000 and 002): a rider calls the virtual number of their
/// booking, the Call Action Request carries the rider as `payload.source` and the virtual
/// number as `payload.destination`, and the answer is a `makeCall` with the virtual number as
/// `source` and the driver as `destination`. The numbers are those of 8x8's session summary
/// sample; the request is its Call Action Request sample, verbatim otherwise.
#[tokio::test]
async fn the_seeds_caller_based_request_reaches_the_other_party_of_the_booking() {
    const RIDER: &str = "+12314377870";
    const VIRTUAL_NUMBER: &str = "+6568332048";
    const DRIVER: &str = "+6591178965";
    // A rider from the US and a driver in Singapore: both calling codes must be allowed
    // destinations (PINBRIDGE_ALLOWED_COUNTRY_CODES; the default allows only the region's).
    let app = spawn_app_with(|s| {
        s.providers.eight_by_eight_secret = Some(scenarios::EIGHT_BY_EIGHT_SECRET.into());
        s.orders.allowed_country_codes = vec![1, 65];
    })
    .await;
    for (path, body) in [
        (
            "/virtual-numbers",
            json!({"number": VIRTUAL_NUMBER, "provider": "8x8"}),
        ),
        (
            "/bookings",
            json!({"party_a": RIDER, "party_b": DRIVER, "virtual_number": VIRTUAL_NUMBER}),
        ),
    ] {
        let r = app
            .client
            .post(app.api(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{path}: {}", r.text().await.unwrap());
    }
    let request = json!({
      "namespace": "VOICE",
      "eventType": "CALL_ACTION",
      "description": "Action request of a call",
      "payload": {
        "eventId": "eb0fc709-9693-11ea-454d-1705dde98182",
        "callId": "a1d6a5e3-efec-11e9-b999-7d370b5f90d1",
        "sessionId": "a1d6a5e2-efec-11e9-b999-efc71013a78f",
        "subAccountId": "your_subaccount_id",
        "callStatus": "CALL_RECEIVED",
        "callDirection": "INBOUND",
        "callType": "PSTN",
        "source": RIDER,
        "destination": VIRTUAL_NUMBER,
        "sourceFormat": "MSISDN",
        "destinationFormat": "MSISDN",
        "sourceCountryCode": "US",
        "destinationCountryCode": "SG",
        "destinationRefId": "vn-ref-1",
        "callDuration": 0,
        "sipCode": 200,
        "timestamp": "2019-10-16T08:12:01Z"
      }
    });
    let r = post(&app, "voice", &request).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    // What the seed's Flask endpoint answers: `{"callflow": [{"action": "makeCall", "params":
    // {"source": VLN, "destination": Driver_Phone_Number}}]}`.
    assert_eq!(answer["callflow"][0]["action"], "makeCall");
    assert_eq!(
        parse(&answer),
        Reply::Dial {
            to: DRIVER.into(),
            caller_id: VIRTUAL_NUMBER.into()
        }
    );
    let record = app
        .call_record("a1d6a5e2-efec-11e9-b999-efc71013a78f")
        .await;
    assert_eq!(record["provider"], "8x8");
    assert_eq!(record["route"], "booking");
    assert_eq!(record["destination"], DRIVER);
}

#[tokio::test]
async fn a_wrong_secret_gets_404_on_every_8x8_webhook_and_stores_nothing() {
    let app = scenarios::spawn().await;
    let leg = Leg::new("wrong-secret", COURIER);
    let bodies = [
        ("voice", call_action(&leg, None)),
        (
            "status",
            json!({"eventType": "CALL_STATUS", "payload": {"sessionId": record_sid(&leg)}}),
        ),
        (
            "session",
            session_summary(&leg, "COMPLETED", Some((CUSTOMER, 31))),
        ),
    ];
    for secret in [
        "test-8x8-secret-012345678",
        "test-8x8-secret-0123456789x",
        "TEST-8X8-SECRET-0123456789",
        "x",
    ] {
        for (hook, body) in &bodies {
            let r = app
                .client
                .post(url(&app, secret, hook))
                .json(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{hook} with {secret}");
        }
    }
    assert!(calls(&app).await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn the_configured_authorization_header_is_required_on_every_8x8_webhook() {
    let app = spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.providers.eight_by_eight_secret = Some(EIGHT_BY_EIGHT_SECRET.into());
        s.providers.eight_by_eight_auth_header = Some(AUTH_HEADER.into());
    })
    .await;
    order(&app, "4821").await;
    let leg = Leg::new("auth-header", COURIER);
    let bodies = [
        ("voice", call_action(&leg, None)),
        (
            "status",
            json!({"eventType": "CALL_STATUS", "payload": {"sessionId": record_sid(&leg)}}),
        ),
        (
            "session",
            session_summary(&leg, "COMPLETED", Some((CUSTOMER, 31))),
        ),
    ];
    let wrong = [
        None,
        Some(""),
        Some("Basic cGluYnJpZGdlOnRlc3Qtc2VjcmV1"),
        Some("basic cGluYnJpZGdlOnRlc3Qtc2VjcmV0"),
        Some("Basic cGluYnJpZGdlOnRlc3Qtc2VjcmV0 extra"),
    ];
    for header in wrong {
        for (hook, body) in &bodies {
            let mut request = app
                .client
                .post(url(&app, EIGHT_BY_EIGHT_SECRET, hook))
                .json(body);
            if let Some(h) = header {
                request = request.header("Authorization", h);
            }
            assert_eq!(
                request.send().await.unwrap().status(),
                403,
                "{hook} with {header:?}"
            );
        }
    }
    assert!(calls(&app).await.is_empty(), "nothing stored");

    let r = app
        .client
        .post(url(&app, EIGHT_BY_EIGHT_SECRET, "voice"))
        .header("Authorization", AUTH_HEADER)
        .json(&bodies[0].1)
        .send()
        .await
        .unwrap();
    assert!(matches!(callflow(r).await, Reply::Ask { .. }));
    // A wrong secret is a 404 before the header is looked at.
    let r = app
        .client
        .post(url(&app, "not-the-secret", "voice"))
        .json(&bodies[0].1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_malformed_body_still_gets_a_callflow_that_says_sorry_and_hangs_up() {
    let app = scenarios::spawn().await;
    let bodies: [(&str, &[u8]); 5] = [
        ("application/json", b"{not json"),
        ("application/json", b""),
        ("application/json", b"[1, 2, 3]"),
        (
            "application/x-www-form-urlencoded",
            b"CallSid=CA1&From=%2B917709562799",
        ),
        ("text/plain", b"\xff\xfe garbage"),
    ];
    for (content_type, body) in bodies {
        let r = app
            .client
            .post(url(&app, EIGHT_BY_EIGHT_SECRET, "voice"))
            .header("Content-Type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        match callflow(r).await {
            Reply::Goodbye { text } => assert!(text.starts_with("Sorry"), "{text}"),
            other => panic!("{body:?}: {other:?}"),
        }
        for hook in ["status", "session"] {
            let r = app
                .client
                .post(url(&app, EIGHT_BY_EIGHT_SECRET, hook))
                .header("Content-Type", content_type)
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{hook}: {body:?}");
        }
    }
    // JSON of the wrong shape: no session to key the call by, so no flow step either.
    for body in [
        json!({"payload": "x"}),
        json!({"payload": {"sessionId": ["x"]}}),
    ] {
        let reply = callflow(post(&app, "voice", &body).await).await;
        assert!(matches!(reply, Reply::Goodbye { .. }), "{body}: {reply:?}");
    }
    assert!(calls(&app).await.is_empty());
}

#[tokio::test]
async fn no_input_and_a_trailing_hash_are_understood() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("no-input", COURIER);
    start(&app, &leg).await;
    for dtmf in [Value::Null, json!("")] {
        let reply = callflow(
            post(
                &app,
                "voice",
                &call_action(&leg, Some((PIN_PROMPT_ACTION_ID, dtmf))),
            )
            .await,
        )
        .await;
        assert!(
            matches!(&reply, Reply::Ask { text } if text.contains("did not receive any input")),
            "{reply:?}"
        );
    }
    // No eventData at all reads as nothing keyed too, and is the last attempt.
    let mut body = call_action(&leg, Some((PIN_PROMPT_ACTION_ID, Value::Null)));
    body["payload"].as_object_mut().unwrap().remove("eventData");
    let reply = callflow(post(&app, "voice", &body).await).await;
    assert!(matches!(reply, Reply::Goodbye { .. }), "{reply:?}");

    let leg = Leg::new("hash", COURIER);
    start(&app, &leg).await;
    assert_eq!(
        digits(&app, &leg, "4821#").await,
        Reply::Dial {
            to: CUSTOMER.into(),
            caller_id: VN.into()
        }
    );
}

#[tokio::test]
async fn call_status_never_changes_the_outcome_and_a_session_without_a_bridge_is_not_connected() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("vcs", COURIER);
    start(&app, &leg).await;
    digits(&app, &leg, "4821").await;
    answered(&app, &leg).await;
    for status in ["CALL_CONNECTED", "CALL_DISCONNECTED", "CALL_INITIATED"] {
        let body = json!({
            "namespace": "VOICE", "eventType": "CALL_STATUS",
            "description": "Status update of a call",
            "payload": {"eventId": fresh("evt"), "callId": fresh("call"),
                        "sessionId": record_sid(&leg), "callStatus": status,
                        "callDirection": "OUTBOUND", "callType": "PSTN",
                        "source": VN, "destination": CUSTOMER, "callDuration": 0,
                        "sipCode": 200, "timestamp": "2024-03-25T06:02:09Z"}
        });
        assert_eq!(post(&app, "status", &body).await.status(), 200);
    }
    let record = app.call_record(&record_sid(&leg)).await;
    assert_eq!(record["outcome"], "connected");
    assert_eq!(record["talk_seconds"], 31);
    assert_eq!(record["dial_seconds"], 38);
    assert_eq!(record["dial_call_status"], "COMPLETED");
    assert_eq!(record["legs"][1]["leg"], "callB");

    // A caller who hangs up at the PIN prompt: COMPLETED, but no one was dialled.
    let leg = Leg::new("hung-up", COURIER);
    start(&app, &leg).await;
    let r = post(&app, "session", &session_summary(&leg, "COMPLETED", None)).await;
    assert_eq!(r.status(), 200);
    let record = app.call_record(&record_sid(&leg)).await;
    assert_eq!(record["outcome"], "abandoned");
    assert_eq!(record["talk_seconds"], Value::Null);

    // The dialled party does not answer.
    let leg = Leg::new("no-answer", COURIER);
    start(&app, &leg).await;
    digits(&app, &leg, "4821").await;
    let r = post(
        &app,
        "session",
        &session_summary(&leg, "NO_ANSWER", Some((CUSTOMER, 0))),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.call_record(&record_sid(&leg)).await["outcome"],
        "no_answer"
    );
}

#[tokio::test]
async fn a_completed_bridge_reported_back_is_answered_with_hangup_and_no_new_dial() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("after-bridge", COURIER);
    start(&app, &leg).await;
    digits(&app, &leg, "4821").await;
    let r = post(
        &app,
        "voice",
        &call_action(&leg, Some(("pinbridge-bridge", Value::Null))),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["callflow"], json!([{"action": "hangup"}]));
    let record = app.call_record(&record_sid(&leg)).await;
    assert_eq!(record["pin_attempts"], 1);
}
