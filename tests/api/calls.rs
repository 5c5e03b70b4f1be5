//! `/api/v1/calls`: the call log.

use serde_json::Value;

use crate::common::{CUSTOMER, CUSTOMER_E164, Call, spawn_app};

#[tokio::test]
async fn the_call_log_filters_and_pages_newest_first() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    for i in 0..5 {
        let mut call = Call::new(&format!("log-{i}"));
        if i == 4 {
            call.from = "09988776655".into();
        }
        let digits = if i % 2 == 0 { "4821" } else { "0000" };
        app.check_pin(&call, digits).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let (_, page) = app.get_json("/calls?limit=2").await;
    let sids: Vec<&str> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["log-4", "log-3"]);
    assert_eq!(page["next_offset"], 2);
    let (_, last) = app.get_json("/calls?limit=2&offset=4").await;
    assert_eq!(last["calls"].as_array().unwrap().len(), 1);
    assert!(last["next_offset"].is_null());

    let (_, by_order) = app.get_json("/calls?order_id=OD-1").await;
    assert_eq!(by_order["calls"].as_array().unwrap().len(), 3);
    let (_, by_caller) = app.get_json("/calls?number=%2B919988776655").await;
    assert_eq!(by_caller["calls"].as_array().unwrap().len(), 1);
    let (_, by_caller) = app.get_json("/calls?number=09988776655").await;
    assert_eq!(by_caller["calls"][0]["call_sid"], "log-4");
    assert_eq!(by_caller["calls"][0]["outcome"], "in_progress");

    let (_, none) = app.get_json("/calls?to=2000-01-01T00:00:00Z").await;
    assert_eq!(none["calls"].as_array().unwrap().len(), 0);
    let (_, all) = app.get_json("/calls?from=2000-01-01T00:00:00Z").await;
    assert_eq!(all["calls"].as_array().unwrap().len(), 5);
    // The earlier names of the bounds still work.
    let (_, none) = app.get_json("/calls?until=2000-01-01T00:00:00Z").await;
    assert_eq!(none["calls"].as_array().unwrap().len(), 0);
    let (_, all) = app.get_json("/calls?since=2000-01-01T00:00:00Z").await;
    assert_eq!(all["calls"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn the_call_log_filters_by_outcome_provider_time_and_either_number() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let bridged = Call::new("bridged");
    assert_eq!(app.check_pin(&bridged, "4821").await, 200);
    assert_eq!(app.connect(&bridged).await, CUSTOMER_E164);
    let mut other = Call::new("other-caller");
    other.from = "09988776655".into();
    assert_eq!(app.check_pin(&other, "0000").await, 302);
    app.sql("update calls set outcome = 'no_answer' where call_sid = 'bridged'")
        .await;
    // Two hours ago: well within the retention the server purges by at start.
    let earlier = pinbridge::domain::clock::now_ms() - 2 * 3_600_000;
    app.sql(format!(
        "update calls set started_at = {earlier} where call_sid = 'other-caller'"
    ))
    .await;
    let at = |ms: i64| pinbridge::domain::clock::rfc3339(ms).replace('+', "%2B");

    let sids = |body: &Value| -> Vec<String> {
        body["calls"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|c| c["call_sid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, b) = app.get_json("/calls?outcome=no_answer").await;
    assert_eq!(sids(&b), ["bridged"]);
    let (_, b) = app.get_json("/calls?outcome=in_progress").await;
    assert_eq!(sids(&b), ["other-caller"]);
    let (_, b) = app.get_json("/calls?provider=exotel").await;
    assert_eq!(sids(&b).len(), 2);
    let (_, b) = app.get_json("/calls?provider=twilio").await;
    assert!(sids(&b).is_empty());
    // The customer was dialled, not the caller: `number` finds the callee too.
    let (_, b) = app.get_json(&format!("/calls?number={CUSTOMER}")).await;
    assert_eq!(sids(&b), ["bridged"]);
    let (_, b) = app.get_json("/calls?number=07709562799").await;
    assert_eq!(sids(&b), ["bridged"], "the caller");
    let (_, b) = app
        .get_json(&format!(
            "/calls?from={}&to={}",
            at(earlier - 1000),
            at(earlier + 1000)
        ))
        .await;
    assert_eq!(sids(&b), ["other-caller"]);
    let (_, b) = app
        .get_json(&format!("/calls?from={}", at(earlier + 1000)))
        .await;
    assert_eq!(sids(&b), ["bridged"]);

    for (query, code, names) in [
        ("outcome=lost", "invalid_outcome", "no_answer"),
        ("provider=skype", "invalid_provider", "8x8"),
    ] {
        let (status, body) = app.get_json(&format!("/calls?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(query.split('=').next().unwrap()) && message.contains(names),
            "{message}"
        );
    }
    // `from` is a time: a number there is refused with a pointer to `number`.
    let (status, body) = app.get_json("/calls?from=09988776655").await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`number`"), "{message}");
}

#[tokio::test]
async fn bad_call_log_queries_get_a_400() {
    let app = spawn_app().await;
    for q in [
        "limit=0",
        "limit=501",
        "offset=-1",
        "since=yesterday",
        "from=yesterday",
        "to=2026-13-01",
        "from=2026-12-01T00:00:00Z&since=2026-12-01T00:00:00Z",
        "limit=ten",
        "colour=red",
    ] {
        let (status, body) = app.get_json(&format!("/calls?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(body["error"]["code"], "invalid_query", "{q}");
    }
}
