//! A number that answers strangers `webhook`: the business is asked (a signed POST, received
//! here by a local wiremock server) which stored party, order or the desk a caller with no
//! route reaches, on every provider; anything else it answers, or no answer in time, is the
//! message, and a number its answer carries is never dialled.

use std::time::{Duration, Instant};

use pinbridge::domain::PhoneNumber;
use pinbridge::outbound::events::{SIGNATURE_TOLERANCE, verify};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{ADMIN_TOKEN, TestApp};
use crate::scenarios::{self, COURIER, CUSTOMER, Leg, Reply, VN, providers};

const SECRET: &str = "test-events-secret-0123456789";
const ASK_PATH: &str = "/hooks/strangers";
const DESK: &str = "+918045678901";
const STRANGER: &str = "+917700000042";
/// A number no party has: an answer that names it must never be dialled.
const FREE: &str = "+919900000001";

/// The scenarios' application (every provider signing), its number answering strangers
/// `webhook` by asking `server`, within `timeout`; with a desk.
async fn spawn(server: &MockServer, timeout: Duration) -> TestApp {
    use pinbridge::config::Signing;
    let url = format!("{}{ASK_PATH}", server.uri());
    let app = crate::common::spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.server.public_url = Some(scenarios::PUBLIC_URL.into());
        s.providers.twilio = Signing::Signed(scenarios::TWILIO_TOKEN.into());
        s.providers.plivo = Signing::Signed(scenarios::PLIVO_TOKEN.into());
        s.providers.eight_by_eight_secret = Some(scenarios::EIGHT_BY_EIGHT_SECRET.into());
        s.providers.vonage = Signing::Signed(scenarios::VONAGE_SECRET.into());
        s.calls.fallback_number = PhoneNumber::parse(DESK, s.orders.region).ok();
        s.outbound.strangers_webhook.url = Some(url);
        s.outbound.strangers_webhook.timeout = timeout;
        // The wiremock server listens on http://127.0.0.1.
        s.outbound.events.allow_http_loopback = true;
        s.outbound.events.secret = Some(SECRET.into());
    })
    .await;
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, number) = patch_strangers(&app, "webhook").await;
    assert_eq!(status, 200, "{number}");
    assert_eq!(number["strangers"], "webhook");
    app
}

async fn patch_strangers(app: &TestApp, answer: &str) -> (u16, Value) {
    let r = app
        .client
        .patch(app.api("/virtual-numbers/%2B917314853246"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "strangers": answer }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The business answers every question with `answer`, after `delay`.
async fn business_answers(server: &MockServer, answer: Value, delay: Duration) {
    server.reset().await;
    Mock::given(method("POST"))
        .and(path(ASK_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(answer)
                .set_delay(delay),
        )
        .mount(server)
        .await;
}

/// A booking of the courier and the customer on the scenarios' number: its id.
async fn booking(app: &TestApp) -> String {
    let (status, booking) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_b": CUSTOMER}),
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["virtual_number"], VN);
    booking["booking_id"].as_str().unwrap().to_owned()
}

/// The message: the "no one to dial" prompt, and no PIN asked for.
fn is_message(reply: &Reply) -> bool {
    let text = match reply {
        Reply::Ask { text } | Reply::Goodbye { text } => text,
        Reply::Dial { .. } => return false,
    };
    text.contains("cannot connect your call") && !text.contains("enter your order PIN")
}

fn dial(to: &str) -> Reply {
    Reply::Dial {
        to: to.into(),
        caller_id: VN.into(),
    }
}

#[tokio::test]
async fn a_stranger_reaches_the_party_the_business_names_on_every_provider() {
    let server = MockServer::start().await;
    for p in providers() {
        let app = spawn(&server, Duration::from_secs(2)).await;
        let id = booking(&app).await;
        business_answers(
            &server,
            json!({"booking_id": id, "party": "b"}),
            Duration::ZERO,
        )
        .await;
        let sid = format!("ask-party-{}", p.name());
        let reply = p.start(&app, &Leg::new(&sid, STRANGER)).await;
        assert_eq!(reply, dial(CUSTOMER), "{p:?}");
        business_answers(
            &server,
            json!({"booking_id": id, "party": "a"}),
            Duration::ZERO,
        )
        .await;
        let reply = p
            .start(&app, &Leg::new(&format!("{sid}-a"), STRANGER))
            .await;
        assert_eq!(reply, dial(COURIER), "{p:?}");
    }
}

#[tokio::test]
async fn the_question_is_signed_and_names_the_number_the_caller_and_the_call_sid() {
    let server = MockServer::start().await;
    let app = spawn(&server, Duration::from_secs(2)).await;
    business_answers(&server, json!({"desk": true}), Duration::ZERO).await;
    let p = scenarios::Provider::Twilio;
    let reply = p.start(&app, &Leg::new("ask-signed", STRANGER)).await;
    assert_eq!(reply, dial(DESK));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let signature = request
        .headers
        .get("X-Pinbridge-Signature")
        .expect("a signature header")
        .to_str()
        .unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    assert!(verify(
        SECRET,
        signature,
        &request.body,
        now,
        SIGNATURE_TOLERANCE
    ));
    assert!(!verify(
        "another-secret",
        signature,
        &request.body,
        now,
        SIGNATURE_TOLERANCE
    ));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "strangers.question");
    assert_eq!(body["virtual_number"], VN);
    assert_eq!(body["caller"], STRANGER);
    assert_eq!(body["provider"], "twilio");
    assert!(
        body["call_sid"].as_str().unwrap().contains("ask-signed"),
        "{body}"
    );
}

#[tokio::test]
async fn a_number_in_the_answer_is_never_dialled_on_every_provider() {
    let server = MockServer::start().await;
    for p in providers() {
        let app = spawn(&server, Duration::from_secs(2)).await;
        let id = booking(&app).await;
        for (n, answer) in [
            json!({"number": FREE}),
            json!({"to": FREE, "desk": true}),
            json!({"booking_id": id, "party": "b", "number": FREE}),
        ]
        .into_iter()
        .enumerate()
        {
            business_answers(&server, answer.clone(), Duration::ZERO).await;
            let sid = format!("ask-free-{}-{n}", p.name());
            let reply = p.start(&app, &Leg::new(&sid, STRANGER)).await;
            assert!(is_message(&reply), "{p:?} {answer}: {reply:?}");
        }
    }
}

#[tokio::test]
async fn a_party_that_is_not_active_on_this_number_is_refused() {
    let server = MockServer::start().await;
    let app = spawn(&server, Duration::from_secs(2)).await;
    let id = booking(&app).await;
    let p = scenarios::Provider::Plivo;
    for (n, answer) in [
        json!({"booking_id": "bk_nobody", "party": "a"}),
        json!({"order_id": "OD-nobody"}),
    ]
    .into_iter()
    .enumerate()
    {
        business_answers(&server, answer.clone(), Duration::ZERO).await;
        let reply = p
            .start(&app, &Leg::new(&format!("ask-none-{n}"), STRANGER))
            .await;
        assert!(is_message(&reply), "{answer}: {reply:?}");
    }
    // An order of this number is a stored party too.
    scenarios::order(&app, "OD-1", "4821").await;
    business_answers(&server, json!({"order_id": "OD-1"}), Duration::ZERO).await;
    let reply = p.start(&app, &Leg::new("ask-order", STRANGER)).await;
    assert_eq!(reply, dial(CUSTOMER));
    // A booking that ended is not.
    assert_eq!(app.delete_json(&format!("/bookings/{id}")).await.0, 200);
    business_answers(
        &server,
        json!({"booking_id": id, "party": "b"}),
        Duration::ZERO,
    )
    .await;
    let reply = p.start(&app, &Leg::new("ask-ended", STRANGER)).await;
    assert!(is_message(&reply), "{reply:?}");
    // Nor party B of a booking still waiting for it.
    let (status, pending) = app
        .post_json("/bookings", &json!({"party_a": COURIER}))
        .await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["virtual_number"], VN);
    business_answers(
        &server,
        json!({"booking_id": pending["booking_id"], "party": "b"}),
        Duration::ZERO,
    )
    .await;
    let reply = p.start(&app, &Leg::new("ask-pending", STRANGER)).await;
    assert!(is_message(&reply), "{reply:?}");
}

#[tokio::test]
async fn a_business_that_answers_late_or_badly_leaves_the_caller_the_message_on_every_provider() {
    let server = MockServer::start().await;
    for p in providers() {
        let app = spawn(&server, Duration::from_millis(300)).await;
        let id = booking(&app).await;
        business_answers(
            &server,
            json!({"booking_id": id, "party": "b"}),
            Duration::from_secs(3),
        )
        .await;
        let started = Instant::now();
        let reply = p
            .start(&app, &Leg::new(&format!("ask-late-{}", p.name()), STRANGER))
            .await;
        assert!(is_message(&reply), "{p:?}: {reply:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{p:?}: the caller waited for the business"
        );
        server.reset().await;
        Mock::given(method("POST"))
            .and(path(ASK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
            .mount(&server)
            .await;
        let reply = p
            .start(&app, &Leg::new(&format!("ask-bad-{}", p.name()), STRANGER))
            .await;
        assert!(is_message(&reply), "{p:?}: {reply:?}");
        server.reset().await;
        Mock::given(method("POST"))
            .and(path(ASK_PATH))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let reply = p
            .start(&app, &Leg::new(&format!("ask-500-{}", p.name()), STRANGER))
            .await;
        assert!(is_message(&reply), "{p:?}: {reply:?}");
    }
}

#[tokio::test]
async fn a_question_longer_than_the_step_budget_still_gets_its_answer() {
    let server = MockServer::start().await;
    let app = {
        let url = format!("{}{ASK_PATH}", server.uri());
        let app = crate::common::spawn_app_with(|s| {
            s.calls.webhook_timeout = Duration::from_millis(300);
            s.outbound.strangers_webhook.url = Some(url);
            s.outbound.strangers_webhook.timeout = Duration::from_secs(2);
            s.outbound.events.allow_http_loopback = true;
        })
        .await;
        let (status, _) = app
            .post_json(
                "/virtual-numbers",
                &json!({"number": VN, "provider": "exotel"}),
            )
            .await;
        assert_eq!(status, 201);
        assert_eq!(patch_strangers(&app, "webhook").await.0, 200);
        app
    };
    let id = booking(&app).await;
    business_answers(
        &server,
        json!({"booking_id": id, "party": "b"}),
        Duration::from_millis(800),
    )
    .await;
    let reply = scenarios::Provider::Exotel
        .start(&app, &Leg::new("ask-slow", STRANGER))
        .await;
    assert_eq!(reply, dial(CUSTOMER));
}

#[tokio::test]
async fn webhook_is_refused_without_the_business_address() {
    let app = crate::common::spawn_app().await;
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, err) = patch_strangers(&app, "webhook").await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_strangers");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PINBRIDGE_STRANGERS_WEBHOOK_URL"),
        "{err}"
    );
}
