//! The admin UI's greetings and test call: edits heard on the very next call, per language and
//! number; validation; reset; audio; CSRF; a test call that writes nothing.

use pinbridge::config::Signing;
use reqwest::header::LOCATION;
use serde_json::json;

use crate::common::{
    ADMIN_TOKEN, CUSTOMER_E164, Call, TestApp, admin_csrf as csrf, spawn_app_with,
};
use crate::helpers::{admin_get as get, admin_post as post, admin_sign_in as sign_in};
use crate::scenarios::{PUBLIC_URL, TWILIO_TOKEN};

const VN: &str = "+917314853246";
const OTHER_VN: &str = "+917314853247";

/// The application with Twilio configured too, so a greeting is heard on both providers.
pub async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.server.public_url = Some(PUBLIC_URL.into());
        s.providers.twilio = Signing::Signed(TWILIO_TOKEN.into());
    })
    .await
}

/// Signs in and returns the cookie and the session's CSRF token.
pub async fn session(app: &TestApp) -> (String, String) {
    let cookie = sign_in(app).await;
    let (status, page) = get(app, &cookie, "/admin/greetings").await;
    assert_eq!(status, 200);
    let token = csrf(&page);
    (cookie, token)
}

/// Posts the greeting form.
pub async fn save(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    (prompt, language, number): (&str, &str, &str),
    kind: &str,
    body: &str,
    action: &str,
) -> reqwest::Response {
    post(
        app,
        cookie,
        "/admin/greetings/edit",
        &[
            ("csrf", csrf),
            ("prompt", prompt),
            ("kind", kind),
            ("body", body),
            ("language", language),
            ("virtual_number", number),
            ("action", action),
        ],
    )
    .await
}

/// What Exotel's Greeting applet speaks for a call to `to` (written as Exotel sends it).
pub async fn exotel_greeting(app: &TestApp, sid: &str, to: &str) -> String {
    let query = Call::new(sid).query(None).replace("07314853246", to);
    app.exotel_text("greeting", &query).await
}

/// The texts of the `tag` elements of a TwiML document.
fn texts(xml: &str, tag: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name(tag))
        .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
        .collect()
}

async fn add_number(app: &TestApp, number: &str) {
    let r = app
        .client
        .post(app.api("/virtual-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"number": number, "provider": "exotel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn an_edited_welcome_is_spoken_by_the_next_exotel_and_twilio_call() {
    let app = app().await;
    let (cookie, token) = session(&app).await;
    let (status, form) = get(
        &app,
        &cookie,
        "/admin/greetings/edit?prompt=welcome&language=en&virtual_number=",
    )
    .await;
    assert_eq!(status, 200);
    for needle in [
        "<select id=\"kind\" name=\"kind\"",
        "<textarea id=\"body\" name=\"body\"",
        "<input id=\"language\" name=\"language\"",
        "<input id=\"virtual_number\" name=\"virtual_number\"",
        "<button id=\"preview\" name=\"action\" value=\"preview\"",
        "<button id=\"save\" name=\"action\" value=\"save\"",
        "<button id=\"reset\"",
        "<label for=\"body\">",
        "Welcome to {{ brand }}.",
    ] {
        assert!(form.contains(needle), "{needle} in {form}");
    }
    assert_eq!(
        exotel_greeting(&app, "g0", "07314853246").await,
        "Welcome to Swift Couriers."
    );

    let r = save(
        &app,
        &cookie,
        &token,
        ("welcome", "en", ""),
        "text",
        "Hello from {{ brand }}!",
        "save",
    )
    .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let (_, page) = get(&app, &cookie, &location).await;
    assert!(page.contains("<p class=\"ok\" id=\"saved\""), "{page}");
    assert!(page.contains("Hello from {{ brand }}!"));

    assert_eq!(
        exotel_greeting(&app, "g1", "07314853246").await,
        "Hello from Swift Couriers!"
    );
    let twiml = crate::twilio::voice_twiml(&app, "CA01", VN).await;
    let says = texts(&twiml, "Say");
    assert_eq!(says[0], "Hello from Swift Couriers!", "{twiml}");
    assert!(says[1].contains("order PIN"));
}

#[tokio::test]
async fn a_hindi_greeting_for_one_number_is_heard_on_that_number_only() {
    let app = app().await;
    let (cookie, token) = session(&app).await;
    add_number(&app, VN).await;
    add_number(&app, OTHER_VN).await;
    let r = post(
        &app,
        &cookie,
        "/admin/greetings/language",
        &[("csrf", &token), ("number", VN), ("language", "hi")],
    )
    .await;
    assert_eq!(r.status(), 303);
    // A number outside the pool gets no language.
    let r = post(
        &app,
        &cookie,
        "/admin/greetings/language",
        &[
            ("csrf", &token),
            ("number", "+919999999999"),
            ("language", "hi"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("not in the pool"));

    let r = save(
        &app,
        &cookie,
        &token,
        ("welcome", "hi", VN),
        "text",
        "Namaste, {{ brand }} mein aapka swagat hai.",
        "save",
    )
    .await;
    assert_eq!(r.status(), 303);

    let hindi = "Namaste, Swift Couriers mein aapka swagat hai.";
    assert_eq!(exotel_greeting(&app, "h1", "07314853246").await, hindi);
    assert_eq!(
        texts(&crate::twilio::voice_twiml(&app, "CA11", VN).await, "Say")[0],
        hindi
    );
    assert_eq!(
        exotel_greeting(&app, "h2", "07314853247").await,
        "Welcome to Swift Couriers."
    );
    assert_eq!(
        texts(
            &crate::twilio::voice_twiml(&app, "CA12", OTHER_VN).await,
            "Say"
        )[0],
        "Welcome to Swift Couriers."
    );
    let (_, list) = get(&app, &cookie, "/admin/greetings").await;
    assert!(list.contains("Namaste, {{ brand }}"), "{list}");
}

#[tokio::test]
async fn bad_templates_are_shown_and_not_saved_reset_and_audio_work() {
    let app = app().await;
    let (cookie, token) = session(&app).await;
    let key = ("welcome", "en", "");
    for (body, message) in [
        ("Welcome to {{ brand ", "syntax"),
        ("Welcome, {{ customer_name }}", "unknown variable"),
    ] {
        let r = save(&app, &cookie, &token, key, "text", body, "save").await;
        assert_eq!(r.status(), 422, "{body}");
        let page = r.text().await.unwrap();
        let at = page
            .find("<p class=\"error\" id=\"body-error\" role=\"alert\">")
            .unwrap_or_else(|| panic!("no error for {body}: {page}"));
        assert!(
            page[at..].contains(message),
            "{message}: {}",
            &page[at..at + 200]
        );
        assert_eq!(
            exotel_greeting(&app, "b1", "07314853246").await,
            "Welcome to Swift Couriers."
        );
    }
    let r = save(
        &app,
        &cookie,
        &token,
        key,
        "audio",
        "http://cdn.example.com/w.mp3",
        "save",
    )
    .await;
    assert_eq!(r.status(), 422);

    // A preview renders with sample values and saves nothing.
    let r = save(
        &app,
        &cookie,
        &token,
        key,
        "text",
        "Hi {{ brand }}, {{ attempts_left }} tries.",
        "preview",
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Hi Swift Couriers, 2 tries.</div>") && page.contains("id=\"preview_text\""),
        "{page}"
    );
    assert_eq!(
        exotel_greeting(&app, "b2", "07314853246").await,
        "Welcome to Swift Couriers."
    );

    // Audio: <Play> in TwiML, the URL in Exotel's greeting.
    let url = "https://cdn.example.com/welcome.mp3";
    let r = save(&app, &cookie, &token, key, "audio", url, "save").await;
    assert_eq!(r.status(), 303);
    assert_eq!(exotel_greeting(&app, "b3", "07314853246").await, url);
    let twiml = crate::twilio::voice_twiml(&app, "CA21", VN).await;
    assert_eq!(texts(&twiml, "Play"), vec![url.to_owned()], "{twiml}");
    let doc = roxmltree::Document::parse(&twiml).unwrap();
    let gather = doc
        .descendants()
        .find(|n| n.has_tag_name("Gather"))
        .unwrap();
    assert!(gather.children().any(|n| n.has_tag_name("Play")));
    assert!(texts(&twiml, "Say")[0].contains("order PIN"));

    // Reset: the default again.
    let r = post(
        &app,
        &cookie,
        "/admin/greetings/reset",
        &[
            ("csrf", &token),
            ("prompt", "welcome"),
            ("language", "en"),
            ("virtual_number", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        exotel_greeting(&app, "b4", "07314853246").await,
        "Welcome to Swift Couriers."
    );
    assert!(texts(&crate::twilio::voice_twiml(&app, "CA22", VN).await, "Play").is_empty());
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = app().await;
    let (cookie, token) = session(&app).await;
    add_number(&app, VN).await;
    // The real token with its last character changed (never to itself).
    let last = if token.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &token[..token.len() - 1]);
    assert_ne!(wrong, token);
    for csrf in [None, Some(wrong.as_str())] {
        let with = |form: Vec<(&'static str, &'static str)>| -> Vec<(String, String)> {
            csrf.map(|c| ("csrf".to_owned(), c.to_owned()))
                .into_iter()
                .chain(form.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect()
        };
        for (path, form) in [
            (
                "/admin/greetings/edit",
                with(vec![
                    ("prompt", "welcome"),
                    ("kind", "text"),
                    ("body", "Hacked"),
                    ("language", "en"),
                    ("virtual_number", ""),
                    ("action", "save"),
                ]),
            ),
            (
                "/admin/greetings/reset",
                with(vec![
                    ("prompt", "welcome"),
                    ("language", "en"),
                    ("virtual_number", ""),
                ]),
            ),
            (
                "/admin/greetings/language",
                with(vec![("number", VN), ("language", "hi")]),
            ),
            (
                "/admin/test-call",
                with(vec![
                    ("virtual_number", VN),
                    ("caller", "+917709562799"),
                    ("digits", "1234#"),
                ]),
            ),
        ] {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r = post(&app, &cookie, path, &form).await;
            assert_eq!(r.status(), 403, "{path} with {csrf:?}");
        }
    }
    assert_eq!(
        exotel_greeting(&app, "c1", "07314853246").await,
        "Welcome to Swift Couriers."
    );
    let (_, list) = get(&app, &cookie, "/admin/greetings").await;
    assert!(!list.contains("Hacked"));
    assert!(
        !list.contains("id=\"number-languages\""),
        "no language was set"
    );
}

#[tokio::test]
async fn a_test_call_shows_the_steps_and_the_dial_target_and_writes_nothing() {
    let app = app().await;
    let (cookie, token) = session(&app).await;
    app.create_order("OD-TC", "4821").await;
    let (status, form) = get(&app, &cookie, "/admin/test-call").await;
    assert_eq!(status, 200);
    for id in ["tc_virtual_number", "tc_caller", "tc_digits", "tc_run"] {
        assert!(form.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let r = post(
        &app,
        &cookie,
        "/admin/test-call",
        &[
            ("csrf", &token),
            ("virtual_number", VN),
            ("caller", "+917709562799"),
            ("digits", "1111#4821#"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let start = page.find("<ol id=\"steps\">").expect("the steps");
    let steps = &page[start..start + page[start..].find("</ol>").unwrap()];
    assert_eq!(steps.matches("<li>").count(), 3, "{steps}");
    assert!(steps.contains("Welcome to Swift Couriers."), "{steps}");
    assert!(steps.contains("not recognised"), "{steps}");
    assert!(steps.contains("ask_for_pin") && steps.contains("bridge"));
    assert_eq!(
        steps.matches("<p class=\"muted voices\">").count(),
        3,
        "a voice line for each thing said (welcome, PIN prompt, wrong PIN): {steps}"
    );
    assert!(
        steps.contains(
            "In en, read by Twilio <code>en-IN Polly.Raveena</code>, Plivo <code>en-IN Polly.Raveena</code>, \
             Vonage <code>en-IN style 0</code>, 8x8 <code>en-US-BenjaminRUS</code>, Exotel <code>text</code>."
        ),
        "{steps}"
    );
    let dial = &page[page.find("<p id=\"dial\">").expect("the dial target")..];
    assert!(
        dial[..dial.find("</p>").unwrap()].contains(CUSTOMER_E164),
        "{dial}"
    );

    let (status, calls) = app.get_json("/calls").await;
    assert_eq!(status, 200);
    assert_eq!(calls["calls"].as_array().unwrap().len(), 0, "{calls}");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let (failures,): (i64,) = sqlx::query_as("select count(*) from pin_failures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(failures, 0);
    pool.close().await;
}

/// The rows of the table `id` of `page`: each row's cells, tags removed.
fn table_rows(page: &str, id: &str) -> Vec<Vec<String>> {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id} in {page}"));
    let table = &page[start..start + page[start..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in inner.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text.trim().to_owned()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_greetings_page_shows_per_language_whose_words_each_prompt_has_and_warns_of_a_mix() {
    let app = app().await;
    let (cookie, token) = session(&app).await;
    add_number(&app, VN).await;
    let r = post(
        &app,
        &cookie,
        "/admin/greetings/language",
        &[("csrf", &token), ("number", VN), ("language", "ta")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = save(
        &app,
        &cookie,
        &token,
        ("welcome", "ta", ""),
        "text",
        "Vanakkam, {{ brand }}.",
        "save",
    )
    .await;
    assert_eq!(r.status(), 303);

    let (status, page) = get(&app, &cookie, "/admin/greetings").await;
    assert_eq!(status, 200);
    let tamil = table_rows(&page, "found-ta");
    let source = |rows: &[Vec<String>], prompt: &str| {
        rows.iter()
            .find(|r| r[0] == prompt)
            .unwrap_or_else(|| panic!("{prompt} in {rows:?}"))[1]
            .clone()
    };
    assert_eq!(source(&tamil, "welcome"), "your own");
    assert_eq!(source(&tamil, "enter_pin"), "falls back to en (shipped)");
    assert_eq!(
        source(&tamil, "whisper_to_party_a"),
        "falls back to whisper in en (shipped)"
    );
    assert_eq!(tamil.len(), 11, "every prompt of the catalogue");
    let mixed = &page[page.find("id=\"mixed-ta\"").expect("a warning for Tamil")..];
    assert!(
        mixed[..mixed.find("</p>").unwrap()].contains("some prompts are said in en"),
        "{mixed}"
    );
    assert!(page.contains("In use as: 1 number"), "{page}");

    let hindi = table_rows(&page, "found-hi");
    assert_eq!(source(&hindi, "enter_pin"), "shipped");
    assert_eq!(
        source(&hindi, "whisper_to_party_b"),
        "falls back to whisper in hi (shipped)"
    );
    assert!(
        !page.contains("id=\"mixed-hi\""),
        "Hindi ships every prompt"
    );
    assert!(
        page.contains("Twilio <code>hi-IN Polly.Aditi</code>"),
        "the voice each provider reads Hindi with: {page}"
    );
    let english = table_rows(&page, "found-en");
    assert_eq!(source(&english, "welcome"), "shipped");

    // A whisper's edit form names the variables a whisper may use.
    let (status, form) = get(
        &app,
        &cookie,
        "/admin/greetings/edit?prompt=whisper_to_party_a&language=hi&virtual_number=",
    )
    .await;
    assert_eq!(status, 200);
    let help = &form[form.find("id=\"body-help\"").unwrap()..];
    let help = &help[..help.find("</p>").unwrap()];
    for variable in ["brand", "reference", "last_digits"] {
        assert!(
            help.contains(&format!("<code>{{{{ {variable} }}}}</code>")),
            "{variable}: {help}"
        );
    }
    assert!(!help.contains("attempts_left"), "{help}");
    assert!(
        form.contains("{{ last_digits }}"),
        "starts from the shipped whisper: {form}"
    );

    // The test call of the Tamil number: its own welcome, read with the fallback voice (no
    // Tamil voice is set), then the PIN prompt in English.
    let r = post(
        &app,
        &cookie,
        "/admin/test-call",
        &[
            ("csrf", &token),
            ("virtual_number", VN),
            ("caller", "+917709562799"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let start = page.find("<ol id=\"steps\">").expect("the steps");
    let steps = &page[start..start + page[start..].find("</ol>").unwrap()];
    let welcome = steps.find("In ta, read by Twilio <code>en-IN Polly.Raveena</code>");
    let pin = steps.find("In en, read by Twilio <code>en-IN Polly.Raveena</code>");
    assert!(welcome.is_some() && pin.is_some(), "{steps}");
    assert!(welcome < pin, "{steps}");
}
