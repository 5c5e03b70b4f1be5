//! Voices: a Hindi number's PIN call, driven through each provider's real (signed) webhooks,
//! carries the Hindi voice of that provider on every prompt: welcome, PIN prompt, wrong PINs,
//! attempts used up.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp, admin_csrf};
use crate::helpers::{admin_get, admin_post, admin_sign_in};
use crate::scenarios::{self, COURIER, Leg, VN};

/// The scenarios' application, with [`VN`] in the pool and its language set to Hindi in the
/// greetings page, and an order on it.
async fn hindi_app() -> TestApp {
    let app = scenarios::spawn().await;
    let r = app
        .client
        .post(app.api("/virtual-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"number": VN, "provider": "exotel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = admin_sign_in(&app).await;
    let (_, page) = admin_get(&app, &cookie, "/admin/greetings").await;
    let csrf = admin_csrf(&page);
    let r = admin_post(
        &app,
        &cookie,
        "/admin/greetings/language",
        &[("csrf", &csrf), ("number", VN), ("language", "hi")],
    )
    .await;
    assert_eq!(r.status(), 303);
    scenarios::order(&app, "OD-1", "4821").await;
    app
}

fn devanagari(text: &str) -> bool {
    text.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c))
}

/// Checks every `tag` element of `xml` (`Say`, `Speak`) for the Hindi locale, `voice` and
/// Hindi words; returns how many there were.
fn check_xml(xml: &str, tag: &str, voice: &str) -> usize {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let mut n = 0;
    for node in doc.descendants().filter(|n| n.has_tag_name(tag)) {
        assert_eq!(node.attribute("language"), Some("hi-IN"), "{xml}");
        assert_eq!(node.attribute("voice"), Some(voice), "{xml}");
        assert!(devanagari(node.text().unwrap_or_default()), "{xml}");
        n += 1;
    }
    assert!(n > 0, "something is said: {xml}");
    n
}

#[tokio::test]
async fn twilio_says_every_prompt_of_a_hindi_numbers_pin_call_in_hindi() {
    let app = hindi_app().await;
    let leg = Leg::new("CAvoices1", COURIER);
    let mut said = check_xml(
        &crate::twilio::start_xml(&app, &leg).await,
        "Say",
        "Polly.Aditi",
    );
    for _ in 0..3 {
        let xml = crate::twilio::digits_xml(&app, &leg, "1111").await;
        said += check_xml(&xml, "Say", "Polly.Aditi");
    }
    assert_eq!(
        said, 5,
        "welcome, PIN prompt, two wrong PINs, attempts used up"
    );
}

#[tokio::test]
async fn plivo_speaks_every_prompt_of_a_hindi_numbers_pin_call_in_hindi() {
    let app = hindi_app().await;
    let leg = Leg::new("5d9c2b1e-voices-1", COURIER);
    let mut said = check_xml(
        &crate::plivo::start_xml(&app, &leg).await,
        "Speak",
        "Polly.Aditi",
    );
    for _ in 0..3 {
        let xml = crate::plivo::digits_xml(&app, &leg, "1111").await;
        said += check_xml(&xml, "Speak", "Polly.Aditi");
    }
    assert_eq!(
        said, 5,
        "welcome, PIN prompt, two wrong PINs, attempts used up"
    );
}

/// Checks every `talk` of an NCCO for the Hindi locale and style 0; returns how many.
fn check_ncco(ncco: &Value) -> usize {
    let talks: Vec<&Value> = ncco
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "talk")
        .collect();
    assert!(!talks.is_empty(), "{ncco}");
    for talk in &talks {
        assert_eq!(talk["language"], "hi-IN", "{ncco}");
        assert_eq!(talk["style"], 0, "{ncco}");
        assert!(devanagari(talk["text"].as_str().unwrap()), "{ncco}");
    }
    talks.len()
}

#[tokio::test]
async fn vonage_talks_every_prompt_of_a_hindi_numbers_pin_call_in_hindi() {
    let app = hindi_app().await;
    let leg = Leg::new("voices-1", COURIER);
    let mut talks = check_ncco(&crate::vonage::start_ncco(&app, &leg).await);
    for _ in 0..3 {
        talks += check_ncco(&crate::vonage::digits_ncco(&app, &leg, "1111").await);
    }
    assert_eq!(
        talks, 4,
        "the welcome and PIN prompt in one talk, then one a step"
    );
}

/// Checks every `say` and `sayAndCapture` of a callflow for the Hindi voice profile; returns
/// how many.
fn check_callflow(answer: &Value) -> usize {
    let mut n = 0;
    for action in answer["callflow"].as_array().unwrap() {
        let text = match action["action"].as_str() {
            Some("say") => &action["params"]["text"],
            Some("sayAndCapture") => &action["params"]["promptMessage"],
            _ => continue,
        };
        assert_eq!(
            action["params"]["voiceProfile"], "hi-IN-SwaraNeural",
            "{answer}"
        );
        assert!(devanagari(text.as_str().unwrap()), "{answer}");
        n += 1;
    }
    assert!(n > 0, "something is said: {answer}");
    n
}

#[tokio::test]
async fn eight_by_eight_says_every_prompt_of_a_hindi_numbers_pin_call_in_hindi() {
    let app = hindi_app().await;
    let leg = Leg::new("voices-1", COURIER);
    let mut said = check_callflow(&crate::eight_by_eight::start_json(&app, &leg).await);
    for _ in 0..3 {
        said += check_callflow(&crate::eight_by_eight::digits_json(&app, &leg, "1111").await);
    }
    assert_eq!(
        said, 4,
        "the welcome and PIN prompt in one sayAndCapture, then one a step"
    );
}

#[tokio::test]
async fn a_numbers_language_set_through_the_api_is_heard_from_the_next_call_on() {
    let app = scenarios::spawn().await;
    let add = |body: Value| {
        app.client
            .post(app.api("/virtual-numbers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let r = add(json!({"number": VN, "provider": "twilio", "language": "HI"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let number: Value = r.json().await.unwrap();
    assert_eq!(number["language"], "hi", "lower-cased");
    scenarios::order(&app, "OD-1", "4821").await;
    let xml = crate::twilio::start_xml(&app, &Leg::new("CAapi-hi", COURIER)).await;
    check_xml(&xml, "Say", "Polly.Aditi");

    let path = app.api(&format!("/virtual-numbers/{}", VN.replace('+', "%2B")));
    let patch = |body: Value| {
        app.client
            .patch(&path)
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let r = patch(json!({"language": "hindi"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_language");
    let r = patch(json!({"language": null})).await.unwrap();
    assert_eq!(r.status(), 200);
    let number: Value = r.json().await.unwrap();
    assert_eq!(number["language"], Value::Null);
    let xml = crate::twilio::start_xml(&app, &Leg::new("CAapi-en", COURIER)).await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    for say in doc.descendants().filter(|n| n.has_tag_name("Say")) {
        assert_eq!(say.attribute("language"), Some("en-IN"), "{xml}");
    }
}

#[tokio::test]
async fn exotel_reads_every_prompt_of_a_hindi_numbers_pin_call_in_hindi() {
    let app = hindi_app().await;
    let call = crate::common::Call::new("exo-voices-1");
    let greeting = app.exotel_text("greeting", &call.query(None)).await;
    assert!(devanagari(&greeting), "the welcome: {greeting}");
    let gather: Value = app
        .exotel("gather", &call.query(None))
        .await
        .json()
        .await
        .unwrap();
    for field in ["gather_prompt", "repeat_gather_prompt"] {
        let text = gather[field]["text"].as_str().unwrap();
        assert!(devanagari(text), "{field}: {gather}");
    }
    // A wrong PIN asks again (302) with the Hindi wrong-PIN prompt, until the last goodbye.
    for _ in 0..2 {
        assert_eq!(app.check_pin(&call, "1111").await, 302);
        let again: Value = app
            .exotel("gather", &call.query(None))
            .await
            .json()
            .await
            .unwrap();
        let text = again["gather_prompt"]["text"].as_str().unwrap();
        assert!(devanagari(text), "{again}");
    }
    assert_eq!(app.check_pin(&call, "1111").await, 200);
    let goodbye = app.exotel_text("goodbye", &call.query(None)).await;
    assert!(devanagari(&goodbye), "the goodbye: {goodbye}");
}
