//! What a bridge carries, end to end on every provider: a virtual number's, order's or
//! booking's own limits, recording in two channels with the recording consent, the whisper to
//! the dialled party, and the recording's URL stored from the provider's callback, each request
//! signed as the provider signs it. The bookings speak Hindi: every word said carries the
//! Hindi voice of its provider.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp};
use crate::scenarios::{self, COURIER, CUSTOMER, Leg, VN};

/// The shipped Hindi recording consent (`templates/prompts/hi/`).
fn consent() -> String {
    pinbridge::call::prompts::Voice::plain("x", 3)
        .in_language(Some("hi"))
        .consent()
        .words()
        .unwrap()
        .to_owned()
}

/// The booking's reference, whose last digits the shipped whisper says.
const REFERENCE: &str = "RIDE-4242";
const REFERENCE_DIGITS: &str = "4 2 4 2";

/// Adds the scenarios' virtual number to the pool for `provider` and books the courier
/// (party A) with the customer (party B) on it, recorded and whispered, in Hindi.
async fn recorded_booking(app: &TestApp, provider: &str) -> Value {
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": provider, "ring_timeout_secs": 25}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, booking) = app
        .post_json(
            "/bookings",
            &json!({
                "party_a": COURIER, "party_b": CUSTOMER, "reference": REFERENCE,
                "virtual_number": VN, "record": true, "whisper": true, "language": "HI",
                "max_conversation_secs": 900,
            }),
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["record"], true);
    assert_eq!(booking["whisper"], true);
    assert_eq!(booking["language"], "hi");
    assert_eq!(booking["max_conversation_secs"], 900);
    assert_eq!(booking["ring_timeout_secs"], Value::Null);
    booking
}

/// Every `tag` (`Say`, `Speak`) of `xml` is read in Hindi by `voice`, and there is one.
fn all_hindi(xml: &str, tag: &str, voice: &str) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let said: Vec<_> = doc.descendants().filter(|n| n.has_tag_name(tag)).collect();
    assert!(!said.is_empty(), "{xml}");
    for n in said {
        assert_eq!(n.attribute("language"), Some("hi-IN"), "{xml}");
        assert_eq!(n.attribute("voice"), Some(voice), "{xml}");
    }
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn twilio_says_the_consent_records_two_channels_whispers_and_stores_the_recording() {
    let app = scenarios::spawn().await;
    recorded_booking(&app, "twilio").await;
    let sid = "CA0000000000000000000000000000b001";
    let voice = form(&[
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", COURIER),
        ("To", VN),
    ]);
    let r = crate::twilio::post(&app, "/twilio/voice", &voice).await;
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    all_hindi(&xml, "Say", "Polly.Aditi");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    let elements: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(elements[0].tag_name().name(), "Say", "{xml}");
    assert_eq!(elements[0].text(), Some(consent().as_str()));
    let dial = elements[1];
    assert_eq!(dial.tag_name().name(), "Dial", "{xml}");
    assert_eq!(
        dial.attribute("timeout"),
        Some("25"),
        "the number's ring time"
    );
    assert_eq!(
        dial.attribute("timeLimit"),
        Some("900"),
        "the booking's limit"
    );
    assert_eq!(dial.attribute("record"), Some("record-from-answer-dual"));
    let recording = format!("{}/twilio/recording", scenarios::PUBLIC_URL);
    assert_eq!(
        dial.attribute("recordingStatusCallback"),
        Some(recording.as_str())
    );
    let number = dial.children().find(|n| n.has_tag_name("Number")).unwrap();
    assert_eq!(number.text(), Some(CUSTOMER));
    let whisper = format!("{}/twilio/whisper", scenarios::PUBLIC_URL);
    assert_eq!(number.attribute("url"), Some(whisper.as_str()));

    // The dialled party's leg answers: Twilio fetches the <Number url> with the parent's sid.
    let leg = form(&[
        ("CallSid", "CA0000000000000000000000000000c001"),
        ("ParentCallSid", sid),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-dial"),
        ("From", VN),
        ("To", CUSTOMER),
    ]);
    let r = crate::twilio::post(&app, "/twilio/whisper", &leg).await;
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    all_hindi(&xml, "Say", "Polly.Aditi");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let says: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Say"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(says.len(), 2, "{xml}");
    assert_eq!(says[0], consent());
    assert!(says[1].contains(REFERENCE_DIGITS), "the whisper: {xml}");

    // A whisper request not signed by Twilio gets 403.
    let forged = app
        .client
        .post(format!("{}/twilio/whisper", app.address))
        .header("X-Twilio-Signature", "forged")
        .form(&leg)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // The bridged call ends, then its recording is ready: the URL goes to the call log and
    // the outcome stays as the end reported it.
    let ended = form(&[
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("CallSid", sid),
        ("CallStatus", "completed"),
        ("DialCallStatus", "completed"),
        ("DialCallDuration", "42"),
        ("From", COURIER),
        ("To", VN),
    ]);
    assert_eq!(
        crate::twilio::post(&app, "/twilio/status", &ended)
            .await
            .status(),
        200
    );
    let before = app.call_record(sid).await;
    assert_eq!(before["outcome"], "connected");
    assert_eq!(before["recording_url"], Value::Null);
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE0001";
    let status = form(&[
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("CallSid", sid),
        ("RecordingSid", "RE0001"),
        ("RecordingUrl", url),
        ("RecordingStatus", "completed"),
        ("RecordingChannels", "2"),
    ]);
    let r = crate::twilio::post(&app, "/twilio/recording", &status).await;
    assert!(r.status().is_success());
    let record = app.call_record(sid).await;
    assert_eq!(record["recording_url"], url);
    assert_eq!(record["route"], "booking");
    assert_eq!(record["outcome"], "connected");
    assert_eq!(before["talk_seconds"], 42);
    assert_eq!(record["talk_seconds"], 42);
    assert!(before["ended_at"].is_string());
    assert_eq!(record["ended_at"], before["ended_at"]);
}

#[tokio::test]
async fn exotel_programmable_connect_carries_the_limits_dual_recording_and_the_consent_to_both() {
    let app = scenarios::spawn().await;
    recorded_booking(&app, "exotel").await;
    let query = format!(
        "CallSid=exo-b-1&{}&Direction=incoming",
        serde_urlencoded::to_string([("CallFrom", COURIER), ("CallTo", VN)]).unwrap()
    );
    let json = app.exotel_json("connect.json", &query).await;
    assert_eq!(json["destination"]["numbers"], json!([CUSTOMER]));
    assert_eq!(json["max_ringing_duration"], 25);
    assert_eq!(json["max_conversation_duration"], 900);
    assert_eq!(json["record"], true);
    assert_eq!(json["recording_channels"], "dual");
    let playback = &json["start_call_playback"];
    assert_eq!(playback["playback_to"], "both");
    assert_eq!(playback["type"], "text");
    let said = playback["value"].as_str().unwrap();
    assert!(said.starts_with(&consent()), "{said}");
    assert!(said.contains(REFERENCE_DIGITS), "{said}");

    // Exotel's end-of-call Passthru carries the recording: its URL reaches the call log.
    let url = "https://s3-ap-southeast-1.amazonaws.com/exotelrecordings/acme/exo-b-1.mp3";
    let end = format!(
        "{query}&CallType=completed&DialCallStatus=completed&DialCallDuration=40&{}",
        serde_urlencoded::to_string([("RecordingUrl", url)]).unwrap()
    );
    assert_eq!(app.exotel("call-end", &end).await.status(), 200);
    let record = app.call_record("exo-b-1").await;
    assert_eq!(record["recording_url"], url);
    assert_eq!(record["outcome"], "connected");

    // The number's record turned off, the booking's own still records.
    let (status, number) = app
        .patch_json(
            "/virtual-numbers/%2B917314853246",
            &json!({"record": false, "ring_timeout_secs": null}),
        )
        .await;
    assert_eq!(status, 200, "{number}");
    assert_eq!(number["record"], false);
    assert_eq!(number["ring_timeout_secs"], Value::Null);
    let json = app
        .exotel_json("connect.json", &query.replace("exo-b-1", "exo-b-2"))
        .await;
    assert_eq!(json["record"], true);
    assert_eq!(json["max_ringing_duration"], 45, "the setting again");
}

#[tokio::test]
async fn plivo_speaks_the_consent_records_and_whispers_through_confirm_sound() {
    let app = scenarios::spawn().await;
    recorded_booking(&app, "plivo").await;
    let uuid = "plivo-b-0001";
    let answer = form(&[
        ("CallUUID", uuid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", COURIER.trim_start_matches('+')),
        ("To", VN.trim_start_matches('+')),
    ]);
    let r = crate::plivo::post(&app, "/plivo/answer", &answer).await;
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    all_hindi(&xml, "Speak", "Polly.Aditi");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let elements: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .collect();
    let names: Vec<&str> = elements.iter().map(|n| n.tag_name().name()).collect();
    assert_eq!(names, ["Speak", "Record", "Dial"], "{xml}");
    assert_eq!(elements[0].text(), Some(consent().as_str()));
    assert_eq!(elements[1].attribute("startOnDialAnswer"), Some("true"));
    assert_eq!(elements[1].attribute("recordChannelType"), Some("stereo"));
    let dial = elements[2];
    assert_eq!(dial.attribute("timeout"), Some("25"));
    assert_eq!(dial.attribute("timeLimit"), Some("900"));
    let confirm = dial.attribute("confirmSound").expect("a confirmSound");
    assert_eq!(
        confirm,
        format!("{}/plivo/whisper?call={uuid}", scenarios::PUBLIC_URL)
    );
    assert_eq!(dial.attribute("confirmKey"), None);

    // Plivo fetches the confirmSound (POST, signed) when the dialled party answers.
    let path = format!("/plivo/whisper?call={uuid}");
    let leg = form(&[
        ("CallUUID", "plivo-b-leg"),
        ("From", VN.trim_start_matches('+')),
        ("To", CUSTOMER.trim_start_matches('+')),
    ]);
    let r = crate::plivo::post(&app, &path, &leg).await;
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    all_hindi(&xml, "Speak", "Polly.Aditi");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let speaks: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Speak"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(speaks.len(), 2, "{xml}");
    assert_eq!(speaks[0], consent());
    assert!(speaks[1].contains(REFERENCE_DIGITS), "{xml}");

    // Unsigned, it is refused and says nothing.
    let forged = app
        .client
        .post(format!("{}{path}", app.address))
        .form(&leg)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // The <Record> action posts the recording to /plivo/hangup: its URL reaches the call log.
    let url = "https://media.plivo.com/v1/Account/MA0/Recording/rec-0001.mp3";
    let recorded = form(&[
        ("CallUUID", uuid),
        ("From", COURIER.trim_start_matches('+')),
        ("To", VN.trim_start_matches('+')),
        ("RecordUrl", url),
        ("RecordingID", "rec-0001"),
        ("RecordingDuration", "31"),
    ]);
    let r = crate::plivo::post(&app, "/plivo/hangup", &recorded).await;
    assert_eq!(r.status(), 200);
    let record = app.call_record(uuid).await;
    assert_eq!(record["recording_url"], url);
    assert_eq!(record["route"], "booking");
}

#[tokio::test]
async fn vonage_talks_the_consent_records_split_and_whispers_on_answer_then_stores_the_recording() {
    let app = scenarios::spawn().await;
    recorded_booking(&app, "vonage").await;
    let leg = Leg::new("vonage-b-1", COURIER);
    let r = crate::vonage::get_signed(&app, "/vonage/answer", &crate::vonage::answer_params(&leg))
        .await;
    assert_eq!(r.status(), 200);
    let ncco: Value = r.json().await.unwrap();
    let actions = ncco.as_array().unwrap();
    assert_eq!(actions[0]["action"], "talk", "{ncco}");
    assert_eq!(actions[0]["text"], consent());
    assert_eq!(actions[0]["language"], "hi-IN");
    assert_eq!(actions[1]["action"], "record");
    assert_eq!(actions[1]["split"], "conversation");
    assert_eq!(actions[1]["channels"], 2);
    let connect = &actions[2];
    assert_eq!(connect["action"], "connect");
    assert_eq!(connect["timeout"], 25);
    assert_eq!(connect["limit"], 900);
    let conversation = crate::vonage::conversation(&leg);
    let on_answer = connect["endpoint"][0]["onAnswer"]["url"].as_str().unwrap();
    assert_eq!(
        on_answer,
        format!(
            "{}/vonage/whisper?call={conversation}",
            scenarios::PUBLIC_URL
        )
    );

    // Vonage fetches onAnswer (GET, signed) on the dialled party's leg.
    let r = crate::vonage::get_signed(
        &app,
        "/vonage/whisper",
        &[
            ("call", conversation.clone()),
            ("uuid", "callee-leg-uuid".into()),
            ("conversation_uuid", "callee-conversation".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let whisper: Value = r.json().await.unwrap();
    let talk = whisper[0]["text"].as_str().unwrap();
    assert_eq!(whisper[0]["action"], "talk", "{whisper}");
    assert_eq!(whisper[0]["language"], "hi-IN", "{whisper}");
    assert!(talk.starts_with(&consent()), "{talk}");
    assert!(talk.contains(REFERENCE_DIGITS), "{talk}");
    let forged = app
        .client
        .get(format!(
            "{}/vonage/whisper?call={conversation}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // The record action's event carries the recording's URL.
    let url = "https://api.nexmo.com/v1/files/aaaaaaaa-bbbb-cccc-dddd-0123456789ab";
    let r = crate::vonage::post_signed(
        &app,
        "/vonage/event",
        &json!({
            "start_time": "2026-01-01T12:00:00Z", "end_time": "2026-01-01T12:01:00Z",
            "recording_url": url, "recording_uuid": "rec-1", "size": 12345,
            "conversation_uuid": conversation, "timestamp": "2026-01-01T12:01:01Z",
            "from": VN.trim_start_matches('+'),
        }),
    )
    .await;
    assert!(r.status().is_success());
    assert_eq!(app.call_record(&conversation).await["recording_url"], url);
}

#[tokio::test]
async fn eight_by_eight_says_the_consent_records_and_stores_the_uploaded_recording() {
    let app = scenarios::spawn().await;
    recorded_booking(&app, "8x8").await;
    let leg = Leg::new("e8-b-1", COURIER);
    let r = crate::eight_by_eight::post(
        &app,
        "voice",
        &crate::eight_by_eight::call_action(&leg, None),
    )
    .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let flow = answer["callflow"].as_array().unwrap();
    assert_eq!(flow[0]["action"], "say", "{answer}");
    assert_eq!(flow[0]["params"]["text"], consent());
    assert_eq!(flow[0]["params"]["voiceProfile"], "hi-IN-SwaraNeural");
    assert_eq!(flow[1]["action"], "makeCall");
    assert_eq!(flow[1]["params"]["callRecording"], true);
    assert_eq!(flow[1]["params"]["destination"], CUSTOMER);

    let session = crate::eight_by_eight::record_sid(&leg);
    let file = format!("recordings/2026-01-01/{session}/rec-1.mp3");
    let r = crate::eight_by_eight::post(
        &app,
        "recording",
        &json!({
            "namespace": "VOICE",
            "eventType": "CALL_RECORDING_STATUS",
            "description": "Call recording status updated",
            "payload": {"sessionId": session, "recordingId": "rec-1", "durationSeconds": 25,
                        "filePath": file, "status": "UPLOAD_COMPLETED"}
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.call_record(&session).await["recording_url"], file);
    // The same webhook with a wrong secret is refused.
    let wrong = app
        .client
        .post(format!("{}/8x8/not-the-secret/recording", app.address))
        .json(&json!({"payload": {"sessionId": session, "filePath": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
}

#[tokio::test]
async fn an_order_s_call_options_are_checked_shown_changed_and_cleared() {
    let app = scenarios::spawn().await;
    for (body, code, field) in [
        (
            json!({"ring_timeout_secs": 4}),
            "invalid_ring_timeout_secs",
            "ring_timeout_secs",
        ),
        (
            json!({"ring_timeout_secs": 121}),
            "invalid_ring_timeout_secs",
            "ring_timeout_secs",
        ),
        (
            json!({"max_conversation_secs": 59}),
            "invalid_max_conversation_secs",
            "max_conversation_secs",
        ),
        (
            json!({"max_conversation_secs": 14401}),
            "invalid_max_conversation_secs",
            "max_conversation_secs",
        ),
        (
            json!({"language": "english"}),
            "invalid_language",
            "language",
        ),
    ] {
        let mut order = json!({"order_id": "OD-OPT", "customer_number": CUSTOMER, "pin": "4821"});
        order
            .as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (status, error) = app.post_json("/orders", &order).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error"]["code"], code, "{body}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    // Nothing was created by a refused body.
    let (status, _) = app.get_json("/orders/OD-OPT").await;
    assert_eq!(status, 404);

    let (status, order) = app
        .post_json(
            "/orders",
            &json!({"order_id": "OD-OPT", "customer_number": CUSTOMER, "pin": "4821",
                    "language": "hi", "record": true}),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["language"], "hi");
    assert_eq!(order["record"], true);
    assert_eq!(order["whisper"], Value::Null);

    let (status, changed) = app
        .patch_json(
            "/orders/OD-OPT",
            &json!({"record": null, "whisper": true, "ring_timeout_secs": 30}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["record"], Value::Null);
    assert_eq!(changed["whisper"], true);
    assert_eq!(changed["ring_timeout_secs"], 30);
    assert_eq!(changed["language"], "hi", "absent: kept");
    let (_, read) = app.get_json("/orders/OD-OPT").await;
    assert_eq!(read["whisper"], true);
    assert_eq!(read["record"], Value::Null);
    let (_, page) = app.get_json("/orders").await;
    assert_eq!(page["orders"][0]["ring_timeout_secs"], 30);

    let (status, error) = app
        .patch_json("/orders/OD-OPT", &json!({"max_conversation_secs": 5}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "invalid_max_conversation_secs");
    let (status, error) = app
        .patch_json("/virtual-numbers/%2B917314853246", &json!({"record": true}))
        .await;
    assert_eq!(status, 404, "{error}");
    assert_eq!(error["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_booking_patch_changes_only_its_options_and_refuses_an_empty_body() {
    let app = scenarios::spawn().await;
    let booking = recorded_booking(&app, "twilio").await;
    let path = format!("/bookings/{}", booking["booking_id"].as_str().unwrap());
    let (status, changed) = app
        .patch_json(&path, &json!({"whisper": false, "language": null}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["whisper"], false);
    assert_eq!(changed["language"], Value::Null);
    assert_eq!(changed["record"], true);
    assert_eq!(changed["expires_at"], booking["expires_at"]);
    let (status, error) = app.patch_json(&path, &json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "invalid_body");
    let _ = ADMIN_TOKEN;
}

#[tokio::test]
async fn the_admin_ui_sets_a_number_s_call_options_and_names_a_bad_field_by_its_label() {
    use crate::helpers::{admin_get, admin_post, admin_sign_in};
    let app = scenarios::spawn().await;
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "exotel"}),
        )
        .await;
    assert_eq!(status, 201);
    let cookie = admin_sign_in(&app).await;
    let (_, page) = admin_get(&app, &cookie, "/admin/bookings").await;
    assert!(page.contains("Call options of a number"), "{page}");
    let csrf = crate::common::admin_csrf(&page);

    let r = admin_post(
        &app,
        &cookie,
        "/admin/numbers/options",
        &[
            ("csrf", csrf.as_str()),
            ("opt_number", VN),
            ("opt_ring_timeout_secs", "500"),
            ("opt_max_conversation_secs", ""),
            ("opt_record", "on"),
            ("opt_whisper", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("Ring time in seconds"), "{page}");
    assert!(
        page.contains("A whole number of seconds from 5 to 120"),
        "{page}"
    );
    let (_, number) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["record"], Value::Null, "nothing saved");

    let r = admin_post(
        &app,
        &cookie,
        "/admin/numbers/options",
        &[
            ("csrf", csrf.as_str()),
            ("opt_number", VN),
            ("opt_ring_timeout_secs", "30"),
            ("opt_max_conversation_secs", "600"),
            ("opt_record", "on"),
            ("opt_whisper", "off"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, number) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["ring_timeout_secs"], 30);
    assert_eq!(number["max_conversation_secs"], 600);
    assert_eq!(number["record"], true);
    assert_eq!(number["whisper"], false);
    let (_, page) = admin_get(&app, &cookie, "/admin/bookings").await;
    assert!(
        page.contains("ring 30 s · up to 600 s · recorded · no whisper"),
        "{page}"
    );

    // Without the form's CSRF token nothing is saved.
    let r = admin_post(
        &app,
        &cookie,
        "/admin/numbers/options",
        &[("opt_number", VN), ("opt_record", "off")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let (_, number) = app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["record"], true);
}

#[tokio::test]
async fn a_pin_call_takes_its_order_s_options_over_its_number_s_and_whispers_the_order() {
    let app = scenarios::spawn().await;
    let (status, _) = app
        .post_json(
            "/virtual-numbers",
            &json!({"number": VN, "provider": "twilio", "max_conversation_secs": 600,
                    "whisper": false, "record": false}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, order) = app
        .post_json(
            "/orders",
            &json!({"order_id": "OD-98765", "customer_number": CUSTOMER, "pin": "4821",
                    "virtual_number": VN, "whisper": true}),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let sid = "CA0000000000000000000000000000d001";
    let mut params = form(&[
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("CallSid", sid),
        ("CallStatus", "in-progress"),
        ("From", "+917700000001"),
        ("To", VN),
    ]);
    params.push(("Digits".into(), "4821".into()));
    let r = crate::twilio::post(&app, "/twilio/pin", &params).await;
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let dial = doc
        .descendants()
        .find(|n| n.has_tag_name("Dial"))
        .unwrap_or_else(|| panic!("a <Dial>: {xml}"));
    assert_eq!(dial.attribute("timeLimit"), Some("600"), "the number's");
    assert_eq!(dial.attribute("timeout"), Some("45"), "the setting");
    assert_eq!(dial.attribute("record"), None, "the number's: off");
    assert!(!doc.descendants().any(|n| n.has_tag_name("Say")), "{xml}");
    let number = dial.children().find(|n| n.has_tag_name("Number")).unwrap();
    assert!(
        number.attribute("url").is_some(),
        "the order's whisper: {xml}"
    );

    let leg = form(&[
        ("CallSid", "CA0000000000000000000000000000e001"),
        ("ParentCallSid", sid),
        ("From", VN),
        ("To", CUSTOMER),
    ]);
    let r = crate::twilio::post(&app, "/twilio/whisper", &leg).await;
    let xml = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let says: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Say"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(says.len(), 1, "the whisper alone: {xml}");
    assert!(
        says[0].contains("8 7 6 5"),
        "the order's last digits: {xml}"
    );

    // A whisper for a call pinbridge never bridged says nothing and connects.
    let stray = form(&[("CallSid", "CAstray"), ("ParentCallSid", "CAunknown")]);
    let r = crate::twilio::post(&app, "/twilio/whisper", &stray).await;
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    assert!(!xml.contains("<Say>"), "{xml}");
}
