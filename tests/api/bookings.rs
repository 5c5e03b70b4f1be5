//! Caller-based masking: the virtual-number pool, bookings, and the reverse call flow.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, CUSTOMER_E164, Call, TestApp, spawn_app, spawn_app_with};
use crate::helpers::{a_minute_ago_ms, encode_seed};

/// The seed's caller-based Connect request, verbatim (seed 003, "Caller based masking").
const SEED_CALLER_CONNECT: &str = "CallFrom=07709562799&CallSid=066b197844c030d6737dac19cca6157p&CallStatus=in-progress&CallTo=07314853246&CallType=call-attempt&Created=Sun, 25 Jul 2021 14:56:12&CurrentTime=2021-07-25 14:56:14&DialCallDuration=0&DialWhomNumber=&Direction=incoming&EndTime=1970-01-01 05:30:00&From=07709562799&StartTime=2021-07-25 14:56:12&To=07314853246&flow_id=383431&tenant_id=53926";

const RIDER: &str = "07709562799";
const RIDER_E164: &str = "+917709562799";
const DRIVER: &str = "09812345678";

impl TestApp {
    async fn add_number(&self, number: &str, reserved: bool) -> reqwest::Response {
        self.client
            .post(self.api("/virtual-numbers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"number": number, "provider": "exotel", "reserved": reserved}))
            .send()
            .await
            .unwrap()
    }

    async fn post_booking(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.api("/bookings"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn book(&self, a: &str, b: &str) -> Value {
        let r = self
            .post_booking(
                json!({"party_a": a, "party_b": b, "reference": "ride-42", "ttl_seconds": 7200}),
            )
            .await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    async fn delete(&self, path: &str) -> u16 {
        self.client
            .delete(self.api(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The seed's caller-based Connect request from `from`, under its own CallSid.
    async fn caller_connect(&self, sid: &str, from: &str) -> String {
        let raw = SEED_CALLER_CONNECT
            .replace("066b197844c030d6737dac19cca6157p", sid)
            .replace("07709562799", from);
        self.exotel_text("connect", &encode_seed(&raw)).await
    }
}

#[tokio::test]
async fn the_seed_caller_based_request_reaches_the_other_party_in_both_directions() {
    let app = spawn_app().await;
    assert_eq!(app.add_number("07314853246", false).await.status(), 201);
    let booking = app.book(RIDER, DRIVER).await;
    assert_eq!(booking["virtual_number"], "+917314853246");
    assert_eq!(booking["party_a"], RIDER_E164);
    assert_eq!(booking["status"], "active");
    assert!(booking["booking_id"].as_str().unwrap().starts_with("bk_"));

    // The seed's request, verbatim: the rider calls and reaches the driver.
    let dial = app
        .exotel_text("connect", &encode_seed(SEED_CALLER_CONNECT))
        .await;
    assert_eq!(dial, CUSTOMER_E164);
    // The driver calls the same number and reaches the rider.
    assert_eq!(app.caller_connect("driver-calls", DRIVER).await, RIDER_E164);
    let json = app
        .exotel_json(
            "connect.json",
            &encode_seed(&SEED_CALLER_CONNECT.replace("066b", "0aaa")),
        )
        .await;
    assert_eq!(json["destination"]["numbers"], json!([CUSTOMER_E164]));
    assert_eq!(json["outgoing_phone_number"], "+917314853246");

    let record = app.call_record("066b197844c030d6737dac19cca6157p").await;
    assert_eq!(record["route"], "booking");
    assert_eq!(record["booking_id"], booking["booking_id"]);
    assert_eq!(record["destination"], CUSTOMER_E164);

    // A stranger calling the number reaches no one.
    assert_eq!(app.caller_connect("stranger", "09000000001").await, "");
}

#[tokio::test]
async fn allocation_spreads_bookings_and_never_gives_a_party_one_number_twice() {
    let app = spawn_app().await;
    app.add_number("07314853246", false).await;
    app.add_number("08088919888", false).await;
    let first = app.book(RIDER, DRIVER).await;
    let second = app.book("09988776655", "09123456789").await;
    assert_ne!(
        first["virtual_number"], second["virtual_number"],
        "the least loaded number"
    );
    // The rider already holds the first number, so a second booking with them takes the other.
    let third = app.book(RIDER, "09123456780").await;
    assert_ne!(third["virtual_number"], first["virtual_number"]);
    // And a fourth, with the rider again, finds no number free: both are theirs.
    let r = app
        .post_booking(json!({"party_a": RIDER, "party_b": "09123456781"}))
        .await;
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "pool_exhausted");

    let (_, pool) = app.get_json("/virtual-numbers").await;
    let counts: Vec<i64> = pool["virtual_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["active_bookings"].as_i64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), 3);
}

#[tokio::test]
async fn reserved_numbers_are_only_given_when_named() {
    let app = spawn_app().await;
    app.add_number("07314853246", true).await;
    let r = app
        .post_booking(json!({"party_a": RIDER, "party_b": DRIVER}))
        .await;
    assert_eq!(r.status(), 409, "a reserved number is never allocated");
    let r = app
        .post_booking(json!({"party_a": RIDER, "party_b": DRIVER, "virtual_number": "07314853246"}))
        .await;
    assert_eq!(r.status(), 201);
    let again = app
        .post_booking(
            json!({"party_a": RIDER, "party_b": "09123456789", "virtual_number": "+917314853246"}),
        )
        .await;
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"]["code"],
        "participant_conflict"
    );
    let unknown = app
        .post_booking(json!({"party_a": RIDER, "party_b": DRIVER, "virtual_number": "08088919888"}))
        .await;
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn a_drained_number_takes_no_new_bookings_but_serves_its_existing_ones() {
    let app = spawn_app().await;
    app.add_number("07314853246", false).await;
    app.book(RIDER, DRIVER).await;
    assert_eq!(app.delete("/virtual-numbers/07314853246").await, 200);
    let (_, v) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(v["status"], "drained");
    assert_eq!(v["active_bookings"], 1);
    let r = app
        .post_booking(json!({"party_a": "09988776655", "party_b": "09123456789"}))
        .await;
    assert_eq!(r.status(), 409);
    let named = app
        .post_booking(json!({"party_a": "09988776655", "party_b": "09123456789", "virtual_number": "07314853246"}))
        .await;
    assert_eq!(
        named.json::<Value>().await.unwrap()["error"]["code"],
        "virtual_number_drained"
    );
    assert_eq!(
        app.caller_connect("still-works", RIDER).await,
        CUSTOMER_E164
    );
}

#[tokio::test]
async fn an_expired_or_closed_booking_stops_routing_at_once() {
    let app = spawn_app().await;
    // One number: both bookings share it, their parties being distinct.
    app.add_number("07314853246", false).await;
    let expiring = app.book(RIDER, DRIVER).await;
    let closing = app.book("09988776655", "09123456789").await;
    app.sql(format!(
        "update bookings set expires_at = {} where party_a = '+917709562799'",
        a_minute_ago_ms()
    ))
    .await;
    assert_eq!(app.caller_connect("after-expiry", RIDER).await, "");
    let (_, b) = app
        .get_json(&format!(
            "/bookings/{}",
            expiring["booking_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(b["status"], "expired");

    assert_eq!(
        app.caller_connect("before-close", "09988776655").await,
        "+919123456789"
    );
    assert_eq!(
        app.delete(&format!(
            "/bookings/{}",
            closing["booking_id"].as_str().unwrap()
        ))
        .await,
        200
    );
    assert_eq!(app.caller_connect("after-close", "09988776655").await, "");
    // The callee of the booking call can not call back through the closed booking either.
    assert_eq!(
        app.caller_connect("callback-after-close", "09123456789")
            .await,
        ""
    );

    let (_, pool) = app.get_json("/virtual-numbers").await;
    for v in pool["virtual_numbers"].as_array().unwrap() {
        assert_eq!(
            v["active_bookings"], 0,
            "ended bookings leave the counts at once"
        );
    }
    assert_eq!(app.delete("/bookings/bk_nope").await, 404);
}

#[tokio::test]
async fn a_customer_calling_back_reaches_the_courier_who_last_called_them() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    app.create_order("OD-2", "5931").await;
    let mut first = Call::new("courier-1");
    first.from = "09000000001".into();
    let mut second = Call::new("courier-2");
    second.from = "09000000002".into();
    assert_eq!(app.check_pin(&first, "4821").await, 200);
    assert_eq!(app.connect(&first).await, CUSTOMER_E164);
    assert_eq!(app.check_pin(&second, "5931").await, 200);
    assert_eq!(app.connect(&second).await, CUSTOMER_E164);

    // The customer missed both and calls the virtual number back: the last courier answers.
    assert_eq!(
        app.caller_connect("callback", DRIVER).await,
        "+919000000002"
    );
    let record = app.call_record("callback").await;
    assert_eq!(record["route"], "callback");
    assert_eq!(record["order_id"], "OD-2");

    // The second courier's order ends: the callback goes to the courier whose order still runs.
    assert_eq!(app.delete("/orders/OD-2").await, 200);
    assert_eq!(
        app.caller_connect("callback-2", DRIVER).await,
        "+919000000001"
    );
    assert_eq!(app.delete("/orders/OD-1").await, 200);
    assert_eq!(
        app.caller_connect("callback-3", DRIVER).await,
        "",
        "no route outlives its order"
    );
}

#[tokio::test]
async fn a_callback_outside_the_window_reaches_no_one() {
    let app =
        spawn_app_with(|s| s.calls.callback_window = std::time::Duration::from_secs(3600)).await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("courier");
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, CUSTOMER_E164);
    assert_eq!(app.caller_connect("within", DRIVER).await, "+917709562799");
    app.sql("update calls set bridged_at = bridged_at - 7200000")
        .await;
    assert_eq!(app.caller_connect("outside", DRIVER).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_allocations_racing_for_the_last_number_do_not_both_win() {
    let app = spawn_app().await;
    app.add_number("07314853246", false).await;
    // Ten requests at once, all with the rider: only one can hold the only number.
    let requests: Vec<_> = (0..10)
        .map(|i| {
            let request = app
                .client
                .post(app.api("/bookings"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"party_a": RIDER, "party_b": format!("0981234560{i}")}));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
    let (_, pool) = app.get_json("/virtual-numbers").await;
    assert_eq!(pool["virtual_numbers"][0]["active_bookings"], 1);
}

#[tokio::test]
async fn the_pool_and_bookings_apis_refuse_bad_input() {
    let app = spawn_app().await;
    let dup = app.add_number("07314853246", false).await;
    assert_eq!(dup.status(), 201);
    let dup = app.add_number("+917314853246", false).await;
    assert_eq!(dup.status(), 409);
    assert_eq!(
        dup.json::<Value>().await.unwrap()["error"]["code"],
        "virtual_number_exists"
    );
    for (body, code) in [
        (
            json!({"number": "x", "provider": "exotel"}),
            "invalid_virtual_number",
        ),
        (
            json!({"number": "08088919888", "provider": "skype"}),
            "invalid_provider",
        ),
        (json!({"number": "08088919888"}), "invalid_body"),
    ] {
        let r = app
            .client
            .post(app.api("/virtual-numbers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            code,
            "{body}"
        );
    }
    for (body, code) in [
        (json!({"party_a": RIDER, "party_b": RIDER}), "invalid_party"),
        (json!({"party_a": "12", "party_b": DRIVER}), "invalid_party"),
        (
            json!({"party_a": RIDER, "party_b": DRIVER, "ttl_seconds": 0}),
            "invalid_expiry",
        ),
        (
            json!({"party_a": RIDER, "party_b": DRIVER, "ttl_seconds": 60, "expires_at": "2099-01-01T00:00:00Z"}),
            "invalid_expiry",
        ),
        (
            json!({"party_a": RIDER, "party_b": DRIVER, "expires_at": "2001-01-01T00:00:00Z"}),
            "invalid_expiry",
        ),
        (
            json!({"party_a": RIDER, "party_b": DRIVER, "seats": 2}),
            "invalid_body",
        ),
    ] {
        let r = app.post_booking(body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            code,
            "{body}"
        );
    }
    let anonymous = app
        .client
        .get(app.api("/virtual-numbers"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(app.delete("/virtual-numbers/08088919888").await, 404);
    let (status, _) = app.get_json("/bookings/bk_nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_active_booking_can_move_its_expiry_and_an_ended_one_can_not() {
    let app = spawn_app().await;
    app.add_number("07314853246", false).await;
    let booking = app.book(RIDER, DRIVER).await;
    let path = format!("/bookings/{}", booking["booking_id"].as_str().unwrap());
    let (status, b) = app
        .patch_json(&path, &json!({"expires_at": "2099-01-01T00:00:00Z"}))
        .await;
    // More than 365 days ahead, as at creation.
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["code"], "invalid_expiry");
    let soon = pinbridge::domain::clock::rfc3339(pinbridge::domain::clock::now_ms() + 86_400_000);
    let (status, b) = app.patch_json(&path, &json!({"expires_at": soon})).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["expires_at"], soon);
    assert_eq!(b["party_a"], RIDER_E164, "left as it was");
    let (_, read) = app.get_json(&path).await;
    assert_eq!(read["expires_at"], soon, "the change is stored");

    for (body, code) in [
        (
            json!({"expires_at": "2001-01-01T00:00:00Z"}),
            "invalid_expiry",
        ),
        (json!({"expires_at": "soon"}), "invalid_expiry"),
        (
            json!({"expires_at": soon, "party_a": DRIVER}),
            "invalid_body",
        ),
        (json!({}), "invalid_body"),
    ] {
        let (status, err) = app.patch_json(&path, &body).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"]["code"], code, "{body}: {err}");
    }
    let (status, _) = app
        .patch_json("/bookings/bk_nope", &json!({"expires_at": soon}))
        .await;
    assert_eq!(status, 404);

    // Shortened into the past by the clock: the parties stop reaching each other, and the
    // booking can not be brought back.
    app.sql(format!(
        "update bookings set expires_at = {} where booking_id = '{}'",
        a_minute_ago_ms(),
        booking["booking_id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(app.caller_connect("after-expiry", RIDER).await, "");
    let (status, err) = app.patch_json(&path, &json!({"expires_at": soon})).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "booking_not_active");
    assert_eq!(app.caller_connect("still-expired", RIDER).await, "");
    assert_eq!(app.delete(&path).await, 200);
    let (status, _) = app.patch_json(&path, &json!({"expires_at": soon})).await;
    assert_eq!(status, 409, "a closed booking stays closed");
}

/// Every page of `path` (a list answering `key` and `next`), following the cursor: the ids
/// (`id`) in the order given.
async fn all_pages(app: &TestApp, path: &str, key: &str, id: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, body) = app
            .get_json(&format!("{path}{separator}limit=2&cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{body}");
        let items = body[key].as_array().unwrap();
        assert!(items.len() <= 2, "{body}");
        seen.extend(items.iter().map(|b| b[id].as_str().unwrap().to_owned()));
        match body["next"].as_str() {
            Some(next) => cursor = next.replace('+', "%2B"),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn bookings_are_listed_newest_first_a_page_at_a_time_by_status_number_and_party() {
    let app = spawn_app().await;
    app.add_number("07314853246", false).await;
    app.add_number("08088919888", false).await;
    let mut ids = Vec::new();
    for (a, b) in [
        (RIDER, DRIVER),
        ("09988776655", "09123456789"),
        ("09988776656", "09123456780"),
        ("09988776657", DRIVER),
        ("09988776658", "09123456781"),
    ] {
        let booking = app.book(a, b).await;
        ids.push(booking["booking_id"].as_str().unwrap().to_owned());
        // Each its own creation time, so that newest first is one order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    assert_eq!(app.delete(&format!("/bookings/{}", ids[1])).await, 200);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(
        all_pages(&app, "/bookings", "bookings", "booking_id").await,
        newest_first
    );
    let (_, closed) = app.get_json("/bookings?status=closed").await;
    assert_eq!(closed["bookings"].as_array().unwrap().len(), 1);
    assert_eq!(closed["bookings"][0]["booking_id"], ids[1].as_str());
    let (_, active) = app.get_json("/bookings?status=active").await;
    assert_eq!(active["bookings"].as_array().unwrap().len(), 4);
    let (_, expired) = app.get_json("/bookings?status=expired").await;
    assert!(expired["bookings"].as_array().unwrap().is_empty());
    // The driver is party b of one booking and of another: either side counts.
    let (_, driver) = app
        .get_json(&format!("/bookings?party_number={DRIVER}"))
        .await;
    let with_driver: Vec<&str> = driver["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["booking_id"].as_str().unwrap())
        .collect();
    assert_eq!(with_driver, [ids[3].as_str(), ids[0].as_str()]);
    let (_, on_first) = app.get_json("/bookings?virtual_number=07314853246").await;
    let on_first = on_first["bookings"].as_array().unwrap();
    assert!(!on_first.is_empty() && on_first.len() < 5);
    assert!(
        on_first
            .iter()
            .all(|b| b["virtual_number"] == "+917314853246")
    );

    for (query, code) in [
        ("status=open", "invalid_status"),
        ("virtual_number=x", "invalid_number"),
        ("party_number=x", "invalid_number"),
        ("limit=0", "invalid_limit"),
        ("cursor=nope", "invalid_cursor"),
        ("colour=red", "invalid_query"),
    ] {
        let (status, body) = app.get_json(&format!("/bookings?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        if code != "invalid_query" {
            assert_eq!(body["error"]["code"], code, "{query}: {body}");
        }
    }
    let (_, body) = app.get_json("/bookings?status=open").await;
    assert_eq!(
        body["error"]["message"], "status: one of active, pending, expired, closed",
        "names the field and the values it takes"
    );
}

#[tokio::test]
async fn the_pool_is_listed_newest_first_a_page_at_a_time_by_status_and_provider() {
    let app = spawn_app().await;
    let numbers = [
        "+917314853246",
        "+918088919888",
        "+912249757100",
        "+917314850001",
        "+917314850002",
    ];
    for n in numbers {
        assert_eq!(app.add_number(n, false).await.status(), 201);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let r = app
        .client
        .post(app.api("/virtual-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"number": "+917314850003", "provider": "twilio"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(app.delete("/virtual-numbers/%2B918088919888").await, 200);

    let mut newest_first: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
    newest_first.push("+917314850003".into());
    newest_first.reverse();
    assert_eq!(
        all_pages(&app, "/virtual-numbers", "virtual_numbers", "number").await,
        newest_first
    );
    let (_, drained) = app.get_json("/virtual-numbers?status=drained").await;
    assert_eq!(drained["virtual_numbers"].as_array().unwrap().len(), 1);
    assert_eq!(drained["virtual_numbers"][0]["number"], "+918088919888");
    let (_, active) = app.get_json("/virtual-numbers?status=active").await;
    assert_eq!(active["virtual_numbers"].as_array().unwrap().len(), 5);
    let (_, twilio) = app.get_json("/virtual-numbers?provider=twilio").await;
    assert_eq!(twilio["virtual_numbers"].as_array().unwrap().len(), 1);
    assert!(twilio["next"].is_null());
    for (query, code) in [
        ("status=lost", "invalid_status"),
        ("provider=skype", "invalid_provider"),
        ("limit=501", "invalid_limit"),
        ("cursor=12", "invalid_cursor"),
    ] {
        let (status, body) = app.get_json(&format!("/virtual-numbers?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
    let (_, body) = app.get_json("/virtual-numbers?provider=skype").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("provider: one of exotel, twilio, plivo, 8x8, vonage"),
        "{message}"
    );
}
