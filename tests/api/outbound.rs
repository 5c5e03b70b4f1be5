//! Click-to-call through Exotel's `Calls/connect`, its status callback, and the SMS after an
//! unanswered call, with a `wiremock` server standing in for Exotel's REST API.

use std::time::Duration;

use base64::Engine;
use pinbridge::domain::PhoneNumber;
use serde_json::{Value, json};
use wiremock::matchers::{basic_auth, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{CUSTOMER_E164, Call, EXOTEL_SECRET, TestApp, spawn_app, spawn_app_with};

const API_KEY: &str = "exotel-key-1";
const API_TOKEN: &str = "exotel-token-secret-2";
const ACCOUNT_SID: &str = "swiftcouriers1";
const CONNECT_PATH: &str = "/v1/Accounts/swiftcouriers1/Calls/connect.json";
const SMS_PATH: &str = "/v1/Accounts/swiftcouriers1/Sms/send.json";
const EXOTEL_CALL_SID: &str = "c5797dcbaaeed7678c4062a4a3ed2f8a";
const COURIER: &str = "07709562799";
const COURIER_E164: &str = "+917709562799";
const VIRTUAL_E164: &str = "+917314853246";

/// How the app under test is wired to the mock Exotel.
#[derive(Clone, Copy, PartialEq)]
enum Wiring {
    /// API credentials only: click-to-call works, SMS is off.
    Api,
    /// API credentials and the SMS sender with its DLT ids.
    ApiAndSms,
}

async fn exotel_app(mock: &MockServer, wiring: Wiring) -> TestApp {
    let uri = mock.uri();
    spawn_app_with(move |s| {
        s.outbound.exotel_api.base_url = uri;
        s.outbound.exotel_api.api_key = Some(API_KEY.into());
        s.outbound.exotel_api.api_token = Some(API_TOKEN.into());
        s.outbound.exotel_api.account_sid = Some(ACCOUNT_SID.into());
        if wiring == Wiring::ApiAndSms {
            s.outbound.sms.from = Some("SWIFTC".into());
            s.outbound.sms.dlt_entity_id = Some("1101000000000001".into());
            s.outbound.sms.dlt_template_id = Some("1107000000000002".into());
        }
    })
    .await
}

/// Exotel accepting a `Calls/connect` (seed 003, "Click to Call API", step 2).
fn call_accepted() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "Call": {
            "Sid": EXOTEL_CALL_SID, "ParentCallSid": null, "AccountSid": ACCOUNT_SID,
            "Status": "in-progress", "Direction": "outbound-api",
            "Uri": format!("/v1/Accounts/{ACCOUNT_SID}/Calls.json/{EXOTEL_CALL_SID}")
        }
    }))
}

async fn mount_connect(mock: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(CONNECT_PATH))
        .and(basic_auth(API_KEY, API_TOKEN))
        .respond_with(answer)
        .mount(mock)
        .await;
}

async fn mount_sms(mock: &MockServer) {
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .and(basic_auth(API_KEY, API_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "SMSMessage": {"Sid": "0f477d60517e6e6a0f6d9a7e9af8630e", "Status": "queued"}
        })))
        .mount(mock)
        .await;
}

/// The form bodies of the requests the mock received on `path`, in order.
async fn forms(mock: &MockServer, on: &str) -> Vec<Vec<(String, String)>> {
    mock.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == on)
        .map(|r| serde_urlencoded::from_bytes(&r.body).unwrap())
        .collect()
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The SMS decision stored for a call (`sent`, `failed`, `cooldown`; `sending` while Exotel
/// has not answered), once the app's background work is drained.
async fn sms_decision(app: &TestApp, provider: &str, call_sid: &str) -> Option<String> {
    app.drain().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let row: Option<(String,)> =
        sqlx::query_as("select status from outbound_sms where provider = $1 and call_sid = $2")
            .bind(provider)
            .bind(call_sid)
            .fetch_optional(&pool)
            .await
            .unwrap();
    pool.close().await;
    row.map(|r| r.0)
}

impl TestApp {
    async fn click_to_call(&self, body: Value) -> (u16, Value) {
        self.post_json("/calls/connect", &body).await
    }

    /// Places a click-to-call for `order_id` from the courier; returns our call id.
    async fn placed_call(&self, order_id: &str) -> String {
        let (status, body) = self
            .click_to_call(json!({"order_id": order_id, "from": COURIER}))
            .await;
        assert_eq!(status, 202, "{body}");
        body["call_id"].as_str().unwrap().to_owned()
    }

    async fn status_json(&self, body: &Value) -> u16 {
        self.client
            .post(self.exotel_url("status"))
            .json(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn status_form(&self, form: &[(&str, &str)]) -> u16 {
        self.client
            .post(self.exotel_url("status"))
            .form(form)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post_json(path, &body).await;
        assert_eq!(status, 201, "{path}: {answer}");
        answer
    }

    /// A PIN call to order `pin`'s customer that Exotel reports unanswered (`call-end`
    /// Passthru: `CallType=incomplete`, `DialCallStatus=no-answer`; reference §1.5).
    async fn unanswered_pin_call(&self, sid: &str, pin: &str) {
        let call = Call::new(sid);
        assert_eq!(self.check_pin(&call, pin).await, 200);
        assert_eq!(self.connect(&call).await, CUSTOMER_E164);
        let end = call
            .query(None)
            .replace("DialCallStatus=null", "DialCallStatus=no-answer")
            .replace("CallType=call-attempt", "CallType=incomplete");
        assert_eq!(self.exotel("call-end", &end).await.status(), 200);
    }
}

/// The seed's terminal status callback (seed 003, "Click to Call API"), for our call.
fn terminal_report(call_id: &str, status: &str, legs: [(&str, u32); 2], talk: u32) -> Value {
    json!({
        "CallSid": EXOTEL_CALL_SID,
        "EventType": "terminal",
        "DateCreated": "2019-04-08 03:17:59",
        "DateUpdated": "2019-04-08 03:18:35",
        "Status": status,
        "To": "+91886799XXXX",
        "From": "+91941374XXXX",
        "PhoneNumberSid": "0113083XXXX",
        "StartTime": "2019-04-08 03:17:59",
        "EndTime": "2019-04-08 03:18:36",
        "Direction": "outbound-api",
        "CustomField": call_id,
        "RecordingUrl": "https://s3-ap-southeast-1.amazonaws.com/exotelrecordings/acme/xxdewfcwsdw.mp3",
        "ConversationDuration": talk,
        "Legs": [
            {"OnCallDuration": legs[0].1, "Status": legs[0].0},
            {"OnCallDuration": legs[1].1, "Status": legs[1].0}
        ]
    })
}

#[tokio::test]
async fn click_to_call_for_an_order_sends_exotel_exactly_the_documented_fields() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-C2C", "4821").await;

    let (status, body) = app
        .click_to_call(json!({"order_id": "OD-C2C", "from": COURIER}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["sid"], EXOTEL_CALL_SID);
    let call_id = body["call_id"].as_str().unwrap();
    assert!(call_id.starts_with("ctc_"), "{call_id}");

    let received = mock.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "one call placed");
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{API_KEY}:{API_TOKEN}"))
    );
    assert_eq!(received[0].headers["authorization"], expected_auth.as_str());
    assert_eq!(
        received[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let status_callback = format!("{}/exotel/{EXOTEL_SECRET}/status", app.address);
    assert_eq!(
        forms(&mock, CONNECT_PATH).await[0],
        pairs(&[
            ("From", COURIER_E164),
            ("To", CUSTOMER_E164),
            ("CallerId", VIRTUAL_E164),
            ("StatusCallback", &status_callback),
            ("StatusCallbackEvents[0]", "terminal"),
            ("StatusCallbackContentType", "application/json"),
            ("CustomField", call_id),
            ("Record", "false"),
            ("TimeLimit", "3600"),
            ("TimeOut", "45"),
        ])
    );

    let record = app.call_record(call_id).await;
    assert_eq!(record["provider"], "exotel");
    assert_eq!(record["route"], "click_to_call");
    assert_eq!(record["order_id"], "OD-C2C");
    assert_eq!(record["caller"], COURIER_E164);
    assert_eq!(record["destination"], CUSTOMER_E164);
    assert_eq!(record["virtual_number"], VIRTUAL_E164);
    assert_eq!(record["outcome"], "in_progress");
}

#[tokio::test]
async fn recording_and_the_order_s_single_courier_are_used_when_configured() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    let uri = mock.uri();
    let app = spawn_app_with(move |s| {
        s.outbound.exotel_api.base_url = uri;
        s.outbound.exotel_api.api_key = Some(API_KEY.into());
        s.outbound.exotel_api.api_token = Some(API_TOKEN.into());
        s.outbound.exotel_api.account_sid = Some(ACCOUNT_SID.into());
        s.outbound.exotel_api.call_recording = true;
        s.outbound.exotel_api.caller_id = PhoneNumber::parse("08045678901", s.orders.region).ok();
    })
    .await;
    // No virtual number: the caller ID is PINBRIDGE_EXOTEL_CALLER_ID. One allowed courier:
    // called without `from`.
    let r = app
        .post_order(json!({
            "order_id": "OD-ONE", "customer_number": "09812345678", "pin": "4821",
            "allowed_callers": [COURIER],
        }))
        .await;
    assert_eq!(r.status(), 201);
    let (status, body) = app.click_to_call(json!({"order_id": "OD-ONE"})).await;
    assert_eq!(status, 202, "{body}");
    let form = &forms(&mock, CONNECT_PATH).await[0];
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("From"), Some(COURIER_E164));
    assert_eq!(get("CallerId"), Some("+918045678901"));
    assert_eq!(get("Record"), Some("true"));
    assert_eq!(get("RecordingChannels"), Some("dual"));

    // Another courier than the one allowed is refused, before anything is placed.
    let (status, body) = app
        .click_to_call(json!({"order_id": "OD-ONE", "from": "09000000001"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_from");
    assert_eq!(forms(&mock, CONNECT_PATH).await.len(), 1);
}

#[tokio::test]
async fn click_to_call_for_a_booking_rings_party_a_then_party_b_from_its_number() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.admin_post(
        "/virtual-numbers",
        json!({"number": "07314853246", "provider": "exotel"}),
    )
    .await;
    let booking = app
        .admin_post(
            "/bookings",
            json!({"party_a": COURIER, "party_b": "09812345678", "reference": "ride-42", "ttl_seconds": 3600}),
        )
        .await;
    let booking_id = booking["booking_id"].as_str().unwrap();

    let (status, body) = app.click_to_call(json!({"booking_id": booking_id})).await;
    assert_eq!(status, 202, "{body}");
    let form = &forms(&mock, CONNECT_PATH).await[0];
    assert_eq!(form[0], ("From".into(), COURIER_E164.into()));
    assert_eq!(form[1], ("To".into(), CUSTOMER_E164.into()));
    assert_eq!(form[2], ("CallerId".into(), VIRTUAL_E164.into()));
    let record = app.call_record(body["call_id"].as_str().unwrap()).await;
    assert_eq!(record["booking_id"], booking_id);
    assert_eq!(record["route"], "click_to_call");

    // `from` naming party B turns the call around.
    let (status, _) = app
        .click_to_call(json!({"booking_id": booking_id, "from": "09812345678"}))
        .await;
    assert_eq!(status, 202);
    let form = &forms(&mock, CONNECT_PATH).await[1];
    assert_eq!(form[0], ("From".into(), CUSTOMER_E164.into()));
    assert_eq!(form[1], ("To".into(), COURIER_E164.into()));
}

#[tokio::test]
async fn bad_click_to_call_requests_get_json_errors_and_place_nothing() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-BAD", "4821").await;
    app.create_order("OD-GONE", "4822").await;
    assert_eq!(app.delete_json("/orders/OD-GONE").await.0, 200);

    for (body, want_status, want_code) in [
        (json!({}), 400, "invalid_body"),
        (
            json!({"order_id": "OD-BAD", "booking_id": "bk_1", "from": COURIER}),
            400,
            "invalid_body",
        ),
        (
            json!({"order_id": "OD-BAD", "to": COURIER}),
            400,
            "invalid_body",
        ),
        (json!({"order_id": "OD-BAD"}), 400, "missing_from"),
        (
            json!({"order_id": "OD-BAD", "from": "not a number"}),
            400,
            "invalid_from",
        ),
        (
            json!({"order_id": "OD-BAD", "from": "+14155550123"}),
            400,
            "invalid_from",
        ),
        (
            json!({"order_id": "OD-NONE", "from": COURIER}),
            404,
            "not_found",
        ),
        (
            json!({"order_id": "OD-GONE", "from": COURIER}),
            404,
            "not_found",
        ),
        (json!({"booking_id": "bk_none"}), 404, "not_found"),
    ] {
        let (status, answer) = app.click_to_call(body.clone()).await;
        assert_eq!(status, want_status, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], want_code, "{body} → {answer}");
    }
    let (_, answer) = app.click_to_call(json!({"order_id": "OD-BAD"})).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`from`")
    );
    let r = app
        .client
        .post(app.api("/calls/connect"))
        .json(&json!({"order_id": "OD-BAD", "from": COURIER}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the admin token is required");
    assert!(forms(&mock, CONNECT_PATH).await.is_empty());
}

#[tokio::test]
async fn without_exotel_credentials_click_to_call_is_503_naming_the_settings() {
    let app = spawn_app().await;
    app.create_order("OD-NOAPI", "4821").await;
    let (status, body) = app
        .click_to_call(json!({"order_id": "OD-NOAPI", "from": COURIER}))
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "exotel_not_configured");
    let message = body["error"]["message"].as_str().unwrap();
    for name in [
        "PINBRIDGE_EXOTEL_API_KEY",
        "PINBRIDGE_EXOTEL_API_TOKEN",
        "PINBRIDGE_EXOTEL_ACCOUNT_SID",
    ] {
        assert!(message.contains(name), "{message}");
    }
}

#[tokio::test]
async fn exotels_refusal_is_a_502_with_its_message_and_a_failed_record() {
    let mock = MockServer::start().await;
    mount_connect(
        &mock,
        ResponseTemplate::new(400).set_body_json(json!({
            "RestException": {"Status": 400, "Message": "CallerId is not a valid ExoPhone of this account"}
        })),
    )
    .await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-REFUSED", "4821").await;
    let (status, body) = app
        .click_to_call(json!({"order_id": "OD-REFUSED", "from": COURIER}))
        .await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "exotel_error");
    assert_eq!(
        body["error"]["message"],
        "CallerId is not a valid ExoPhone of this account"
    );
    assert_eq!(forms(&mock, CONNECT_PATH).await.len(), 1, "a 4xx is final");
    let (_, log) = app.get_json("/calls?order_id=OD-REFUSED").await;
    assert_eq!(log["calls"].as_array().unwrap().len(), 1);
    assert_eq!(log["calls"][0]["outcome"], "failed");
    assert_eq!(log["calls"][0]["route"], "click_to_call");
}

#[tokio::test]
async fn a_503_is_tried_again_and_the_call_is_placed_once() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CONNECT_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    mount_connect(&mock, call_accepted()).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-RETRY", "4821").await;
    let (status, body) = app
        .click_to_call(json!({"order_id": "OD-RETRY", "from": COURIER}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["sid"], EXOTEL_CALL_SID);
    let sent = forms(&mock, CONNECT_PATH).await;
    assert_eq!(
        sent.len(),
        2,
        "refused once (503), accepted on the second try"
    );
    assert_eq!(sent[0], sent[1], "the same request both times");
}

#[tokio::test]
async fn a_500_may_have_placed_the_call_so_it_is_never_sent_again() {
    let mock = MockServer::start().await;
    mount_connect(&mock, ResponseTemplate::new(500)).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-500", "4821").await;
    let (status, body) = app
        .click_to_call(json!({"order_id": "OD-500", "from": COURIER}))
        .await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "exotel_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("may have been carried out"),
        "{body}"
    );
    assert_eq!(forms(&mock, CONNECT_PATH).await.len(), 1, "never two calls");
    // The outcome is unknown: the record stays open for the status callback.
    let (_, log) = app.get_json("/calls?order_id=OD-500").await;
    assert_eq!(log["calls"][0]["outcome"], "in_progress");
}

#[tokio::test]
async fn a_json_status_callback_completes_the_record() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-DONE", "4821").await;
    let call_id = app.placed_call("OD-DONE").await;

    let report = terminal_report(
        &call_id,
        "completed",
        [("completed", 41), ("completed", 32)],
        32,
    );
    assert_eq!(app.status_json(&report).await, 200);
    let record = app.call_record(&call_id).await;
    assert_eq!(record["outcome"], "connected");
    assert_eq!(record["talk_seconds"], 32);
    assert_eq!(record["dial_call_status"], "completed");
    assert_eq!(record["legs"][1]["OnCallDuration"], 32);
    assert!(record["recording_url"].as_str().unwrap().ends_with(".mp3"));
    assert!(record["ended_at"].is_string());
}

#[tokio::test]
async fn a_form_status_callback_completes_the_record_too() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-FORM", "4821").await;
    let call_id = app.placed_call("OD-FORM").await;

    let status = app
        .status_form(&[
            ("CallSid", EXOTEL_CALL_SID),
            ("EventType", "terminal"),
            ("Status", "busy"),
            ("CustomField", &call_id),
            ("ConversationDuration", "0"),
            ("Legs[0][Status]", "completed"),
            ("Legs[0][OnCallDuration]", "12"),
            ("Legs[1][Status]", "busy"),
            ("Legs[1][OnCallDuration]", "0"),
        ])
        .await;
    assert_eq!(status, 200);
    let record = app.call_record(&call_id).await;
    assert_eq!(record["outcome"], "busy");
    assert_eq!(record["talk_seconds"], 0);
    assert_eq!(record["legs"][1]["Status"], "busy");
    // SMS is off (no PINBRIDGE_EXOTEL_SMS_FROM): Exotel got the call and nothing else.
    app.drain().await;
    assert!(forms(&mock, SMS_PATH).await.is_empty());
}

#[tokio::test]
async fn a_status_callback_delivered_twice_leaves_one_record_and_sends_one_sms() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    mount_sms(&mock).await;
    let app = exotel_app(&mock, Wiring::ApiAndSms).await;
    app.create_order("OD-TWICE", "4821").await;
    let call_id = app.placed_call("OD-TWICE").await;

    // The courier answered, the customer did not.
    let report = terminal_report(
        &call_id,
        "no-answer",
        [("completed", 41), ("no-answer", 0)],
        0,
    );
    assert_eq!(app.status_json(&report).await, 200);
    assert_eq!(app.status_json(&report).await, 200);

    // Drained: every SMS decision of both deliveries has ended.
    assert_eq!(
        sms_decision(&app, "exotel", &call_id).await.as_deref(),
        Some("sent")
    );
    let sms = forms(&mock, SMS_PATH).await;
    assert_eq!(sms.len(), 1, "one SMS: {sms:?}");
    let record = app.call_record(&call_id).await;
    assert_eq!(record["outcome"], "no_answer");
    assert_eq!(forms(&mock, CONNECT_PATH).await.len(), 1);
    let to = sms[0].iter().find(|(k, _)| k == "To").unwrap();
    assert_eq!(to.1, CUSTOMER_E164, "the party who did not answer");

    // /metrics counts them (the recorder is the process's: at least this test's).
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "pinbridge_click_to_calls_total{result=\"placed\"}",
        "pinbridge_sms_total{result=\"sent\"}",
        "pinbridge_calls_total{provider=\"exotel\",outcome=\"no_answer\"}",
    ] {
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .unwrap_or_else(|| panic!("{series} in /metrics"));
        assert!(value.trim().parse::<f64>().unwrap() >= 1.0, "{series}");
    }
}

#[tokio::test]
async fn no_sms_when_the_courier_leg_of_a_click_to_call_went_unanswered() {
    let mock = MockServer::start().await;
    mount_connect(&mock, call_accepted()).await;
    mount_sms(&mock).await;
    let app = exotel_app(&mock, Wiring::ApiAndSms).await;
    app.create_order("OD-COURIER", "4821").await;
    let call_id = app.placed_call("OD-COURIER").await;
    // Exotel never reached the customer: the courier (From, called first) did not pick up.
    let report = terminal_report(&call_id, "no-answer", [("no-answer", 0), ("null", 0)], 0);
    assert_eq!(app.status_json(&report).await, 200);
    assert_eq!(app.call_record(&call_id).await["outcome"], "no_answer");
    app.drain().await;
    assert!(forms(&mock, SMS_PATH).await.is_empty());
}

#[tokio::test]
async fn an_unanswered_pin_call_texts_the_customer_once_and_not_again_within_the_cooldown() {
    let mock = MockServer::start().await;
    mount_sms(&mock).await;
    let app = exotel_app(&mock, Wiring::ApiAndSms).await;
    app.create_order("OD-MISSED", "4821").await;

    app.unanswered_pin_call("missed-1", "4821").await;
    app.drain().await;
    let sms = forms(&mock, SMS_PATH).await;
    assert_eq!(sms.len(), 1);
    assert_eq!(
        sms[0],
        pairs(&[
            ("From", "SWIFTC"),
            ("To", CUSTOMER_E164),
            (
                "Body",
                "Your courier tried to call you about order OD-MISSED; call back on +917314853246"
            ),
            ("SmsType", "transactional"),
            ("DltEntityId", "1101000000000001"),
            ("DltTemplateId", "1107000000000002"),
        ])
    );
    assert_eq!(
        sms_decision(&app, "exotel", "missed-1").await.as_deref(),
        Some("sent")
    );
    assert_eq!(app.call_record("missed-1").await["outcome"], "no_answer");

    // The courier tries again at once: still unanswered, but within PINBRIDGE_SMS_COOLDOWN.
    app.unanswered_pin_call("missed-2", "4821").await;
    assert_eq!(
        sms_decision(&app, "exotel", "missed-2").await.as_deref(),
        Some("cooldown")
    );
    // The same end reported again: decided already.
    let again = Call::new("missed-1")
        .query(None)
        .replace("DialCallStatus=null", "DialCallStatus=no-answer")
        .replace("CallType=call-attempt", "CallType=incomplete");
    assert_eq!(app.exotel("call-end", &again).await.status(), 200);
    app.drain().await;
    assert_eq!(forms(&mock, SMS_PATH).await.len(), 1);
}

#[tokio::test]
async fn after_the_cooldown_an_unanswered_call_texts_again() {
    let mock = MockServer::start().await;
    mount_sms(&mock).await;
    let uri = mock.uri();
    let app = spawn_app_with(move |s| {
        s.outbound.exotel_api.base_url = uri;
        s.outbound.exotel_api.api_key = Some(API_KEY.into());
        s.outbound.exotel_api.api_token = Some(API_TOKEN.into());
        s.outbound.exotel_api.account_sid = Some(ACCOUNT_SID.into());
        s.outbound.sms.from = Some("SWIFTC".into());
        s.outbound.sms.cooldown = Duration::ZERO;
    })
    .await;
    app.create_order("OD-AGAIN", "4821").await;
    app.unanswered_pin_call("again-1", "4821").await;
    assert_eq!(
        sms_decision(&app, "exotel", "again-1").await.as_deref(),
        Some("sent")
    );
    app.unanswered_pin_call("again-2", "4821").await;
    assert_eq!(
        sms_decision(&app, "exotel", "again-2").await.as_deref(),
        Some("sent")
    );
    let sms = forms(&mock, SMS_PATH).await;
    assert_eq!(sms.len(), 2);
    assert!(
        !sms[0].iter().any(|(k, _)| k.starts_with("Dlt")),
        "no DLT fields when none are set"
    );
}

#[tokio::test]
async fn without_sms_settings_an_unanswered_call_sends_nothing() {
    let mock = MockServer::start().await;
    mount_sms(&mock).await;
    let app = exotel_app(&mock, Wiring::Api).await;
    app.create_order("OD-QUIET", "4821").await;
    app.unanswered_pin_call("quiet-1", "4821").await;
    assert_eq!(app.call_record("quiet-1").await["outcome"], "no_answer");
    app.drain().await;
    assert!(mock.received_requests().await.unwrap().is_empty());
    assert_eq!(sms_decision(&app, "exotel", "quiet-1").await, None);
}

#[tokio::test]
async fn status_callbacks_need_the_secret_and_one_for_an_unknown_call_changes_nothing() {
    let mock = MockServer::start().await;
    mount_sms(&mock).await;
    let app = exotel_app(&mock, Wiring::ApiAndSms).await;
    let report = terminal_report(
        "ctc_unknown",
        "no-answer",
        [("completed", 3), ("no-answer", 0)],
        0,
    );
    let r = app
        .client
        .post(format!(
            "{}/exotel/wrong-secret-0123456789/status",
            app.address
        ))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.status_json(&report).await, 200);
    let (_, log) = app.get_json("/calls").await;
    assert!(log["calls"].as_array().unwrap().is_empty());
    app.drain().await;
    assert!(mock.received_requests().await.unwrap().is_empty());
}
