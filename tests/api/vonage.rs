//! Vonage: requests shaped and signed as the Voice API sends them (signed-webhook JWT, HS256,
//! with `payload_hash`; numbers in E.164 without `+`), NCCOs parsed structurally
//! (https://developer.vonage.com/voice/voice-api/webhook-reference, .../ncco-reference).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pinbridge::config::Signing;
use pinbridge::providers::vonage::auth::payload_hash;
use reqwest::Response;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::scenarios::{self, Leg, PUBLIC_URL, Reply, VONAGE_SECRET};

/// A number as Vonage writes it: E.164 without `+`.
fn bare(number: &str) -> &str {
    number.strip_prefix('+').unwrap_or(number)
}

/// The conversation of a leg: the call id pinbridge keys Vonage calls by.
pub(crate) fn conversation(leg: &Leg) -> String {
    format!("CON-{}", leg.sid)
}

/// The caller's leg's own id (`uuid`), distinct from the conversation.
fn caller_uuid(leg: &Leg) -> String {
    format!("{}-aaaa-bbbb-cccc-0123456789ab", leg.sid)
}

pub fn record_sid(leg: &Leg) -> String {
    conversation(leg)
}

/// A signed-webhook JWT as Vonage makes it ("Decoding signed webhooks"): HS256 over the
/// claims `iat` (now), `jti` (new for every token), `iss`, `payload_hash`, `api_key`,
/// `application_id`.
fn token(secret: &str, payload_hash: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    token_issued(secret, payload_hash, now.cast_signed())
}

/// [`token`] issued at `iat` (unix seconds).
pub fn token_issued(secret: &str, payload_hash: &str, iat: i64) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = iat;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({
            "iat": now,
            "jti": format!("{now:x}-{serial:04x}-4000-8000-{:.12}", &payload_hash),
            "iss": "Vonage",
            "payload_hash": payload_hash,
            "api_key": "abcd1234",
            "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        }),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The answer webhook's query parameters (webhook reference, "Answer webhook data fields").
pub(crate) fn answer_params(leg: &Leg) -> Vec<(&'static str, String)> {
    vec![
        ("to", bare(&leg.to).to_owned()),
        ("from", bare(&leg.from).to_owned()),
        ("conversation_uuid", conversation(leg)),
        ("uuid", caller_uuid(leg)),
    ]
}

/// GETs `path?query`, signed with a JWT. Its `payload_hash` is what Vonage support describes
/// for a GET (SHA-256 of the parameters as compact JSON); pinbridge checks only the signature.
pub(crate) async fn get_signed(app: &TestApp, path: &str, params: &[(&str, String)]) -> Response {
    let query = serde_urlencoded::to_string(params).unwrap();
    let as_json: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let hash = payload_hash(&serde_json::to_vec(&as_json).unwrap());
    app.client
        .get(format!("{}{path}?{query}", app.address))
        .bearer_auth(token(VONAGE_SECRET, &hash))
        .send()
        .await
        .unwrap()
}

/// POSTs `body` as JSON, with `authorization` as the `Authorization` header (if any).
async fn post_raw(app: &TestApp, path: &str, body: &[u8], authorization: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    request.send().await.unwrap()
}

/// POSTs `body` as JSON, signed with a JWT whose `payload_hash` is the body's SHA-256.
pub(crate) async fn post_signed(app: &TestApp, path: &str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    let auth = format!("Bearer {}", token(VONAGE_SECRET, &payload_hash(&bytes)));
    post_raw(app, path, &bytes, Some(auth.as_str())).await
}

/// Parses an NCCO into a neutral reply, checking the documented rules on the way.
pub fn parse(ncco: &Value) -> Reply {
    let actions = ncco
        .as_array()
        .unwrap_or_else(|| panic!("an NCCO is a JSON array: {ncco}"));
    let name = |a: &Value| a["action"].as_str().unwrap_or_default().to_owned();
    let talks = || {
        actions
            .iter()
            .filter(|a| name(a) == "talk")
            .map(|a| a["text"].as_str().expect("talk.text").to_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if let Some(input) = actions.iter().find(|a| name(a) == "input") {
        assert_eq!(input["type"], json!(["dtmf"]), "{ncco}");
        assert_eq!(
            input["eventUrl"],
            json!([format!("{PUBLIC_URL}/vonage/pin")]),
            "{ncco}"
        );
        assert_eq!(input["eventMethod"], "POST");
        assert_eq!(input["dtmf"]["submitOnHash"], true);
        let max_digits = input["dtmf"]["maxDigits"].as_u64().expect("maxDigits");
        assert!((1..=20).contains(&max_digits), "{ncco}");
        let time_out = input["dtmf"]["timeOut"].as_u64().expect("timeOut");
        assert!((1..=10).contains(&time_out), "{ncco}");
        for talk in actions.iter().filter(|a| name(a) == "talk") {
            assert_eq!(talk["bargeIn"], true, "a key stops the prompt: {ncco}");
        }
        assert_eq!(name(actions.last().unwrap()), "input", "{ncco}");
        return Reply::Ask { text: talks() };
    }
    if let Some(connect) = actions.iter().find(|a| name(a) == "connect") {
        assert_eq!(
            connect["eventUrl"],
            json!([format!("{PUBLIC_URL}/vonage/event")]),
            "{ncco}"
        );
        let endpoints = connect["endpoint"].as_array().expect("endpoint");
        assert_eq!(endpoints.len(), 1, "{ncco}");
        assert_eq!(endpoints[0]["type"], "phone", "{ncco}");
        let number = endpoints[0]["number"].as_str().expect("endpoint number");
        let from = connect["from"].as_str().expect("connect.from");
        for n in [number, from] {
            assert!(
                n.bytes().all(|b| b.is_ascii_digit()),
                "E.164 without '+': {ncco}"
            );
        }
        let limit = connect["limit"].as_u64().expect("limit");
        assert!((1..=7200).contains(&limit), "{ncco}");
        assert!(connect["timeout"].as_u64().expect("timeout") > 0);
        return Reply::Dial {
            to: format!("+{number}"),
            caller_id: format!("+{from}"),
        };
    }
    assert!(!actions.is_empty(), "a goodbye says something: {ncco}");
    for a in actions {
        assert_eq!(name(a), "talk", "{ncco}");
        assert!(a.get("bargeIn").is_none(), "no input follows: {ncco}");
    }
    Reply::Goodbye { text: talks() }
}

async fn ncco_json(r: Response) -> Value {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json::<Value>().await.unwrap()
}

async fn ncco(r: Response) -> Reply {
    parse(&ncco_json(r).await)
}

/// The NCCO answering the call.
pub async fn start_ncco(app: &TestApp, leg: &Leg) -> Value {
    ncco_json(get_signed(app, "/vonage/answer", &answer_params(leg)).await).await
}

pub async fn start(app: &TestApp, leg: &Leg) -> Reply {
    parse(&start_ncco(app, leg).await)
}

/// The `input` event body (webhook reference, "Input"; `reference/providers.md` §4).
fn input_body(leg: &Leg, digits: &str, timed_out: bool) -> Value {
    json!({
        "speech": {"results": []},
        "dtmf": {"digits": digits, "timed_out": timed_out},
        "from": bare(&leg.from),
        "to": bare(&leg.to),
        "uuid": caller_uuid(leg),
        "conversation_uuid": conversation(leg),
        "timestamp": "2026-01-01T12:00:00.000Z",
    })
}

/// The NCCO answering the `input` event with `digits`.
pub async fn digits_ncco(app: &TestApp, leg: &Leg, digits: &str) -> Value {
    ncco_json(post_signed(app, "/vonage/pin", &input_body(leg, digits, false)).await).await
}

pub async fn digits(app: &TestApp, leg: &Leg, digits: &str) -> Reply {
    parse(&digits_ncco(app, leg, digits).await)
}

/// An event of a leg of `leg`'s conversation (webhook reference, "Events"). The dialled leg
/// (`outbound`) comes from the virtual number and goes to the customer.
fn event_body(leg: &Leg, status: &str, direction: &str) -> Value {
    let (from, to, uuid) = if direction == "outbound" {
        (
            bare(&leg.to),
            bare(scenarios::CUSTOMER),
            format!("{}-dialled-leg", leg.sid),
        )
    } else {
        (bare(&leg.from), bare(&leg.to), caller_uuid(leg))
    };
    let mut body = json!({
        "from": from,
        "to": to,
        "uuid": uuid,
        "conversation_uuid": conversation(leg),
        "status": status,
        "direction": direction,
        "timestamp": "2026-01-01T12:00:40.000Z",
    });
    if status == "completed" {
        for (k, v) in [
            ("duration", "31"),
            ("start_time", "2026-01-01T12:00:00.000Z"),
            ("end_time", "2026-01-01T12:00:40.000Z"),
            ("rate", "0.00450000"),
            ("price", "0.00225000"),
            ("network", "40486"),
        ] {
            body[k] = json!(v);
        }
    }
    body
}

async fn send_event(app: &TestApp, leg: &Leg, status: &str, direction: &str) {
    let r = post_signed(app, "/vonage/event", &event_body(leg, status, direction)).await;
    assert_eq!(r.status(), 200, "{status} {direction}");
}

pub async fn answered(app: &TestApp, leg: &Leg) {
    send_event(app, leg, "completed", "outbound").await;
}

async fn order(app: &TestApp, pin: &str) {
    let r = app
        .post_order(
            json!({"order_id": "OD-1", "customer_number": scenarios::CUSTOMER,
                           "pin": pin, "virtual_number": scenarios::VN}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

async fn call_count(app: &TestApp) -> usize {
    let (_, log) = app.get_json("/calls").await;
    log["calls"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_forged_vonage_request_gets_403_and_stores_nothing() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("forged", scenarios::COURIER);
    let body = serde_json::to_vec(&input_body(&leg, "4821", false)).unwrap();
    let good_hash = payload_hash(&body);
    let tampered = serde_json::to_vec(&input_body(&leg, "4822", false)).unwrap();
    let signed = format!("Bearer {}", token(VONAGE_SECRET, &good_hash));
    let other_secret = format!("Bearer {}", token("another-signature-secret", &good_hash));
    for path in ["/vonage/pin", "/vonage/answer", "/vonage/event"] {
        // The token's payload_hash is the original body's, not this one's.
        assert_eq!(
            post_raw(&app, path, &tampered, Some(signed.as_str()))
                .await
                .status(),
            403,
            "{path}"
        );
        for auth in [
            Some(other_secret.as_str()),
            None,
            Some("Bearer "),
            Some("Bearer x.y.z"),
        ] {
            let r = post_raw(&app, path, &body, auth).await;
            assert_eq!(r.status(), 403, "{path} {auth:?}");
            assert_eq!(r.headers()["content-type"], "text/plain");
        }
    }
    // The GET answer webhook: no token, or a token signed with another secret.
    let query = serde_urlencoded::to_string(answer_params(&leg)).unwrap();
    let url = format!("{}/vonage/answer?{query}", app.address);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 403);
    let r = app
        .client
        .get(&url)
        .header("authorization", &other_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(call_count(&app).await, 0, "nothing stored");
    // The untampered body with its token is accepted.
    let r = post_raw(&app, "/vonage/pin", &body, Some(signed.as_str())).await;
    assert_eq!(r.status(), 200);
}

/// Made with PyJWT 2.15.1 (independently of the crates pinbridge uses):
///
/// ```python
/// import hashlib, jwt
/// body = b'{"dtmf":{"digits":"4821","timed_out":false},"conversation_uuid":"CON-1"}'
/// print(jwt.encode({"iat": 1700000000, "jti": "8f2b6c1e-0000-4000-8000-000000000001",
///                   "iss": "Vonage", "payload_hash": hashlib.sha256(body).hexdigest(),
///                   "api_key": "abcd1234",
///                   "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"},
///                  "test-vonage-signature-secret-0123456789", algorithm="HS256"))
/// ```
const PYJWT_BODY: &[u8] =
    br#"{"dtmf":{"digits":"4821","timed_out":false},"conversation_uuid":"CON-1"}"#;
const PYJWT_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjhmMmI2YzFlLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImJhMjdhZTQzOWNjYTQ2MmRhZDZhODkzY2UyZjAxMDIyOTVkOTBhZmY5MjQwNmE1YjEwMWU3ZmU0ZGJjMDViMTAiLCJhcGlfa2V5IjoiYWJjZDEyMzQiLCJhcHBsaWNhdGlvbl9pZCI6ImFhYWFhYWFhLWJiYmItY2NjYy1kZGRkLTAxMjM0NTY3ODlhYiJ9.fl8ynycT5Xspo6-X_lnTEinPHi0e_mKp3nfSqxQuExE";

#[tokio::test]
async fn a_pyjwt_signed_token_from_2023_is_refused_as_stale_and_a_fresh_one_passes() {
    let app = scenarios::spawn().await;
    // The vector verifies (its signature and payload_hash: the unit tests of
    // `providers::vonage::auth`), but it was issued in November 2023.
    let auth = format!("Bearer {PYJWT_TOKEN}");
    let r = post_raw(&app, "/vonage/pin", PYJWT_BODY, Some(auth.as_str())).await;
    assert_eq!(r.status(), 403);
    assert_eq!(call_count(&app).await, 0, "nothing stored");
    let fresh = format!("Bearer {}", token(VONAGE_SECRET, &payload_hash(PYJWT_BODY)));
    let mut tampered = PYJWT_BODY.to_vec();
    tampered[22] = b'9';
    let r = post_raw(&app, "/vonage/pin", &tampered, Some(fresh.as_str())).await;
    assert_eq!(r.status(), 403, "the payload_hash is the original body's");
    let r = post_raw(&app, "/vonage/pin", PYJWT_BODY, Some(fresh.as_str())).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body.is_array(), "{body}");
    let (_, log) = app.get_json("/calls?call_sid=CON-1").await;
    assert_eq!(log["calls"][0]["provider"], "vonage");
}

#[tokio::test]
async fn the_answer_webhook_also_accepts_post_and_keys_the_call_by_conversation() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("post-answer", scenarios::COURIER);
    let body: Value = answer_params(&leg)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let first = ncco(post_signed(&app, "/vonage/answer", &body).await).await;
    assert!(
        matches!(&first, Reply::Ask { text } if text.starts_with("Welcome to Swift Couriers.")),
        "{first:?}"
    );
    let record = app.call_record(&conversation(&leg)).await;
    assert_eq!(record["caller"], scenarios::COURIER);
    assert_eq!(record["virtual_number"], scenarios::VN);
    assert_eq!(record["outcome"], "in_progress");
}

#[tokio::test]
async fn a_timeout_with_no_digits_is_no_input() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("no-input", scenarios::COURIER);
    start(&app, &leg).await;
    let r = post_signed(&app, "/vonage/pin", &input_body(&leg, "", true)).await;
    let again = ncco(r).await;
    assert!(
        matches!(&again, Reply::Ask { text } if text.contains("did not receive any input")),
        "{again:?}"
    );
    // Digits keyed before the timeout still count as an entry.
    let r = post_signed(&app, "/vonage/pin", &input_body(&leg, "4821", true)).await;
    assert!(matches!(ncco(r).await, Reply::Dial { .. }));
}

#[tokio::test]
async fn a_malformed_request_gets_a_sorry_ncco_not_an_error() {
    let app = scenarios::spawn().await;
    let sorry = |reply: Reply| {
        assert!(
            matches!(&reply, Reply::Goodbye { text } if text.contains("cannot connect your call")),
            "{reply:?}"
        );
    };
    for (path, body) in [
        ("/vonage/answer", &b"not json"[..]),
        ("/vonage/pin", b"{\"dtmf\":"),
        ("/vonage/pin", b"[]"),
        (
            "/vonage/pin",
            br#"{"dtmf":{"digits":"4821"},"conversation_uuid":"bad id/../x"}"#,
        ),
    ] {
        let auth = format!("Bearer {}", token(VONAGE_SECRET, &payload_hash(body)));
        sorry(ncco(post_raw(&app, path, body, Some(auth.as_str())).await).await);
    }
    sorry(ncco(get_signed(&app, "/vonage/answer", &[]).await).await);
    let auth = format!("Bearer {}", token(VONAGE_SECRET, &payload_hash(b"garbage")));
    let r = post_raw(&app, "/vonage/event", b"garbage", Some(auth.as_str())).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_dialled_legs_end_sets_the_outcome_and_the_callers_leg_never_overwrites_it() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    for (sid, status, outcome) in [
        ("ends-busy", "busy", "busy"),
        ("ends-rejected", "rejected", "busy"),
        ("ends-timeout", "timeout", "no_answer"),
        ("ends-unanswered", "unanswered", "no_answer"),
        ("ends-failed", "failed", "failed"),
        ("ends-cancelled", "cancelled", "canceled"),
        ("ends-completed", "completed", "connected"),
    ] {
        let leg = Leg::new(sid, scenarios::COURIER);
        start(&app, &leg).await;
        assert!(matches!(
            digits(&app, &leg, "4821").await,
            Reply::Dial { .. }
        ));
        for (s, d) in [
            ("started", "outbound"),
            ("ringing", "outbound"),
            ("answered", "outbound"),
        ] {
            send_event(&app, &leg, s, d).await;
        }
        let record = app.call_record(&conversation(&leg)).await;
        assert_eq!(record["outcome"], "in_progress", "{sid}: {record}");
        send_event(&app, &leg, status, "outbound").await;
        send_event(&app, &leg, "completed", "inbound").await;
        let record = app.call_record(&conversation(&leg)).await;
        assert_eq!(record["outcome"], outcome, "{sid}: {record}");
        assert_eq!(record["dial_call_status"], status, "{sid}");
        assert_eq!(record["caller"], scenarios::COURIER, "{sid}");
        assert_eq!(record["virtual_number"], scenarios::VN, "{sid}");
        let talk = if status == "completed" {
            json!(31)
        } else {
            Value::Null
        };
        assert_eq!(record["talk_seconds"], talk, "{sid}");
        assert!(record["ended_at"].is_string(), "{sid}");
    }
    // The caller hanging up before anyone was dialled: abandoned, no dial status.
    let leg = Leg::new("hung-up", scenarios::COURIER);
    start(&app, &leg).await;
    send_event(&app, &leg, "completed", "inbound").await;
    let record = app.call_record(&conversation(&leg)).await;
    assert_eq!(record["outcome"], "abandoned");
    assert_eq!(record["dial_call_status"], Value::Null);
}

#[tokio::test]
async fn listed_as_unsigned_vonage_webhooks_are_served_and_counted() {
    let app = crate::common::spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.server.public_url = Some(PUBLIC_URL.into());
        s.providers.vonage = Signing::Unsigned;
    })
    .await;
    let unsigned = || async {
        app.metric_value("pinbridge_unsigned_requests_total{provider=\"vonage\"}")
            .await
            .unwrap_or(0.0)
    };
    let before = unsigned().await;
    order(&app, "4821").await;
    let leg = Leg::new("unsigned", scenarios::COURIER);
    let query = serde_urlencoded::to_string(answer_params(&leg)).unwrap();
    let r = app
        .client
        .get(format!("{}/vonage/answer?{query}", app.address))
        .send()
        .await
        .unwrap();
    assert!(matches!(ncco(r).await, Reply::Ask { .. }));
    let body = serde_json::to_vec(&input_body(&leg, "4821", false)).unwrap();
    let r = post_raw(&app, "/vonage/pin", &body, None).await;
    assert_eq!(
        ncco(r).await,
        Reply::Dial {
            to: scenarios::CUSTOMER.into(),
            caller_id: scenarios::VN.into()
        }
    );
    assert!(
        unsigned().await >= before + 2.0,
        "each unsigned request is counted"
    );
}

#[tokio::test]
async fn a_captured_vonage_token_is_accepted_once_whatever_route_it_asks_for() {
    let app = scenarios::spawn().await;
    // A booking: whoever learns it learns the other party's number.
    let r = app
        .post_api(
            "/virtual-numbers",
            &json!({"number": scenarios::VN, "provider": "vonage"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post_api(
            "/bookings",
            &json!({"party_a": scenarios::COURIER, "party_b": scenarios::CUSTOMER, "ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // A token captured from an ordinary event of some other call.
    let other = Leg::new("captured", "+917700000009");
    let event = serde_json::to_vec(&event_body(&other, "ringing", "inbound")).unwrap();
    let captured = format!("Bearer {}", token(VONAGE_SECRET, &payload_hash(&event)));
    let r = post_raw(&app, "/vonage/event", &event, Some(captured.as_str())).await;
    assert_eq!(r.status(), 200, "its own delivery is accepted");
    // Replayed on the GET answer webhook, whose query string the token does not cover, asking
    // as party A of the booking: refused.
    let leg = Leg::new("replay-get", scenarios::COURIER);
    let query = serde_urlencoded::to_string(answer_params(&leg)).unwrap();
    let r = app
        .client
        .get(format!("{}/vonage/answer?{query}", app.address))
        .header("authorization", &captured)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("9812345678"));
    // Replayed as it was: refused too.
    let r = post_raw(&app, "/vonage/event", &event, Some(captured.as_str())).await;
    assert_eq!(r.status(), 403);
    // A fresh token of its own gets the booking's route, as Vonage's own request would.
    let r = get_signed(&app, "/vonage/answer", &answer_params(&leg)).await;
    assert_eq!(
        ncco(r).await,
        Reply::Dial {
            to: scenarios::CUSTOMER.into(),
            caller_id: scenarios::VN.into()
        }
    );
}

#[tokio::test]
async fn a_90_day_old_vonage_token_is_refused() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("old-token", scenarios::COURIER);
    let body = serde_json::to_vec(&input_body(&leg, "4821", false)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .cast_signed();
    for age in [90 * 86_400, 301] {
        let old = token_issued(VONAGE_SECRET, &payload_hash(&body), now - age);
        let r = post_raw(&app, "/vonage/pin", &body, Some(&format!("Bearer {old}"))).await;
        assert_eq!(r.status(), 403, "{age} s old");
    }
    assert_eq!(call_count(&app).await, 0, "nothing stored");
    let recent = token_issued(VONAGE_SECRET, &payload_hash(&body), now - 10);
    let r = post_raw(
        &app,
        "/vonage/pin",
        &body,
        Some(&format!("Bearer {recent}")),
    )
    .await;
    assert_eq!(r.status(), 200);
}
