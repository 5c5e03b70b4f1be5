//! Allocation by geography, memory and cool-off, and the pool in view: through the admin API,
//! `/metrics`, the dashboard and the event webhooks, as an integrator with Indian and US
//! numbers across two providers sees them.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{TestApp, spawn_app_with};
use crate::helpers::{admin_get, admin_sign_in};

const RIDER: &str = "+917709562799";
const DRIVER: &str = "+919812345678";
const OTHER_DRIVER: &str = "+919988776655";
const US_RIDER: &str = "+12015550123";
const US_DRIVER: &str = "+12015550199";
/// Indian numbers of the pool, in number order.
const IN_1: &str = "+917314850001";
const IN_2: &str = "+917314850002";
/// A US number of the pool: first in number order, so only the country rule keeps it from
/// Indian bookings.
const US_1: &str = "+12015550124";

/// An app whose parties may be Indian, US or British numbers.
async fn app_with(change: impl FnOnce(&mut pinbridge::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.orders.allowed_country_codes = vec![91, 1, 44];
        change(s);
    })
    .await
}

async fn add(app: &TestApp, body: Value) -> Value {
    let r = app.post_api("/virtual-numbers", &body).await;
    assert_eq!(r.status(), 201, "{body}");
    r.json().await.unwrap()
}

/// Books `a` and `b` with the extra fields of `more`: (status, body).
async fn book(app: &TestApp, a: &str, b: &str, more: Value) -> (u16, Value) {
    let mut body = json!({"party_a": a, "party_b": b, "ttl_seconds": 3600});
    for (k, v) in more.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post_api("/bookings", &body).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn close(app: &TestApp, booking: &Value) {
    let id = booking["booking_id"].as_str().unwrap();
    assert_eq!(app.delete_json(&format!("/bookings/{id}")).await.0, 200);
}

#[tokio::test]
async fn a_booking_gets_a_number_of_its_parties_country_unless_it_names_one() {
    let app = app_with(|_| {}).await;
    let us = add(
        &app,
        json!({"number": US_1, "provider": "twilio", "region": "NJ"}),
    )
    .await;
    assert_eq!(us["country"], "US");
    assert_eq!(us["region"], "NJ");
    let india = add(&app, json!({"number": IN_1, "provider": "exotel"})).await;
    assert_eq!(india["country"], "IN");
    assert_eq!(india["region"], Value::Null);

    let (status, b) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(
        b["virtual_number"], IN_1,
        "an Indian booking gets an Indian number"
    );
    let (status, b) = book(&app, US_RIDER, US_DRIVER, json!({})).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["virtual_number"], US_1);
    // Named: the Indian parties get the US number.
    let (status, b) = book(&app, RIDER, OTHER_DRIVER, json!({"country": "us"})).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["virtual_number"], US_1);
    // No Indian number is free for the rider and the driver: refused, not given a US one.
    let (status, b) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(b["error"]["code"], "pool_exhausted");

    let (status, b) = book(&app, RIDER, DRIVER, json!({"country": "XX"})).await;
    assert_eq!(status, 400);
    assert_eq!(b["error"]["code"], "invalid_country");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("country"),
        "{b}"
    );
    let r = app
        .post_api(
            "/virtual-numbers",
            &json!({"number": IN_2, "provider": "exotel", "region": "x".repeat(65)}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "invalid_region");
}

#[tokio::test]
async fn the_same_parties_booked_again_within_the_cool_off_get_another_number() {
    let app = app_with(|_| {}).await;
    for n in [IN_1, IN_2] {
        add(&app, json!({"number": n, "provider": "exotel"})).await;
    }
    let (_, first) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(first["virtual_number"], IN_1);
    close(&app, &first).await;
    // IN_1 is the number they know and the least loaded: the cool-off alone keeps it.
    let (status, second) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["virtual_number"], IN_2);
    close(&app, &second).await;
    let (status, third) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(
        status, 409,
        "both numbers are cooling off for them: {third}"
    );
    assert_eq!(third["error"]["code"], "pool_exhausted");
    // Another driver is not the same two parties: the rider keeps the number it knows.
    let (status, other) = book(&app, RIDER, OTHER_DRIVER, json!({})).await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(other["virtual_number"], IN_1);
}

#[tokio::test]
async fn without_a_cool_off_the_same_parties_get_the_number_they_know_again() {
    let app = app_with(|s| s.allocation.cool_off = Duration::ZERO).await;
    for n in [IN_1, IN_2] {
        add(&app, json!({"number": n, "provider": "exotel"})).await;
    }
    let (_, first) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(first["virtual_number"], IN_1);
    close(&app, &first).await;
    // Another pair takes IN_1 by name: IN_2 is now the least loaded, IN_1 the known one.
    let (status, named) = book(
        &app,
        "+919123456789",
        "+919000012345",
        json!({"virtual_number": IN_1}),
    )
    .await;
    assert_eq!(status, 201, "{named}");
    let (status, again) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["virtual_number"], IN_1, "sticky before least loaded");
    // A party that knows no number gets the least loaded one.
    let (_, fresh) = book(&app, "+919811111111", "+919822222222", json!({})).await;
    assert_eq!(fresh["virtual_number"], IN_2);
}

/// The value of the series `name{labels}` in a `/metrics` page, if shown.
fn series(page: &str, name: &str, labels: &str) -> Option<f64> {
    let head = format!("{name}{{{labels}}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&head))
        .map(|v| v.trim().parse().unwrap())
}

async fn scrape(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_and_the_dashboard_show_the_pool_by_country_and_provider() {
    let app = app_with(|_| {}).await;
    // Great Britain and Vonage: no other test refuses there, so the process-wide counter
    // moves for this test alone.
    for n in ["+442079460001", "+442079460002"] {
        let v = add(&app, json!({"number": n, "provider": "vonage"})).await;
        assert_eq!(v["country"], "GB");
    }
    add(&app, json!({"number": IN_1, "provider": "exotel"})).await;
    let labels = r#"country="GB",provider="vonage""#;
    let refused = "pinbridge_pool_allocations_refused_total";
    let before = series(&scrape(&app).await, refused, labels).expect("shown from the start");

    // A British rider booked with two drivers holds both British numbers.
    let rider = "+447400123451";
    for driver in ["+447400123452", "+447400123453"] {
        let (status, b) = book(&app, rider, driver, json!({"provider": "vonage"})).await;
        assert_eq!(status, 201, "{b}");
    }
    let (status, b) = book(&app, rider, "+447400123454", json!({"provider": "vonage"})).await;
    assert_eq!(status, 409, "{b}");
    assert_eq!(b["error"]["code"], "pool_exhausted");

    let page = scrape(&app).await;
    assert_eq!(series(&page, "pinbridge_pool_numbers", labels), Some(2.0));
    assert_eq!(
        series(&page, "pinbridge_pool_healthy_numbers", labels),
        Some(2.0)
    );
    assert_eq!(
        series(&page, "pinbridge_pool_allocatable_numbers", labels),
        Some(2.0)
    );
    assert_eq!(
        series(&page, "pinbridge_pool_busiest_party_load", labels),
        Some(2.0)
    );
    assert_eq!(series(&page, "pinbridge_pool_headroom", labels), Some(0.0));
    assert_eq!(series(&page, refused, labels), Some(before + 1.0));
    let india = r#"country="IN",provider="exotel""#;
    assert_eq!(series(&page, "pinbridge_pool_numbers", india), Some(1.0));
    assert_eq!(
        series(&page, "pinbridge_pool_busiest_party_load", india),
        Some(0.0)
    );
    assert_eq!(series(&page, "pinbridge_pool_headroom", india), Some(1.0));
    assert!(
        !page.contains("7400123451"),
        "no party's number in /metrics"
    );

    let cookie = admin_sign_in(&app).await;
    let (status, html) = admin_get(&app, &cookie, "/admin/dashboard").await;
    assert_eq!(status, 200);
    let table = html
        .split(r#"<table id="pool" class="cards">"#)
        .nth(1)
        .expect("the pool table");
    let table = table.split("</table>").next().unwrap();
    // Each row's cells, as text, in column order.
    let rows: Vec<Vec<String>> = table
        .split("<tr>")
        .skip(2)
        .map(|row| {
            row.split("<td data-label=")
                .skip(1)
                .map(|cell| {
                    let text = cell.split_once('>').unwrap().1;
                    text.split("</td>").next().unwrap().trim().to_owned()
                })
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            ["GB", "vonage", "2", "2", "2", "2 of 2", "0 (low)", "1"],
            ["IN", "exotel", "1", "1", "1", "0 of 1", "1", "0"],
        ],
        "{table}"
    );
    assert!(
        html.contains("Bookings were refused for want of a number: <strong>1</strong>"),
        "the refusal is an alert"
    );
}

#[tokio::test]
async fn a_short_pool_and_a_refusal_are_sent_as_events_without_a_phone_number() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/pinbridge"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let url = format!("{}/hooks/pinbridge", server.uri());
    let app = app_with(|s| {
        s.outbound.events.url = Some(url);
        s.outbound.events.allow_http_loopback = true;
        s.outbound.events.secret = Some("test-events-secret-0123456789".into());
    })
    .await;
    add(&app, json!({"number": IN_1, "provider": "exotel"})).await;
    // Holding the only number, the rider has no headroom left: under the default alert of 1.
    let (status, b) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(status, 201, "{b}");
    let (status, b) = book(&app, RIDER, OTHER_DRIVER, json!({})).await;
    assert_eq!(status, 409, "{b}");

    let mut bodies = Vec::new();
    for _ in 0..300 {
        bodies = server.received_requests().await.unwrap_or_default();
        if bodies.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut events: Vec<Value> = bodies
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    events.sort_by_key(|e| e["type"].as_str().unwrap().to_owned());
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["pool.allocation_refused", "pool.headroom_low"]);
    let low = &events[1]["data"];
    assert_eq!(low["country"], "IN");
    assert_eq!(low["provider"], "exotel");
    assert_eq!(low["allocatable_numbers"], 1);
    assert_eq!(low["busiest_party_load"], 1);
    assert_eq!(low["headroom"], 0);
    assert_eq!(low["threshold"], 1);
    let refused = &events[0]["data"];
    assert_eq!(refused["country"], "IN");
    assert_eq!(refused["provider"], "any");
    assert_eq!(refused["headroom"], 0);
    for r in &bodies {
        let text = String::from_utf8_lossy(&r.body);
        for number in ["7709562799", "9812345678", "9988776655", "7314850001"] {
            assert!(
                !text.contains(number),
                "no phone number in an event: {text}"
            );
        }
    }
}

#[tokio::test]
async fn numbers_stored_before_countries_existed_get_theirs_at_the_next_start() {
    let app = app_with(|_| {}).await;
    add(&app, json!({"number": IN_1, "provider": "exotel"})).await;
    add(&app, json!({"number": US_1, "provider": "twilio"})).await;
    // As a database migrated from before 0018 holds them.
    app.sql("update virtual_numbers set country = null").await;
    let (_, v) = app.get_json("/virtual-numbers/%2B917314850001").await;
    assert_eq!(v["country"], Value::Null);

    let app = app.restart().await;
    let (_, v) = app.get_json("/virtual-numbers/%2B917314850001").await;
    assert_eq!(v["country"], "IN");
    let (_, v) = app.get_json("/virtual-numbers/%2B12015550124").await;
    assert_eq!(v["country"], "US");
    let (status, b) = book(&app, RIDER, DRIVER, json!({})).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["virtual_number"], IN_1);
}
