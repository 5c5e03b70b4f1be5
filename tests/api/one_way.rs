//! One-way bookings (`callers`) and bookings waiting for their party B (`pending`), run on
//! every provider through their signed webhooks ([`crate::scenarios`]' drivers).

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::scenarios::{self, COURIER, CUSTOMER, Leg, Reply, VN, providers};

/// A second number of the pool, Indian like [`VN`].
const VN2: &str = "+918088919888";
/// A caller of no booking; also party A's other phone.
const OTHER: &str = "+917700000042";

/// The scenarios' application (every provider signing) with [`VN`] in the pool, answering
/// strangers with its message, so that a stranger's answer is told from a PIN prompt.
async fn spawn() -> TestApp {
    use pinbridge::config::Signing;
    let app = crate::common::spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.server.public_url = Some(scenarios::PUBLIC_URL.into());
        s.providers.twilio = Signing::Signed(scenarios::TWILIO_TOKEN.into());
        s.providers.plivo = Signing::Signed(scenarios::PLIVO_TOKEN.into());
        s.providers.eight_by_eight_secret = Some(scenarios::EIGHT_BY_EIGHT_SECRET.into());
        s.providers.vonage = Signing::Signed(scenarios::VONAGE_SECRET.into());
    })
    .await;
    add_number(&app, VN).await;
    let (status, number) = app
        .patch_json(
            "/virtual-numbers/%2B917314853246",
            &json!({"strangers": "message"}),
        )
        .await;
    assert_eq!(status, 200, "{number}");
    app
}

async fn add_number(app: &TestApp, number: &str) {
    let (status, body) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": number, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// The number's message to strangers: no one dialled, no PIN asked for.
fn is_stranger_answer(reply: &Reply) -> bool {
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
async fn a_one_way_booking_bridges_the_side_that_calls_and_answers_the_other_as_a_stranger_on_every_provider()
 {
    for p in providers() {
        for (callers, caller, callee) in [
            ("party_a", COURIER, CUSTOMER),
            ("party_b", CUSTOMER, COURIER),
        ] {
            let app = spawn().await;
            let (status, booking) = app
                .post_json(
                    "/bookings",
                    &json!({"party_a": COURIER, "party_b": CUSTOMER, "callers": callers}),
                )
                .await;
            assert_eq!(status, 201, "{booking}");
            assert_eq!(booking["callers"], callers);
            assert_eq!(booking["status"], "active");
            let sid = format!("{callers}-allowed");
            let allowed = p.start(&app, &Leg::new(&sid, caller)).await;
            assert_eq!(allowed, dial(callee), "{p:?} {callers}");
            // The party called through the number may not call back: not as a party, not
            // as the callback of the call it was just reached by.
            let sid = format!("{callers}-barred");
            let barred = p.start(&app, &Leg::new(&sid, callee)).await;
            assert!(is_stranger_answer(&barred), "{p:?} {callers}: {barred:?}");
        }
    }
}

#[tokio::test]
async fn a_party_who_may_not_call_gets_no_pin_and_does_not_reach_the_pin_caller_back_on_every_provider()
 {
    for p in providers() {
        let app = spawn().await;
        let (status, err) = app
            .post_json(
                "/bookings",
                &json!({"party_a": COURIER, "party_b": CUSTOMER, "callers": "party_a",
                        "party_b_pin": "5931"}),
            )
            .await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["code"], "invalid_pin");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("party_b_pin"),
            "{err}"
        );
        let (status, booking) = app
            .post_json(
                "/bookings",
                &json!({"party_a": COURIER, "party_b": CUSTOMER, "callers": "party_a",
                        "party_pins": true}),
            )
            .await;
        assert_eq!(status, 201, "{booking}");
        assert_eq!(booking["party_b_pin"], Value::Null);
        let pin = booking["party_a_pin"].as_str().unwrap().to_owned();
        // The number asks strangers for a PIN.
        let (status, _) = app
            .patch_json(
                "/virtual-numbers/%2B917314853246",
                &json!({"strangers": "pin"}),
            )
            .await;
        assert_eq!(status, 200);
        // Party A from another phone keys its PIN and reaches party B...
        let leg = Leg::new("pin-call", OTHER);
        let first = p.start(&app, &leg).await;
        assert!(
            matches!(&first, Reply::Ask { text } if text.contains("PIN")),
            "{p:?}: {first:?}"
        );
        assert_eq!(p.digits(&app, &leg, &pin).await, dial(CUSTOMER), "{p:?}");
        // ... who still can not call, not even back to that phone: a stranger, asked for a
        // PIN like any.
        let back = p.start(&app, &Leg::new("pin-call-back", CUSTOMER)).await;
        assert!(
            matches!(&back, Reply::Ask { text } if text.contains("PIN")),
            "{p:?}: {back:?}"
        );
    }
}

#[tokio::test]
async fn a_booking_without_party_b_is_pending_until_party_b_is_added_then_bridges_on_every_provider()
 {
    for p in providers() {
        let app = spawn().await;
        let (status, booking) = app
            .post_json(
                "/bookings",
                &json!({"party_a": COURIER, "reference": "ride-9"}),
            )
            .await;
        assert_eq!(status, 201, "{booking}");
        assert_eq!(booking["status"], "pending");
        assert_eq!(booking["party_b"], Value::Null);
        assert_eq!(booking["virtual_number"], VN);
        let id = booking["booking_id"].as_str().unwrap().to_owned();
        let (_, pending) = app.get_json("/bookings?status=pending").await;
        assert_eq!(pending["bookings"][0]["booking_id"], id.as_str());
        let (_, active) = app.get_json("/bookings?status=active").await;
        assert_eq!(active["bookings"], json!([]));

        let early = p.start(&app, &Leg::new("before-b", COURIER)).await;
        assert!(is_stranger_answer(&early), "{p:?}: {early:?}");

        let (status, added) = app
            .patch_json(
                &format!("/bookings/{id}"),
                &json!({"party_b": "09812345678"}),
            )
            .await;
        assert_eq!(status, 200, "{added}");
        assert_eq!(added["status"], "active");
        assert_eq!(added["party_b"], CUSTOMER);
        assert_eq!(
            added["virtual_number"], VN,
            "party B held no number: it stays"
        );
        for (sid, from, to) in [
            ("after-a", COURIER, CUSTOMER),
            ("after-b", CUSTOMER, COURIER),
        ] {
            assert_eq!(p.start(&app, &Leg::new(sid, from)).await, dial(to), "{p:?}");
        }

        // Party B is set once.
        let (status, err) = app
            .patch_json(&format!("/bookings/{id}"), &json!({"party_b": OTHER}))
            .await;
        assert_eq!(status, 409, "{err}");
        assert_eq!(err["error"]["code"], "party_b_set");
        let (_, now) = app.get_json(&format!("/bookings/{id}")).await;
        assert_eq!(now["party_b"], CUSTOMER);
    }
}

#[tokio::test]
async fn bad_callers_a_party_pin_without_party_b_and_a_bad_party_b_are_refused() {
    let app = spawn().await;
    let (status, err) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_b": CUSTOMER, "callers": "nobody"}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_callers");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("callers"),
        "{err}"
    );
    let (status, err) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_pins": true}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_pin");
    let (status, booking) = app
        .post_json("/bookings", &json!({"party_a": COURIER}))
        .await;
    assert_eq!(status, 201, "{booking}");
    let id = booking["booking_id"].as_str().unwrap();
    for (body, code) in [
        (json!({"party_b": COURIER}), "invalid_party"),
        (json!({"party_b": "12"}), "invalid_party"),
    ] {
        let (status, err) = app.patch_json(&format!("/bookings/{id}"), &body).await;
        assert_eq!(status, 400, "{body} {err}");
        assert_eq!(err["error"]["code"], code);
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("party_b"),
            "{err}"
        );
    }
    let (status, err) = app
        .patch_json("/bookings/bk_none", &json!({"party_b": CUSTOMER}))
        .await;
    assert_eq!(status, 404, "{err}");
}

#[tokio::test]
async fn a_pending_booking_takes_no_alternates_for_party_b_and_party_b_is_none_of_its_alternates() {
    let app = spawn().await;
    let friend = "+917700000077";
    let (status, err) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_b_alternates": [friend]}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_party_alternates");
    let (status, booking) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_a_alternates": [friend]}),
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    let id = booking["booking_id"].as_str().unwrap();
    let (status, err) = app
        .patch_json(
            &format!("/bookings/{id}"),
            &json!({"party_b_alternates": ["+917700000078"]}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_party_alternates");
    // Party A's alternate can not become party B: a call from it would name both sides.
    let (status, err) = app
        .patch_json(&format!("/bookings/{id}"), &json!({"party_b": friend}))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_party");
    // Party B and its alternates in one change.
    let (status, done) = app
        .patch_json(
            &format!("/bookings/{id}"),
            &json!({"party_b": CUSTOMER, "party_b_alternates": ["+917700000078"]}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "active");
    assert_eq!(done["party_b_alternates"], json!(["+917700000078"]));
}

/// A pending booking of party A on [`VN`], named.
async fn pending_on_vn(app: &TestApp) -> String {
    let (status, booking) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "virtual_number": VN}),
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    booking["booking_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn party_b_holding_the_number_moves_the_booking_or_is_refused_leaving_it_unchanged() {
    let app = spawn().await;
    // Party B holds the number with someone else.
    let (status, other) = app
        .post_json(
            "/bookings",
            &json!({"party_a": OTHER, "party_b": CUSTOMER, "virtual_number": VN}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let id = pending_on_vn(&app).await;

    // No other number: refused, and the booking stays as it was.
    let (status, err) = app
        .patch_json(
            &format!("/bookings/{id}"),
            &json!({"party_b": CUSTOMER, "ttl_seconds_unknown": 1}),
        )
        .await;
    assert_eq!(status, 400, "an unknown field is refused first: {err}");
    let (status, err) = app
        .patch_json(
            &format!("/bookings/{id}"),
            &json!({"party_b": CUSTOMER, "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = app
        .patch_json(&format!("/bookings/{id}"), &json!({"party_b": CUSTOMER}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "pool_exhausted");
    let (_, still) = app.get_json(&format!("/bookings/{id}")).await;
    assert_eq!(still["status"], "pending");
    assert_eq!(still["virtual_number"], VN);

    // With a second number, the booking moves there.
    add_number(&app, VN2).await;
    let (status, moved) = app
        .patch_json(&format!("/bookings/{id}"), &json!({"party_b": CUSTOMER}))
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["virtual_number"], VN2);
    assert_eq!(moved["status"], "active");
    let (_, read) = app.get_json(&format!("/bookings/{id}")).await;
    assert_eq!(read["virtual_number"], VN2);
    // Party B's other booking keeps the first number.
    let (_, kept) = app
        .get_json(&format!(
            "/bookings/{}",
            other["booking_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(kept["virtual_number"], VN);
    let p = providers()[0];
    let leg = Leg {
        to: VN2.into(),
        ..Leg::new("moved", COURIER)
    };
    assert_eq!(
        p.start(&app, &leg).await,
        Reply::Dial {
            to: CUSTOMER.into(),
            caller_id: VN2.into()
        },
        "{p:?}"
    );
}

#[tokio::test]
async fn the_cool_off_moves_a_pending_booking_off_the_number_its_two_parties_just_shared() {
    let app = spawn().await;
    add_number(&app, VN2).await;
    let (status, old) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_b": CUSTOMER, "virtual_number": VN}),
        )
        .await;
    assert_eq!(status, 201, "{old}");
    assert_eq!(
        app.delete_json(&format!(
            "/bookings/{}",
            old["booking_id"].as_str().unwrap()
        ))
        .await
        .0,
        200
    );
    let id = pending_on_vn(&app).await;
    let (status, moved) = app
        .patch_json(&format!("/bookings/{id}"), &json!({"party_b": CUSTOMER}))
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved["virtual_number"], VN2,
        "the same two parties shared {VN} a moment ago"
    );
}
