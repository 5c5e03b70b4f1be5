//! Plivo: requests shaped and signed (signature V3) as Plivo sends them, Plivo XML parsed
//! structurally.

use std::sync::atomic::{AtomicU64, Ordering};

use pinbridge::config::Signing;
use pinbridge::providers::plivo::auth::{Method, signature};
use reqwest::Response;

use crate::common::TestApp;
use crate::scenarios::{self, Leg, PLIVO_TOKEN, PUBLIC_URL, Reply};

/// A number as Plivo writes it: E.164 without the `+`.
fn plivo_number(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

/// The parameters Plivo sends with every request of a call
/// (https://www.plivo.com/docs/voice/xml/request/).
fn params(leg: &Leg, call_status: &str) -> Vec<(String, String)> {
    [
        ("CallUUID", leg.sid.as_str()),
        ("CallStatus", call_status),
        ("Direction", "inbound"),
        ("From", plivo_number(&leg.from)),
        ("To", plivo_number(&leg.to)),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// A fresh nonce per request, as Plivo sends (`X-Plivo-Signature-V3-Nonce`).
fn nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(12_345_678_901_234_567_890);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// POSTs `params` as a form to `path`, signed over the public URL with the test token.
pub async fn post(app: &TestApp, path: &str, params: &[(String, String)]) -> Response {
    let nonce = nonce();
    let sig = signature(
        PLIVO_TOKEN,
        Method::Post,
        &format!("{PUBLIC_URL}{path}"),
        params,
        &nonce,
    );
    app.client
        .post(format!("{}{path}", app.address))
        .header("X-Plivo-Signature-V3", sig)
        .header("X-Plivo-Signature-V3-Nonce", nonce)
        .form(params)
        .send()
        .await
        .unwrap()
}

/// Parses Plivo XML into a neutral reply, checking its structure on the way.
pub fn parse(xml: &str) -> Reply {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not XML ({e}): {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    let speaks = |n: roxmltree::Node| {
        n.descendants()
            .filter(|d| d.has_tag_name("Speak"))
            .filter_map(|d| d.text())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let pin_url = format!("{PUBLIC_URL}/plivo/pin");
    let hangup_url = format!("{PUBLIC_URL}/plivo/hangup");
    if let Some(input) = root.children().find(|n| n.has_tag_name("GetInput")) {
        assert_eq!(input.attribute("action"), Some(&*pin_url));
        assert_eq!(input.attribute("method"), Some("POST"));
        assert_eq!(input.attribute("inputType"), Some("dtmf"));
        assert_eq!(input.attribute("finishOnKey"), Some("#"));
        assert_eq!(input.attribute("redirect"), Some("true"));
        assert_eq!(
            input.attribute("log"),
            Some("false"),
            "the PIN stays out of Plivo's debug logs"
        );
        assert_eq!(input.attribute("digitEndTimeout"), Some("5"));
        let num_digits: u8 = input.attribute("numDigits").unwrap().parse().unwrap();
        assert!(num_digits >= 4, "{xml}");
        let execution: u8 = input
            .attribute("executionTimeout")
            .unwrap()
            .parse()
            .unwrap();
        assert!((5..=60).contains(&execution), "{xml}");
        assert!(
            input
                .children()
                .filter(|n| n.is_element())
                .all(|n| n.has_tag_name("Speak")),
            "{xml}"
        );
        // No input: Plivo goes on to the next element, which asks again without `Digits`.
        let redirect = input
            .next_sibling_element()
            .expect("a <Redirect> after <GetInput>");
        assert!(redirect.has_tag_name("Redirect"), "{xml}");
        assert_eq!(redirect.text().map(str::trim), Some(&*pin_url));
        assert_eq!(redirect.attribute("method"), Some("POST"));
        return Reply::Ask {
            text: speaks(input),
        };
    }
    if let Some(dial) = root.children().find(|n| n.has_tag_name("Dial")) {
        let numbers: Vec<_> = dial
            .children()
            .filter(|n| n.has_tag_name("Number"))
            .collect();
        assert_eq!(numbers.len(), 1, "{xml}");
        assert_eq!(dial.attribute("action"), Some(&*hangup_url));
        assert_eq!(dial.attribute("method"), Some("POST"));
        assert!(dial.attribute("timeout").unwrap().parse::<u64>().is_ok());
        assert!(dial.attribute("timeLimit").unwrap().parse::<u64>().is_ok());
        return Reply::Dial {
            to: numbers[0].text().unwrap().trim().into(),
            caller_id: dial.attribute("callerId").unwrap().into(),
        };
    }
    assert!(root.children().any(|n| n.has_tag_name("Hangup")), "{xml}");
    Reply::Goodbye { text: speaks(root) }
}

async fn plivo_text(r: Response) -> String {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml");
    r.text().await.unwrap()
}

async fn plivo_xml(r: Response) -> Reply {
    parse(&plivo_text(r).await)
}

/// The XML answering the call's first request.
pub async fn start_xml(app: &TestApp, leg: &Leg) -> String {
    plivo_text(post(app, "/plivo/answer", &params(leg, "ringing")).await).await
}

pub async fn start(app: &TestApp, leg: &Leg) -> Reply {
    parse(&start_xml(app, leg).await)
}

/// The XML answering the `<GetInput>` action: the standard parameters, `InputType` and
/// `Digits` (without the finishOnKey).
pub async fn digits_xml(app: &TestApp, leg: &Leg, digits: &str) -> String {
    let mut p = params(leg, "in-progress");
    p.push(("InputType".into(), "dtmf".into()));
    p.push(("Digits".into(), digits.into()));
    plivo_text(post(app, "/plivo/pin", &p).await).await
}

pub async fn digits(app: &TestApp, leg: &Leg, digits: &str) -> Reply {
    parse(&digits_xml(app, leg, digits).await)
}

/// The `<Dial>` action after a bridged conversation of 31 s.
fn dial_action(leg: &Leg) -> Vec<(String, String)> {
    let mut p = params(leg, "in-progress");
    for (k, v) in [
        ("DialStatus", "completed"),
        ("DialRingStatus", "true"),
        ("DialHangupCause", "NORMAL_CLEARING"),
        ("DialALegUUID", leg.sid.as_str()),
        ("DialBLegUUID", "b9a8c7d6-0000-4000-8000-000000000031"),
        ("DialBLegDuration", "31"),
    ] {
        p.push((k.into(), v.into()));
    }
    p
}

pub async fn answered(app: &TestApp, leg: &Leg) {
    let r = post(app, "/plivo/hangup", &dial_action(leg)).await;
    assert_eq!(r.status(), 200);
    assert!(matches!(plivo_xml(r).await, Reply::Goodbye { .. }));
}

/// The application's Hangup URL: the standard parameters plus the end-of-call ones.
fn hangup_callback(leg: &Leg) -> Vec<(String, String)> {
    let mut p = params(leg, "completed");
    for (k, v) in [
        ("Duration", "58"),
        ("BillDuration", "60"),
        ("HangupCause", "NORMAL_CLEARING"),
    ] {
        p.push((k.into(), v.into()));
    }
    p
}

async fn order(app: &TestApp, pin: &str) {
    let r = app
        .post_order(serde_json::json!({
            "order_id": "OD-P1",
            "customer_number": scenarios::CUSTOMER,
            "pin": pin,
            "virtual_number": scenarios::VN,
        }))
        .await;
    assert_eq!(r.status(), 201);
}

async fn calls(app: &TestApp) -> Vec<serde_json::Value> {
    let (_, log) = app.get_json("/calls").await;
    log["calls"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_forged_plivo_request_gets_403_and_stores_nothing() {
    let app = scenarios::spawn().await;
    let leg = Leg::new("2f6c0a1e-forged", scenarios::COURIER);
    let good = params(&leg, "ringing");
    let url = format!("{PUBLIC_URL}/plivo/answer");
    let nonce = "31415926535897932384";
    let sig = signature(PLIVO_TOKEN, Method::Post, &url, &good, nonce);

    // A tampered parameter: the signature no longer matches.
    let mut tampered = good.clone();
    tampered[0].1 = "2f6c0a1e-other".into();
    // The signature of another URL (the Host the test connects to, not the public URL).
    let wrong_url = signature(
        PLIVO_TOKEN,
        Method::Post,
        &format!("{}/plivo/answer", app.address),
        &good,
        nonce,
    );
    // Signed as a GET of the same URL.
    let as_get = signature(PLIVO_TOKEN, Method::Get, &url, &good, nonce);
    /// (form body, `X-Plivo-Signature-V3`, `X-Plivo-Signature-V3-Nonce`)
    type Case<'a> = (&'a [(String, String)], Option<&'a str>, Option<&'a str>);
    let cases: [Case; 6] = [
        (&tampered, Some(&sig), Some(nonce)),
        (&good, Some(&wrong_url), Some(nonce)),
        (&good, None, Some(nonce)),
        (&good, Some(""), Some(nonce)),
        (&good, Some(&sig), None),
        (&good, Some(&as_get), Some(nonce)),
    ];
    for (i, (body, sig_header, nonce_header)) in cases.into_iter().enumerate() {
        for path in ["/plivo/answer", "/plivo/pin", "/plivo/hangup"] {
            let mut request = app.client.post(format!("{}{path}", app.address)).form(body);
            if let Some(h) = sig_header {
                request = request.header("X-Plivo-Signature-V3", h);
            }
            if let Some(n) = nonce_header {
                request = request.header("X-Plivo-Signature-V3-Nonce", n);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 403, "case {i} on {path}");
            assert_eq!(r.headers()["content-type"], "text/plain", "case {i}");
        }
    }
    assert!(calls(&app).await.is_empty(), "nothing stored");

    // The good signature passes, and stores the call.
    let r = app
        .client
        .post(format!("{}/plivo/answer", app.address))
        .header("X-Plivo-Signature-V3", &sig)
        .header("X-Plivo-Signature-V3-Nonce", nonce)
        .form(&good)
        .send()
        .await
        .unwrap();
    assert!(matches!(plivo_xml(r).await, Reply::Ask { .. }));
    assert_eq!(calls(&app).await.len(), 1);
}

#[tokio::test]
async fn several_comma_separated_signatures_and_the_main_account_header_are_accepted() {
    let app = scenarios::spawn().await;
    let leg = Leg::new("2f6c0a1e-multi", scenarios::COURIER);
    let p = params(&leg, "ringing");
    let url = format!("{PUBLIC_URL}/plivo/answer");
    let signed = |nonce: &str| {
        (
            signature(PLIVO_TOKEN, Method::Post, &url, &p, nonce),
            signature("a-rotated-out-token", Method::Post, &url, &p, nonce),
        )
    };
    for (i, name) in [
        "X-Plivo-Signature-V3",
        "X-Plivo-Signature-V3",
        "X-Plivo-Signature-Ma-V3",
    ]
    .into_iter()
    .enumerate()
    {
        // Each request has a nonce of its own, as Plivo sends.
        let nonce = nonce();
        let (good, other) = signed(&nonce);
        let value = match i {
            0 => format!("{other},{good}"),
            1 => format!("{good},{other}"),
            _ => good,
        };
        let r = app
            .client
            .post(format!("{}/plivo/answer", app.address))
            .header(name, &value)
            .header("X-Plivo-Signature-V3-Nonce", nonce)
            .form(&p)
            .send()
            .await
            .unwrap();
        assert!(matches!(plivo_xml(r).await, Reply::Ask { .. }), "{name}");
    }
    let nonce = nonce();
    let (_, other) = signed(&nonce);
    let r = app
        .client
        .post(format!("{}/plivo/answer", app.address))
        .header("X-Plivo-Signature-V3", format!("{other},{other}"))
        .header("X-Plivo-Signature-V3-Nonce", nonce)
        .form(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn plivo_get_requests_are_signed_over_the_sorted_query_string() {
    let app = scenarios::spawn().await;
    let leg = Leg::new("2f6c0a1e-get", scenarios::COURIER);
    let query = serde_urlencoded::to_string(params(&leg, "ringing")).unwrap();
    let nonce = "16180339887498948482";
    let sig = signature(
        PLIVO_TOKEN,
        Method::Get,
        &format!("{PUBLIC_URL}/plivo/answer?{query}"),
        &[],
        nonce,
    );
    let get = |q: String| {
        app.client
            .get(format!("{}/plivo/answer?{q}", app.address))
            .header("X-Plivo-Signature-V3", &sig)
            .header("X-Plivo-Signature-V3-Nonce", nonce)
            .send()
    };
    assert!(matches!(
        plivo_xml(get(query.clone()).await.unwrap()).await,
        Reply::Ask { .. }
    ));
    assert_eq!(get(format!("{query}&extra=1")).await.unwrap().status(), 403);
}

#[tokio::test]
async fn a_repeated_parameter_is_signed_as_sent_and_read_as_its_last_value() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("2f6c0a1e-twice", scenarios::COURIER);
    assert!(matches!(start(&app, &leg).await, Reply::Ask { .. }));
    let mut p = params(&leg, "in-progress");
    p.push(("Digits".into(), "9999".into()));
    p.push(("Digits".into(), "4821".into()));
    let reply = plivo_xml(post(&app, "/plivo/pin", &p).await).await;
    assert_eq!(
        reply,
        Reply::Dial {
            to: scenarios::CUSTOMER.into(),
            caller_id: scenarios::VN.into()
        }
    );
}

#[tokio::test]
async fn no_input_redirects_and_asks_again() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("2f6c0a1e-noinput", scenarios::COURIER);
    assert!(matches!(start(&app, &leg).await, Reply::Ask { .. }));
    // The <Redirect> after <GetInput>: the standard parameters only, no `Digits`.
    let again = plivo_xml(post(&app, "/plivo/pin", &params(&leg, "in-progress")).await).await;
    assert!(
        matches!(&again, Reply::Ask { text } if text.contains("did not")),
        "{again:?}"
    );
    assert_eq!(
        digits(&app, &leg, "4821").await,
        Reply::Dial {
            to: scenarios::CUSTOMER.into(),
            caller_id: scenarios::VN.into()
        }
    );
}

#[tokio::test]
async fn the_hangup_callback_after_the_dial_action_keeps_the_outcome() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let leg = Leg::new("2f6c0a1e-ends", scenarios::COURIER);
    start(&app, &leg).await;
    digits(&app, &leg, "4821").await;
    answered(&app, &leg).await;
    let r = post(&app, "/plivo/hangup", &hangup_callback(&leg)).await;
    assert!(matches!(plivo_xml(r).await, Reply::Goodbye { .. }));
    let record = app.call_record(&leg.sid).await;
    assert_eq!(record["provider"], "plivo");
    assert_eq!(record["outcome"], "connected", "{record}");
    assert_eq!(record["talk_seconds"], 31);
    assert_eq!(record["dial_call_status"], "completed");
    assert_eq!(record["caller"], scenarios::COURIER);
    assert_eq!(record["virtual_number"], scenarios::VN);
}

#[tokio::test]
async fn a_dial_timeout_is_no_answer_and_a_hangup_during_the_pin_is_abandoned() {
    let app = scenarios::spawn().await;
    order(&app, "4821").await;
    let rang_out = Leg::new("2f6c0a1e-timeout", scenarios::COURIER);
    start(&app, &rang_out).await;
    digits(&app, &rang_out, "4821").await;
    let mut p = params(&rang_out, "in-progress");
    for (k, v) in [
        ("DialStatus", "timeout"),
        ("DialRingStatus", "true"),
        ("DialHangupCause", "NO_ANSWER"),
        ("DialALegUUID", rang_out.sid.as_str()),
        ("DialBLegUUID", ""),
    ] {
        p.push((k.into(), v.into()));
    }
    assert_eq!(post(&app, "/plivo/hangup", &p).await.status(), 200);
    let record = app.call_record(&rang_out.sid).await;
    assert_eq!(record["outcome"], "no_answer", "{record}");
    assert_eq!(record["dial_call_status"], "timeout");
    assert!(record["talk_seconds"].is_null());

    let gave_up = Leg::new("2f6c0a1e-gaveup", scenarios::COURIER);
    start(&app, &gave_up).await;
    assert_eq!(
        post(&app, "/plivo/hangup", &hangup_callback(&gave_up))
            .await
            .status(),
        200
    );
    let record = app.call_record(&gave_up.sid).await;
    assert_eq!(record["outcome"], "abandoned", "{record}");
    assert!(record["ended_at"].is_string(), "{record}");
}

#[tokio::test]
async fn the_brand_is_xml_escaped_in_plivo_xml() {
    let app = crate::common::spawn_app_with(|s| {
        s.calls.brand = "Tom & Jerry's <Express>".into();
        s.server.public_url = Some(PUBLIC_URL.into());
        s.providers.plivo = Signing::Unsigned;
    })
    .await;
    let leg = Leg::new("2f6c0a1e-escape", scenarios::COURIER);
    let r = app
        .client
        .post(format!("{}/plivo/answer", app.address))
        .form(&params(&leg, "ringing"))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(!body.contains("Tom & Jerry"), "{body}");
    match parse(&body) {
        Reply::Ask { text } => assert!(text.contains("Tom & Jerry's <Express>"), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_requests_get_a_playable_answer_not_a_500() {
    // Unsigned, so that the malformed requests reach the parser.
    let app = crate::common::spawn_app_with(|s| {
        s.server.public_url = Some(PUBLIC_URL.into());
        s.providers.plivo = Signing::Unsigned;
    })
    .await;
    for (path, body) in [
        ("/plivo/answer", ""),
        ("/plivo/answer", "CallUUID=&From=&To="),
        ("/plivo/pin", "CallUUID=%zz&Digits=%%%"),
        (
            "/plivo/pin",
            "CallUUID=abc&From=notanumber&To=12&Digits=12345678901234567890",
        ),
        (
            "/plivo/hangup",
            "CallUUID=abc&DialStatus=weird&DialBLegDuration=-4",
        ),
        ("/plivo/hangup", "DialStatus=completed&DialBLegDuration=abc"),
    ] {
        let r = app
            .client
            .post(format!("{}{path}", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} {body}");
        let xml = r.text().await.unwrap();
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    }
}

#[tokio::test]
async fn a_plivo_nonce_is_accepted_once_and_its_replay_gets_403() {
    let app = scenarios::spawn().await;
    scenarios::order(&app, "OD-1", "4821").await;
    let leg = Leg::new("2f6c0a1e-replayed", scenarios::COURIER);
    start(&app, &leg).await;
    let mut p = params(&leg, "in-progress");
    p.push(("Digits".into(), "4821".into()));
    let url = format!("{PUBLIC_URL}/plivo/pin");
    let nonce = nonce();
    let sig = signature(PLIVO_TOKEN, Method::Post, &url, &p, &nonce);
    let send = || {
        app.client
            .post(format!("{}/plivo/pin", app.address))
            .header("X-Plivo-Signature-V3", &sig)
            .header("X-Plivo-Signature-V3-Nonce", &nonce)
            .form(&p)
            .send()
    };
    let first = plivo_xml(send().await.unwrap()).await;
    assert_eq!(
        first,
        Reply::Dial {
            to: scenarios::CUSTOMER.into(),
            caller_id: scenarios::VN.into()
        }
    );
    // The same request again, while the call is still live: refused, the number not repeated.
    let again = send().await.unwrap();
    assert_eq!(again.status(), 403);
    let body = again.text().await.unwrap();
    assert!(!body.contains("9812345678"), "{body}");
    let refused = app
        .metric_value("pinbridge_replays_refused_total{provider=\"plivo\"}")
        .await;
    assert!(refused.is_some_and(|n| n >= 1.0), "{refused:?}");
}
