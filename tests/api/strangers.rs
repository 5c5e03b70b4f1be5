//! What a caller with no route on a virtual number hears (a stranger, or a party after the
//! booking ended), set per number: `pin` (the default), `message` or `desk`. Run on every
//! provider through their signed webhooks ([`crate::scenarios`]' drivers).

use pinbridge::domain::PhoneNumber;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp};
use crate::scenarios::{self, COURIER, CUSTOMER, Leg, Reply, VN, providers};

/// The desk of `PINBRIDGE_FALLBACK_NUMBER`, E.164.
const DESK: &str = "+918045678901";
const STRANGER: &str = "+917700000042";

/// The scenarios' application (every provider signing), with `PINBRIDGE_FALLBACK_NUMBER` set
/// to [`DESK`] when `desk`, its number answering strangers with `strangers`.
async fn spawn(strangers: &str, desk: bool) -> TestApp {
    use pinbridge::config::Signing;
    let app = crate::common::spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.server.public_url = Some(scenarios::PUBLIC_URL.into());
        s.providers.twilio = Signing::Signed(scenarios::TWILIO_TOKEN.into());
        s.providers.plivo = Signing::Signed(scenarios::PLIVO_TOKEN.into());
        s.providers.eight_by_eight_secret = Some(scenarios::EIGHT_BY_EIGHT_SECRET.into());
        s.providers.vonage = Signing::Signed(scenarios::VONAGE_SECRET.into());
        if desk {
            s.calls.fallback_number = PhoneNumber::parse(DESK, s.orders.region).ok();
        }
    })
    .await;
    answer_strangers(&app, strangers).await;
    app
}

/// Adds the scenarios' number to the pool, answering strangers with `strangers`.
async fn answer_strangers(app: &TestApp, strangers: &str) {
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let r = app
        .client
        .patch(app.api("/virtual-numbers/%2B917314853246"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "strangers": strangers }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let number: Value = r.json().await.unwrap();
    assert_eq!(number["strangers"], strangers);
}

/// The message: the "no one to dial" prompt, and no PIN asked for.
fn is_message(reply: &Reply) -> bool {
    let text = match reply {
        Reply::Ask { text } | Reply::Goodbye { text } => text,
        Reply::Dial { .. } => return false,
    };
    text.contains("cannot connect your call") && !text.contains("enter your order PIN")
}

#[tokio::test]
async fn a_stranger_on_a_message_number_hears_the_message_and_no_pin_is_taken_on_every_provider() {
    for p in providers() {
        let app = spawn("message", false).await;
        scenarios::order(&app, "OD-1", "4821").await;
        let leg = Leg::new("stranger-message", STRANGER);
        let first = p.start(&app, &leg).await;
        assert!(is_message(&first), "{p:?}: {first:?}");
        // Even the right PIN keyed after it reaches no one.
        let after = p.digits(&app, &leg, "4821").await;
        assert!(!matches!(after, Reply::Dial { .. }), "{p:?}: {after:?}");
    }
}

#[tokio::test]
async fn a_party_calling_after_the_booking_ended_hears_the_message_on_every_provider() {
    for p in providers() {
        let app = spawn("message", false).await;
        let (status, booking) = app
            .post_json(
                "/bookings",
                &json!({"party_a": COURIER, "party_b": CUSTOMER}),
            )
            .await;
        assert_eq!(status, 201);
        // While the booking is active, its party is no stranger.
        let during = p.start(&app, &Leg::new("late-during", COURIER)).await;
        assert!(matches!(during, Reply::Dial { .. }), "{p:?}: {during:?}");
        let id = booking["booking_id"].as_str().unwrap();
        assert_eq!(app.delete_json(&format!("/bookings/{id}")).await.0, 200);
        // The customer, who was called through the number, no longer calls back either.
        for (sid, who) in [("late-a", COURIER), ("late-b", CUSTOMER)] {
            let late = p.start(&app, &Leg::new(sid, who)).await;
            assert!(is_message(&late), "{p:?} {who}: {late:?}");
        }
    }
}

#[tokio::test]
async fn a_stranger_on_a_desk_number_reaches_the_desk_on_every_provider() {
    for p in providers() {
        let app = spawn("desk", true).await;
        let leg = Leg::new("stranger-desk", STRANGER);
        let reply = p.start(&app, &leg).await;
        assert_eq!(
            reply,
            Reply::Dial {
                to: DESK.into(),
                caller_id: VN.into()
            },
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn a_desk_number_without_a_desk_says_the_message() {
    for p in providers() {
        let app = spawn("desk", false).await;
        let reply = p.start(&app, &Leg::new("no-desk", STRANGER)).await;
        assert!(is_message(&reply), "{p:?}: {reply:?}");
    }
}

/// On a number answering strangers with `strangers`, a booking with party A's PIN `4821`
/// (and `pin_mode`): a call from `caller` is asked for a PIN, and the PIN reaches party B,
/// on every provider.
async fn party_pin_asked_and_bridged(strangers: &str, pin_mode: &str, caller: &str) {
    for p in providers() {
        let app = spawn(strangers, false).await;
        let (status, _) = app
            .post_json(
                "/bookings",
                &json!({"party_a": COURIER, "party_b": CUSTOMER,
                        "party_a_pin": "4821", "pin_mode": pin_mode}),
            )
            .await;
        assert_eq!(status, 201);
        let leg = Leg::new("party-pin", caller);
        let first = p.start(&app, &leg).await;
        assert!(
            matches!(&first, Reply::Ask { text } if text.contains("PIN")),
            "{p:?}: {first:?}"
        );
        assert_eq!(
            p.digits(&app, &leg, "4821").await,
            Reply::Dial {
                to: CUSTOMER.into(),
                caller_id: VN.into()
            },
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn a_pin_number_asks_strangers_for_a_pin_and_a_party_pin_gets_through_on_every_provider() {
    party_pin_asked_and_bridged("pin", "unknown_callers", STRANGER).await;
}

#[tokio::test]
async fn a_forced_party_pin_is_still_asked_for_on_a_message_number_on_every_provider() {
    party_pin_asked_and_bridged("message", "always", COURIER).await;
}

#[tokio::test]
async fn the_strangers_answer_is_checked_and_shown() {
    let app = spawn("message", false).await;
    let r = app
        .client
        .patch(app.api("/virtual-numbers/%2B917314853246"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"strangers": "voicemail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_strangers");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("strangers")
    );
    let (_, number) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["strangers"], "message", "unchanged");
    let (_, pool) = app.get_json("/virtual-numbers").await;
    assert_eq!(pool["virtual_numbers"][0]["strangers"], "message");
    let r = app
        .client
        .patch(app.api("/virtual-numbers/%2B917399999999"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"strangers": "pin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
