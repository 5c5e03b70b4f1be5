//! The admin pages, used as an operator would.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::common::{Call, VIRTUAL_NUMBER};
use crate::harness::{Browser, Window};

/// The sign-out button in the header of every signed-in page.
const SIGN_OUT: &str = "header form[action=\"/admin/logout\"] button[type=submit]";

#[tokio::test]
async fn sign_in_lands_on_the_dashboard_and_sign_out_ends_the_session() {
    let b = Browser::start("sign-in").await;

    b.sign_in().await;
    b.shot("dashboard").await;
    let title = b.client.title().await.unwrap();
    assert!(
        title.contains("pinbridge"),
        "the dashboard's title: {title:?}"
    );
    // The session cookie is HttpOnly: the page's scripts can not read it.
    let visible = b
        .client
        .execute("return document.cookie;", vec![])
        .await
        .unwrap();
    assert!(
        !visible.as_str().unwrap_or("").contains("pinbridge_session"),
        "the session cookie is HttpOnly"
    );

    b.click(SIGN_OUT).await;
    b.wait_for_path("/admin/login").await;
    b.shot("signed-out").await;
    // Signed out: the dashboard sends back to sign-in.
    b.visit("/admin", "after-sign-out").await;
    b.wait_for_path("/admin/login").await;

    b.submit_sign_in("not-the-admin-token-0000").await;
    let error = b.wait_for_text(".error", "not valid").await;
    b.shot("wrong-token").await;
    assert!(!error.contains("not-the-admin-token"), "{error}");
    assert_eq!(b.path().await, "/admin/login");
    assert_eq!(b.status().await, 401);
    // The wrong token started no session.
    b.visit("/admin", "after-wrong-token").await;
    b.wait_for_path("/admin/login").await;

    b.finish().await;
}

/// Runs `script` on the header's sign-out form's `csrf` field (`i`), then submits the form.
async fn submit_sign_out_after(b: &Browser, script: &str) {
    let done = b
        .client
        .execute(
            &format!(
                "const i = document.querySelector('header form[action=\"/admin/logout\"] input[name=csrf]'); \
                 if (!i) return false; {script}; return true;"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(done, json!(true), "the sign-out form carries a csrf field");
    b.click(SIGN_OUT).await;
}

/// The refusal page, then the dashboard again: the session was not ended.
async fn assert_refused_and_still_signed_in(b: &Browser, page: &str) {
    let text = b.wait_for_text("body", "did not come from pinbridge").await;
    b.shot(page).await;
    assert!(text.contains("expired"), "{text}");
    assert_eq!(b.status().await, 403);
    b.visit("/admin", &format!("{page}-after")).await;
    assert_eq!(b.path().await, "/admin", "still signed in");
    b.element(SIGN_OUT).await;
}

#[tokio::test]
async fn a_form_without_its_csrf_field_is_refused_and_the_session_survives() {
    let b = Browser::start("csrf-missing").await;
    b.sign_in().await;
    b.shot("dashboard").await;
    submit_sign_out_after(&b, "i.remove()").await;
    assert_refused_and_still_signed_in(&b, "refused").await;
    b.finish().await;
}

#[tokio::test]
async fn a_form_with_a_forged_csrf_token_is_refused_and_the_session_survives() {
    let b = Browser::start("csrf-forged").await;
    b.sign_in().await;
    b.shot("dashboard").await;
    submit_sign_out_after(&b, "i.value = 'forged-' + i.value").await;
    assert_refused_and_still_signed_in(&b, "refused").await;
    // An empty one too.
    submit_sign_out_after(&b, "i.value = ''").await;
    assert_refused_and_still_signed_in(&b, "refused-empty").await;
    b.finish().await;
}

#[tokio::test]
async fn an_edited_greeting_is_previewed_saved_and_spoken_by_exotel_and_twilio() {
    let b = Browser::start("greeting").await;
    b.sign_in().await;

    b.visit(
        "/admin/greetings/edit?prompt=welcome&language=en&virtual_number=",
        "edit",
    )
    .await;
    b.fill("textarea#body", "Namaste from {{ brand }}, welcome.")
        .await;
    b.click("button#preview").await;
    let preview = b.wait_for_text("#preview_text", "Namaste from").await;
    b.shot("preview").await;
    assert!(
        preview.contains("Namaste from Swift Couriers"),
        "the preview fills in the brand: {preview:?}"
    );
    b.click("button#save").await;
    b.element("#saved").await;
    b.shot("saved").await;

    // Exotel's greeting applet speaks the new text.
    let call = Call::new("CAbrowsergreeting0001");
    let spoken = b.app.exotel_text("greeting", &call.query(None)).await;
    assert!(
        spoken.contains("Namaste from Swift Couriers, welcome."),
        "Exotel says {spoken:?}"
    );

    // So does Twilio's voice webhook, signed as Twilio signs it.
    let params: Vec<(String, String)> = [
        ("CallSid", "CAbrowsergreeting0002"),
        ("From", "+917709562799"),
        ("To", "+917314853246"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let signature = pinbridge::providers::twilio::auth::signature(
        crate::harness::TWILIO_TOKEN,
        &b.url("/twilio/voice"),
        &params,
    );
    let twiml = b
        .app
        .client
        .post(b.url("/twilio/voice"))
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(twiml.status(), 200);
    let twiml = twiml.text().await.unwrap();
    assert!(
        twiml.contains("Namaste from Swift Couriers, welcome."),
        "Twilio says {twiml}"
    );

    b.finish().await;
}

#[tokio::test]
async fn an_order_created_on_the_orders_page_is_found_by_search() {
    let b = Browser::start("orders").await;
    b.sign_in().await;

    b.visit("/admin/orders", "list").await;
    b.fill("#order_id", "OD-BROWSER").await;
    b.fill("#customer_number", "09812345678").await;
    b.fill("#pin", "4821").await;
    b.fill("#virtual_number", VIRTUAL_NUMBER).await;
    b.click("#create_order").await;
    b.shot("created").await;

    b.fill("#q", "OD-BROWSER").await;
    b.element("#q")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    b.wait_for_text("table#orders", "OD-BROWSER").await;
    b.shot("search").await;

    // The API agrees that the order exists.
    let (status, order) = b.app.get_json("/orders/OD-BROWSER").await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["virtual_number"], Value::from("+917314853246"));

    b.finish().await;
}

#[tokio::test]
async fn a_test_call_shows_its_steps_and_the_dial() {
    let b = Browser::start("test-call").await;
    b.app.create_order("OD-TESTCALL", "4821").await;
    b.sign_in().await;

    b.visit("/admin/test-call", "form").await;
    b.fill("#tc_virtual_number", VIRTUAL_NUMBER).await;
    b.fill("#tc_caller", "07709562799").await;
    b.fill("#tc_digits", "4821#").await;
    b.click("#tc_run").await;
    b.element("ol#steps").await;
    b.shot("result").await;

    let steps = b
        .client
        .find_all(Locator::Css("ol#steps > li"))
        .await
        .unwrap();
    assert!(steps.len() >= 2, "{} steps", steps.len());
    let dial = b.element("#dial").await.text().await.unwrap();
    assert!(dial.to_lowercase().contains("dial"), "#dial reads {dial:?}");

    b.finish().await;
}

#[tokio::test]
async fn the_orders_page_fits_a_phone_and_labels_every_field() {
    let b = Browser::start_with("phone", Window::Phone).await;
    b.sign_in().await;

    b.visit("/admin/orders", "orders").await;
    b.element("#order_id").await;
    let found = b
        .client
        .execute(
            "const unlabelled = [...document.querySelectorAll('input, select, textarea')] \
               .filter(i => !['hidden', 'submit', 'button', 'reset', 'image'].includes(i.type)) \
               .filter(i => !i.id || !document.querySelector('label[for=\"' + CSS.escape(i.id) + '\"]')) \
               .map(i => i.outerHTML); \
             return { \
               scrollWidth: document.documentElement.scrollWidth, \
               innerWidth: window.innerWidth, \
               inputs: document.querySelectorAll('input').length, \
               unlabelled }; ",
            vec![],
        )
        .await
        .unwrap();
    let inner = found["innerWidth"].as_u64().unwrap();
    let scroll = found["scrollWidth"].as_u64().unwrap();
    assert!(inner <= 400, "a phone-width window: innerWidth {inner}");
    assert!(
        scroll <= inner + 1,
        "no horizontal scrolling at {inner} px: the page is {scroll} px wide"
    );
    assert!(found["inputs"].as_u64().unwrap() > 0, "{found}");
    assert_eq!(
        found["unlabelled"],
        json!([]),
        "every field has a <label for=…>"
    );

    // The sign-in form fits too.
    b.click(SIGN_OUT).await;
    b.wait_for_path("/admin/login").await;
    b.shot("login").await;
    let fits = b
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "the sign-in page fits a phone");

    b.finish().await;
}

/// What the page shown now got from its stylesheet and its Content-Security-Policy: the
/// computed `max-width` of `main`, the stylesheet's rule count, whether a script injected
/// into the page ran, and how many bars its charts draw.
async fn styled_and_confined(b: &Browser) -> Value {
    b.client
        .execute(
            "const main = document.querySelector('main'); \
             const sheet = [...document.styleSheets] \
               .find(s => (s.href || '').endsWith('/admin/static/admin.css')); \
             const injected = document.createElement('script'); \
             injected.textContent = 'window.inlineScriptRan = true;'; \
             document.head.appendChild(injected); \
             return { maxWidth: getComputedStyle(main).maxWidth, \
                      rules: sheet ? sheet.cssRules.length : 0, \
                      inlineScriptRan: window.inlineScriptRan === true, \
                      bars: document.querySelectorAll('svg rect').length };",
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn every_admin_page_is_styled_and_its_content_security_policy_holds_in_the_browser() {
    let b = Browser::start("csp").await;
    b.visit("/admin/login", "login").await;
    let mut seen = vec![("/admin/login", styled_and_confined(&b).await)];
    b.sign_in().await;
    for (path, page) in [
        ("/admin", "dashboard"),
        ("/admin/calls", "calls"),
        ("/admin/orders", "orders"),
        ("/admin/bookings", "bookings"),
        ("/admin/greetings", "greetings"),
        (
            "/admin/greetings/edit?prompt=welcome&language=en&virtual_number=",
            "greeting-edit",
        ),
        ("/admin/test-call", "test-call"),
    ] {
        b.visit(path, page).await;
        seen.push((path, styled_and_confined(&b).await));
    }
    for (path, found) in &seen {
        assert_eq!(
            found["maxWidth"], "1152px",
            "{path}: the stylesheet's `main {{ max-width: 72rem }}` applies: {found}"
        );
        assert!(found["rules"].as_u64().unwrap() > 10, "{path}: {found}");
        assert_eq!(
            found["inlineScriptRan"],
            json!(false),
            "{path}: the policy blocks inline script: {found}"
        );
    }
    let dashboard = &seen[1].1;
    assert!(
        dashboard["bars"].as_u64().unwrap() > 0,
        "the dashboard's SVG charts draw: {dashboard}"
    );
    b.finish().await;
}
