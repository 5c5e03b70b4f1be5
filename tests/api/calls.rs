//! `/api/v1/calls`: the call log.

use crate::common::{Call, spawn_app};

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
    let (_, by_caller) = app.get_json("/calls?from=%2B919988776655").await;
    assert_eq!(by_caller["calls"].as_array().unwrap().len(), 1);
    let (_, by_caller) = app.get_json("/calls?from=09988776655").await;
    assert_eq!(by_caller["calls"][0]["call_sid"], "log-4");
    assert_eq!(by_caller["calls"][0]["outcome"], "in_progress");

    let (_, none) = app.get_json("/calls?until=2000-01-01T00:00:00Z").await;
    assert_eq!(none["calls"].as_array().unwrap().len(), 0);
    let (_, all) = app.get_json("/calls?since=2000-01-01T00:00:00Z").await;
    assert_eq!(all["calls"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn bad_call_log_queries_get_a_400() {
    let app = spawn_app().await;
    for q in [
        "limit=0",
        "limit=501",
        "offset=-1",
        "since=yesterday",
        "limit=ten",
        "colour=red",
    ] {
        let (status, body) = app.get_json(&format!("/calls?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(body["error"]["code"], "invalid_query", "{q}");
    }
}
