//! The OpenAPI document of the admin API (`/api/v1/openapi.json`) and its page
//! (`/api/v1/docs`): valid OpenAPI 3.1, complete, and the check that every other test's
//! answers are held to (`tests/common/openapi.rs`) able to fail.
//!
//! `oas-3.1-schema-2022-10-07.json` beside this file is the OpenAPI Initiative's JSON Schema of
//! OpenAPI 3.1 documents, https://spec.openapis.org/oas/3.1/schema/2022-10-07 (its `$id`),
//! as the PyPI package `openapi-spec-validator` 0.9.0 ships it
//! (`openapi_spec_validator/resources/schemas/v3.1/schema.json`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, ApiCheck, Checker, openapi_document, spawn_app};

const OAS_3_1_SCHEMA: &str = include_str!("oas-3.1-schema-2022-10-07.json");

/// The methods of each documented path: `("/api/v1/orders", "GET")`.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                found.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_document_is_served_without_a_token_and_is_the_one_the_code_builds() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let served: Value = r.json().await.unwrap();
    assert_eq!(served, openapi_document());
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn the_document_is_valid_openapi_3_1_and_its_schemas_valid_json_schema() {
    let doc = openapi_document();
    let oas: Value = serde_json::from_str(OAS_3_1_SCHEMA).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&oas)
        .expect("the OpenAPI 3.1 schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not OpenAPI 3.1: {errors:#?}");
    // OpenAPI asks for unique operation ids, which the schema can not check.
    let ids: Vec<&str> = documented(&doc)
        .iter()
        .map(|(path, method)| {
            doc["paths"][path][method.to_lowercase()]["operationId"]
                .as_str()
                .unwrap()
        })
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // The schema above checks Schema Objects only for being objects; JSON Schema 2020-12's
    // own meta-schema checks them in full.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Error"), "{:?}", schemas.keys());
    for (name, schema) in schemas {
        let mut schema = schema.clone();
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        assert!(
            jsonschema::meta::is_valid(&schema),
            "{name}: {:?}",
            jsonschema::meta::validate(&schema)
        );
    }
    // And the check can fail: a response without its description is no OpenAPI.
    let mut broken = doc.clone();
    broken["paths"]["/api/v1/orders"]["post"]["responses"]["201"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    assert!(!validator.is_valid(&broken));
}

/// The resources `src/admin/api/` registers and the methods each answers, read from its
/// `super::resource("/orders", "GET, POST")` calls: the `Allow` of its 405.
fn registered() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin/api");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in text.split("super::resource(").skip(1) {
            let args: Vec<&str> = call.splitn(3, '"').collect();
            let path = args[1];
            let methods = call.split('"').nth(3).unwrap();
            for method in methods.split(',') {
                found.insert((format!("/api/v1{path}"), method.trim().to_owned()));
            }
        }
    }
    assert!(found.len() > 15, "the resources were read: {found:?}");
    found
}

#[test]
fn every_method_of_every_admin_api_resource_is_documented_and_nothing_else() {
    let doc = openapi_document();
    assert_eq!(documented(&doc), registered());
}

#[tokio::test]
async fn every_documented_operation_answers_and_asks_for_the_token_it_documents() {
    let app = spawn_app().await;
    let doc = openapi_document();
    for (path, method) in documented(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let needs_token = operation["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("bearer").is_some());
        let concrete = path
            .replace("{order_id}", "OD-1")
            .replace("{booking_id}", "bk_1")
            .replace("{number}", "%2B919812345678");
        let url = format!("{}{}", app.api_check.address, concrete);
        let r = app
            .client
            .request(method.parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        // Past ten refused tokens a minute from one source, the answer is 429 instead.
        let expected: &[u16] = if needs_token { &[401, 429] } else { &[200] };
        assert!(
            expected.contains(&r.status().as_u16()),
            "{method} {path}: {}",
            r.status()
        );
        if needs_token {
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} documents its 401"
            );
        }
    }
}

#[tokio::test]
async fn the_page_shows_every_operation_and_shape_under_the_admin_uis_policy() {
    let app = spawn_app().await;
    let r = app.client.get(app.api("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        r.headers()["content-security-policy"],
        pinbridge::admin::ui::security::POLICY
    );
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script"), "the page needs no script");
    let doc = openapi_document();
    for (path, method) in documented(&doc) {
        assert!(
            html.contains(&format!("{method} {path}")),
            "{method} {path}"
        );
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
    assert!(html.contains("pii_required"));
    assert!(html.contains("one of active, expired, deactivated"));
    // The policy is the page's own: the JSON API's answers carry none.
    let (status, _) = app.get_json("/calls").await;
    assert_eq!(status, 200);
    let api = app
        .client
        .get(app.api("/calls"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(api.headers().get("content-security-policy").is_none());
}

#[test]
fn the_check_refuses_answers_the_document_does_not_describe() {
    let checker = Checker::new(openapi_document());
    let json = Some("application/json");
    let error = br#"{"error":{"code":"not_found","message":"no order with this order_id"}}"#;
    let order = json!({
        "order_id": "OD-1", "customer_number": "+919812345678", "pin": "4821",
        "virtual_number": null, "status": "active", "created_at": "2026-12-07T10:00:00Z",
        "expires_at": "2026-12-08T10:00:00Z", "deactivated_at": null, "allowed_callers": []
    });
    let ok = serde_json::to_vec(&order).unwrap();
    let get = |status, content_type, body: &[u8]| {
        checker.check(
            "GET",
            "/api/v1/orders/OD-1",
            status,
            content_type,
            None,
            body,
        )
    };
    assert_eq!(get(200, json, &ok), Ok(()));
    assert_eq!(get(404, json, error), Ok(()));
    // A status the operation does not list.
    assert!(get(409, json, error).is_err());
    // A field of the wrong type, a status the document does not list, a time that is not
    // RFC 3339, a missing field.
    for (field, value) in [
        ("pin", json!(4821)),
        ("status", Value::Null),
        ("status", json!("paused")),
        ("created_at", json!("yesterday")),
    ] {
        let mut wrong = order.clone();
        wrong[field] = value;
        assert!(
            get(200, json, &serde_json::to_vec(&wrong).unwrap()).is_err(),
            "{field}"
        );
    }
    let mut missing = order.clone();
    missing.as_object_mut().unwrap().remove("order_id");
    assert!(get(200, json, &serde_json::to_vec(&missing).unwrap()).is_err());
    // Another media type, or an error body that is not the API's.
    assert!(get(200, Some("text/plain"), &ok).is_err());
    assert!(get(404, json, br#"{"message":"not found"}"#).is_err());
    // An undocumented path answers only the 404 of an unknown path.
    let unknown =
        |status, body: &[u8]| checker.check("GET", "/api/v1/nothing", status, json, None, body);
    assert_eq!(unknown(404, error), Ok(()));
    assert!(unknown(200, b"{}").is_err());
    // A method a path does not answer: 405, naming exactly the documented methods.
    let refused =
        br#"{"error":{"code":"method_not_allowed","message":"this resource answers GET, PATCH, DELETE"}}"#;
    let put = |allow| {
        checker.check(
            "PUT",
            "/api/v1/orders/OD-1",
            405,
            json,
            Some(allow),
            refused,
        )
    };
    assert_eq!(put("GET, PATCH, DELETE"), Ok(()));
    assert!(put("GET").is_err());
    // A 204 carries no body.
    let delete = |body: &[u8]| {
        checker.check(
            "DELETE",
            "/api/v1/trusted-callers/%2B919812345678",
            204,
            None,
            None,
            body,
        )
    };
    assert_eq!(delete(b""), Ok(()));
    assert!(delete(b"{}").is_err());
}

#[tokio::test]
async fn an_answer_the_document_does_not_describe_fails_the_test_that_received_it() {
    // An "application" that answers 200 where the document has no path.
    let upstream = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&upstream)
        .await;
    let check = ApiCheck::start(&upstream.uri());
    let r = reqwest::get(format!("{}/api/v1/undocumented", check.address))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the proxy passes the answer on unchanged");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"ok": true}));
    assert_eq!(check.mismatches().len(), 1, "{:?}", check.mismatches());
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(check)));
    let message = dropped.expect_err("dropping the check fails the test");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("GET /api/v1/undocumented -> 200 for a path the document does not have"),
        "{message}"
    );
}
