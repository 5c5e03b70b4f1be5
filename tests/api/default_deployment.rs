//! What a default deployment (only the admin token and the Exotel secret) gives an attacker
//! on the internet who never places a call.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, CUSTOMER_E164, Call, TestApp, spawn_app};

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
        (
            "/twilio/whisper",
            form(&[("CallSid", "CAattack10"), ("ParentCallSid", "CAattack2")]),
        ),
        (
            "/twilio/recording",
            form(&[
                ("CallSid", "CAattack2"),
                ("RecordingUrl", "https://x.example/r"),
            ]),
        ),
        ("/plivo/whisper?call=attack-4", String::new()),
        ("/vonage/whisper?call=CON-attack-7", String::new()),
        (
            "/8x8/anything-at-all-0123/recording",
            form(&[("sessionId", "attack-11")]),
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

/// `n` orders with 4-digit PINs spread over the space (`OD-0`, `OD-1`, ...) on the seeds'
/// virtual number, each for a customer of its own; their customer numbers.
async fn orders_with_four_digit_pins(app: &TestApp, n: usize) -> Vec<String> {
    let mut customers = Vec::new();
    for i in 0..n {
        let customer = format!("+9198100{i:05}");
        let pin = format!("{:04}", (i * 3_847 + 1_291) % 10_000);
        let r = app
            .post_order(
                json!({"order_id": format!("OD-{i}"), "customer_number": customer,
                               "pin": pin, "virtual_number": VN}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        customers.push(customer);
    }
    customers
}

/// One guess over HTTP as an attacker scripts it, with no call: a fresh CallSid, the caller ID
/// `from`, the PIN `pin` to `check-pin`, then `connect` when it is let through. The number
/// `connect` dials, if any.
async fn guess(app: &TestApp, sid: &str, from: &str, pin: &str) -> Option<String> {
    let mut call = Call::new(sid);
    call.from = from.to_owned();
    let status = app
        .exotel("check-pin", &call.query(Some(pin)))
        .await
        .status();
    if status == 302 {
        return None;
    }
    assert_eq!(status, 200, "check-pin answers 200 or 302");
    let dialled = app.connect(&call).await;
    (!dialled.is_empty()).then_some(dialled)
}

#[tokio::test]
async fn three_thousand_guesses_from_rotating_caller_ids_find_at_most_three_customers() {
    let app = spawn_app().await;
    // A courier who was bridged through this number before the attack.
    let courier = "+917700000042";
    let customers = orders_with_four_digit_pins(&app, 51).await;
    let (_, first) = app.get_json("/orders/OD-50").await;
    let first_pin = first["pin"].as_str().unwrap().to_owned();
    assert_eq!(
        guess(&app, "courier-before", courier, &first_pin)
            .await
            .as_deref(),
        Some(customers[50].as_str())
    );
    let (_, courier_order) = app.get_json("/orders/OD-49").await;
    let courier_pin = courier_order["pin"].as_str().unwrap().to_owned();
    // Deactivate the courier's first order: 50 active 4-digit PINs remain on the number, so
    // each guess has one chance in 200, and 3,000 unthrottled guesses would expect 15 hits.
    assert_eq!(app.delete_json("/orders/OD-50").await.0, 200);

    let mut found = std::collections::BTreeSet::new();
    let mut courier_got_through = false;
    for n in 0..3_000u32 {
        // Every guess from a caller ID never seen before: valid numbers, and garbage.
        let from = if n % 3 == 0 {
            format!("garbage-{n}")
        } else {
            format!("+9199{n:08}")
        };
        let pin = format!("{:04}", (n * 7_919) % 10_000);
        if let Some(number) = guess(&app, &format!("attack-{n}"), &from, &pin).await {
            found.insert(number);
        }
        if n == 1_500 {
            // The known courier, in the middle of the attack, gets through at once.
            let reached = guess(&app, "courier-during", courier, &courier_pin).await;
            courier_got_through = reached.as_deref() == Some(customers[49].as_str());
        }
    }
    assert!(
        courier_got_through,
        "a courier bridged before is not refused"
    );
    assert!(
        found.len() <= 3,
        "the attack found {} customer numbers",
        found.len()
    );
    // The operator hears of it.
    let spent = app
        .metric_value("pinbridge_pin_budget_spent_total{scope=\"number\"}")
        .await;
    assert!(spent.is_some_and(|n| n >= 1.0), "{spent:?}");
    // An unknown caller with a right PIN is asked to try later, in words that say so.
    let mut late = Call::new("unknown-with-right-pin");
    late.from = "+919812300000".into();
    assert_eq!(app.check_pin(&late, &courier_pin).await, 200);
    assert_eq!(app.connect(&late).await, "", "no one is dialled");
    let words = app.exotel_text("goodbye", &late.query(None)).await;
    assert!(words.contains("try again later"), "{words}");
}

#[tokio::test]
async fn a_pin_request_for_a_call_older_than_any_call_reaches_no_one_though_its_end_never_came() {
    let app = spawn_app().await;
    app.create_order("OD-old", "4821").await;
    let call = Call::new("old-call");
    app.exotel_text("greeting", &call.query(None)).await;
    // The call started seven hours ago (longer than PINBRIDGE_CALL_STATE_TTL), and no end
    // was ever reported; a restart drops what the process keeps in memory.
    app.sql(format!(
        "update calls set started_at = started_at - {} where call_sid = 'old-call'",
        7 * 3_600_000
    ))
    .await;
    let app = app.restart().await;
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, "", "no one is dialled");
    // A call of today with the same PIN is bridged.
    let today = Call::new("todays-call");
    assert_eq!(app.check_pin(&today, "4821").await, 200);
    assert_eq!(app.connect(&today).await, CUSTOMER_E164);
}
