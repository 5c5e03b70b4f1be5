//! Party PINs on bookings: a party calling from another phone, or anyone the party gave its
//! PIN to, keys it on the booking's virtual number and reaches the other party; with
//! `pin_mode: always`, the parties' own phones key it too. Run on every provider through
//! their signed webhooks ([`crate::scenarios`]' drivers).

use pinbridge::config::AdminToken;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp};
use crate::scenarios::{self, COURIER, CUSTOMER, Leg, Reply, VN, providers};

/// A friend's phone: no party of any booking.
const FRIEND: &str = "+917700000042";
/// A token that may not see personal data.
const DASHBOARD: &str = "dash-token-0123456789";

async fn spawn() -> TestApp {
    let app = scenarios::spawn().await;
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    app
}

/// Books the courier (party A) and the customer (party B) with `extra` fields.
async fn book(app: &TestApp, extra: Value) -> Value {
    let mut body = json!({"party_a": COURIER, "party_b": CUSTOMER});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, booking) = app.post_json("/bookings", &body).await;
    assert_eq!(status, 201, "{booking}");
    booking
}

fn dial(to: &str) -> Reply {
    Reply::Dial {
        to: to.into(),
        caller_id: VN.into(),
    }
}

fn asks(reply: &Reply) -> bool {
    matches!(reply, Reply::Ask { text } if text.contains("PIN"))
}

#[tokio::test]
async fn a_party_on_a_friend_s_phone_reaches_the_other_party_with_its_party_pin_on_every_provider()
{
    for p in providers() {
        let app = spawn().await;
        let booking = book(&app, json!({"party_pins": true})).await;
        let pin_a = booking["party_a_pin"].as_str().unwrap().to_owned();
        let pin_b = booking["party_b_pin"].as_str().unwrap().to_owned();
        assert_eq!(pin_a.len(), 6, "generated: {booking}");
        assert_ne!(pin_a, pin_b);
        assert_eq!(booking["pin_mode"], "unknown_callers");

        // The courier calls from a friend's phone: asked for a PIN, a wrong one is refused,
        // his own reaches the customer.
        let leg = Leg::new("friend-a", FRIEND);
        let first = p.start(&app, &leg).await;
        assert!(asks(&first), "{p:?}: {first:?}");
        let wrong = if pin_a == "000000" {
            "000001"
        } else {
            "000000"
        };
        let again = p.digits(&app, &leg, wrong).await;
        assert!(
            matches!(&again, Reply::Ask { text } if text.contains("not recognised")),
            "{p:?}: {again:?}"
        );
        assert_eq!(p.digits(&app, &leg, &pin_a).await, dial(CUSTOMER), "{p:?}");
        let (_, log) = app
            .get_json(&format!("/calls?call_sid={}", p.record_sid(&leg)))
            .await;
        let record = &log["calls"][0];
        assert_eq!(record["route"], "pin", "{p:?}");
        assert_eq!(record["destination"], CUSTOMER, "{p:?}");

        // Party B's PIN reaches party A.
        let leg = Leg::new("friend-b", FRIEND);
        p.start(&app, &leg).await;
        assert_eq!(p.digits(&app, &leg, &pin_b).await, dial(COURIER), "{p:?}");

        // The parties' own phones still need no PIN.
        let own = p.start(&app, &Leg::new("own-a", COURIER)).await;
        assert_eq!(own, dial(CUSTOMER), "{p:?}");
    }
}

#[tokio::test]
async fn a_closed_booking_s_party_pin_reaches_no_one_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        let booking = book(&app, json!({"party_a_pin": "4821"})).await;
        assert_eq!(booking["party_a_pin"], "4821");
        assert_eq!(
            booking["party_b_pin"],
            Value::Null,
            "only party A's was asked for"
        );
        let id = booking["booking_id"].as_str().unwrap();
        assert_eq!(app.delete_json(&format!("/bookings/{id}")).await.0, 200);
        let leg = Leg::new("after-close", FRIEND);
        p.start(&app, &leg).await;
        let reply = p.digits(&app, &leg, "4821").await;
        assert!(
            matches!(&reply, Reply::Ask { text } if text.contains("not recognised")),
            "{p:?}: {reply:?}"
        );
    }
}

#[tokio::test]
async fn pin_mode_always_asks_the_parties_own_phones_for_their_pin_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        let booking = book(
            &app,
            json!({"party_a_pin": "4821", "party_b_pin": "7315", "pin_mode": "always"}),
        )
        .await;
        assert_eq!(booking["pin_mode"], "always");
        let leg = Leg::new("own-always", COURIER);
        let first = p.start(&app, &leg).await;
        assert!(
            asks(&first),
            "{p:?}: not bridged without the PIN: {first:?}"
        );
        assert_eq!(p.digits(&app, &leg, "4821").await, dial(CUSTOMER), "{p:?}");
        let leg = Leg::new("own-always-b", CUSTOMER);
        assert!(asks(&p.start(&app, &leg).await), "{p:?}");
        assert_eq!(p.digits(&app, &leg, "7315").await, dial(COURIER), "{p:?}");
    }
}

#[tokio::test]
async fn party_pins_are_checked_hidden_without_pii_and_never_listed_as_orders() {
    let app = spawn().await;
    for (body, status, code) in [
        (json!({"party_a_pin": "12"}), 400, "invalid_pin"),
        (json!({"party_b_pin": "12ab"}), 400, "invalid_pin"),
        (json!({"pin_mode": "sometimes"}), 400, "invalid_pin_mode"),
        (json!({"pin_mode": "always"}), 400, "invalid_pin_mode"),
    ] {
        let mut full = json!({"party_a": COURIER, "party_b": CUSTOMER});
        full.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (got, err) = app.post_json("/bookings", &full).await;
        assert_eq!(got, status, "{body}: {err}");
        assert_eq!(err["error"]["code"], code, "{body}");
    }

    let booking = book(&app, json!({"party_a_pin": "4821", "party_b_pin": "7315"})).await;
    // An order's PIN and a party PIN are one space on the number: neither is given twice.
    let r = app
        .post_order(
            json!({"order_id": "OD-1", "customer_number": "+919812345670",
                           "pin": "4821", "virtual_number": VN}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "pin_in_use");
    // A booking whose chosen PIN is taken is refused and leaves nothing behind.
    let (status, err) = app
        .post_json(
            "/bookings",
            &json!({"party_a": "+917700000001", "party_b": "+917700000002",
                    "party_a_pin": "7315"}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "pin_in_use");
    let (_, list) = app.get_json("/bookings").await;
    assert_eq!(list["bookings"].as_array().unwrap().len(), 1, "{list}");

    // The orders API never shows a party PIN.
    let (_, orders) = app.get_json("/orders").await;
    assert_eq!(orders["orders"], json!([]), "{orders}");
    let id = booking["booking_id"].as_str().unwrap();
    let (status, _) = app.get_json(&format!("/orders/{id}:a")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_token_without_pii_sees_party_pins_masked_and_may_not_choose_one() {
    let app = crate::common::spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.access.admin_tokens = vec![
            AdminToken::new("ops", ADMIN_TOKEN, true),
            AdminToken::new("dashboard", DASHBOARD, false),
        ];
    })
    .await;
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let booking = book(&app, json!({"party_a_pin": "4821", "party_pins": true})).await;
    let id = booking["booking_id"].as_str().unwrap();
    let send = |body: Option<Value>| {
        let req = match &body {
            Some(b) => app.client.post(app.api("/bookings")).json(b),
            None => app.client.get(app.api(&format!("/bookings/{id}"))),
        };
        req.bearer_auth(DASHBOARD).send()
    };
    let seen: Value = send(None).await.unwrap().json().await.unwrap();
    // The same mask for every PIN: not even its length shows.
    assert_eq!(seen["party_a_pin"], "******", "{seen}");
    assert_eq!(seen["party_b_pin"], "******", "{seen}");
    assert_eq!(seen["party_a"], "+91******2799", "{seen}");
    let r = send(Some(
        json!({"party_a": "+917700000001", "party_b": "+917700000002",
                             "party_a_pin": "5555"}),
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "pii_required");
}

#[tokio::test]
async fn party_pins_count_against_the_pin_density_of_their_number() {
    let app = crate::common::spawn_app_with(|s| {
        s.orders.pin_min = 4;
        // One active 4-digit PIN a number at most.
        s.guessing.pin_max_density = 0.0001;
    })
    .await;
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, err) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_b": CUSTOMER,
                    "party_a_pin": "4821", "party_b_pin": "7315"}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "pin_space_crowded");
    let (_, list) = app.get_json("/bookings").await;
    assert_eq!(list["bookings"], json!([]), "nothing left behind: {list}");
    // One PIN fits, and then an order's PIN of that length no longer does.
    book(&app, json!({"party_a_pin": "4821"})).await;
    let r = app
        .post_order(
            json!({"order_id": "OD-1", "customer_number": "+919812345670",
                           "pin": "5555", "virtual_number": VN}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "pin_space_crowded");
}

#[tokio::test]
async fn a_party_pin_lives_until_its_booking_s_new_expiry() {
    let app = spawn().await;
    let booking = book(&app, json!({"party_a_pin": "4821", "ttl_seconds": 60})).await;
    let id = booking["booking_id"].as_str().unwrap();
    let in_a_day =
        pinbridge::domain::clock::rfc3339(pinbridge::domain::clock::now_ms() + 24 * 3600 * 1000);
    let moved = app
        .client
        .patch(app.api(&format!("/bookings/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"expires_at": in_a_day}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    // Two minutes pass for the booking and its PIN: past the first expiry, before the new one.
    for table in ["bookings", "orders"] {
        app.sql(format!(
            "update {table} set expires_at = expires_at - 120000 where booking_id = '{id}'"
        ))
        .await;
    }
    let (_, seen) = app.get_json(&format!("/bookings/{id}")).await;
    assert_eq!(seen["status"], "active");
    let p = scenarios::Provider::Twilio;
    let leg = Leg::new("after-first-expiry", FRIEND);
    p.start(&app, &leg).await;
    assert_eq!(p.digits(&app, &leg, "4821").await, dial(CUSTOMER));
}
