//! `/api/v1/orders`.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, CUSTOMER_E164, Call, spawn_app};
use crate::helpers::a_minute_ago_ms;

#[tokio::test]
async fn the_orders_api_refuses_requests_without_the_admin_token() {
    let app = spawn_app().await;
    let body = json!({"order_id": "OD-1", "customer_number": "09812345678"});
    let none = app
        .client
        .post(app.api("/orders"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let err: Value = none.json().await.unwrap();
    assert_eq!(err["error"]["code"], "unauthorized");

    let wrong = app
        .client
        .get(app.api("/orders/OD-1"))
        .bearer_auth("test-admin-token-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let calls = app.client.get(app.api("/calls")).send().await.unwrap();
    assert_eq!(calls.status(), 401);
}

#[tokio::test]
async fn a_minimal_order_gets_a_random_six_digit_pin_and_a_day_of_life() {
    let app = spawn_app().await;
    let r = app
        .post_order(json!({"order_id": "OD-1001", "customer_number": "09812345678"}))
        .await;
    assert_eq!(r.status(), 201);
    let o: Value = r.json().await.unwrap();
    assert_eq!(o["order_id"], "OD-1001");
    assert_eq!(o["customer_number"], CUSTOMER_E164);
    assert_eq!(o["status"], "active");
    assert!(o["virtual_number"].is_null());
    let pin = o["pin"].as_str().unwrap();
    assert_eq!(pin.len(), 6);
    assert!(pin.bytes().all(|b| b.is_ascii_digit()));
    let created =
        pinbridge::domain::clock::parse_rfc3339(o["created_at"].as_str().unwrap()).unwrap();
    let expires =
        pinbridge::domain::clock::parse_rfc3339(o["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, 24 * 3600 * 1000);
}

#[tokio::test]
async fn generated_pins_differ_between_orders() {
    let app = spawn_app().await;
    let mut pins = std::collections::HashSet::new();
    for i in 0..20 {
        let r = app
            .post_order(json!({"order_id": format!("OD-{i}"), "customer_number": "09812345678"}))
            .await;
        let o: Value = r.json().await.unwrap();
        pins.insert(o["pin"].as_str().unwrap().to_owned());
    }
    assert_eq!(pins.len(), 20);
}

#[tokio::test]
async fn a_full_order_is_stored_normalised_and_can_be_read_back() {
    let app = spawn_app().await;
    let r = app
        .post_order(json!({
            "order_id": "OD-1001", "customer_number": "+91 98123 45678", "pin": "4821",
            "virtual_number": "07314853246", "expires_at": "2099-12-01T15:30:00+05:30"
        }))
        .await;
    assert_eq!(r.status(), 201);
    let (status, o) = app.get_json("/orders/OD-1001").await;
    assert_eq!(status, 200);
    assert_eq!(o["customer_number"], CUSTOMER_E164);
    assert_eq!(o["virtual_number"], "+917314853246");
    assert_eq!(o["pin"], "4821");
    assert_eq!(o["expires_at"], "2099-12-01T10:00:00Z");
}

#[tokio::test]
async fn an_active_pin_can_not_be_issued_twice_on_one_virtual_number() {
    let app = spawn_app().await;
    let order = |id: &str, vn: Option<&str>| {
        let mut o = json!({"order_id": id, "customer_number": "09812345678", "pin": "4821"});
        if let Some(vn) = vn {
            o["virtual_number"] = json!(vn);
        }
        o
    };
    assert_eq!(
        app.post_order(order("A", Some("07314853246")))
            .await
            .status(),
        201
    );
    let dup = app.post_order(order("B", Some("07314853246"))).await;
    assert_eq!(dup.status(), 409);
    assert_eq!(
        dup.json::<Value>().await.unwrap()["error"]["code"],
        "pin_in_use"
    );
    assert_eq!(
        app.post_order(order("C", Some("08088919888")))
            .await
            .status(),
        201
    );
    // Without a virtual number the PIN would work on every number: it clashes with both.
    assert_eq!(app.post_order(order("D", None)).await.status(), 409);

    // Once the first order is deactivated, its PIN can be issued again there.
    app.client
        .delete(app.api("/orders/A"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.post_order(order("E", Some("07314853246")))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_duplicate_order_id_is_a_conflict() {
    let app = spawn_app().await;
    let o = json!({"order_id": "OD-1", "customer_number": "09812345678"});
    assert_eq!(app.post_order(o.clone()).await.status(), 201);
    let again = app.post_order(o).await;
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"]["code"],
        "order_exists"
    );
}

#[tokio::test]
async fn invalid_orders_get_a_400_that_names_the_problem() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"order_id": "A", "customer_number": "98"}),
            "invalid_customer_number",
        ),
        (
            json!({"order_id": "A", "customer_number": "call me"}),
            "invalid_customer_number",
        ),
        (
            json!({"order_id": "A", "customer_number": "09812345678", "pin": "12ab"}),
            "invalid_pin",
        ),
        (
            json!({"order_id": "A", "customer_number": "09812345678", "pin": "12"}),
            "invalid_pin",
        ),
        (
            json!({"order_id": "A", "customer_number": "09812345678", "pin": "1234567890123"}),
            "invalid_pin",
        ),
        (
            json!({"order_id": "A", "customer_number": "09812345678", "virtual_number": "x"}),
            "invalid_virtual_number",
        ),
        (
            json!({"order_id": "A", "customer_number": "09812345678", "expires_at": "tomorrow"}),
            "invalid_expires_at",
        ),
        (
            json!({"order_id": "A", "customer_number": "09812345678", "expires_at": "2001-01-01T00:00:00Z"}),
            "invalid_expires_at",
        ),
        (
            json!({"order_id": "", "customer_number": "09812345678"}),
            "invalid_order_id",
        ),
        (
            json!({"order_id": "A", "customer_number": "09812345678", "colour": "red"}),
            "invalid_body",
        ),
        (json!({"order_id": "A"}), "invalid_body"),
        (
            json!({"order_id": 7, "customer_number": "09812345678"}),
            "invalid_body",
        ),
    ];
    for (body, code) in cases {
        let r = app.post_order(body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{body}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    let not_json = app
        .client
        .post(app.api("/orders"))
        .bearer_auth(ADMIN_TOKEN)
        .body("order_id=A")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let (status, _) = app.get_json("/orders/A").await;
    assert_eq!(status, 404, "nothing was stored");
}

#[tokio::test]
async fn deleting_an_order_deactivates_it() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let (status, o) = app.delete_json("/orders/OD-1").await;
    assert_eq!(status, 200);
    assert_eq!(o["status"], "deactivated");
    assert!(o["deactivated_at"].is_string());
    let (_, o) = app.get_json("/orders/OD-1").await;
    assert_eq!(o["status"], "deactivated");

    let missing = app
        .client
        .delete(app.api("/orders/nope"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_method_a_resource_does_not_answer_gets_405_naming_those_it_does() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/orders", "GET, POST"),
        (reqwest::Method::POST, "/orders/OD-1", "GET, PATCH, DELETE"),
        (reqwest::Method::PUT, "/bookings/B-1", "GET, PATCH, DELETE"),
        (reqwest::Method::DELETE, "/calls", "GET"),
        (reqwest::Method::PUT, "/virtual-numbers", "GET, POST"),
        (
            reqwest::Method::PUT,
            "/trusted-callers/+919812345678",
            "GET, DELETE",
        ),
    ] {
        let r = app
            .client
            .request(method.clone(), app.api(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        let err: Value = r.json().await.unwrap();
        assert_eq!(
            err["error"]["code"], "method_not_allowed",
            "{method} {path}"
        );
    }
    // An unknown path is still 404.
    let r = app
        .client
        .get(app.api("/nothing-here"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let (status, err) = app
        .post_json(
            "/orders",
            &json!({"order_id": "OD-1", "customer_number": 9812345678_u64}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_body");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("customer_number: "), "{message}");
    assert!(!message.contains("line 1"), "{message}");
}

#[tokio::test]
async fn orders_are_listed_newest_first_a_page_at_a_time_and_by_status() {
    let app = spawn_app().await;
    for i in 1..=5 {
        let r = app
            .post_order(json!({"order_id": format!("OD-{i}"), "customer_number": "09812345678"}))
            .await;
        assert_eq!(r.status(), 201);
    }
    assert_eq!(app.delete_json("/orders/OD-2").await.0, 200);
    let page = |query: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(app.api(&format!("/orders?{query}")))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = page(format!("limit=2&cursor={cursor}")).await;
        assert_eq!(status, 200, "{body}");
        let ids: Vec<String> = body["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_str().unwrap().to_owned())
            .collect();
        assert!(ids.len() <= 2);
        seen.extend(ids);
        match body["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["OD-5", "OD-4", "OD-3", "OD-2", "OD-1"]);
    let (_, active) = page("status=active".to_owned()).await;
    assert_eq!(active["orders"].as_array().unwrap().len(), 4, "{active}");
    let (_, gone) = page("status=deactivated".to_owned()).await;
    assert_eq!(gone["orders"][0]["order_id"], "OD-2", "{gone}");
    for bad in [
        "status=lost",
        "limit=0",
        "limit=501",
        "cursor=nope",
        "colour=red",
    ] {
        let (status, body) = page(bad.to_owned()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn an_active_order_can_change_its_customer_expiry_and_callers_in_any_subset() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let (status, o) = app
        .patch_json(
            "/orders/OD-1",
            &json!({"expires_at": "2099-12-01T15:30:00+05:30"}),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["expires_at"], "2099-12-01T10:00:00Z");
    assert_eq!(o["customer_number"], CUSTOMER_E164, "left as it was");
    assert_eq!(o["pin"], "4821");

    let (status, o) = app
        .patch_json(
            "/orders/OD-1",
            &json!({"customer_number": "09988776655", "allowed_callers": ["07709562799"]}),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["customer_number"], "+919988776655");
    assert_eq!(o["allowed_callers"], json!(["+917709562799"]));
    assert_eq!(o["expires_at"], "2099-12-01T10:00:00Z", "left as it was");

    let (_, read) = app.get_json("/orders/OD-1").await;
    assert_eq!(read, o, "the change is stored");
    let (status, o) = app
        .patch_json("/orders/OD-1", &json!({"allowed_callers": []}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(o["allowed_callers"], json!([]), "any caller again");
}

#[tokio::test]
async fn a_change_is_refused_as_a_new_order_would_be_naming_the_field() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let cases = [
        (json!({"customer_number": "98"}), "invalid_customer_number"),
        (
            json!({"customer_number": "+14155552671"}),
            "invalid_customer_number",
        ),
        (json!({"expires_at": "tomorrow"}), "invalid_expires_at"),
        (
            json!({"expires_at": "2001-01-01T00:00:00Z"}),
            "invalid_expires_at",
        ),
        (json!({"allowed_callers": ["x"]}), "invalid_allowed_callers"),
        (json!({"pin": "1234"}), "invalid_body"),
        (json!({"virtual_number": "07314853246"}), "invalid_body"),
        (json!({"expires_at": 7}), "invalid_body"),
        (json!({}), "invalid_body"),
    ];
    for (body, code) in cases {
        let (status, err) = app.patch_json("/orders/OD-1", &body).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"]["code"], code, "{body}: {err}");
    }
    let (_, err) = app
        .patch_json("/orders/OD-1", &json!({"pin": "1234"}))
        .await;
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("unknown field `pin`"), "{message}");
    let (_, o) = app.get_json("/orders/OD-1").await;
    assert_eq!(o["customer_number"], CUSTOMER_E164, "nothing was changed");
}

#[tokio::test]
async fn only_an_active_order_can_be_changed() {
    let app = spawn_app().await;
    let change = json!({"customer_number": "09988776655"});
    let (status, err) = app.patch_json("/orders/nope", &change).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "not_found");

    app.create_order("OD-gone", "4821").await;
    assert_eq!(app.delete_json("/orders/OD-gone").await.0, 200);
    let (status, err) = app.patch_json("/orders/OD-gone", &change).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "order_not_active");

    app.create_order("OD-old", "4822").await;
    app.sql(format!(
        "update orders set expires_at = {} where order_id = 'OD-old'",
        a_minute_ago_ms()
    ))
    .await;
    let (status, err) = app
        .patch_json(
            "/orders/OD-old",
            &json!({"expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 409, "an expired order is not brought back: {err}");
    let (_, o) = app.get_json("/orders/OD-old").await;
    assert_eq!(o["status"], "expired");
    assert_eq!(o["customer_number"], CUSTOMER_E164);
}

#[tokio::test]
async fn a_call_that_keyed_the_pin_dials_the_customer_the_order_has_now() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("changed-mid-call");
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    // The order just found by its PIN is kept in memory for the dial: the change must not
    // leave the old customer there.
    let (status, _) = app
        .patch_json("/orders/OD-1", &json!({"customer_number": "09988776655"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.connect(&call).await, "+919988776655");

    // The customer the courier reached before the change can no longer call the courier back.
    let first = Call::new("before-the-change");
    app.patch_json("/orders/OD-1", &json!({"customer_number": "09812345678"}))
        .await;
    assert_eq!(app.check_pin(&first, "4821").await, 200);
    assert_eq!(app.connect(&first).await, CUSTOMER_E164);
    let mut old_customer = Call::new("old-customer-calls-back");
    old_customer.from = crate::common::CUSTOMER.into();
    assert_eq!(
        app.connect(&old_customer).await,
        "+917709562799",
        "a callback while the customer is the order's"
    );
    let (status, _) = app
        .patch_json("/orders/OD-1", &json!({"customer_number": "09988776655"}))
        .await;
    assert_eq!(status, 200);
    old_customer = Call::new("old-customer-calls-back-after-the-change");
    old_customer.from = crate::common::CUSTOMER.into();
    assert_eq!(
        app.connect(&old_customer).await,
        "",
        "the old customer reaches no one"
    );

    // Allowed callers take effect at the next PIN.
    let (status, _) = app
        .patch_json("/orders/OD-1", &json!({"allowed_callers": ["09000000001"]}))
        .await;
    assert_eq!(status, 200);
    let courier = Call::new("not-allowed");
    assert_eq!(app.check_pin(&courier, "4821").await, 302);
}

#[tokio::test]
async fn an_order_id_is_given_again_once_its_order_is_closed_and_the_old_order_is_kept() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let courier = Call::new("old-order-call");
    assert_eq!(app.check_pin(&courier, "4821").await, 200);
    assert_eq!(app.connect(&courier).await, CUSTOMER_E164);
    let mut customer = Call::new("callback-while-active");
    customer.from = crate::common::CUSTOMER.into();
    assert_eq!(app.connect(&customer).await, "+917709562799", "a callback");

    // While the order is active, its id is taken.
    let again = json!({"order_id": "OD-1", "customer_number": "09988776655", "pin": "5931"});
    let r = app.post_order(again.clone()).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "order_exists"
    );

    assert_eq!(app.delete_json("/orders/OD-1").await.0, 200);
    let r = app.post_order(again.clone()).await;
    assert_eq!(r.status(), 201, "a deactivated order's id is free");

    let (_, newest) = app.get_json("/orders/OD-1").await;
    assert_eq!(newest["status"], "active");
    assert_eq!(newest["customer_number"], "+919988776655");
    let (_, listed) = app.get_json("/orders").await;
    let statuses: Vec<&str> = listed["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["order_id"], "OD-1");
            o["status"].as_str().unwrap()
        })
        .collect();
    assert_eq!(statuses, ["active", "deactivated"], "both, newest first");
    // The old order's call stays in the log under its id.
    let (_, calls) = app.get_json("/calls?order_id=OD-1").await;
    let sids: Vec<&str> = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_sid"].as_str().unwrap())
        .collect();
    assert!(sids.contains(&"old-order-call"), "{calls}");
    // Its customer calling back does not reach the courier of the closed order: the new
    // order of the same id is not that call's order.
    customer = Call::new("callback-of-the-old-order");
    customer.from = crate::common::CUSTOMER.into();
    assert_eq!(app.connect(&customer).await, "");

    // Deactivating the id closes the newest order; the older one stays as it was closed.
    let r = app
        .client
        .delete(app.api("/orders/OD-1"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let closed: Value = r.json().await.unwrap();
    assert_eq!(closed["customer_number"], "+919988776655");
    assert_eq!(closed["status"], "deactivated");

    // An expired order's id is free too.
    app.create_order("OD-2", "6042").await;
    app.sql(format!(
        "update orders set expires_at = {} where order_id = 'OD-2'",
        a_minute_ago_ms()
    ))
    .await;
    let r = app
        .post_order(json!({"order_id": "OD-2", "customer_number": "09988776655"}))
        .await;
    assert_eq!(r.status(), 201);
    let (_, expired) = app.get_json("/orders?status=expired").await;
    assert_eq!(expired["orders"].as_array().unwrap().len(), 1, "{expired}");
    assert_eq!(expired["orders"][0]["order_id"], "OD-2");
}
