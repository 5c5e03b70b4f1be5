//! Trusted callers: the JSON API `/api/v1/trusted-callers` and the admin page
//! `/admin/trusted-callers`. (The CSV import command is tested in `cli.rs`.)

use pinbridge::config::AdminToken;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp, admin_csrf, spawn_app, spawn_app_with};
use crate::helpers::{admin_get, admin_post, admin_sign_in as sign_in};

/// DELETEs `path` of the admin API with `token`: (status, JSON body or `null`).
async fn delete(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .delete(app.api(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// GETs `path` of the admin API with `token`: (status, JSON body or `null`).
async fn get_as(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.api(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_trusted_caller_is_registered_looked_up_listed_and_removed() {
    let app = spawn_app().await;
    let (status, added) = app
        .post_json(
            "/trusted-callers",
            &json!({"number": "098123 45678", "label": "Ravi (bike 12)"}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["number"], "+919812345678");
    assert_eq!(added["label"], "Ravi (bike 12)");
    assert!(
        pinbridge::domain::clock::parse_rfc3339(added["created_at"].as_str().unwrap()).is_some()
    );

    // Looked up in any written form of the number.
    for path in [
        "/trusted-callers/%2B919812345678",
        "/trusted-callers/09812345678",
    ] {
        let (status, found) = app.get_json(path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(found, added, "{path}");
    }
    let (status, page) = app.get_json("/trusted-callers").await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 1);
    assert_eq!(page["trusted_callers"], json!([added]));
    assert_eq!(page["next_offset"], Value::Null);

    let (status, body) = delete(&app, ADMIN_TOKEN, "/trusted-callers/09812345678").await;
    assert_eq!(status, 204);
    assert_eq!(body, Value::Null, "no body");
    let (status, body) = app.get_json("/trusted-callers/09812345678").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = delete(&app, ADMIN_TOKEN, "/trusted-callers/09812345678").await;
    assert_eq!(status, 404, "removing an unknown number");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(app.get_json("/trusted-callers").await.1["total"], 0);
}

#[tokio::test]
async fn adding_a_number_again_replaces_its_label_and_keeps_its_registration_time() {
    let app = spawn_app().await;
    let (status, first) = app
        .post_json(
            "/trusted-callers",
            &json!({"number": "+919812345678", "label": "Ravi"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, again) = app
        .post_json(
            "/trusted-callers",
            &json!({"number": "919812345678", "label": "Ravi Kumar"}),
        )
        .await;
    assert_eq!(status, 200, "an update, not a new registration: {again}");
    assert_eq!(again["label"], "Ravi Kumar");
    assert_eq!(again["created_at"], first["created_at"]);
    let (_, without_label) = app
        .post_json("/trusted-callers", &json!({"number": "09812345678"}))
        .await;
    assert_eq!(without_label["label"], Value::Null);
    let (_, page) = app.get_json("/trusted-callers").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["trusted_callers"][0], without_label);
}

#[tokio::test]
async fn a_bad_number_or_label_is_refused_with_the_field_named_and_nothing_stored() {
    let app = spawn_app().await;
    let long_label = "x".repeat(101);
    let cases = [
        (json!({"number": "98"}), "invalid_number", "number:"),
        (
            json!({"number": "not a number"}),
            "invalid_number",
            "number:",
        ),
        (json!({"number": ""}), "invalid_number", "number:"),
        (
            json!({"number": "09812345678", "label": long_label}),
            "invalid_label",
            "label:",
        ),
        (
            json!({"number": "09812345678", "label": "Ravi\nKumar"}),
            "invalid_label",
            "label:",
        ),
        (
            json!({"number": "09812345678", "label": "Ravi\u{202E}ramuK"}),
            "invalid_label",
            "label:",
        ),
        (json!({"label": "Ravi"}), "invalid_body", "number"),
        (
            json!({"number": 919812345678_u64}),
            "invalid_body",
            "expected a string",
        ),
        (
            json!({"number": "09812345678", "trusted": true}),
            "invalid_body",
            "trusted",
        ),
    ];
    for (body, code, names) in cases {
        let (status, error) = app.post_json("/trusted-callers", &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{body}: {message}");
    }
    let (status, _) = app
        .post_json(
            "/trusted-callers",
            &json!({"number": "09812345678", "label": "x".repeat(100)}),
        )
        .await;
    assert_eq!(status, 201, "100 characters are allowed");
    let (_, page) = app.get_json("/trusted-callers").await;
    assert_eq!(page["total"], 1, "only the valid one is stored: {page}");

    for path in ["/trusted-callers/98", "/trusted-callers/abc"] {
        let (status, error) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(error["error"]["code"], "invalid_number", "{path}");
        let (status, _) = delete(&app, ADMIN_TOKEN, path).await;
        assert_eq!(status, 400, "{path}");
    }
}

#[tokio::test]
async fn the_list_pages_through_the_numbers_in_order() {
    let app = spawn_app().await;
    for number in ["09812345673", "09812345671", "09812345672"] {
        let (status, _) = app
            .post_json("/trusted-callers", &json!({"number": number}))
            .await;
        assert_eq!(status, 201);
    }
    let (status, first) = app.get_json("/trusted-callers?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(first["total"], 3);
    assert_eq!(first["next_offset"], 2);
    let (_, second) = app.get_json("/trusted-callers?limit=2&offset=2").await;
    assert_eq!(second["next_offset"], Value::Null);
    let numbers: Vec<&str> = first["trusted_callers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["trusted_callers"].as_array().unwrap())
        .map(|c| c["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+919812345671", "+919812345672", "+919812345673"]);
    for query in ["limit=0", "limit=501", "offset=-1", "limit=ten", "after=x"] {
        let (status, error) = app.get_json(&format!("/trusted-callers?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(error["error"]["code"], "invalid_query", "{query}");
    }
}

#[tokio::test]
async fn a_token_without_pii_sees_numbers_masked_and_may_not_name_a_number() {
    const OPS: &str = "ops-token-0123456789";
    const DASHBOARD: &str = "dash-token-0123456789";
    let app = spawn_app_with(|s| {
        s.access.admin_tokens = vec![
            AdminToken::new("ops", OPS, true),
            AdminToken::new("dashboard", DASHBOARD, false),
        ];
    })
    .await;
    let r = app
        .client
        .post(app.api("/trusted-callers"))
        .bearer_auth(OPS)
        .json(&json!({"number": "09812345678", "label": "Ravi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let (status, page) = get_as(&app, DASHBOARD, "/trusted-callers").await;
    assert_eq!(status, 200);
    assert_eq!(page["trusted_callers"][0]["number"], "+91******5678");
    assert_eq!(page["trusted_callers"][0]["label"], "Ravi");
    assert!(!page.to_string().contains("9812345678"), "{page}");
    let (_, page) = get_as(&app, OPS, "/trusted-callers").await;
    assert_eq!(page["trusted_callers"][0]["number"], "+919812345678");

    // Whether a number is registered or not, and whether it parses or not, the answer is the
    // same: it would otherwise tell whether a guessed number is a courier's.
    for number in ["09812345678", "09812345679", "abc"] {
        let path = format!("/trusted-callers/{number}");
        let (status, error) = get_as(&app, DASHBOARD, &path).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(error["error"]["code"], "pii_required", "{path}");
        let (status, error) = delete(&app, DASHBOARD, &path).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(error["error"]["code"], "pii_required", "{path}");
        let r = app
            .client
            .post(app.api("/trusted-callers"))
            .bearer_auth(DASHBOARD)
            .json(&json!({"number": number, "label": "Mallory"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{number}");
        let error: Value = r.json().await.unwrap();
        assert_eq!(error["error"]["code"], "pii_required");
    }
    let (status, kept) = get_as(&app, OPS, "/trusted-callers/09812345678").await;
    assert_eq!(status, 200);
    assert_eq!(
        kept["label"], "Ravi",
        "the refused requests changed nothing"
    );
    let (_, page) = get_as(&app, OPS, "/trusted-callers").await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn the_trusted_callers_api_refuses_requests_without_the_admin_token() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.api("/trusted-callers"))
        .json(&json!({"number": "09812345678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthorized");
    let r = app
        .client
        .get(app.api("/trusted-callers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.get_json("/trusted-callers").await.1["total"], 0);
}

// The admin web UI's page, `/admin/trusted-callers`.

/// The HTML of the element whose id is `id`, up to its closing `tag`.
fn element<'a>(page: &'a str, tag: &str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<{tag} id=\"{id}\""))
        .unwrap_or_else(|| panic!("no <{tag} id={id}> in {page}"));
    let end = page[start..].find(&format!("</{tag}>")).unwrap();
    &page[start..start + end]
}

/// The location a 303 answer sends the browser to.
fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 303);
    r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Uploads `csv` as a file through the import form, as a browser sends it.
async fn upload(
    app: &TestApp,
    cookie: &str,
    token: &str,
    csv: &str,
    skip_bad: bool,
) -> reqwest::Response {
    let file = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
        .file_name("couriers.csv")
        .mime_str("text/csv")
        .unwrap();
    let mut form = reqwest::multipart::Form::new()
        .text("csrf", token.to_owned())
        .part("csv", file)
        .text("csv_text", "");
    if skip_bad {
        form = form.text("skip_bad", "1");
    }
    app.client
        .post(format!("{}/admin/trusted-callers/import", app.address))
        .header(reqwest::header::COOKIE, cookie)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_admin_page_adds_lists_relabels_and_removes_trusted_callers() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (status, page) = admin_get(&app, &cookie, "/admin/trusted-callers").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Trusted callers"));
    assert!(
        page.contains("href=\"/admin/trusted-callers\" aria-current=\"page\""),
        "the navigation shows where we are"
    );
    assert!(page.contains("No trusted callers yet."));
    let token = admin_csrf(&page);

    let add = |number: &'static str, label: &'static str| {
        let (app, cookie, token) = (&app, &cookie, &token);
        async move {
            admin_post(
                app,
                cookie,
                "/admin/trusted-callers",
                &[("csrf", token), ("number", number), ("label", label)],
            )
            .await
        }
    };
    let r = add("09812345678", "Ravi").await;
    assert_eq!(location(&r), "/admin/trusted-callers?saved=new");
    let (_, page) = admin_get(&app, &cookie, &location(&r)).await;
    assert!(element(&page, "p", "notice").contains("Trusted caller added."));
    let table = element(&page, "table", "trusted-callers");
    assert!(
        table.contains("<td data-label=\"Number\">+919812345678</td>"),
        "{table}"
    );
    assert!(
        table.contains("<td data-label=\"Label\">Ravi</td>"),
        "{table}"
    );

    let r = add("+91 98123 45678", "Ravi Kumar").await;
    assert_eq!(location(&r), "/admin/trusted-callers?saved=updated");
    let (_, found) = app.get_json("/trusted-callers/09812345678").await;
    assert_eq!(found["label"], "Ravi Kumar");

    let remove_form = [("csrf", token.as_str()), ("number", "+919812345678")];
    let remove = || admin_post(&app, &cookie, "/admin/trusted-callers/remove", &remove_form);
    let r = remove().await;
    assert_eq!(location(&r), "/admin/trusted-callers?removed=true");
    assert_eq!(app.get_json("/trusted-callers/09812345678").await.0, 404);
    let r = remove().await;
    assert_eq!(r.status(), 404, "removing it twice");
    let page = r.text().await.unwrap();
    assert!(
        element(&page, "p", "page-error").contains("not a trusted caller"),
        "{page}"
    );
}

#[tokio::test]
async fn a_bad_field_on_the_admin_page_is_shown_beside_it_and_nothing_is_stored() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = admin_get(&app, &cookie, "/admin/trusted-callers").await;
    let token = admin_csrf(&page);
    let long = "x".repeat(101);
    for (number, label, field) in [
        ("98", "Ravi", "number"),
        ("09812345678", long.as_str(), "label"),
        ("09812345678", "Ravi\u{7}", "label"),
    ] {
        let r = admin_post(
            &app,
            &cookie,
            "/admin/trusted-callers",
            &[
                ("csrf", token.as_str()),
                ("number", number),
                ("label", label),
            ],
        )
        .await;
        assert_eq!(r.status(), 400, "{field}");
        let page = r.text().await.unwrap();
        let error = element(&page, "p", &format!("{field}-error"));
        assert!(!error.contains(&format!("{field}: ")), "{error}");
        let label = if field == "number" {
            "Phone number"
        } else {
            "Label"
        };
        assert!(
            element(&page, "div", "add-errors").contains(&format!(">{label}</a>")),
            "the summary names the field by its label: {page}"
        );
        assert!(
            page.contains(&format!("value=\"{number}\"")),
            "the form keeps what was typed"
        );
    }
    assert_eq!(app.get_json("/trusted-callers").await.1["total"], 0);
}

#[tokio::test]
async fn trusted_caller_forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (status, _) = app
        .post_json(
            "/trusted-callers",
            &json!({"number": "09812345678", "label": "Ravi"}),
        )
        .await;
    assert_eq!(status, 201);
    let cookie = sign_in(&app).await;
    for csrf in [None, Some("not-the-token")] {
        let with = |mut form: Vec<(&'static str, &'static str)>| {
            if let Some(c) = csrf {
                form.push(("csrf", c));
            }
            form
        };
        let forms = [
            (
                "/admin/trusted-callers",
                with(vec![("number", "09812345679"), ("label", "Mallory")]),
            ),
            (
                "/admin/trusted-callers/remove",
                with(vec![("number", "09812345678")]),
            ),
            (
                "/admin/trusted-callers/import",
                with(vec![("csv_text", "number\n09812345670\n")]),
            ),
        ];
        for (path, form) in forms {
            let r = admin_post(&app, &cookie, path, &form).await;
            assert_eq!(r.status(), 403, "{path} with {csrf:?}");
        }
    }
    let (_, page) = app.get_json("/trusted-callers").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["trusted_callers"][0]["label"], "Ravi");
}

#[tokio::test]
async fn a_csv_upload_on_the_admin_page_follows_the_rules_of_the_cli() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = admin_get(&app, &cookie, "/admin/trusted-callers").await;
    assert!(page.contains("enctype=\"multipart/form-data\""));
    let token = admin_csrf(&page);
    let bad = "number,label\n09812345678,Ravi\nnot-a-number,Priya\n09812345679,\"Tab\there\"\n";

    let r = upload(&app, &cookie, &token, bad, false).await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    let errors = element(&page, "div", "import-errors");
    assert!(errors.contains("Nothing was imported"), "{errors}");
    assert!(errors.contains("line 3: number:"), "{errors}");
    assert!(errors.contains("line 4: label:"), "{errors}");
    assert!(page.contains("09812345678,Ravi"), "the CSV is kept to fix");
    assert_eq!(app.get_json("/trusted-callers").await.1["total"], 0);

    let r = upload(&app, &cookie, &token, bad, true).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        element(&page, "p", "notice").contains("Imported 1 trusted callers: 1 new"),
        "{page}"
    );
    let errors = element(&page, "div", "import-errors");
    assert!(errors.contains("These lines were skipped"), "{errors}");
    assert!(
        errors.contains("line 3:") && errors.contains("line 4:"),
        "{errors}"
    );
    assert_eq!(app.get_json("/trusted-callers/09812345678").await.0, 200);

    let good = "label,number\nRavi Kumar,09812345678\nPriya,09812345679\n";
    let r = upload(&app, &cookie, &token, good, false).await;
    assert_eq!(location(&r), "/admin/trusted-callers?new=1&updated=1");
    let (_, page) = admin_get(&app, &cookie, &location(&r)).await;
    assert!(element(&page, "p", "notice").contains("Imported 2 trusted callers"));
    let (_, listed) = app.get_json("/trusted-callers").await;
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["trusted_callers"][0]["label"], "Ravi Kumar");

    // Pasted text, as a plain form, works too.
    let r = admin_post(
        &app,
        &cookie,
        "/admin/trusted-callers/import",
        &[
            ("csrf", token.as_str()),
            ("csv_text", "number\n09812345670\n"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/trusted-callers?new=1&updated=0");
}

#[tokio::test]
async fn a_session_without_pii_sees_numbers_masked_and_can_not_change_the_list() {
    const OPS: &str = "ops-token-0123456789";
    const DASHBOARD: &str = "dash-token-0123456789";
    let app = spawn_app_with(|s| {
        s.access.admin_tokens = vec![
            AdminToken::new("ops", OPS, true),
            AdminToken::new("dashboard", DASHBOARD, false),
        ];
    })
    .await;
    let r = app
        .client
        .post(app.api("/trusted-callers"))
        .bearer_auth(OPS)
        .json(&json!({"number": "09812345678", "label": "Ravi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let cookie = crate::helpers::admin_sign_in_with(&app, DASHBOARD).await;
    let (status, page) = admin_get(&app, &cookie, "/admin/trusted-callers").await;
    assert_eq!(status, 200);
    let table = element(&page, "table", "trusted-callers");
    assert!(
        table.contains("<td data-label=\"Number\">+91******5678</td>"),
        "{table}"
    );
    assert!(
        !page.contains("9812345678"),
        "no full number anywhere: {page}"
    );
    assert!(!page.contains("action=\"/admin/trusted-callers/remove\""));
    assert!(!page.contains("action=\"/admin/trusted-callers/import\""));
    assert!(element(&page, "p", "pii-needed").contains(":pii"));
    let token = admin_csrf(&page);

    let forms: [(&str, &[(&str, &str)]); 3] = [
        (
            "/admin/trusted-callers",
            &[("number", "09812345679"), ("label", "Mallory")],
        ),
        (
            "/admin/trusted-callers/remove",
            &[("number", "09812345678")],
        ),
        (
            "/admin/trusted-callers/import",
            &[("csv_text", "number\n09812345670\n")],
        ),
    ];
    for (path, fields) in forms {
        let mut form = vec![("csrf", token.as_str())];
        form.extend_from_slice(fields);
        let r = admin_post(&app, &cookie, path, &form).await;
        assert_eq!(r.status(), 403, "{path}");
        let page = r.text().await.unwrap();
        assert!(
            element(&page, "p", "page-error").contains("can not add, remove or import"),
            "{path}: {page}"
        );
    }
    let (_, page) = get_as(&app, OPS, "/trusted-callers").await;
    assert_eq!(page["total"], 1, "nothing changed: {page}");
    assert_eq!(page["trusted_callers"][0]["label"], "Ravi");

    // The session with pii sees the number in full, with its remove button.
    let cookie = crate::helpers::admin_sign_in_with(&app, OPS).await;
    let (_, page) = admin_get(&app, &cookie, "/admin/trusted-callers").await;
    assert!(
        element(&page, "table", "trusted-callers")
            .contains("<td data-label=\"Number\">+919812345678</td>")
    );
    assert!(page.contains("action=\"/admin/trusted-callers/remove\""));
}

#[tokio::test]
async fn the_trusted_callers_page_sends_a_stranger_to_sign_in() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/admin/trusted-callers", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/login");
    for path in [
        "/admin/trusted-callers",
        "/admin/trusted-callers/remove",
        "/admin/trusted-callers/import",
    ] {
        let r = app
            .client
            .post(format!("{}{path}", app.address))
            .form(&[("number", "09812345678")])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&r), "/admin/login", "{path}");
    }
    assert_eq!(app.get_json("/trusted-callers").await.1["total"], 0);
}

#[tokio::test]
async fn the_admin_page_shows_a_large_fleet_a_hundred_numbers_at_a_time() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let (_, page) = admin_get(&app, &cookie, "/admin/trusted-callers").await;
    let token = admin_csrf(&page);
    let mut csv = String::from("number,label\n");
    for i in 0..101 {
        csv.push_str(&format!("0981230{i:04},Courier {i}\n"));
    }
    let r = admin_post(
        &app,
        &cookie,
        "/admin/trusted-callers/import",
        &[("csrf", token.as_str()), ("csv_text", csv.as_str())],
    )
    .await;
    assert_eq!(location(&r), "/admin/trusted-callers?new=101&updated=0");

    let rows = |page: &str| {
        element(page, "table", "trusted-callers")
            .matches("<tr>")
            .count()
            - 1
    };
    let (_, first) = admin_get(&app, &cookie, "/admin/trusted-callers").await;
    assert_eq!(rows(&first), 100);
    assert!(first.contains("101 trusted caller(s) in all"));
    assert!(first.contains("<a rel=\"next\" href=\"/admin/trusted-callers?page=2\">"));
    assert!(!first.contains("rel=\"prev\""));
    let (status, second) = admin_get(&app, &cookie, "/admin/trusted-callers?page=2").await;
    assert_eq!(status, 200);
    assert_eq!(rows(&second), 1);
    assert!(
        second.contains("<td data-label=\"Number\">+919812300100</td>"),
        "the last number"
    );
    assert!(second.contains("<a rel=\"prev\" href=\"/admin/trusted-callers?page=1\">"));
    assert!(!second.contains("rel=\"next\""));
}

#[tokio::test]
async fn an_offset_too_large_for_any_list_is_a_400_not_a_crash() {
    let app = spawn_app().await;
    for list in ["/trusted-callers", "/calls"] {
        for offset in ["9223372036854775807", "1000000001"] {
            let (status, body) = app
                .get_json(&format!("{list}?limit=1&offset={offset}"))
                .await;
            assert_eq!(status, 400, "{list} offset {offset}: {body}");
            assert_eq!(body["error"]["code"], "invalid_query", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("offset: from 0 to 1000000000"),
                "{body}"
            );
        }
        // The largest offset is a page past the end, not an error.
        let (status, body) = app
            .get_json(&format!("{list}?limit=500&offset=1000000000"))
            .await;
        assert_eq!(status, 200, "{list}: {body}");
        assert!(body["next_offset"].is_null(), "{body}");
    }
}
