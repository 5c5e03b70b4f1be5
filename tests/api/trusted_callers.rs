//! `/api/v1/trusted-callers`.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app, spawn_app_with};

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
    assert!(pinbridge::clock::parse_rfc3339(added["created_at"].as_str().unwrap()).is_some());

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
        s.admin_token = None;
        s.admin_tokens = Some(format!("ops:{OPS}:pii,dashboard:{DASHBOARD}"));
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
