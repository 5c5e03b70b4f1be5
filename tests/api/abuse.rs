//! Abuse resistance: PIN guessing by calling and by posting to webhooks, identical answers for
//! every kind of rejection, allowed callers, PIN density, destinations, admin tokens, webhook
//! sources and input limits.

use pinbridge::config::{AdminToken, Signing};
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, CUSTOMER_E164, Call, TestApp, spawn_app, spawn_app_with};
use crate::helpers::a_minute_ago_ms;
use crate::scenarios::{self, ALL, COURIER, CUSTOMER, Leg, VN};

const ATTACKER: &str = "09000000666";

async fn order(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_order(body).await
}

#[tokio::test]
async fn a_caller_guessing_pins_over_many_calls_is_locked_out_while_a_real_courier_gets_through() {
    let app = spawn_app_with(|s| {
        s.guessing.caller_max_failures = 5;
        s.calls.pin_max_attempts = 3;
    })
    .await;
    app.create_order("OD-1", "4821").await;
    app.create_order("OD-2", "5930").await;
    // Two calls of three wrong PINs each: six wrong PINs, one more than allowed.
    let mut guess = 1000;
    for n in 0..2 {
        let mut call = Call::new(&format!("guess-{n}"));
        call.from = ATTACKER.into();
        for _ in 0..3 {
            guess += 1;
            app.check_pin(&call, &guess.to_string()).await;
        }
    }
    // Now even the right PIN is refused to the attacker, with the answer of a wrong one.
    let mut locked = Call::new("guess-locked");
    locked.from = ATTACKER.into();
    assert_eq!(app.check_pin(&locked, "4821").await, 302);
    assert_eq!(app.check_pin(&locked, "4821").await, 302);
    assert_eq!(
        app.check_pin(&locked, "4821").await,
        200,
        "attempts used up"
    );
    assert_eq!(app.connect(&locked).await, "", "no one is dialled");
    // A courier on another number is not affected.
    let courier = Call::new("real-courier");
    assert_eq!(app.check_pin(&courier, "5930").await, 200);
    assert_eq!(app.connect(&courier).await, CUSTOMER_E164);
}

#[tokio::test]
async fn posting_straight_to_the_webhook_is_locked_out_the_same() {
    let app = spawn_app_with(|s| s.guessing.caller_max_failures = 4).await;
    app.create_order("OD-1", "4821").await;
    // No call at all: a fresh CallSid per request, as a script would send.
    for n in 0..5 {
        let mut call = Call::new(&format!("direct-{n}"));
        call.from = ATTACKER.into();
        app.check_pin(&call, &format!("{}", 7000 + n)).await;
    }
    let mut call = Call::new("direct-right");
    call.from = ATTACKER.into();
    assert_eq!(
        app.check_pin(&call, "4821").await,
        302,
        "locked: the right PIN looks wrong"
    );
    // Callers who withhold their number share one allowance.
    for n in 0..5 {
        let q = format!(
            "CallSid=anon-{n}&CallTo=07314853246&digits=%22{}%22",
            8000 + n
        );
        app.exotel("check-pin", &q).await;
    }
    let r = app
        .exotel(
            "check-pin",
            "CallSid=anon-right&CallTo=07314853246&digits=%224821%22",
        )
        .await;
    assert_eq!(r.status(), 302);
}

/// `callers` calls, each from its own number, keying the wrong PIN 1111 on the default
/// virtual number; the status of each check-pin.
async fn spray_wrong_pins(app: &TestApp, callers: u16) -> Vec<u16> {
    spray_wrong_pins_on(app, callers, "07314853246").await
}

/// [`spray_wrong_pins`] on the virtual number `dialled` (national form).
async fn spray_wrong_pins_on(app: &TestApp, callers: u16, dialled: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for n in 0..callers {
        let mut call = Call::new(&format!("spray-{dialled}-{n}"));
        call.from = format!("0900000{n:04}");
        let query = call.query(Some("1111")).replace("07314853246", dialled);
        statuses.push(app.exotel("check-pin", &query).await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn many_callers_guessing_on_one_number_spend_its_budget_and_then_unknown_callers_are_refused()
{
    // A number of this test's own: the metrics recorder is shared by every test's app.
    const NUMBER: &str = "08088919777";
    const NUMBER_E164: &str = "+918088919777";
    let on = |call: &Call, digits: Option<&str>| call.query(digits).replace("07314853246", NUMBER);
    // One active 4-digit PIN: a wrong PIN weighs 100 millionths, and this budget's burst
    // (a day's 0.012 customer numbers, an hour's share: 500 millionths) holds five.
    let app = spawn_app_with(|s| s.guessing.pin_guessing_budget = 0.012).await;
    for (id, pin, vn) in [
        ("OD-1", "4821", NUMBER_E164),
        ("OD-2", "6060", "+918088919888"),
    ] {
        let r = app
            .post_order(
                json!({"order_id": id, "customer_number": CUSTOMER, "pin": pin,
                               "virtual_number": vn}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    assert_eq!(
        spray_wrong_pins_on(&app, 5, NUMBER).await,
        vec![302; 5],
        "within the budget"
    );
    assert_eq!(
        spray_wrong_pins_on(&app, 3, NUMBER).await,
        vec![200; 3],
        "spent: no PIN is taken, the call goes on to say goodbye"
    );
    // An unknown courier's right PIN is not taken either: asked to try later, no one dialled.
    let unknown = Call::new("unknown-courier");
    assert_eq!(
        app.exotel("check-pin", &on(&unknown, Some("4821")))
            .await
            .status(),
        200
    );
    assert_eq!(app.exotel_text("connect", &on(&unknown, None)).await, "");
    let words = app.exotel_text("goodbye", &on(&unknown, None)).await;
    assert!(words.contains("try again later"), "{words}");
    // A caller the operator trusts keeps its own allowance.
    app.sql(
        "insert into trusted_callers (number, label, created_at) values ('+917700000077', 'Ravi', 0)",
    )
    .await;
    let mut trusted = Call::new("trusted-courier");
    trusted.from = "07700000077".into();
    assert_eq!(
        app.exotel("check-pin", &on(&trusted, Some("4821")))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.exotel_text("connect", &on(&trusted, None)).await,
        CUSTOMER_E164
    );
    // The operator sees it: an alert on the dashboard, and the number's gauges.
    let cookie = crate::helpers::admin_sign_in(&app).await;
    let (status, page) = crate::helpers::admin_get(&app, &cookie, "/admin/dashboard").await;
    assert_eq!(status, 200);
    let alert = page
        .split("id=\"guessing-alert\"")
        .nth(1)
        .expect("an alert while the budget is spent");
    assert!(alert.contains(NUMBER_E164), "{alert}");
    assert!(page.contains("id=\"guessing\""), "the table of numbers");
    let series = |name: &str| format!("{name}{{virtual_number=\"{NUMBER_E164}\"}}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ratio = app
            .metric_value(&series("pinbridge_pin_budget_spent_ratio"))
            .await;
        if ratio.is_some_and(|r| r >= 1.0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{ratio:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let density = app.metric_value(&series("pinbridge_pin_density")).await;
    assert_eq!(density, Some(0.0001), "one active 4-digit PIN");
    // The budget is the number's: PINs are still taken on another number.
    let other = Call::new("other-vn");
    let elsewhere = |digits| other.query(digits).replace("07314853246", "08088919888");
    assert_eq!(
        app.exotel("check-pin", &elsewhere(Some("6060")))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.exotel_text("connect", &elsewhere(None)).await,
        CUSTOMER_E164
    );
}

#[tokio::test]
async fn guesses_at_orders_valid_everywhere_spend_their_own_budget_and_leave_a_numbers_orders_reachable()
 {
    // One order valid on every number (7070) and one of the seeds' number (4821). Wrong PINs
    // keyed on a number with no orders of its own reach only the first: they spend its
    // budget, whose burst holds five here.
    let app = spawn_app_with(|s| s.guessing.pin_guessing_budget = 0.012).await;
    let r = app
        .post_order(json!({"order_id": "OD-any", "customer_number": CUSTOMER, "pin": "7070"}))
        .await;
    assert_eq!(r.status(), 201);
    app.create_order("OD-1", "4821").await;
    assert_eq!(
        spray_wrong_pins_on(&app, 5, "08088919555").await,
        vec![302; 5]
    );
    assert_eq!(
        spray_wrong_pins_on(&app, 1, "08088919555").await,
        vec![302],
        "the dialled number's own budget is not spent: still the wrong-PIN answer"
    );
    // On the seeds' number, an unknown courier reaches its own order...
    let own = Call::new("own-order");
    assert_eq!(app.check_pin(&own, "4821").await, 200);
    assert_eq!(app.connect(&own).await, CUSTOMER_E164);
    // ...but another unknown caller does not reach the order valid everywhere: the wrong-PIN
    // answer, as for any miss. (The first caller, bridged with a PIN, is known there now.)
    let mut everywhere = Call::new("order-valid-everywhere");
    everywhere.from = "07700000088".into();
    assert_eq!(app.check_pin(&everywhere, "7070").await, 302);
    // A trusted caller still reaches it.
    app.sql(
        "insert into trusted_callers (number, label, created_at) values ('+917700000077', 'Ravi', 0)",
    )
    .await;
    let mut trusted = Call::new("trusted-everywhere");
    trusted.from = "07700000077".into();
    assert_eq!(app.check_pin(&trusted, "7070").await, 200);
    assert_eq!(app.connect(&trusted).await, CUSTOMER_E164);
}

#[tokio::test]
async fn wrong_pins_within_the_budget_do_not_stop_couriers() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    assert_eq!(spray_wrong_pins(&app, 9).await, vec![302; 9]);
    let courier = Call::new("after-spray");
    assert_eq!(app.check_pin(&courier, "4821").await, 200);
    assert_eq!(app.connect(&courier).await, CUSTOMER_E164);
}

/// One reply per kind of rejection, on each provider: a wrong PIN, an expired order's PIN, a
/// deactivated order's PIN, another number's PIN, a locked caller's right PIN, and a PIN the
/// caller is not allowed to use. All must look the same.
#[tokio::test]
async fn every_kind_of_rejection_gets_the_same_answer_on_every_provider() {
    for p in ALL {
        let app = spawn_app_with(|s| {
            s.orders.pin_min = 4;
            s.guessing.caller_max_failures = 3;
            s.server.public_url = Some(scenarios::PUBLIC_URL.into());
            s.providers.twilio = Signing::Signed(scenarios::TWILIO_TOKEN.into());
            s.providers.plivo = Signing::Signed(scenarios::PLIVO_TOKEN.into());
            s.providers.eight_by_eight_secret = Some(scenarios::EIGHT_BY_EIGHT_SECRET.into());
            s.providers.vonage = Signing::Signed(scenarios::VONAGE_SECRET.into());
        })
        .await;
        let mk = |id: &str, pin: &str, vn: &str| json!({"order_id": id, "customer_number": CUSTOMER, "pin": pin, "virtual_number": vn});
        assert_eq!(order(&app, mk("expired", "1001", VN)).await.status(), 201);
        app.sql(format!(
            "update orders set expires_at = {} where order_id = 'expired'",
            a_minute_ago_ms()
        ))
        .await;
        assert_eq!(order(&app, mk("gone", "1002", VN)).await.status(), 201);
        app.client
            .delete(app.api("/orders/gone"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            order(&app, mk("elsewhere", "1003", "+918088919888"))
                .await
                .status(),
            201
        );
        let mut only = mk("only-one-courier", "1004", VN);
        only["allowed_callers"] = json!(["+919111111111"]);
        assert_eq!(order(&app, only).await.status(), 201);
        assert_eq!(order(&app, mk("valid", "1005", VN)).await.status(), 201);

        let mut replies = Vec::new();
        for (i, pin) in ["9999", "1001", "1002", "1003", "1004"].iter().enumerate() {
            let leg = Leg::new(&format!("reject-{i}"), COURIER);
            p.start(&app, &leg).await;
            replies.push((*pin, p.digits(&app, &leg, pin).await));
        }
        // Lock a caller out, then give it the right PIN.
        let attacker = "+919000000666";
        for i in 0..2 {
            let leg = Leg::new(&format!("lock-{i}"), attacker);
            p.start(&app, &leg).await;
            p.digits(&app, &leg, "8888").await;
            p.digits(&app, &leg, "8889").await;
        }
        let leg = Leg::new("locked-right", attacker);
        p.start(&app, &leg).await;
        replies.push(("locked", p.digits(&app, &leg, "1005").await));
        let first = &replies[0].1;
        assert!(
            matches!(first, scenarios::Reply::Ask { text } if text.contains("not recognised")),
            "{p:?}: {first:?}"
        );
        for (kind, reply) in &replies {
            assert_eq!(reply, first, "{p:?}: the answer to {kind} differs");
        }
    }
}

/// Byte for byte, for the providers whose answers carry nothing call-specific.
#[tokio::test]
async fn rejections_are_byte_identical_on_exotel_and_twilio() {
    let app = spawn_app_with(|s| s.orders.pin_min = 4).await;
    app.create_order("OD-1", "4821").await;
    app.create_order("OD-old", "1001").await;
    app.sql(format!(
        "update orders set expires_at = {} where order_id = 'OD-old'",
        a_minute_ago_ms()
    ))
    .await;
    let mut bodies = Vec::new();
    for (i, pin) in ["9999", "1001"].iter().enumerate() {
        let call = Call::new(&format!("bytes-{i}"));
        let check = app.exotel("check-pin", &call.query(Some(pin))).await;
        let status = check.status();
        let body = check.bytes().await.unwrap();
        let gather = app
            .exotel("gather", &call.query(None))
            .await
            .bytes()
            .await
            .unwrap();
        let form = [
            ("CallSid", format!("CAbytes{i}")),
            ("From", "+917709562799".into()),
            ("To", "+917314853246".into()),
            ("Digits", (*pin).into()),
        ];
        let twiml = app
            .client
            .post(format!("{}/twilio/pin", app.address))
            .form(&form)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        bodies.push((status, body, gather, twiml));
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn a_pin_restricted_to_certain_couriers_works_only_for_them() {
    let app = spawn_app_with(|_| {}).await;
    let r = order(
        &app,
        json!({"order_id": "OD-1", "customer_number": CUSTOMER, "pin": "4821",
        "virtual_number": VN, "allowed_callers": ["07709562799"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let o: Value = r.json().await.unwrap();
    assert_eq!(o["allowed_callers"], json!(["+917709562799"]));
    let mut stranger = Call::new("stranger");
    stranger.from = "09988776655".into();
    assert_eq!(app.check_pin(&stranger, "4821").await, 302);
    let courier = Call::new("allowed");
    assert_eq!(app.check_pin(&courier, "4821").await, 200);
    assert_eq!(app.connect(&courier).await, CUSTOMER_E164);
    let bad = order(
        &app,
        json!({"order_id": "OD-2", "customer_number": CUSTOMER, "allowed_callers": ["nobody"]}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_allowed_callers"
    );
}

#[tokio::test]
async fn pins_are_refused_once_they_would_crowd_the_pin_space() {
    // 0.1 % of the 4-digit space: 10 active PINs per virtual number.
    let app = spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.orders.pin_max = 6;
        s.guessing.pin_max_density = 0.001;
    })
    .await;
    for i in 0..10 {
        let r = order(&app, json!({"order_id": format!("OD-{i}"), "customer_number": CUSTOMER, "pin": format!("{}", 2000 + i), "virtual_number": VN})).await;
        assert_eq!(r.status(), 201);
    }
    let crowded = order(&app, json!({"order_id": "OD-11", "customer_number": CUSTOMER, "pin": "3000", "virtual_number": VN})).await;
    assert_eq!(crowded.status(), 409);
    assert_eq!(
        crowded.json::<Value>().await.unwrap()["error"]["code"],
        "pin_space_crowded"
    );
    // Longer PINs, or another number, still have room.
    let longer = order(&app, json!({"order_id": "OD-12", "customer_number": CUSTOMER, "pin": "300000", "virtual_number": VN})).await;
    assert_eq!(longer.status(), 201);
    let other = order(&app, json!({"order_id": "OD-13", "customer_number": CUSTOMER, "pin": "3000", "virtual_number": "08088919888"})).await;
    assert_eq!(other.status(), 201);
}

#[tokio::test]
async fn destinations_outside_the_allowed_countries_are_refused_at_creation() {
    let app = spawn_app_with(|_| {}).await;
    let r = order(
        &app,
        json!({"order_id": "OD-1", "customer_number": "+19005550100"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_customer_number");
    assert!(err["error"]["message"].as_str().unwrap().contains("+91"));
    app.client
        .post(app.api("/virtual-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"number": VN, "provider": "exotel"}))
        .send()
        .await
        .unwrap();
    let b = app
        .client
        .post(app.api("/bookings"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"party_a": COURIER, "party_b": "+442079460958"}))
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 400);
    let allowed = spawn_app_with(|s| s.orders.allowed_country_codes = vec![91, 1]).await;
    let r = order(
        &allowed,
        json!({"order_id": "OD-1", "customer_number": "+14155552671"}),
    )
    .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn named_tokens_rotate_and_only_pii_tokens_see_full_numbers() {
    let app = spawn_app_with(|s| {
        s.access.admin_tokens = vec![
            AdminToken::new("ops", "ops-token-0123456789", true),
            AdminToken::new("dashboard", "dash-token-0123456789", false),
        ];
    })
    .await;
    let post = |token: &'static str, id: &'static str| {
        app.client.post(app.api("/orders")).bearer_auth(token)
            .json(&json!({"order_id": id, "customer_number": CUSTOMER, "pin": "4821", "virtual_number": VN}))
    };
    assert_eq!(
        post("ops-token-0123456789", "OD-1")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post(ADMIN_TOKEN, "OD-2").send().await.unwrap().status(),
        401,
        "the old single token is gone"
    );
    app.check_pin(&Call::new("pii-call"), "4821").await;
    app.connect(&Call::new("pii-call")).await;
    let app = &app;
    let get = |token: &'static str, path: &'static str| async move {
        let r = app
            .client
            .get(app.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let full = get("ops-token-0123456789", "/calls").await;
    assert_eq!(full["calls"][0]["caller"], "+917709562799");
    assert_eq!(full["calls"][0]["destination"], CUSTOMER);
    let masked = get("dash-token-0123456789", "/calls").await;
    assert_eq!(masked["calls"][0]["caller"], "+91******2799");
    assert_eq!(masked["calls"][0]["destination"], "+91******5678");
    let order = get("dash-token-0123456789", "/orders/OD-1").await;
    assert_eq!(order["customer_number"], "+91******5678");
}

#[tokio::test]
async fn repeated_token_failures_from_one_source_are_slowed_down() {
    let app = spawn_app_with(|_| {}).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = app
            .client
            .get(app.api("/calls"))
            .bearer_auth("guessed-token-000000000")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    // The right token still works: an attacker can not lock the operators out.
    let (status, _) = app.get_json("/calls").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn webhooks_from_outside_the_allowed_networks_are_refused() {
    let app = spawn_app_with(|s| {
        s.access.allowed_source_networks = Some(vec!["203.0.113.0/24".parse().unwrap()])
    })
    .await;
    let q = Call::new("src").query(None);
    assert_eq!(
        app.exotel("greeting", &q).await.status(),
        403,
        "127.0.0.1 is not allowed"
    );
    let spoofed = app
        .client
        .get(format!("{}?{q}", app.exotel_url("greeting")))
        .header("X-Forwarded-For", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        spoofed.status(),
        403,
        "X-Forwarded-For is not believed from an untrusted peer"
    );

    let proxied = spawn_app_with(|s| {
        s.access.allowed_source_networks = Some(vec!["203.0.113.0/24".parse().unwrap()]);
        s.access.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let via_proxy = proxied
        .client
        .get(format!("{}?{q}", proxied.exotel_url("greeting")))
        .header("X-Forwarded-For", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(via_proxy.status(), 200);
    let outside = proxied
        .client
        .get(format!("{}?{q}", proxied.exotel_url("greeting")))
        .header("X-Forwarded-For", "198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 403);
}

#[tokio::test]
async fn oversized_input_gets_413() {
    let app = spawn_app_with(|_| {}).await;
    let long = format!("{}&pad={}", Call::new("big").query(None), "x".repeat(9000));
    assert_eq!(app.exotel("greeting", &long).await.status(), 413);
    let many: String = (0..300).map(|i| format!("k{i}=v&")).collect();
    assert_eq!(app.exotel("gather", &many).await.status(), 413);
    let body = "a=".to_string() + &"x".repeat(70 * 1024);
    let r = app
        .client
        .post(app.exotel_url("check-pin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let json_body = json!({"order_id": "x".repeat(70 * 1024), "customer_number": CUSTOMER});
    assert_eq!(app.post_order(json_body).await.status(), 413);
    let digits = Call::new("long-digits").query(Some(&"7".repeat(500)));
    assert_eq!(
        app.exotel("check-pin", &digits).await.status(),
        302,
        "a wrong PIN, not an error"
    );
}
