//! What a default deployment (only the admin token and the Exotel secret) gives an attacker
//! on the internet who never places a call.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, CUSTOMER_E164, TestApp, spawn_app};

const VN: &str = "+917314853246";
const RIDER: &str = "+917709562799";
const DRIVER: &str = "+919812345670";

/// An app with an order (PIN 4821 on [`VN`]) and a booking between [`RIDER`] and [`DRIVER`]
/// on [`VN`]: what the unconfigured providers' routes used to give away.
async fn app_with_secrets_to_keep() -> TestApp {
    let app = spawn_app().await;
    let r = app
        .post_order(json!({"order_id": "OD-1", "customer_number": CUSTOMER_E164, "pin": "4821", "virtual_number": VN}))
        .await;
    assert_eq!(r.status(), 201);
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .post_json(
            "/bookings",
            &json!({"party_a": RIDER, "party_b": DRIVER, "ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(status, 201);
    app
}

#[tokio::test]
async fn providers_without_credentials_have_no_routes_and_give_away_nothing() {
    let app = app_with_secrets_to_keep().await;
    let unknown = app
        .client
        .post(format!("{}/no-such-path", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let unknown: Value = unknown.json().await.unwrap();

    let form = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).expect("a form");
    let requests = [
        (
            "/twilio/pin",
            form(&[
                ("CallSid", "CAattack1"),
                ("From", "+917700000001"),
                ("To", VN),
                ("Digits", "4821"),
            ]),
        ),
        (
            "/twilio/voice",
            form(&[("CallSid", "CAattack2"), ("From", RIDER), ("To", VN)]),
        ),
        (
            "/twilio/status",
            form(&[("CallSid", "CAattack3"), ("DialCallStatus", "completed")]),
        ),
        (
            "/plivo/answer",
            form(&[
                ("CallUUID", "attack-4"),
                ("From", &RIDER[1..]),
                ("To", &VN[1..]),
            ]),
        ),
        (
            "/plivo/pin",
            form(&[
                ("CallUUID", "attack-5"),
                ("From", "917700000001"),
                ("To", &VN[1..]),
                ("Digits", "4821"),
            ]),
        ),
        ("/plivo/hangup", form(&[("CallUUID", "attack-6")])),
        (
            "/vonage/answer",
            form(&[
                ("uuid", "attack-7"),
                ("conversation_uuid", "CON-attack-7"),
                ("from", &RIDER[1..]),
                ("to", &VN[1..]),
            ]),
        ),
        (
            "/vonage/event",
            form(&[("uuid", "attack-8"), ("status", "completed")]),
        ),
        (
            "/8x8/anything-at-all-0123/voice",
            form(&[("callId", "attack-9")]),
        ),
    ];
    for (path, body) in requests {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let url = if method == reqwest::Method::GET {
                format!("{}{path}?{body}", app.address)
            } else {
                format!("{}{path}", app.address)
            };
            let mut request = app.client.request(method.clone(), url);
            if method == reqwest::Method::POST {
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 404, "{method} {path}");
            let text = r.text().await.unwrap();
            assert!(
                !text.contains("9812345") && !text.contains("7709562"),
                "{method} {path} gave a number away: {text}"
            );
            let answer: Value = serde_json::from_str(&text).expect("the JSON 404");
            assert_eq!(
                answer, unknown,
                "{method} {path} answers as an unknown path"
            );
        }
    }
    let (_, log) = app.get_json("/calls").await;
    assert_eq!(log["calls"], json!([]), "nothing was stored: {log}");
    // The bearer token keeps the admin API, as before.
    let r = app
        .client
        .get(app.api("/orders/OD-1"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
