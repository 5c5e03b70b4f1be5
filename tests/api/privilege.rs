//! Least privilege: an admin token without `:pii` (and a UI session signed in with one) sees
//! neither phone numbers nor PINs, and can not search by them, in the JSON API or the web UI.

use pinbridge::config::AdminToken;
use reqwest::Response;
use serde_json::{Value, json};

use crate::common::{
    CUSTOMER, CUSTOMER_E164, Call, TestApp, VIRTUAL_NUMBER, admin_csrf, spawn_app_with,
};
use crate::helpers::{admin_get, admin_post, admin_sign_in_with};

/// May see personal data.
const OPS: &str = "ops-token-0123456789";
/// May not.
const DASHBOARD: &str = "dash-token-0123456789";
const PIN: &str = "4821";
/// The caller of [`Call::new`], and a booking's party A.
const COURIER: &str = "07709562799";
const COURIER_E164: &str = "+917709562799";

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.access.admin_tokens = vec![
            AdminToken::new("ops", OPS, true),
            AdminToken::new("dashboard", DASHBOARD, false),
        ];
    })
    .await
}

async fn send(app: &TestApp, token: &str, method: reqwest::Method, path: &str) -> Response {
    app.client
        .request(method, app.api(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// An answer's status and its body as text (every field, however nested).
async fn status_and_text(r: Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Asserts that `text` holds neither the PIN nor a full number of the test's parties.
fn assert_no_personal_data(what: &str, text: &str) {
    for secret in [PIN, CUSTOMER_E164, "9812345678", COURIER_E164, "7709562799"] {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

/// An order created by the token that may see personal data, a call that keyed its PIN and
/// was bridged, and a virtual number in the pool for bookings.
async fn with_order_call_and_pool(app: &TestApp) {
    let r = app
        .client
        .post(app.api("/orders"))
        .bearer_auth(OPS)
        .json(
            &json!({"order_id": "OD-1", "customer_number": CUSTOMER, "pin": PIN,
            "virtual_number": VIRTUAL_NUMBER}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let call = Call::new("priv-call");
    assert_eq!(app.check_pin(&call, PIN).await, 200);
    assert_eq!(app.connect(&call).await, CUSTOMER_E164);
    let r = app
        .client
        .post(app.api("/virtual-numbers"))
        .bearer_auth(OPS)
        .json(&json!({"number": "+917314850009", "provider": "exotel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn a_token_without_pii_sees_no_pin_or_number_in_any_answer() {
    let app = app().await;
    with_order_call_and_pool(&app).await;

    // The token with `:pii` sees them, so the checks below can tell a masked answer.
    let (status, full) =
        status_and_text(send(&app, OPS, reqwest::Method::GET, "/orders/OD-1").await).await;
    assert_eq!(status, 200);
    let full: Value = serde_json::from_str(&full).unwrap();
    assert_eq!(full["pin"], PIN);
    assert_eq!(full["customer_number"], CUSTOMER_E164);

    let created = app
        .client
        .post(app.api("/orders"))
        .bearer_auth(DASHBOARD)
        .json(&json!({"order_id": "OD-2", "customer_number": CUSTOMER,
            "virtual_number": VIRTUAL_NUMBER}))
        .send()
        .await
        .unwrap();
    let (status, text) = status_and_text(created).await;
    assert_eq!(status, 201);
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["pin"], "******");
    assert_eq!(created["customer_number"], "+91******5678");
    let generated = app
        .client
        .post(app.api("/orders"))
        .bearer_auth(DASHBOARD)
        .json(&json!({"order_id": "OD-3", "customer_number": CUSTOMER,
            "virtual_number": VIRTUAL_NUMBER}))
        .send()
        .await
        .unwrap();
    let generated: Value = generated.json().await.unwrap();
    assert_eq!(
        generated["pin"], "******",
        "a generated PIN, whatever its length"
    );

    let booking = app
        .client
        .post(app.api("/bookings"))
        .bearer_auth(DASHBOARD)
        .json(&json!({"party_a": COURIER, "party_b": CUSTOMER}))
        .send()
        .await
        .unwrap();
    let (status, text) = status_and_text(booking).await;
    assert_eq!(status, 201, "{text}");
    assert_no_personal_data("booking create", &text);
    let booking_id = serde_json::from_str::<Value>(&text).unwrap()["booking_id"]
        .as_str()
        .unwrap()
        .to_owned();

    for (method, path) in [
        (reqwest::Method::GET, "/orders/OD-1".to_owned()),
        (reqwest::Method::GET, "/calls".to_owned()),
        (reqwest::Method::GET, "/calls?order_id=OD-1".to_owned()),
        (reqwest::Method::GET, format!("/bookings/{booking_id}")),
        (reqwest::Method::GET, "/virtual-numbers".to_owned()),
        (reqwest::Method::DELETE, format!("/bookings/{booking_id}")),
        (reqwest::Method::DELETE, "/orders/OD-1".to_owned()),
    ] {
        let (status, text) =
            status_and_text(send(&app, DASHBOARD, method.clone(), &path).await).await;
        assert_eq!(status, 200, "{method} {path}: {text}");
        assert_no_personal_data(&format!("{method} {path}"), &text);
    }
}

#[tokio::test]
async fn a_token_without_pii_may_not_filter_calls_by_number() {
    let app = app().await;
    with_order_call_and_pool(&app).await;

    let path = format!("/calls?number={COURIER}");
    let (status, body) = status_and_text(send(&app, OPS, reqwest::Method::GET, &path).await).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["calls"][0]["call_sid"], "priv-call", "{body}");

    // Refused whether or not the number called: the answer may not tell.
    for from in [COURIER, "%2B919000000666", "09000000666"] {
        let r = send(
            &app,
            DASHBOARD,
            reqwest::Method::GET,
            &format!("/calls?number={from}"),
        )
        .await;
        assert_eq!(r.status(), 403, "{from}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "pii_required", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("phone number") && message.contains(":pii"),
            "{message}"
        );
    }
    let r = send(
        &app,
        DASHBOARD,
        reqwest::Method::GET,
        "/calls?order_id=OD-1",
    )
    .await;
    assert_eq!(r.status(), 200, "other filters stay open");
}

#[tokio::test]
async fn a_token_without_pii_may_not_choose_a_pin_whose_refusal_would_give_it_away() {
    let app = app().await;
    with_order_call_and_pool(&app).await;
    let order = |token: &'static str, id: &str, pin: Option<&str>| {
        let mut body = json!({"order_id": id, "customer_number": CUSTOMER,
                              "virtual_number": VIRTUAL_NUMBER});
        if let Some(pin) = pin {
            body["pin"] = json!(pin);
        }
        app.client
            .post(app.api("/orders"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // The PIN in use and one that is free get the same refusal: nothing is created either way.
    for (id, pin) in [("OD-probe-1", PIN), ("OD-probe-2", "5931")] {
        let r = order(DASHBOARD, id, Some(pin)).await.unwrap();
        assert_eq!(r.status(), 403, "{pin}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "pii_required", "{body}");
    }
    let r = order(DASHBOARD, "OD-generated", None).await.unwrap();
    assert_eq!(r.status(), 201, "a generated PIN is fine");
    let r = order(OPS, "OD-chosen", Some("5931")).await.unwrap();
    assert_eq!(r.status(), 201, "a :pii token chooses");
    // The admin UI alike: the form refuses a chosen PIN, and the CSV import, for this session.
    let cookie = admin_sign_in_with(&app, DASHBOARD).await;
    let (_, page) = admin_get(&app, &cookie, "/admin/orders").await;
    let csrf = admin_csrf(&page);
    let r = admin_post(
        &app,
        &cookie,
        "/admin/orders",
        &[
            ("csrf", csrf.as_str()),
            ("order_id", "OD-ui"),
            ("customer_number", CUSTOMER),
            ("pin", PIN),
            ("virtual_number", VIRTUAL_NUMBER),
            ("expires_at", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("may not choose a PIN"), "{page}");
    assert!(!page.contains("already active"), "{page}");
}

/// The HTML of the element whose id is `id`, up to its closing `tag`; `None` when absent.
fn element<'a>(page: &'a str, tag: &str, id: &str) -> Option<&'a str> {
    let start = page.find(&format!("<{tag} id=\"{id}\""))?;
    let end = page[start..].find(&format!("</{tag}>"))?;
    Some(&page[start..start + end])
}

#[tokio::test]
async fn a_ui_session_without_pii_sees_no_pin_and_may_not_search_by_pin_or_number() {
    let app = app().await;
    with_order_call_and_pool(&app).await;
    let ops = admin_sign_in_with(&app, OPS).await;
    let dash = admin_sign_in_with(&app, DASHBOARD).await;

    // With `:pii`, the PIN shows and the search goes by PIN.
    let (status, page) = admin_get(&app, &ops, &format!("/admin/orders?q={PIN}")).await;
    assert_eq!(status, 200);
    let table = element(&page, "table", "orders").expect("the order, found by its PIN");
    assert!(table.contains("OD-1") && table.contains(PIN), "{table}");

    let (status, page) = admin_get(&app, &dash, "/admin/orders").await;
    assert_eq!(status, 200);
    let table = element(&page, "table", "orders").expect("the newest orders");
    assert!(
        table.contains("OD-1") && table.contains("******"),
        "{table}"
    );
    assert_no_personal_data("the orders page", &page);

    for q in [PIN, CUSTOMER, "%2B919812345678"] {
        let (status, page) = admin_get(&app, &dash, &format!("/admin/orders?q={q}")).await;
        assert_eq!(status, 200, "{q}");
        assert!(
            element(&page, "table", "orders").is_none(),
            "{q} found an order: {page}"
        );
        let note = element(&page, "p", "search-note").unwrap_or_else(|| panic!("{q}: {page}"));
        assert!(
            note.contains("may not search by phone number or PIN"),
            "{note}"
        );
    }
    let (_, page) = admin_get(&app, &dash, "/admin/orders?q=OD-1").await;
    let table = element(&page, "table", "orders").expect("found by its order id");
    assert!(table.contains("OD-1"), "{table}");
    assert!(element(&page, "p", "search-note").is_none());
    assert_no_personal_data("an order found by id", &page);

    let (status, page) = admin_get(&app, &dash, "/admin/calls").await;
    assert_eq!(status, 200);
    assert!(page.contains("priv-call"));
    assert_no_personal_data("the call log", &page);
    let (status, page) = admin_get(&app, &dash, &format!("/admin/calls?number={COURIER}")).await;
    assert_eq!(status, 403);
    assert!(!page.contains("priv-call"), "{page}");
    assert!(
        page.contains("may not search by phone number or PIN"),
        "{page}"
    );
    let (status, page) = admin_get(&app, &ops, &format!("/admin/calls?number={COURIER}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("priv-call"));

    let (status, page) = admin_get(&app, &dash, "/admin/calls/exotel/priv-call").await;
    assert_eq!(status, 200);
    assert!(page.contains("OD-1"), "{page}");
    assert_no_personal_data("the call page", &page);

    // A test call that keys the PIN would tell whether it is real.
    let (_, form) = admin_get(&app, &dash, "/admin/test-call").await;
    let token = admin_csrf(&form);
    let run = |caller: &'static str, digits: &'static str| {
        let (app, dash, token) = (&app, &dash, token.clone());
        async move {
            let r = admin_post(
                app,
                dash,
                "/admin/test-call",
                &[
                    ("csrf", token.as_str()),
                    ("virtual_number", VIRTUAL_NUMBER),
                    ("caller", caller),
                    ("digits", digits),
                ],
            )
            .await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    for (caller, digits) in [(COURIER, "4821#"), ("", "4821#"), (COURIER, "")] {
        let (status, page) = run(caller, digits).await;
        assert_eq!(status, 403, "{caller:?} {digits:?}");
        assert!(
            page.contains("number or key a PIN in a test call"),
            "{page}"
        );
        assert!(element(&page, "p", "dial").is_none(), "{page}");
        assert_no_personal_data("a refused test call", &page);
    }
    let (status, page) = run("", "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Welcome to Swift Couriers."), "{page}");
    assert!(
        element(&page, "p", "dial")
            .expect("the dial line")
            .contains("Would dial no one")
    );
}

#[tokio::test]
async fn the_order_list_masks_numbers_and_pins_and_filters_by_customer_for_pii_tokens_only() {
    let app = app().await;
    with_order_call_and_pool(&app).await;
    let (status, text) =
        status_and_text(send(&app, DASHBOARD, reqwest::Method::GET, "/orders").await).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("******"), "{text}");
    assert_no_personal_data("the order list", &text);
    let by_customer = format!("/orders?customer_number={CUSTOMER_E164}").replace('+', "%2B");
    let r = send(&app, DASHBOARD, reqwest::Method::GET, &by_customer).await;
    assert_eq!(r.status(), 403);
    let r = send(&app, OPS, reqwest::Method::GET, &by_customer).await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(
        page["orders"][0]["customer_number"], CUSTOMER_E164,
        "{page}"
    );
}

#[tokio::test]
async fn the_booking_list_masks_parties_and_filters_by_party_for_pii_tokens_only() {
    let app = app().await;
    with_order_call_and_pool(&app).await;
    let r = app
        .client
        .post(app.api("/bookings"))
        .bearer_auth(OPS)
        .json(&json!({"party_a": COURIER, "party_b": CUSTOMER}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (status, text) =
        status_and_text(send(&app, DASHBOARD, reqwest::Method::GET, "/bookings").await).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("******"), "{text}");
    assert_no_personal_data("the booking list", &text);
    let by_party = format!("/bookings?party_number={COURIER_E164}").replace('+', "%2B");
    let r = send(&app, DASHBOARD, reqwest::Method::GET, &by_party).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "pii_required", "{body}");
    let r = send(&app, OPS, reqwest::Method::GET, &by_party).await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["bookings"][0]["party_a"], COURIER_E164, "{page}");
}

#[tokio::test]
async fn a_ui_session_without_pii_sees_party_pins_masked_on_the_bookings_page() {
    let app = app().await;
    with_order_call_and_pool(&app).await;
    let r = app
        .client
        .post(app.api("/bookings"))
        .bearer_auth(OPS)
        .json(
            &json!({"party_a": COURIER, "party_b": "09812345679", "party_a_pin": "7305",
                      "callers": "party_a"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let ops = admin_sign_in_with(&app, OPS).await;
    let dash = admin_sign_in_with(&app, DASHBOARD).await;
    let (_, page) = admin_get(&app, &ops, "/admin/bookings").await;
    let table = element(&page, "table", "bookings").expect("the booking");
    assert!(table.contains("PIN 7305"), "{table}");
    let (_, page) = admin_get(&app, &dash, "/admin/bookings").await;
    let table = element(&page, "table", "bookings").expect("the booking");
    assert!(
        table.contains("Only A calls") && table.contains("PIN ******"),
        "{table}"
    );
    assert!(!table.contains("7305"), "{table}");
    assert_no_personal_data("the bookings page", &page);
}
