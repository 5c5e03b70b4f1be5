//! When storage fails mid-call: the fallback number, or sorry; never anyone else. (The real
//! database outage, with several instances, is in tests/cluster.)

use pinbridge::config::Signing;
use pinbridge::domain::PhoneNumber;

use crate::common::{Call, TestApp, spawn_app_with};

const DESK_E164: &str = "+918045678901";

/// An app whose call records can no longer be written or read, as when the database fails.
async fn broken_app(fallback: Option<&str>) -> TestApp {
    let fallback = fallback.map(str::to_owned);
    let app = spawn_app_with(|s| {
        let region = s.orders.region;
        s.calls.fallback_number = fallback.map(|n| PhoneNumber::parse(&n, region).unwrap());
        s.server.public_url = Some(crate::scenarios::PUBLIC_URL.into());
        s.providers.twilio = Signing::Signed(crate::scenarios::TWILIO_TOKEN.into());
        s.calls.webhook_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    app.create_order("OD-568", "568").await;
    app.sql("drop table calls").await;
    app
}

#[tokio::test]
async fn a_call_that_storage_fails_reaches_the_fallback_number() {
    let app = broken_app(Some("080 4567 8901")).await;
    let call = Call::new("outage-1");
    assert_eq!(
        app.exotel("check-pin", &call.query(Some("568")))
            .await
            .status(),
        200,
        "on to Connect"
    );
    assert_eq!(app.connect(&call).await, DESK_E164);

    let twiml = crate::twilio::voice_twiml(&app, "CAoutage1", "+917314853246").await;
    let doc = roxmltree::Document::parse(&twiml).unwrap();
    let dial = doc
        .descendants()
        .find(|n| n.has_tag_name("Dial"))
        .unwrap_or_else(|| panic!("a Dial: {twiml}"));
    assert_eq!(dial.attribute("callerId"), Some("+917314853246"), "{twiml}");
    let number = dial
        .descendants()
        .find(|n| n.has_tag_name("Number"))
        .and_then(|n| n.text())
        .map(str::trim);
    assert_eq!(number, Some(DESK_E164), "{twiml}");
}

#[tokio::test]
async fn without_a_fallback_number_the_caller_hears_sorry_and_no_one_is_dialled() {
    let app = broken_app(None).await;
    let call = Call::new("outage-2");
    app.exotel("check-pin", &call.query(Some("568"))).await;
    assert_eq!(app.connect(&call).await, "", "Connect dials no one");
    let twiml = crate::twilio::voice_twiml(&app, "CAoutage2", "+917314853246").await;
    assert!(!twiml.contains("<Dial"), "{twiml}");
    assert!(twiml.contains("<Say"), "{twiml}");
}
