//! Twilio: requests shaped and signed as Twilio sends them, TwiML parsed structurally.

use pinbridge::config::Signing;
use pinbridge::providers::twilio::auth::signature;
use reqwest::Response;

use crate::common::TestApp;
use crate::scenarios::{self, Leg, PUBLIC_URL, Reply, TWILIO_TOKEN};

/// The parameters of Twilio's incoming-call request (twilio.com/docs/usage/webhooks/voice-webhooks).
fn params(leg: &Leg) -> Vec<(String, String)> {
    [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", leg.sid.as_str()),
        ("CallStatus", "ringing"),
        ("Called", leg.to.as_str()),
        ("Caller", leg.from.as_str()),
        ("Direction", "inbound"),
        ("From", leg.from.as_str()),
        ("FromCountry", "IN"),
        ("To", leg.to.as_str()),
        ("ToCountry", "IN"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// The TwiML Twilio gets when a call to `to` comes in.
pub async fn voice_twiml(app: &TestApp, sid: &str, to: &str) -> String {
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+917709562799"),
        ("To", to),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let r = post(app, "/twilio/voice", &params).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// POSTs `params` as a form to `path`, signed over the public URL with the test token.
pub async fn post(app: &TestApp, path: &str, params: &[(String, String)]) -> Response {
    let sig = signature(TWILIO_TOKEN, &format!("{PUBLIC_URL}{path}"), params);
    app.client
        .post(format!("{}{path}", app.address))
        .header("X-Twilio-Signature", sig)
        .form(params)
        .send()
        .await
        .unwrap()
}

/// Parses TwiML into a neutral reply, checking its structure on the way.
pub fn parse(xml: &str) -> Reply {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not XML ({e}): {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    let says = |n: roxmltree::Node| {
        n.descendants()
            .filter(|d| d.has_tag_name("Say"))
            .filter_map(|d| d.text())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if let Some(gather) = root.children().find(|n| n.has_tag_name("Gather")) {
        assert_eq!(gather.attribute("input"), Some("dtmf"));
        assert_eq!(gather.attribute("finishOnKey"), Some("#"));
        assert_eq!(
            gather.attribute("action"),
            Some(&*format!("{PUBLIC_URL}/twilio/pin"))
        );
        return Reply::Ask { text: says(gather) };
    }
    if let Some(dial) = root.children().find(|n| n.has_tag_name("Dial")) {
        let number = dial
            .children()
            .find(|n| n.has_tag_name("Number"))
            .expect("<Number>");
        assert_eq!(
            dial.attribute("action"),
            Some(&*format!("{PUBLIC_URL}/twilio/status"))
        );
        return Reply::Dial {
            to: number.text().unwrap().trim().into(),
            caller_id: dial.attribute("callerId").unwrap().into(),
        };
    }
    assert!(root.children().any(|n| n.has_tag_name("Hangup")), "{xml}");
    Reply::Goodbye { text: says(root) }
}

async fn twiml_text(r: Response) -> String {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml");
    r.text().await.unwrap()
}

async fn twiml(r: Response) -> Reply {
    parse(&twiml_text(r).await)
}

/// The TwiML answering the call's first request.
pub async fn start_xml(app: &TestApp, leg: &Leg) -> String {
    twiml_text(post(app, "/twilio/voice", &params(leg)).await).await
}

pub async fn start(app: &TestApp, leg: &Leg) -> Reply {
    parse(&start_xml(app, leg).await)
}

/// The TwiML answering the `<Gather>` action with `digits`.
pub async fn digits_xml(app: &TestApp, leg: &Leg, digits: &str) -> String {
    let mut p = params(leg);
    p.push(("Digits".into(), digits.into()));
    p.push(("FinishedOnKey".into(), "#".into()));
    twiml_text(post(app, "/twilio/pin", &p).await).await
}

pub async fn digits(app: &TestApp, leg: &Leg, digits: &str) -> Reply {
    parse(&digits_xml(app, leg, digits).await)
}

pub async fn answered(app: &TestApp, leg: &Leg) {
    let mut p = params(leg);
    for (k, v) in [
        ("DialCallStatus", "completed"),
        ("DialCallSid", "CA11111111111111111111111111111111"),
        ("DialCallDuration", "31"),
        ("CallStatus", "in-progress"),
    ] {
        p.push((k.into(), v.into()));
    }
    let r = post(app, "/twilio/status", &p).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_forged_twilio_request_gets_403_and_stores_nothing() {
    let app = scenarios::spawn().await;
    let leg = Leg::new("CAforged", scenarios::COURIER);
    let good = params(&leg);
    let sig = signature(TWILIO_TOKEN, &format!("{PUBLIC_URL}/twilio/voice"), &good);

    // A tampered parameter: the signature no longer matches.
    let mut tampered = good.clone();
    tampered[2].1 = "CAother".into();
    // The signature of another URL (the Host the test connects to, not the public URL).
    let wrong_url = signature(
        TWILIO_TOKEN,
        &format!("{}/twilio/voice", app.address),
        &good,
    );
    type Case<'a> = (&'a [(String, String)], Option<&'a str>);
    let cases: [Case; 4] = [
        (&tampered, Some(&sig)),
        (&good, Some(&wrong_url)),
        (&good, None),
        (&good, Some("")),
    ];
    for (body, header) in cases {
        let mut request = app
            .client
            .post(format!("{}/twilio/voice", app.address))
            .form(body);
        if let Some(h) = header {
            request = request.header("X-Twilio-Signature", h);
        }
        assert_eq!(request.send().await.unwrap().status(), 403);
    }
    let (_, log) = app.get_json("/calls").await;
    assert_eq!(log["calls"].as_array().unwrap().len(), 0, "nothing stored");
}

#[tokio::test]
async fn a_repeated_parameter_is_signed_as_sent_and_read_as_its_last_value() {
    let app = scenarios::spawn().await;
    scenarios::order(&app, "OD-T2", "4821").await;
    let leg = Leg::new("CAtwice", scenarios::COURIER);
    assert!(matches!(start(&app, &leg).await, Reply::Ask { .. }));
    let mut p = params(&leg);
    p.push(("Digits".into(), "9999".into()));
    p.push(("Digits".into(), "4821".into()));
    let reply = twiml(post(&app, "/twilio/pin", &p).await).await;
    assert_eq!(
        reply,
        Reply::Dial {
            to: scenarios::CUSTOMER.into(),
            caller_id: scenarios::VN.into()
        }
    );
}

#[tokio::test]
async fn twilio_get_requests_are_signed_over_the_query_string() {
    let app = scenarios::spawn().await;
    let leg = Leg::new("CAget", scenarios::COURIER);
    let query = serde_urlencoded::to_string(params(&leg)).unwrap();
    let sig = signature(
        TWILIO_TOKEN,
        &format!("{PUBLIC_URL}/twilio/voice?{query}"),
        &[],
    );
    let r = app
        .client
        .get(format!("{}/twilio/voice?{query}", app.address))
        .header("X-Twilio-Signature", &sig)
        .send()
        .await
        .unwrap();
    assert!(matches!(twiml(r).await, Reply::Ask { .. }));
    let r = app
        .client
        .get(format!("{}/twilio/voice?{query}&extra=1", app.address))
        .header("X-Twilio-Signature", &sig)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_brand_is_xml_escaped_in_twiml() {
    let app = crate::common::spawn_app_with(|s| {
        s.calls.brand = "Tom & Jerry's <Express>".into();
        s.server.public_url = Some(PUBLIC_URL.into());
        s.providers.twilio = Signing::Signed(TWILIO_TOKEN.into());
    })
    .await;
    let leg = Leg::new("CAescape", scenarios::COURIER);
    let r = post(&app, "/twilio/voice", &params(&leg)).await;
    let body = r.text().await.unwrap();
    match parse(&body) {
        Reply::Ask { text } => assert!(text.contains("Tom & Jerry's <Express>"), "{text}"),
        other => panic!("{other:?}"),
    }
}
