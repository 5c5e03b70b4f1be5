//! The admin web UI's pages: orders, bookings, the call log, one call's steps, the dashboard.

use reqwest::header::LOCATION;

use crate::common::{CUSTOMER, CUSTOMER_E164, Call, TestApp, admin_csrf as csrf, spawn_app};
use crate::helpers::{admin_get as get, admin_post as post, admin_sign_in as sign_in};

/// The HTML of the element whose id is `id`, up to its closing `tag`.
fn element<'a>(page: &'a str, tag: &str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<{tag} id=\"{id}\""))
        .unwrap_or_else(|| panic!("no <{tag} id={id}> in {page}"));
    let end = page[start..].find(&format!("</{tag}>")).unwrap();
    &page[start..start + end]
}

/// The text of each cell of each body row of `table` (an element as [`element`] returns it).
fn table_rows(table: &str) -> Vec<Vec<&str>> {
    let body = &table[table.find("<tbody>").expect("a <tbody>")..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..];
                    text[..text.find("</td>").unwrap()].trim()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn every_page_sends_a_stranger_to_sign_in() {
    let app = spawn_app().await;
    for path in [
        "/admin",
        "/admin/dashboard",
        "/admin/orders",
        "/admin/orders?q=OD-1",
        "/admin/bookings",
        "/admin/calls",
        "/admin/calls/exotel/abc",
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()[LOCATION], "/admin/login", "{path}");
    }
    let r = app
        .client
        .post(format!("{}/admin/orders", app.address))
        .form(&[("order_id", "OD-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn an_order_created_through_the_form_is_found_by_id_pin_and_number() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (status, page) = get(&app, &cookie, "/admin/orders").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Orders"));
    let token = csrf(&page);
    let r = post(
        &app,
        &cookie,
        "/admin/orders",
        &[
            ("csrf", token.as_str()),
            ("order_id", "OD-FORM-1"),
            ("customer_number", CUSTOMER),
            ("pin", "7391"),
            ("virtual_number", "07314853246"),
            ("expires_at", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()[LOCATION],
        "/admin/orders?q=OD-FORM-1&done=created"
    );

    for q in ["OD-FORM-1", "7391", "09812345678", "%2B919812345678"] {
        let (status, page) = get(&app, &cookie, &format!("/admin/orders?q={q}")).await;
        assert_eq!(status, 200, "{q}");
        let table = element(&page, "table", "orders");
        assert!(table.contains("OD-FORM-1"), "{q}: {table}");
        assert!(
            table.contains(CUSTOMER_E164),
            "{q}: the admin token sees numbers"
        );
    }
    let (_, page) = get(&app, &cookie, "/admin/orders?q=nothing-like-it").await;
    assert!(!page.contains("id=\"orders\""));

    // Deactivated through its button: the order shows so and loses the button.
    let r = post(
        &app,
        &cookie,
        "/admin/orders/OD-FORM-1/deactivate",
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, body) = app.get_json("/orders/OD-FORM-1").await;
    assert_eq!(body["status"], "deactivated");
}

#[tokio::test]
async fn a_bad_number_shows_the_error_and_stores_nothing() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = get(&app, &cookie, "/admin/orders").await;
    let token = csrf(&page);
    let r = post(
        &app,
        &cookie,
        "/admin/orders",
        &[
            ("csrf", token.as_str()),
            ("order_id", "OD-BAD"),
            ("customer_number", "12"),
            ("pin", "7391"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"customer_number-error\""), "{page}");
    assert!(
        element(&page, "div", "create-errors").contains(">Customer number</a>"),
        "the summary names the field by its label: {page}"
    );
    assert!(
        !page.contains("customer_number:"),
        "not by the API's name: {page}"
    );
    assert!(
        page.contains("value=\"OD-BAD\""),
        "the form keeps what was typed"
    );
    assert_eq!(app.get_json("/orders/OD-BAD").await.0, 404);
}

/// The `csrf` value of a form.
fn csrf_of<'a>(form: &[(&str, &'a str)]) -> Option<&'a str> {
    form.iter().find(|(k, _)| *k == "csrf").map(|(_, v)| *v)
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    for csrf in [None, Some("not-the-token")] {
        let mut form = vec![
            ("order_id", "OD-CSRF"),
            ("customer_number", CUSTOMER),
            ("pin", "7391"),
        ];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let r = post(&app, &cookie, "/admin/orders", &form).await;
        assert_eq!(r.status(), 403);
        // Shown again as typed, with the session's token, to be sent again.
        let page = r.text().await.unwrap();
        assert!(
            element(&page, "div", "create-expired").contains("submit it again"),
            "{page}"
        );
        assert!(page.contains("value=\"OD-CSRF\""), "{page}");
        let fresh = crate::common::admin_csrf(&page);
        assert!(!fresh.is_empty() && Some(fresh.as_str()) != csrf_of(&form));
    }
    assert_eq!(app.get_json("/orders/OD-CSRF").await.0, 404);
    app.create_order("OD-KEEP", "4821").await;
    let r = post(&app, &cookie, "/admin/orders/OD-KEEP/deactivate", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.get_json("/orders/OD-KEEP").await.1["status"], "active");
    let r = post(
        &app,
        &cookie,
        "/admin/numbers",
        &[("vn_number", "07314853246"), ("vn_provider", "exotel")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let (_, pool) = app.get_json("/virtual-numbers").await;
    assert_eq!(pool["virtual_numbers"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_csv_import_with_a_bad_row_imports_nothing_and_names_the_line() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = get(&app, &cookie, "/admin/orders").await;
    let token = csrf(&page);
    let bad = "order_id,customer_number,pin\nOD-C1,09812345678,4821\nOD-C2,12,4822\n";
    let r = post(
        &app,
        &cookie,
        "/admin/orders/import",
        &[("csrf", token.as_str()), ("csv_text", bad)],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(
        element(&page, "div", "import-errors").contains("line 3"),
        "{page}"
    );
    assert_eq!(app.get_json("/orders/OD-C1").await.0, 404);

    let good = "order_id,customer_number,pin\nOD-C1,09812345678,4821\nOD-C2,09812345679,4822\n";
    let r = post(
        &app,
        &cookie,
        "/admin/orders/import",
        &[("csrf", token.as_str()), ("csv_text", good)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, page) = get(&app, &cookie, r.headers()[LOCATION].to_str().unwrap()).await;
    assert!(page.contains("Imported 2 orders."));
    assert_eq!(app.get_json("/orders/OD-C2").await.0, 200);
}

/// The form as a browser sends it: `multipart/form-data` with the chosen file.
async fn upload(app: &TestApp, cookie: &str, token: &str, csv: &str) -> reqwest::Response {
    let file = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
        .file_name("orders.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.to_owned())
        .part("csv", file)
        .text("csv_text", "");
    app.client
        .post(format!("{}/admin/orders/import", app.address))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_uploaded_csv_file_is_imported_all_or_nothing() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = get(&app, &cookie, "/admin/orders").await;
    assert!(page.contains("enctype=\"multipart/form-data\""));
    let token = csrf(&page);
    let bad = "order_id,customer_number\nOD-F1,09812345678\nOD-F2,not-a-number\n";
    let r = upload(&app, &cookie, &token, bad).await;
    assert_eq!(r.status(), 400);
    assert!(element(&r.text().await.unwrap(), "div", "import-errors").contains("line 3"));
    assert_eq!(app.get_json("/orders/OD-F1").await.0, 404);

    let good = "order_id,customer_number\nOD-F1,09812345678\nOD-F2,09812345679\n";
    let r = upload(&app, &cookie, &token, good).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get_json("/orders/OD-F2").await.0, 200);

    let forged = upload(
        &app,
        &cookie,
        "not-the-token",
        "order_id,customer_number\nOD-F3,09812345678\n",
    )
    .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(app.get_json("/orders/OD-F3").await.0, 404);
}

#[tokio::test]
async fn numbers_and_bookings_are_managed_from_their_page() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (status, page) = get(&app, &cookie, "/admin/bookings").await;
    assert_eq!(status, 200);
    let token = csrf(&page);
    let r = post(
        &app,
        &cookie,
        "/admin/numbers",
        &[
            ("csrf", token.as_str()),
            ("vn_number", "07314853246"),
            ("vn_provider", "exotel"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post(
        &app,
        &cookie,
        "/admin/bookings",
        &[
            ("csrf", token.as_str()),
            ("party_a", "09812345678"),
            ("party_b", "09812345679"),
            ("reference", "ride-42"),
            ("ttl_seconds", "3600"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let numbers = element(&page, "table", "numbers");
    assert!(numbers.contains("+917314853246"));
    assert!(
        numbers.contains(r#"<td data-label="Country">IN</td>"#),
        "the number's country: {numbers}"
    );
    let bookings = element(&page, "table", "bookings");
    assert!(bookings.contains("ride-42"));
    let start = bookings.find("bk_").unwrap();
    let id: String = bookings[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();

    let r = post(
        &app,
        &cookie,
        &format!("/admin/bookings/{id}/close"),
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, body) = app.get_json(&format!("/bookings/{id}")).await;
    assert_eq!(body["status"], "closed");
    let r = post(
        &app,
        &cookie,
        "/admin/numbers/%2B917314853246/drain",
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, body) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(body["status"], "drained");

    let r = post(
        &app,
        &cookie,
        "/admin/bookings",
        &[
            ("csrf", token.as_str()),
            ("party_a", "x"),
            ("party_b", "09812345679"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_booking_and_number_forms_report_every_bad_field_and_confirmations_change_nothing() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let token = csrf(&page);
    let r = post(
        &app,
        &cookie,
        "/admin/bookings",
        &[
            ("csrf", token.as_str()),
            ("party_a", "x"),
            ("party_b", "12"),
            ("reference", "ride-9"),
            ("ttl_seconds", "soon"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    let summary = element(&page, "div", "booking-errors");
    for label in ["Party A number", "Party B number", "Lifetime in seconds"] {
        assert!(
            summary.contains(&format!(">{label}</a>")),
            "{label}: {summary}"
        );
    }
    assert!(!summary.contains("Reference"), "{summary}");
    for id in ["party_a", "party_b", "ttl_seconds"] {
        let message = element(&page, "p", &format!("{id}-error"));
        let text = &message[message.find('>').unwrap() + 1..];
        assert!(!text.contains(id), "{id}: {message}");
    }
    assert!(page.contains("value=\"ride-9\""), "what was typed is kept");

    let r = post(
        &app,
        &cookie,
        "/admin/numbers",
        &[
            ("csrf", token.as_str()),
            ("vn_number", "12"),
            ("vn_provider", "acme"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    let summary = element(&page, "div", "number-errors");
    assert!(
        summary.contains(">Number</a>") && summary.contains(">Provider</a>"),
        "{summary}"
    );

    // The question before an action is a page; only its form's POST acts.
    app.create_order("OD-ASK", "4821").await;
    let (status, page) = get(&app, &cookie, "/admin/orders/OD-ASK/deactivate").await;
    assert_eq!(status, 200);
    assert!(page.contains("Deactivate order OD-ASK?"), "{page}");
    assert!(
        page.contains("action=\"/admin/orders/OD-ASK/deactivate\""),
        "{page}"
    );
    assert_eq!(app.get_json("/orders/OD-ASK").await.1["status"], "active");
    let (status, _) = get(&app, &cookie, "/admin/orders/OD-NONE/deactivate").await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &cookie, "/admin/bookings/bk_none/close").await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &cookie, "/admin/numbers/%2B917314853246/drain").await;
    assert_eq!(status, 404);
}

/// A call that keys the PIN, is bridged and ends with `status` (Exotel's `DialCallStatus`).
async fn bridged_call(app: &TestApp, sid: &str, status: &str) {
    let call = Call::new(sid);
    app.exotel_text("greeting", &call.query(None)).await;
    app.exotel_json("gather", &call.query(None)).await;
    assert_eq!(app.check_pin(&call, "0000").await, 302);
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, CUSTOMER_E164);
    let end = call
        .query(None)
        .replace("DialCallStatus=null", &format!("DialCallStatus={status}"))
        .replace("CallType=call-attempt", "CallType=completed");
    assert_eq!(app.exotel("call-end", &end).await.status(), 200);
}

#[tokio::test]
async fn a_call_appears_in_the_log_and_its_page_lists_its_steps_in_order() {
    let app = spawn_app().await;
    app.create_order("OD-LOG", "4821").await;
    bridged_call(&app, "ui-call-1", "completed").await;
    let cookie = sign_in(&app).await;

    let (status, page) = get(&app, &cookie, "/admin/calls").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Call log"));
    let table = element(&page, "table", "calls");
    assert!(
        table.contains("href=\"/admin/calls/exotel/ui-call-1\""),
        "{table}"
    );

    let (_, page) = get(
        &app,
        &cookie,
        "/admin/calls?order_id=OD-LOG&outcome=connected&provider=exotel",
    )
    .await;
    assert!(element(&page, "table", "calls").contains("ui-call-1"));
    let (_, page) = get(&app, &cookie, "/admin/calls?order_id=OD-LOG&outcome=busy").await;
    assert!(!page.contains("ui-call-1"));
    let (_, page) = get(&app, &cookie, "/admin/calls?order_id=OD-OTHER").await;
    assert!(!page.contains("ui-call-1"));
    let (_, page) = get(
        &app,
        &cookie,
        "/admin/calls?number=07709562799&from=2000-01-01",
    )
    .await;
    assert!(page.contains("ui-call-1"));
    let (_, page) = get(&app, &cookie, "/admin/calls?until=2000-01-01").await;
    assert!(!page.contains("ui-call-1"));
    let (status, _) = get(&app, &cookie, "/admin/calls?from=yesterday").await;
    assert_eq!(status, 400);

    let (status, page) = get(&app, &cookie, "/admin/calls/exotel/ui-call-1").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Call ui-call-1"));
    assert!(element(&page, "table", "call").contains("connected"));
    let steps = element(&page, "table", "steps");
    // Each step's applet, event, decision and detail (the prompt spoken or the route
    // dialled): the wrong PIN is answered with its own prompt, and only the right one bridges.
    let rows: Vec<[&str; 4]> = table_rows(steps)
        .iter()
        .map(|cells| [cells[2], cells[3], cells[4], cells[5]])
        .collect();
    assert_eq!(
        rows,
        [
            ["greeting", "started", "greet", "prompt: welcome"],
            [
                "gather",
                "prompt_needed",
                "ask_for_pin",
                "prompt: enter_pin"
            ],
            ["check-pin", "digits", "ask_for_pin", "prompt: wrong_pin"],
            ["check-pin", "digits", "bridge", "route: pin"],
            ["connect", "dial_needed", "bridge", "route: pin"],
        ],
        "{steps}"
    );
    assert!(
        !steps.contains("4821") && !steps.contains("9812345678"),
        "no digits or numbers in steps"
    );
    let (status, _) = get(&app, &cookie, "/admin/calls/exotel/no-such-call").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_dashboard_shows_charts_and_the_connect_rate() {
    let app = spawn_app().await;
    app.create_order("OD-DASH", "4821").await;
    bridged_call(&app, "dash-1", "completed").await;
    bridged_call(&app, "dash-2", "no-answer").await;
    let cookie = sign_in(&app).await;
    for path in ["/admin", "/admin/dashboard"] {
        let (status, page) = get(&app, &cookie, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains("<title>Dashboard"));
        assert!(
            page.contains("<svg class=\"chart\" role=\"img\" aria-label=\"Calls per hour"),
            "{path}"
        );
        assert!(
            page.contains("<svg class=\"chart\" role=\"img\" aria-label=\"Calls per day"),
            "{path}"
        );
        let rate = element(&page, "p", "connect-rate");
        assert!(rate.contains("50%"), "{rate}");
        assert!(rate.contains("1 of 2"), "{rate}");
        let latency = element(&page, "p", "latency");
        assert!(latency.contains("ms"), "{latency}");
    }
}

/// The booking id in the bookings table's row holding `text`.
fn booking_id_in_row(page: &str, text: &str) -> String {
    let table = element(page, "table", "bookings");
    let row = table_rows(table)
        .into_iter()
        .find(|row| row.iter().any(|cell| cell.contains(text)))
        .unwrap_or_else(|| panic!("no row with {text}: {table}"));
    row[0].to_owned()
}

#[tokio::test]
async fn a_one_way_booking_with_party_pins_and_a_pending_one_are_created_and_completed_from_the_page()
 {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let token = csrf(&page);
    for number in ["07314853246", "08088919888"] {
        let r = post(
            &app,
            &cookie,
            "/admin/numbers",
            &[
                ("csrf", token.as_str()),
                ("vn_number", number),
                ("vn_provider", "exotel"),
            ],
        )
        .await;
        assert_eq!(r.status(), 303);
    }
    // One way, party A's PIN only, and the PIN asked of the parties' own phones too.
    let r = post(
        &app,
        &cookie,
        "/admin/bookings",
        &[
            ("csrf", token.as_str()),
            ("party_a", "09812345678"),
            ("party_b", "09812345679"),
            ("reference", "ride-one-way"),
            ("callers", "party_a"),
            ("party_pins", "1"),
            ("pin_mode", "always"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    // Waiting for party B.
    let r = post(
        &app,
        &cookie,
        "/admin/bookings",
        &[
            ("csrf", token.as_str()),
            ("party_a", "09812345670"),
            ("party_b", ""),
            ("reference", "ride-pending"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);

    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let one_way = booking_id_in_row(&page, "ride-one-way");
    let (_, api) = app.get_json(&format!("/bookings/{one_way}")).await;
    assert_eq!(api["callers"], "party_a");
    assert_eq!(api["pin_mode"], "always");
    assert_eq!(api["party_b_pin"], serde_json::Value::Null);
    let pin = api["party_a_pin"].as_str().expect("party A's PIN");
    let table = element(&page, "table", "bookings");
    let row = table_rows(table)
        .into_iter()
        .find(|r| r.contains(&"ride-one-way"))
        .unwrap();
    let calling = row[7];
    assert!(
        calling.contains("Only A calls")
            && calling.contains("PIN: always")
            && calling.contains(&format!("A&#39;s PIN {pin}"))
            && !calling.contains("B&#39;s PIN"),
        "{calling}"
    );

    let pending = booking_id_in_row(&page, "ride-pending");
    let pending_row = table_rows(table)
        .into_iter()
        .find(|r| r.contains(&"ride-pending"))
        .unwrap();
    assert_eq!(pending_row[3], "Pending");
    let form = element(&page, "select", "add_booking_id");
    assert!(
        form.contains(&pending) && !form.contains(&one_way),
        "only pending bookings are offered: {form}"
    );

    // Party B added from the form: the booking is active, bridged both ways.
    let r = post(
        &app,
        &cookie,
        "/admin/bookings/party-b",
        &[
            ("csrf", token.as_str()),
            ("add_booking_id", pending.as_str()),
            ("add_party_b", "09812345671"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, page) = get(&app, &cookie, r.headers()[LOCATION].to_str().unwrap()).await;
    assert!(page.contains("Party B added to booking"), "{page}");
    let (_, api) = app.get_json(&format!("/bookings/{pending}")).await;
    assert_eq!(api["status"], "active");
    assert_eq!(api["party_b"], "+919812345671");
    assert!(
        !page.contains("id=\"add_booking_id\""),
        "no pending booking left to complete"
    );
}

#[tokio::test]
async fn the_party_b_form_reports_a_bad_number_a_completed_booking_and_an_expired_form() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let token = csrf(&page);
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &serde_json::json!({"number": "07314853246", "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, booking) = app
        .post_json("/bookings", &serde_json::json!({"party_a": "09812345670"}))
        .await;
    let id = booking["booking_id"].as_str().unwrap();
    for (party_b, status, says) in [
        ("12", 400, "numbering plan"),
        ("09812345670", 400, "different numbers"),
    ] {
        let r = post(
            &app,
            &cookie,
            "/admin/bookings/party-b",
            &[
                ("csrf", token.as_str()),
                ("add_booking_id", id),
                ("add_party_b", party_b),
            ],
        )
        .await;
        assert_eq!(r.status(), status, "{party_b}");
        let page = r.text().await.unwrap();
        let summary = element(&page, "div", "party-b-errors");
        assert!(
            summary.contains(">Party B number</a>"),
            "{party_b}: {summary}"
        );
        let message = element(&page, "p", "add_party_b-error");
        assert!(message.contains(says), "{party_b}: {message}");
        assert!(page.contains(&format!("value=\"{party_b}\"")), "kept");
    }
    let (_, still) = app.get_json(&format!("/bookings/{id}")).await;
    assert_eq!(still["status"], "pending");
    let (status, _) = app
        .patch_json(
            &format!("/bookings/{id}"),
            &serde_json::json!({"party_b": "09812345671"}),
        )
        .await;
    assert_eq!(status, 200);
    let r = post(
        &app,
        &cookie,
        "/admin/bookings/party-b",
        &[
            ("csrf", token.as_str()),
            ("add_booking_id", id),
            ("add_party_b", "09812345672"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(
        element(&page, "p", "add_party_b-error").contains("has its party B already"),
        "{page}"
    );
    let r = post(
        &app,
        &cookie,
        "/admin/bookings/party-b",
        &[
            ("csrf", "stale"),
            ("add_booking_id", id),
            ("add_party_b", "09812345672"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let (_, after) = app.get_json(&format!("/bookings/{id}")).await;
    assert_eq!(after["party_b"], "+919812345671", "unchanged");

    // A pending booking takes no party PINs from the booking form either.
    let r = post(
        &app,
        &cookie,
        "/admin/bookings",
        &[
            ("csrf", token.as_str()),
            ("party_a", "09812345673"),
            ("party_pins", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(
        element(&page, "div", "booking-errors").contains(">Party PINs</a>"),
        "{page}"
    );
}

/// The pool page's form setting what the scenarios' number answers callers with no route.
fn set<'a>(answer: &'a str, csrf: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("csrf", csrf),
        ("str_number", "+917314853246"),
        ("str_answer", answer),
    ]
}

#[tokio::test]
async fn a_numbers_answer_to_callers_with_no_route_is_set_from_the_pool_page() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let token = csrf(&page);
    let add = [
        ("csrf", token.as_str()),
        ("vn_number", "07314853246"),
        ("vn_provider", "exotel"),
    ];
    assert_eq!(
        post(&app, &cookie, "/admin/numbers", &add).await.status(),
        303
    );
    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let numbers = element(&page, "table", "numbers");
    assert!(
        numbers.contains(r#"<td data-label="Strangers">pin</td>"#),
        "{numbers}"
    );
    let answers = element(&page, "select", "str_answer");
    assert!(!answers.contains("webhook"), "no address to ask: {answers}");
    let token = token.as_str();
    let r = post(
        &app,
        &cookie,
        "/admin/numbers/strangers",
        &set("message", token),
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, number) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["strangers"], "message");
    let (_, page) = get(&app, &cookie, "/admin/bookings").await;
    let numbers = element(&page, "table", "numbers");
    assert!(
        numbers.contains(r#"<td data-label="Strangers">message</td>"#),
        "{numbers}"
    );
    // Without its CSRF token, or with an answer it can not give, nothing changes.
    let r = post(
        &app,
        &cookie,
        "/admin/numbers/strangers",
        &set("desk", "forged"),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post(
        &app,
        &cookie,
        "/admin/numbers/strangers",
        &set("webhook", token),
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("PINBRIDGE_STRANGERS_WEBHOOK_URL"), "{page}");
    let r = post(
        &app,
        &cookie,
        "/admin/numbers/strangers",
        &set("voicemail", token),
    )
    .await;
    assert_eq!(r.status(), 400);
    let (_, number) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["strangers"], "message", "unchanged");

    let asking = crate::common::spawn_app_with(|s| {
        s.outbound.strangers_webhook.url = Some("https://hooks.example.com/strangers".into());
    })
    .await;
    let cookie = sign_in(&asking).await;
    let (_, page) = get(&asking, &cookie, "/admin/bookings").await;
    let token = csrf(&page);
    let token = token.as_str();
    let add = [
        ("csrf", token),
        ("vn_number", "07314853246"),
        ("vn_provider", "exotel"),
    ];
    assert_eq!(
        post(&asking, &cookie, "/admin/numbers", &add)
            .await
            .status(),
        303
    );
    let (_, page) = get(&asking, &cookie, "/admin/bookings").await;
    assert!(element(&page, "select", "str_answer").contains(r#"value="webhook""#));
    let r = post(
        &asking,
        &cookie,
        "/admin/numbers/strangers",
        &set("webhook", token),
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, number) = asking.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["strangers"], "webhook");
}
