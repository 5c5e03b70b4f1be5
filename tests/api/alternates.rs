//! Alternate numbers of a booking's parties: a call from one reaches the other party as the
//! party's own phone does, on every provider; the allocation rule counts them as the party's
//! numbers; they are checked, shown like party numbers, and changed with the booking.

use pinbridge::config::AdminToken;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp};
use crate::scenarios::{self, COURIER, CUSTOMER, Leg, Reply, VN, providers};

/// Another phone of the courier (party A).
const COURIER_ALT: &str = "+917700000101";
/// Another phone of the customer (party B).
const CUSTOMER_ALT: &str = "+917700000102";
/// A second number of the pool.
const VN2: &str = "+918088919888";

async fn add_number(app: &TestApp, number: &str) {
    let (status, body) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": number, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

fn dial(to: &str) -> Reply {
    Reply::Dial {
        to: to.into(),
        caller_id: VN.into(),
    }
}

#[tokio::test]
async fn a_call_from_an_alternate_reaches_the_other_party_on_every_provider() {
    for p in providers() {
        let app = scenarios::spawn().await;
        add_number(&app, VN).await;
        let (status, booking) = app
            .post_json(
                "/bookings",
                &json!({"party_a": COURIER, "party_b": CUSTOMER,
                        "party_a_alternates": [COURIER_ALT], "party_b_alternates": ["07700000102"]}),
            )
            .await;
        assert_eq!(status, 201, "{booking}");
        assert_eq!(booking["party_a_alternates"], json!([COURIER_ALT]));
        assert_eq!(booking["party_b_alternates"], json!([CUSTOMER_ALT]));
        let from_a = p
            .start(&app, &Leg::new(&format!("alt-a-{}", p.name()), COURIER_ALT))
            .await;
        assert_eq!(from_a, dial(CUSTOMER), "{p:?}");
        let from_b = p
            .start(
                &app,
                &Leg::new(&format!("alt-b-{}", p.name()), CUSTOMER_ALT),
            )
            .await;
        assert_eq!(from_b, dial(COURIER), "{p:?}");
        // The parties' own phones still route as before.
        let own = p
            .start(&app, &Leg::new(&format!("own-{}", p.name()), COURIER))
            .await;
        assert_eq!(own, dial(CUSTOMER), "{p:?}");
    }
}

#[tokio::test]
async fn an_alternate_counts_as_its_partys_number_in_the_allocation_rule() {
    let app = crate::common::spawn_app().await;
    add_number(&app, VN).await;
    let (status, first) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_b": CUSTOMER, "party_a_alternates": [COURIER_ALT]}),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["virtual_number"], VN);
    // The alternate as a party of another booking: the one number is held by it.
    let (status, refused) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER_ALT, "party_b": "+917700000200"}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "pool_exhausted");
    let (status, refused) = app
        .post_json(
            "/bookings",
            &json!({"party_a": "+917700000201", "party_b": "+917700000200",
                    "party_b_alternates": [COURIER], "virtual_number": VN}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "participant_conflict");
    // With a second number, it gets that one.
    add_number(&app, VN2).await;
    let (status, second) = app
        .post_json(
            "/bookings",
            &json!({"party_a": "+917700000200", "party_b": "+917700000201",
                    "party_a_alternates": [COURIER_ALT]}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["virtual_number"], VN2);
}

#[tokio::test]
async fn alternates_are_checked_naming_the_field() {
    let app = crate::common::spawn_app().await;
    add_number(&app, VN).await;
    let six: Vec<String> = (0..6).map(|i| format!("+9177000003{i:02}")).collect();
    for (body, field) in [
        (json!({"party_a_alternates": six}), "party_a_alternates"),
        (
            json!({"party_a_alternates": [CUSTOMER]}),
            "party_a_alternates",
        ),
        (
            json!({"party_a_alternates": [COURIER_ALT], "party_b_alternates": [COURIER_ALT]}),
            "party_b_alternates",
        ),
        (
            json!({"party_b_alternates": ["not a number"]}),
            "party_b_alternates",
        ),
    ] {
        let mut request = json!({"party_a": COURIER, "party_b": CUSTOMER});
        for (k, v) in body.as_object().unwrap() {
            request[k] = v.clone();
        }
        let (status, err) = app.post_json("/bookings", &request).await;
        assert_eq!(status, 400, "{request}: {err}");
        assert_eq!(err["error"]["code"], "invalid_party_alternates");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(field),
            "{err}"
        );
    }
    let (_, list) = app.get_json("/bookings").await;
    assert_eq!(
        list["bookings"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn alternates_are_changed_with_the_booking_and_masked_without_pii() {
    const DASHBOARD: &str = "dash-token-0123456789";
    let app = crate::common::spawn_app_with(|s| {
        s.access.admin_tokens = vec![
            AdminToken::new("ops", ADMIN_TOKEN, true),
            AdminToken::new("dashboard", DASHBOARD, false),
        ];
    })
    .await;
    add_number(&app, VN).await;
    let (_, booking) = app
        .post_json(
            "/bookings",
            &json!({"party_a": COURIER, "party_b": CUSTOMER}),
        )
        .await;
    let id = booking["booking_id"].as_str().unwrap();
    assert_eq!(booking["party_a_alternates"], json!([]));
    let path = format!("/bookings/{id}");
    let (status, changed) = app
        .patch_json(&path, &json!({"party_b_alternates": [CUSTOMER_ALT]}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["party_b_alternates"], json!([CUSTOMER_ALT]));
    let seen: Value = app
        .client
        .get(app.api(&path))
        .bearer_auth(DASHBOARD)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen["party_b_alternates"],
        json!(["+91******0102"]),
        "{seen}"
    );
    // An alternate that repeats the other side's is refused, and nothing changes.
    let (status, err) = app
        .patch_json(&path, &json!({"party_a_alternates": [CUSTOMER_ALT]}))
        .await;
    assert_eq!(status, 400, "{err}");
    // One that holds the number in another active booking is refused too.
    let (status, other) = app
        .post_json(
            "/bookings",
            &json!({"party_a": "+917700000200", "party_b": "+917700000201"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let (status, err) = app
        .patch_json(&path, &json!({"party_a_alternates": ["+917700000200"]}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "participant_conflict");
    let (_, now) = app.get_json(&path).await;
    assert_eq!(now["party_a_alternates"], json!([]));
    assert_eq!(now["party_b_alternates"], json!([CUSTOMER_ALT]));
    let exotel = scenarios::Provider::Exotel;
    let before = exotel.start(&app, &Leg::new("kept", CUSTOMER_ALT)).await;
    assert_eq!(before, dial(COURIER));
    // Emptied, the alternate no longer routes.
    let (status, _) = app
        .patch_json(&path, &json!({"party_b_alternates": []}))
        .await;
    assert_eq!(status, 200);
    let (_, now) = app.get_json(&path).await;
    assert_eq!(now["party_b_alternates"], json!([]));
    let after = exotel.start(&app, &Leg::new("emptied", CUSTOMER_ALT)).await;
    assert!(!matches!(after, Reply::Dial { .. }), "{after:?}");
}
