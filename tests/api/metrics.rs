//! Operations: `/metrics` in the Prometheus text format, and request ids.
//!
//! The metrics recorder is one per process, shared by every app this test binary starts, so
//! the tests compare counts before and after their own calls (others only add to them).

use std::collections::BTreeMap;

use crate::common::{CUSTOMER_E164, Call, EXOTEL_SECRET, TestApp, spawn_app};

/// One sample line: its name, its labels, its value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format's sample lines (label values here hold no `,` or `"`).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let r = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "no token needed");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

/// The sum of the samples named `name` whose labels include `want`.
fn total(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

#[tokio::test]
async fn metrics_count_exotel_pin_steps_and_their_latency_with_bounded_labels_and_no_number() {
    let app = spawn_app().await;
    app.create_order("OD-M1", "4821").await;
    let (_, before) = scrape(&app).await;

    for sid in ["metrics-call-1", "metrics-call-2"] {
        let call = Call::new(sid);
        assert_eq!(app.check_pin(&call, "1111").await, 302);
        assert_eq!(app.check_pin(&call, "4821").await, 200);
        assert_eq!(app.connect(&call).await, CUSTOMER_E164);
        let completed = call
            .query(None)
            .replace("DialCallStatus=null", "DialCallStatus=completed");
        assert_eq!(app.exotel("call-end", &completed).await.status(), 200);
    }
    let (text, after) = scrape(&app).await;

    // Other tests' apps share the process's recorder: these grow by at least this test's part.
    let grew = |name: &str, labels: &[(&str, &str)]| {
        total(&after, name, labels) - total(&before, name, labels)
    };
    let connected = [("provider", "exotel"), ("outcome", "connected")];
    assert!(grew("pinbridge_calls_total", &connected) >= 2.0);
    assert!(grew("pinbridge_wrong_pins_total", &[("provider", "exotel")]) >= 2.0);
    // The call state is cached on SQLite only (one instance owns the database).
    if crate::common::test_postgres_url().is_none() {
        let hits = [("cache", "call_state"), ("result", "hit")];
        assert!(grew("pinbridge_cache_requests_total", &hits) >= 4.0);
    }

    let check_pin = [("provider", "exotel"), ("applet", "check-pin")];
    let steps = |s: &[Sample], decision: &str| {
        let mut want = check_pin.to_vec();
        want.push(("decision", decision));
        total(s, "pinbridge_steps_total", &want)
    };
    assert!(steps(&after, "ask_for_pin") - steps(&before, "ask_for_pin") >= 2.0);
    assert!(
        total(&after, "pinbridge_steps_total", &check_pin)
            - total(&before, "pinbridge_steps_total", &check_pin)
            >= 4.0,
        "two wrong and two right PINs"
    );
    let connect = [
        ("provider", "exotel"),
        ("applet", "connect"),
        ("decision", "bridge"),
    ];
    assert!(
        total(&after, "pinbridge_steps_total", &connect)
            - total(&before, "pinbridge_steps_total", &connect)
            >= 2.0
    );

    // The latency histogram of check-pin: buckets, a count and a sum.
    let count = |s: &[Sample]| total(s, "pinbridge_step_duration_seconds_count", &check_pin);
    assert!(count(&after) - count(&before) >= 4.0);
    let inf = [
        ("provider", "exotel"),
        ("applet", "check-pin"),
        ("le", "+Inf"),
    ];
    assert_eq!(
        total(&after, "pinbridge_step_duration_seconds_bucket", &inf),
        count(&after)
    );
    let buckets = after
        .iter()
        .filter(|s| {
            s.name == "pinbridge_step_duration_seconds_bucket"
                && s.labels.get("applet").map(String::as_str) == Some("check-pin")
                && s.labels.get("provider").map(String::as_str) == Some("exotel")
        })
        .count();
    assert!(buckets >= 10, "a real histogram, {buckets} buckets");
    assert!(total(&after, "pinbridge_step_duration_seconds_sum", &check_pin) > 0.0);
    assert!(text.contains("# TYPE pinbridge_step_duration_seconds histogram"));
    assert!(text.contains("# TYPE pinbridge_steps_total counter"));

    // Labels are bounded values; no number, PIN, CallSid, order id or secret anywhere.
    let allowed = [
        "provider", "applet", "decision", "outcome", "reason", "kind", "cache", "result", "type",
        "le", "scope", "class", "version", "country",
    ];
    // The guessing gauges alone are labelled by virtual number: the business's own published
    // number, which every customer sees as caller ID.
    let by_virtual_number = [
        "pinbridge_pin_density",
        "pinbridge_pin_guessing_exposure",
        "pinbridge_pin_budget_spent_ratio",
    ];
    for s in &after {
        assert!(
            s.name.starts_with("pinbridge_") || s.name.starts_with("process_"),
            "{}",
            s.name
        );
        for k in s.labels.keys() {
            let guessing = k == "virtual_number" && by_virtual_number.contains(&s.name.as_str());
            assert!(
                allowed.contains(&k.as_str()) || guessing,
                "label {k} on {}",
                s.name
            );
        }
    }
    // Names, labels and comments, without the sample values: a value is a number, and a
    // histogram's sum (`0.0048213`) may hold the PIN's digits by chance.
    let shown: String = text
        .lines()
        .filter(|line| !by_virtual_number.iter().any(|g| line.starts_with(g)))
        .map(|line| match line.rsplit_once(' ') {
            Some((name_and_labels, _value)) if !line.starts_with('#') => name_and_labels,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        "7709562799",
        "9812345678",
        "7314853246",
        "4821",
        "1111",
        "metrics-call",
        "OD-M1",
        EXOTEL_SECRET,
    ] {
        assert!(!shown.contains(secret), "/metrics shows {secret}");
    }
}

#[tokio::test]
async fn a_request_id_is_echoed_and_generated_when_missing_or_unsafe() {
    let app = spawn_app().await;
    let get = |id: Option<&'static str>| {
        let mut r = app.client.get(format!("{}/healthz", app.address));
        if let Some(id) = id {
            r = r.header("X-Request-Id", id);
        }
        r.send()
    };
    let r = get(Some("lb-3f2a9c1e-7b4d")).await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-3f2a9c1e-7b4d");

    let generated =
        |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let first = generated(&get(None).await.unwrap());
    let second = generated(&get(None).await.unwrap());
    assert_ne!(first, second, "one id per request");
    assert!(first.len() >= 32, "{first}");

    for unsafe_id in ["+919812345678", "919812345678", "a b", &"x".repeat(65)] {
        let r = app
            .client
            .get(format!("{}/healthz", app.address))
            .header("X-Request-Id", unsafe_id)
            .send()
            .await
            .unwrap();
        let echoed = generated(&r);
        assert_ne!(echoed, unsafe_id);
        assert!(!echoed.contains("9812345678"));
    }

    // Webhooks too, and the 404 of an unknown path.
    let call = Call::new("rid-call");
    let r = app
        .client
        .get(format!(
            "{}?{}",
            app.exotel_url("check-pin"),
            call.query(Some("1111"))
        ))
        .header("X-Request-Id", "exotel-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "exotel-req-1");
    let r = app
        .client
        .get(format!("{}/no/such/path", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn metrics_show_the_process_the_build_and_requests_by_status_class() {
    let app = spawn_app().await;
    app.create_order("OD-M2", "4821").await;
    let (text, before) = scrape(&app).await;

    // The standard process metrics, read from this very process.
    let one = |name: &str| {
        let found: Vec<&Sample> = before.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "{name} in {text}");
        found[0].value
    };
    assert!(one("process_resident_memory_bytes") > 1_000_000.0);
    assert!(one("process_open_fds") >= 3.0);
    // A counter of whole seconds (the `metrics` crate's counters are integers).
    assert!(one("process_cpu_seconds_total") >= 0.0);
    let started = one("process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        started <= now && started > now - 3600.0,
        "started at {started}"
    );
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(total(&before, "pinbridge_build_info", &version), 1.0);

    // One request of each class this test can cause: 2xx, 3xx (Exotel's Passthru signal for a
    // wrong PIN), 4xx (an unknown path, a refused token).
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(app.check_pin(&Call::new("class-call"), "1111").await, 302);
    assert_eq!(get("/no/such/path").await.unwrap().status(), 404);
    let refused = app
        .client
        .get(app.api("/orders/OD-M2"))
        .bearer_auth("not-the-admin-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let (_, after) = scrape(&app).await;
    let class =
        |s: &[Sample], class: &str| total(s, "pinbridge_http_requests_total", &[("class", class)]);
    // Other tests' apps share the recorder: these grow by at least this test's requests (the
    // scrape before counts in "2xx" too).
    assert!(class(&after, "2xx") - class(&before, "2xx") >= 2.0);
    assert!(class(&after, "3xx") - class(&before, "3xx") >= 1.0);
    assert!(class(&after, "4xx") - class(&before, "4xx") >= 2.0);
}

#[tokio::test]
async fn every_counter_is_shown_from_the_start_for_each_label_set_it_can_take() {
    let app = spawn_app().await;
    let (text, samples) = scrape(&app).await;
    let shown = |name: &str, labels: &[(&str, &str)]| {
        samples.iter().any(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    };
    // Label sets no test of this binary produces (a provider's abandoned calls, an SMS that
    // failed, an event abandoned, a 5xx): present all the same.
    let mut expected: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("pinbridge_pin_lockouts_total", vec![]),
        ("pinbridge_http_requests_total", vec![("class", "5xx")]),
        ("pinbridge_http_requests_total", vec![("class", "1xx")]),
        (
            "pinbridge_pin_budget_spent_total",
            vec![("scope", "every_number")],
        ),
        (
            "pinbridge_cache_requests_total",
            vec![("cache", "call_state"), ("result", "miss")],
        ),
        (
            "pinbridge_database_errors_total",
            vec![("kind", "unavailable")],
        ),
        (
            "pinbridge_click_to_calls_total",
            vec![("result", "uncertain")],
        ),
        ("pinbridge_sms_total", vec![("result", "failed")]),
        (
            "pinbridge_event_deliveries_total",
            vec![("type", "booking.expired"), ("result", "abandoned")],
        ),
    ];
    for provider in ["exotel", "twilio", "plivo", "8x8", "vonage"] {
        expected.push((
            "pinbridge_calls_total",
            vec![("provider", provider), ("outcome", "abandoned")],
        ));
        for name in [
            "pinbridge_wrong_pins_total",
            "pinbridge_pin_budget_refusals_total",
            "pinbridge_unsigned_requests_total",
            "pinbridge_replays_refused_total",
        ] {
            expected.push((name, vec![("provider", provider)]));
        }
    }
    for (name, labels) in &expected {
        assert!(shown(name, labels), "{name} {labels:?} missing from {text}");
        assert!(
            text.contains(&format!("# TYPE {name} counter")),
            "{name} is a counter"
        );
    }
}
