//! The health of virtual numbers: an operator's mark and Exotel's heartbeat take a number out
//! of allocation, its bookings move to another number (told to the business as events), and
//! the old number still bridges the parties for the grace period.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Call, EXOTEL_SECRET, TestApp, admin_csrf, spawn_app_with};
use crate::helpers::{a_minute_ago_ms, admin_get, admin_post, admin_sign_in, encode_seed};

/// The seed's caller-based Connect request (seed 003), to `07314853246`.
const SEED_CALLER_CONNECT: &str = "CallFrom=07709562799&CallSid=066b197844c030d6737dac19cca6157p&CallStatus=in-progress&CallTo=07314853246&CallType=call-attempt&Created=Sun, 25 Jul 2021 14:56:12&CurrentTime=2021-07-25 14:56:14&DialCallDuration=0&DialWhomNumber=&Direction=incoming&EndTime=1970-01-01 05:30:00&From=07709562799&StartTime=2021-07-25 14:56:12&To=07314853246&flow_id=383431&tenant_id=53926";

const RIDER: &str = "07709562799";
const RIDER_E164: &str = "+917709562799";
const DRIVER: &str = "09812345678";
const DRIVER_E164: &str = "+919812345678";
/// The first number of the pool in number order, and the second.
const N1: &str = "+917314853246";
const N2: &str = "+918088919888";

/// An app that posts its events to `server`, and the pool `numbers` (Exotel's).
async fn app(server: &MockServer, numbers: &[Value]) -> TestApp {
    Mock::given(method("POST"))
        .and(path("/hooks/pinbridge"))
        .respond_with(ResponseTemplate::new(200))
        .mount(server)
        .await;
    let url = format!("{}/hooks/pinbridge", server.uri());
    let app = spawn_app_with(|s| {
        s.outbound.events.url = Some(url);
        s.outbound.events.allow_http_loopback = true;
        s.outbound.events.secret = Some("test-events-secret-0123456789".into());
    })
    .await;
    for n in numbers {
        let (status, body) = app.post_json("/virtual-numbers", n).await;
        assert_eq!(status, 201, "{body}");
    }
    app
}

async fn book(app: &TestApp, body: Value) -> Value {
    let (status, b) = app.post_json("/bookings", &body).await;
    assert_eq!(status, 201, "{b}");
    b
}

/// The events of `kind` posted to `server`, once there are `n` (waits up to 15 s).
async fn events(server: &MockServer, kind: &str, n: usize) -> Vec<Value> {
    let mut found = Vec::new();
    for _ in 0..300 {
        found = server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .filter(|e| e["type"] == kind)
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} {kind} event(s), not {n}", found.len());
}

/// Who the seed's caller-based Connect from `from` to `to` (national form) dials: empty for
/// no one.
async fn dialled(app: &TestApp, sid: &str, from: &str, to: &str) -> String {
    let raw = SEED_CALLER_CONNECT
        .replace("066b197844c030d6737dac19cca6157p", sid)
        .replace("07709562799", from)
        .replace("07314853246", to);
    app.exotel_text("connect", &encode_seed(&raw)).await
}

async fn number(app: &TestApp, n: &str) -> Value {
    let (status, body) = app
        .get_json(&format!("/virtual-numbers/{}", n.replace('+', "%2B")))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn mark(app: &TestApp, n: &str, body: Value) -> Value {
    let (status, v) = app
        .patch_json(
            &format!("/virtual-numbers/{}", n.replace('+', "%2B")),
            &body,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn booking(app: &TestApp, b: &Value) -> Value {
    let (status, body) = app
        .get_json(&format!("/bookings/{}", b["booking_id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn heartbeat(app: &TestApp, body: &str) -> (u16, Value) {
    let r = app
        .client
        .post(app.exotel_url("heartbeat"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_number_marked_unhealthy_moves_its_bookings_and_bridges_them_through_the_grace() {
    let server = MockServer::start().await;
    let app = app(
        &server,
        &[
            json!({"number": N1, "provider": "exotel"}),
            json!({"number": N2, "provider": "exotel"}),
        ],
    )
    .await;
    let b = book(
        &app,
        json!({"party_a": RIDER, "party_b": DRIVER, "ttl_seconds": 7200, "party_a_pin": "4821"}),
    )
    .await;
    assert_eq!(b["virtual_number"], N1);
    assert_eq!(number(&app, N1).await["healthy"], true);

    let v = mark(
        &app,
        N1,
        json!({"healthy": false, "health_reason": "carrier outage"}),
    )
    .await;
    assert_eq!(v["healthy"], false);
    assert_eq!(v["unhealthy_reason"], "carrier outage");
    assert_eq!(v["unhealthy_by"], "operator");
    assert!(v["unhealthy_since"].is_string(), "{v}");
    assert_eq!(v["active_bookings"], 0, "its booking moved");
    assert_eq!(booking(&app, &b).await["virtual_number"], N2);

    let sent = events(&server, "booking.virtual_number_changed", 1).await;
    assert_eq!(sent.len(), 1);
    let data = &sent[0]["data"];
    assert_eq!(data["booking_id"], b["booking_id"]);
    assert_eq!(data["old_virtual_number"], N1);
    assert_eq!(data["new_virtual_number"], N2);
    assert_eq!(data["reason"], "virtual_number_unhealthy");
    assert_eq!(data["marked_by"], "operator");

    // Both parties reach each other on the new number, and the rider still on the old one.
    // (Only the rider calls the old number: the driver, dialled from it, could otherwise
    // call it back through the callback route after the grace.)
    assert_eq!(
        dialled(&app, "new-1", RIDER, "08088919888").await,
        DRIVER_E164
    );
    assert_eq!(
        dialled(&app, "new-2", DRIVER, "08088919888").await,
        RIDER_E164
    );
    assert_eq!(
        dialled(&app, "old-1", RIDER, "07314853246").await,
        DRIVER_E164
    );
    // Party A's PIN moved with the booking: keyed on the new number from another phone.
    let mut call = Call::new("pin-on-new");
    call.from = "09000000001".into();
    let query = call
        .query(Some("4821"))
        .replace("07314853246", "08088919888");
    assert_eq!(app.exotel("check-pin", &query).await.status(), 200);

    // A new booking is not given the unhealthy number.
    let other = book(
        &app,
        json!({"party_a": "09988776655", "party_b": "09123456789", "ttl_seconds": 60}),
    )
    .await;
    assert_eq!(other["virtual_number"], N2);
    let (status, e) = app
        .post_json(
            "/bookings",
            &json!({"party_a": "09988776655", "party_b": "09123456780", "virtual_number": N1}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(e["error"]["code"], "virtual_number_unhealthy");
    let healthy = app
        .metric_value(r#"pinbridge_pool_healthy_numbers{country="IN",provider="exotel"}"#)
        .await;
    assert_eq!(healthy, Some(1.0));

    // Once the grace is over, the old number reaches no one (the 1 s caller cache aside).
    app.sql(format!(
        "update bookings set previous_until = {}",
        a_minute_ago_ms()
    ))
    .await;
    let mut after = String::from("unread");
    for i in 0..40 {
        after = dialled(&app, &format!("after-{i}"), RIDER, "07314853246").await;
        if after.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after, "", "the old number bridges no one after the grace");
    assert_eq!(
        dialled(&app, "new-3", RIDER, "08088919888").await,
        DRIVER_E164
    );

    // Healthy again: allocatable, and the moved booking stays where it is.
    let v = mark(&app, N1, json!({"healthy": true})).await;
    assert_eq!(v["healthy"], true);
    assert_eq!(v["unhealthy_by"], Value::Null);
    assert_eq!(booking(&app, &b).await["virtual_number"], N2);

    let (status, e) = app
        .patch_json(
            "/virtual-numbers/%2B917314853246",
            &json!({"healthy": true, "health_reason": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "invalid_health_reason");
}

#[tokio::test]
async fn a_booking_with_no_free_number_stays_on_the_unhealthy_one_and_is_refused() {
    let server = MockServer::start().await;
    let app = app(&server, &[json!({"number": N1, "provider": "exotel"})]).await;
    let b = book(
        &app,
        json!({"party_a": RIDER, "party_b": DRIVER, "ttl_seconds": 7200}),
    )
    .await;
    let v = mark(&app, N1, json!({"healthy": false})).await;
    assert_eq!(v["healthy"], false);
    assert_eq!(v["active_bookings"], 1, "the booking had nowhere to go");
    assert_eq!(booking(&app, &b).await["virtual_number"], N1);
    let refused = events(&server, "pool.allocation_refused", 1).await;
    assert_eq!(refused[0]["data"]["country"], "IN");
    assert_eq!(refused[0]["data"]["provider"], "exotel");
    // It still bridges where it is.
    assert_eq!(
        dialled(&app, "stays", RIDER, "07314853246").await,
        DRIVER_E164
    );

    // A number added later takes it at the next mark.
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": N2, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    mark(&app, N1, json!({"healthy": false})).await;
    assert_eq!(booking(&app, &b).await["virtual_number"], N2);
}

/// A third number of the pool, after [`N2`] in number order.
const N3: &str = "+919123456780";

#[tokio::test]
async fn a_booking_moves_only_to_a_number_where_its_party_pins_name_no_one_else() {
    let server = MockServer::start().await;
    let numbers: Vec<Value> = [N1, N2, N3]
        .iter()
        .map(|n| json!({"number": n, "provider": "exotel"}))
        .collect();
    let app = app(&server, &numbers).await;
    let b = book(
        &app,
        json!({"party_a": RIDER, "party_b": DRIVER, "virtual_number": N1,
               "party_a_pin": "4821", "party_b_pin": "5930"}),
    )
    .await;
    // N2 is the least loaded, but an order there has the driver's PIN; N3 carries a booking.
    let (status, order) = app
        .post_json(
            "/orders",
            &json!({"order_id": "OD-PIN-TAKEN", "customer_number": "+919000000001",
                    "pin": "5930", "virtual_number": N2}),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    book(
        &app,
        json!({"party_a": "+919000000002", "party_b": "+919000000003", "virtual_number": N3}),
    )
    .await;
    mark(&app, N1, json!({"healthy": false})).await;
    let moved = booking(&app, &b).await;
    assert_eq!(
        moved["virtual_number"], N3,
        "one PIN would name two parties on N2"
    );
    assert_eq!(moved["party_b_pin"], "5930");
}

#[tokio::test]
async fn exotels_heartbeat_marks_and_clears_numbers_by_their_sid_and_leaves_an_operators_mark() {
    let server = MockServer::start().await;
    let app = app(
        &server,
        &[
            json!({"number": N1, "provider": "exotel", "exotel_sid": "sid-one"}),
            json!({"number": N2, "provider": "exotel"}),
        ],
    )
    .await;
    assert_eq!(number(&app, N1).await["exotel_sid"], "sid-one");
    let v = mark(&app, N2, json!({"exotel_sid": "sid-two"})).await;
    assert_eq!(v["exotel_sid"], "sid-two");
    let (status, e) = app
        .patch_json(
            "/virtual-numbers/%2B918088919888",
            &json!({"exotel_sid": "sid-one"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(e["error"]["code"], "exotel_sid_taken");
    let b = book(
        &app,
        json!({"party_a": RIDER, "party_b": DRIVER, "ttl_seconds": 7200}),
    )
    .await;
    assert_eq!(b["virtual_number"], N1);

    // Incoming calls of sid-one affected (a SID of no number is ignored, and counted).
    let unknown = "pinbridge_exotel_heartbeat_unknown_sids_total";
    let before = app.metric_value(unknown).await.unwrap_or(0.0);
    let (status, body) = heartbeat(
        &app,
        r#"{"timestamp":"2026-12-07T10:00:00Z","status_type":"WARNING",
            "incoming_affected":["sid-one","sid-nobody"],"outgoing_affected":[],
            "data":{"sid-one":{"incoming_call":{"status":"major_outage"}}}}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(app.metric_value(unknown).await.unwrap_or(0.0) >= before + 1.0);
    let v = number(&app, N1).await;
    assert_eq!(v["healthy"], false);
    assert_eq!(v["unhealthy_by"], "heartbeat");
    assert_eq!(booking(&app, &b).await["virtual_number"], N2);
    let sent = events(&server, "booking.virtual_number_changed", 1).await;
    assert_eq!(sent[0]["data"]["marked_by"], "heartbeat");

    // A heartbeat cut short (PAYLOAD_TOO_LARGE) says nothing of the numbers it leaves out.
    let (status, _) = heartbeat(&app, r#"{"status_type":"PAYLOAD_TOO_LARGE"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(number(&app, N1).await["healthy"], false);
    // All well: the heartbeat's mark is cleared.
    let (status, _) = heartbeat(
        &app,
        r#"{"timestamp":"2026-12-07T10:05:00Z","status_type":"OK","incoming_affected":[],"outgoing_affected":[],"data":{}}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(number(&app, N1).await["healthy"], true);

    // An operator's mark is not the heartbeat's to clear.
    mark(
        &app,
        N2,
        json!({"healthy": false, "health_reason": "porting"}),
    )
    .await;
    assert_eq!(booking(&app, &b).await["virtual_number"], N1, "moved back");
    heartbeat(&app, r#"{"status_type":"OK"}"#).await;
    let v = number(&app, N2).await;
    assert_eq!(v["healthy"], false);
    assert_eq!(v["unhealthy_by"], "operator");
    assert_eq!(v["unhealthy_reason"], "porting");

    // A body that is not a heartbeat, and a wrong secret.
    let (status, e) = heartbeat(&app, "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "invalid_body");
    let (status, _) = heartbeat(&app, r#"{"incoming_affected":[]}"#).await;
    assert_eq!(status, 400, "status_type is required");
    let r = app
        .client
        .post(
            app.exotel_url("heartbeat")
                .replace(EXOTEL_SECRET, "wrong-secret-0123456789abcd"),
        )
        .body(r#"{"status_type":"OK"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_pool_page_marks_a_number_unhealthy_and_healthy_with_its_csrf_token() {
    let server = MockServer::start().await;
    let app = app(
        &server,
        &[
            json!({"number": N1, "provider": "exotel"}),
            json!({"number": N2, "provider": "exotel"}),
        ],
    )
    .await;
    let b = book(
        &app,
        json!({"party_a": RIDER, "party_b": DRIVER, "ttl_seconds": 7200}),
    )
    .await;
    let cookie = admin_sign_in(&app).await;
    let (status, page) = admin_get(&app, &cookie, "/admin/bookings").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Mark +917314853246 unhealthy"),
        "the button is there"
    );
    let token = admin_csrf(&page);
    let path = "/admin/numbers/%2B917314853246/health";

    let r = admin_post(
        &app,
        &cookie,
        path,
        &[("csrf", "forged"), ("healthy", "false")],
    )
    .await;
    assert_eq!(r.status(), 403, "a forged token is refused");
    assert_eq!(number(&app, N1).await["healthy"], true);

    let r = admin_post(
        &app,
        &cookie,
        path,
        &[("csrf", &token), ("healthy", "false")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(number(&app, N1).await["healthy"], false);
    assert_eq!(booking(&app, &b).await["virtual_number"], N2);
    let (_, page) = admin_get(&app, &cookie, "/admin/bookings").await;
    assert!(page.contains("unhealthy (operator"), "the status says so");
    assert!(page.contains("Mark +917314853246 healthy"));

    let r = admin_post(
        &app,
        &cookie,
        path,
        &[("csrf", &token), ("healthy", "maybe")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = admin_post(
        &app,
        &cookie,
        path,
        &[("csrf", &token), ("healthy", "true")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(number(&app, N1).await["healthy"], true);
}

#[tokio::test]
async fn moves_racing_new_bookings_never_give_a_party_one_number_twice() {
    let server = MockServer::start().await;
    let app = app(
        &server,
        &[
            json!({"number": N1, "provider": "exotel"}),
            json!({"number": N2, "provider": "exotel"}),
            json!({"number": "+912249757100", "provider": "exotel"}),
        ],
    )
    .await;
    let people = [
        "09812345670",
        "09812345671",
        "09812345672",
        "09812345673",
        "09812345674",
    ];
    // Neighbours booked first, so that some bookings are on N1 when it is marked.
    for pair in people.windows(2) {
        book(
            &app,
            json!({"party_a": pair[0], "party_b": pair[1], "ttl_seconds": 3600}),
        )
        .await;
    }
    // Mark N1 unhealthy while more bookings of the same parties are made.
    let app = &app;
    let pairs: Vec<(&str, &str)> = people
        .iter()
        .enumerate()
        .flat_map(|(i, a)| people[i + 1..].iter().map(move |b| (*a, *b)))
        .collect();
    let creates = pairs.iter().map(|(a, b)| async move {
        app.post_json(
            "/bookings",
            &json!({"party_a": a, "party_b": b, "ttl_seconds": 3600}),
        )
        .await
        .0
    });
    let (statuses, marked) = tokio::join!(
        futures_util::future::join_all(creates),
        mark(app, N1, json!({"healthy": false}))
    );
    assert_eq!(marked["healthy"], false);
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let (status, list) = app.get_json("/bookings?status=active&limit=500").await;
    assert_eq!(status, 200);
    let active = list["bookings"].as_array().unwrap();
    let mut held = std::collections::HashSet::new();
    for b in active {
        for party in ["party_a", "party_b"] {
            let key = (
                b[party].as_str().unwrap().to_owned(),
                b["virtual_number"].as_str().unwrap().to_owned(),
            );
            assert!(held.insert(key.clone()), "{key:?} twice");
        }
    }
    assert!(active.len() >= people.len() - 1, "{} active", active.len());
}
