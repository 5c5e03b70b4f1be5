//! Hostile input against every endpoint: SQL fragments, XML and template metacharacters,
//! invalid UTF-8, huge values, repeated keys, missing everything. Each gets a 4xx or a playable
//! answer, nothing wrong is stored, and every XML answer stays well-formed.

use pinbridge::config::Signing;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp, spawn_app_with};
use crate::scenarios::EIGHT_BY_EIGHT_SECRET;

/// Metacharacters of SQL, XML, askama/minijinja templates and JSON, in one brand name.
const NASTY_BRAND: &str = "Tom & Jerry's </Say><Hangup/> {{ 7*7 }} {% if x %} \"quoted\" ]]>";

const VALUES: [&str; 9] = [
    "'; drop table orders; --",
    "1 or 1=1",
    "</Say><Dial><Number>+19005550100</Number></Dial>",
    "{{ brand }}{% for x in y %}",
    "%FF%FE%00",
    "\u{202e}\u{0000}",
    "",
    "null",
    "+919812345678#*#*",
];

async fn spawn() -> TestApp {
    spawn_app_with(|s| {
        s.calls.brand = NASTY_BRAND.into();
        s.server.public_url = Some("https://masking.example.com".into());
        // The parsers behind the signature checks are what these tests attack.
        s.providers.twilio = Signing::Unsigned;
        s.providers.plivo = Signing::Unsigned;
        s.providers.vonage = Signing::Unsigned;
        s.providers.eight_by_eight_secret = Some(EIGHT_BY_EIGHT_SECRET.into());
    })
    .await
}

fn well_formed_if_xml(body: &str, content_type: &str, what: &str) {
    if content_type.contains("xml") {
        let doc = roxmltree::Document::parse(body)
            .unwrap_or_else(|e| panic!("{what}: not XML ({e}): {body}"));
        assert_eq!(doc.root_element().tag_name().name(), "Response", "{what}");
        assert!(
            !doc.descendants().any(|n| n.has_tag_name("Dial")),
            "{what}: a hostile request made pinbridge dial: {body}"
        );
    }
    if content_type.contains("json") {
        serde_json::from_str::<Value>(body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    }
}

async fn check(app: &TestApp, response: reqwest::Response, what: &str) {
    let status = response.status().as_u16();
    assert!(status < 500, "{what}: {status}");
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.text().await.unwrap_or_default();
    if status == 200 {
        well_formed_if_xml(&body, &ct, what);
        assert!(
            !body.contains("+19005550100"),
            "{what}: echoed a hostile number"
        );
    }
    let _ = app;
}

#[tokio::test]
async fn hostile_webhook_parameters_get_playable_answers_and_dial_no_one() {
    let app = spawn().await;
    app.create_order("OD-1", "4821").await;
    let exotel = [
        "greeting",
        "gather",
        "check-pin",
        "connect",
        "connect.json",
        "goodbye",
        "call-end",
    ];
    for value in VALUES {
        for key in [
            "CallSid",
            "CallFrom",
            "CallTo",
            "digits",
            "DialCallStatus",
            "Legs[0][Number]",
        ] {
            let q = format!("CallSid=hostile&{key}={}&{key}=again", urlencode(value));
            for applet in exotel {
                let r = app.exotel(applet, &q).await;
                check(&app, r, &format!("exotel {applet} {key}={value:?}")).await;
            }
            for path in [
                "/twilio/voice",
                "/twilio/pin",
                "/twilio/status",
                "/plivo/answer",
                "/plivo/pin",
                "/plivo/hangup",
            ] {
                let body = format!(
                    "CallSid=hostile&CallUUID=hostile&{key}={}&Digits={}",
                    urlencode(value),
                    urlencode(value)
                );
                let r = app
                    .client
                    .post(format!("{}{path}", app.address))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                check(&app, r, &format!("{path} {key}={value:?}")).await;
            }
        }
        for path in ["/vonage/pin", "/vonage/event"] {
            let body = json!({"dtmf": {"digits": value}, "from": value, "to": value, "uuid": value, "conversation_uuid": value, "status": value});
            let r = app
                .client
                .post(format!("{}{path}", app.address))
                .json(&body)
                .send()
                .await
                .unwrap();
            check(&app, r, &format!("{path} {value:?}")).await;
        }
        let vca = json!({"eventType": "CALL_ACTION", "payload": {"sessionId": value, "callId": value, "source": value, "destination": value, "callStatus": value, "eventData": {"dtmf": value}, "clientActionId": value}});
        let r = app
            .client
            .post(format!(
                "{}/8x8/{}/voice",
                app.address,
                app_8x8_secret(&app).await
            ))
            .json(&vca)
            .send()
            .await
            .unwrap();
        check(&app, r, &format!("8x8 voice {value:?}")).await;
    }
    // Invalid UTF-8 and binary bodies.
    for path in ["/twilio/voice", "/plivo/answer", "/vonage/pin"] {
        let r = app
            .client
            .post(format!("{}{path}", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![0xff, 0xfe, b'=', 0x00, b'&', 0xc3])
            .send()
            .await
            .unwrap();
        check(&app, r, &format!("{path} binary")).await;
    }
    // Nothing hostile was stored: every stored call id is a well-formed one.
    let (_, log) = app.get_json("/calls?limit=500").await;
    for call in log["calls"].as_array().unwrap() {
        let sid = call["call_sid"].as_str().unwrap();
        assert!(
            sid.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{sid}"
        );
        assert!(
            call["destination"].is_null(),
            "a hostile call was bridged: {call}"
        );
    }
    let (status, order) = app.get_json("/orders/OD-1").await;
    assert_eq!(
        (status, order["status"].as_str()),
        (200, Some("active")),
        "the orders table survived"
    );
}

async fn app_8x8_secret(_app: &TestApp) -> String {
    EIGHT_BY_EIGHT_SECRET.to_owned()
}

/// Call ids whoever posts a webhook may choose: one of 60 KB, and ones that hold a phone
/// number (and a token). None may reach a log line as sent: the log scan of CI
/// (`scripts/scan-logs.sh`) checks the lines these requests write.
fn hostile_call_ids() -> [String; 4] {
    [
        "a".repeat(60 * 1024),
        "09812345678".to_owned(),
        "919812345678.tok_s3cr3t".to_owned(),
        "+919812345678 token=s3cr3t".to_owned(),
    ]
}

/// Panics unless `r` is a provider answer a caller can hear: 200 (302 for Exotel's
/// check-pin), and TwiML or Plivo XML with something to say, a Vonage NCCO with an action,
/// or an 8x8 callflow.
async fn assert_playable(r: reqwest::Response, what: &str) {
    let status = r.status().as_u16();
    assert!(status == 200 || status == 302, "{what}: {status}");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = r.text().await.unwrap();
    if ct.contains("xml") {
        let doc = roxmltree::Document::parse(&body).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            doc.descendants().any(|n| {
                [
                    "Say",
                    "Speak",
                    "Play",
                    "Gather",
                    "GetDigits",
                    "GetInput",
                    "Hangup",
                ]
                .iter()
                .any(|t| n.has_tag_name(*t))
            }),
            "{what}: nothing to play in {body}"
        );
    } else if ct.contains("json") {
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}"));
        let actions = v.as_array().map_or(v.is_object(), |a| !a.is_empty());
        assert!(actions, "{what}: {body}");
    }
}

#[tokio::test]
async fn huge_call_ids_and_call_ids_holding_a_phone_number_get_playable_answers() {
    // Unsigned, so that the hostile ids reach the parsers and the log.
    let app = spawn_app_with(|s| {
        s.providers.eight_by_eight_secret = Some(EIGHT_BY_EIGHT_SECRET.into());
        s.providers.twilio = Signing::Unsigned;
        s.providers.plivo = Signing::Unsigned;
        s.providers.vonage = Signing::Unsigned;
    })
    .await;
    for sid in hostile_call_ids() {
        let what = |p: &str| format!("{p} with a CallSid of {} bytes", sid.len());
        for (path, id_key) in [
            ("/twilio/voice", "CallSid"),
            ("/twilio/pin", "CallSid"),
            ("/plivo/answer", "CallUUID"),
            ("/plivo/pin", "CallUUID"),
        ] {
            let r = app
                .client
                .post(format!("{}{path}", app.address))
                .form(&[
                    (id_key, sid.as_str()),
                    ("From", "+917709562799"),
                    ("To", "+917314853246"),
                    ("Digits", "4821"),
                ])
                .send()
                .await
                .unwrap();
            assert_playable(r, &what(path)).await;
        }
        for path in ["/vonage/answer", "/vonage/pin"] {
            let r = app
                .client
                .post(format!("{}{path}", app.address))
                .json(&json!({"uuid": sid, "from": "917709562799",
                              "to": "917314853246", "dtmf": {"digits": "4821"}}))
                .send()
                .await
                .unwrap();
            assert_playable(r, &what(path)).await;
        }
        let r = app
            .client
            .post(format!("{}/8x8/{EIGHT_BY_EIGHT_SECRET}/voice", app.address))
            .json(
                &json!({"namespace": "VOICE", "eventType": "CALL_ACTION", "payload": {
                "sessionId": sid, "callId": "call-1", "callStatus": "CALL_RECEIVED",
                "source": "+917709562799", "destination": "+917314853246"}}),
            )
            .send()
            .await
            .unwrap();
        assert_playable(r, &what("8x8 voice")).await;
        // Exotel's applets are GET requests, whose query string is bounded (8 KB): the
        // largest CallSid that fits.
        let exotel_sid: String = sid.chars().take(7 * 1024).collect();
        let mut call = crate::common::Call::new(&exotel_sid);
        call.from = "07709562799".into();
        for applet in ["greeting", "check-pin", "connect", "call-end"] {
            let r = app.exotel(applet, &call.query(Some("4821"))).await;
            assert_playable(r, &what(&format!("exotel {applet}"))).await;
        }
        // Exotel's status callback of a click-to-call is a POST: the whole 60 KB.
        let r = app
            .client
            .post(app.exotel_url("status"))
            .form(&[("CallSid", sid.as_str()), ("Status", "completed")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", what("exotel status"));
        for (status, id_key) in [("/twilio/status", "CallSid"), ("/plivo/hangup", "CallUUID")] {
            let r = app
                .client
                .post(format!("{}{status}", app.address))
                .form(&[(id_key, sid.as_str()), ("CallStatus", "completed")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", what(status));
        }
        let r = app
            .client
            .post(format!("{}/vonage/event", app.address))
            .json(&json!({"uuid": sid, "status": "completed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", what("/vonage/event"));
    }
    // The ids that fit a call id were kept for their calls, as sent; the others refused.
    let (_, log) = app.get_json("/calls?limit=500").await;
    let stored: Vec<&str> = log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["call_sid"].as_str())
        .collect();
    assert!(stored.contains(&"09812345678"), "{stored:?}");
    assert!(stored.iter().all(|s| s.len() <= 64), "{stored:?}");
}

#[tokio::test]
async fn hostile_admin_api_input_gets_a_4xx_and_stores_nothing() {
    let app = spawn().await;
    for value in VALUES {
        for body in [
            json!({"order_id": value, "customer_number": value}),
            json!({"order_id": "OD-x", "customer_number": "09812345678", "pin": value}),
            json!({"order_id": "OD-x", "customer_number": "09812345678", "virtual_number": value}),
            json!({"order_id": "OD-x", "customer_number": "09812345678", "expires_at": value}),
            json!({"order_id": "OD-x", "customer_number": "09812345678", "allowed_callers": [value]}),
        ] {
            let r = app.post_order(body.clone()).await;
            let status = r.status().as_u16();
            assert!(
                (400..500).contains(&status) || status == 201,
                "{body}: {status}"
            );
            if status == 201 {
                // Only a harmless order id with a valid number may be stored, as given.
                let o: Value = r.json().await.unwrap();
                assert_eq!(o["customer_number"], "+919812345678", "{body}");
                app.client
                    .delete(app.api(&format!(
                        "/orders/{}",
                        urlencode(o["order_id"].as_str().unwrap())
                    )))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap();
                app.sql("delete from orders").await;
            }
        }
        for path in [
            format!("/orders/{}", urlencode(value)),
            format!("/bookings/{}", urlencode(value)),
            format!(
                "/calls?call_sid={}&number={}",
                urlencode(value),
                urlencode(value)
            ),
        ] {
            let r = app
                .client
                .get(app.api(&path))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            assert!(r.status().as_u16() < 500, "{path}");
        }
    }
    let duplicated = app
        .client
        .post(app.api("/orders"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"order_id":"A","order_id":"B","customer_number":"09812345678"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        duplicated.status(),
        400,
        "a repeated key is refused, not silently resolved"
    );
}

#[tokio::test]
async fn the_brand_lands_escaped_in_every_wire_format() {
    let app = spawn().await;
    let exotel = app
        .exotel("greeting", "CallSid=brand-1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        exotel,
        format!("Welcome to {NASTY_BRAND}."),
        "text/plain carries it as is"
    );
    let twiml = app
        .client
        .post(format!("{}/twilio/voice", app.address))
        .form(&[
            ("CallSid", "CAbrand"),
            ("From", "+917709562799"),
            ("To", "+917314853246"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&twiml).unwrap();
    let said: String = doc
        .descendants()
        .filter(|n| n.has_tag_name("Say"))
        .filter_map(|n| n.text())
        .collect();
    assert!(said.contains(NASTY_BRAND), "{said}");
    let plivo = app
        .client
        .post(format!("{}/plivo/answer", app.address))
        .form(&[
            ("CallUUID", "brand-plivo"),
            ("From", "917709562799"),
            ("To", "917314853246"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&plivo).unwrap();
    let spoken: String = doc
        .descendants()
        .filter(|n| n.has_tag_name("Speak"))
        .filter_map(|n| n.text())
        .collect();
    assert!(spoken.contains(NASTY_BRAND), "{spoken}");
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned()
}
