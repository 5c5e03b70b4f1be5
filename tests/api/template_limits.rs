//! Operators' templates can not hurt calls: a greeting that would grow a string without end,
//! loop, recurse, or fail for some `attempts_left` is refused at preview and save with the
//! reason, the server keeps answering, and a courier's PIN step answers while previews run.

use std::time::Duration;

use crate::common::{Call, TestApp};
use crate::greetings::{app, exotel_greeting, save, session};

/// About a hundred characters that double a string 31 times when run: 2 GiB, and the process
/// aborted.
const DOUBLING: &str = "{% set ns = namespace(s=brand) %}{% for i in range(31) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";

/// A hundred million iterations when run: seconds of a core.
const NESTED_LOOPS: &str = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(100) %}{% endfor %}{% endfor %}{% endfor %}";

const WELCOME: (&str, &str, &str) = ("welcome", "en", "");

/// The message beside the template field of an edit page.
fn body_error(page: &str) -> &str {
    let open = "<p class=\"error\" id=\"body-error\" role=\"alert\">";
    let at = page
        .find(open)
        .unwrap_or_else(|| panic!("no error beside the field: {page}"))
        + open.len();
    &page[at..at + page[at..].find("</p>").unwrap()]
}

/// Previews or saves `body` as the welcome and returns the status and the field's message.
async fn refused(app: &TestApp, body: &str, action: &str) -> (u16, String) {
    let (cookie, csrf) = session(app).await;
    let r = save(app, &cookie, &csrf, WELCOME, "text", body, action).await;
    let status = r.status().as_u16();
    let page = r.text().await.unwrap();
    (status, body_error(&page).to_owned())
}

#[tokio::test]
async fn a_string_doubling_greeting_is_refused_at_preview_and_save_and_the_server_keeps_answering()
{
    let app = app().await;
    for action in ["preview", "save"] {
        let (status, message) = refused(&app, DOUBLING, action).await;
        assert_eq!(status, 422, "{action}");
        assert!(
            message.starts_with(
                "`{% set %}` is not allowed in a greeting (line 1): only text, \
                 {{ brand }} and {{ attempts_left }}"
            ),
            "{action}: {message}"
        );
    }
    assert_eq!(
        exotel_greeting(&app, "doubling", "07314853246").await,
        "Welcome to Swift Couriers."
    );
}

#[tokio::test]
async fn a_nested_loop_greeting_is_refused_within_a_second() {
    let app = app().await;
    let (status, message) = tokio::time::timeout(
        Duration::from_secs(1),
        refused(&app, NESTED_LOOPS, "preview"),
    )
    .await
    .expect("refused within a second");
    assert_eq!(status, 422);
    assert!(
        message.starts_with("`{% for %}` is not allowed"),
        "{message}"
    );
}

#[tokio::test]
async fn recursion_bombs_are_refused() {
    let app = app().await;
    let deep = format!("{{{{ {}brand{} }}}}", "(".repeat(400), ")".repeat(400));
    for (bomb, named) in [
        (
            "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
            "`{% macro %}`",
        ),
        (
            "{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}",
            "`{% for %}`",
        ),
        (deep.as_str(), "maximum recursion"),
    ] {
        let (status, message) = refused(&app, bomb, "save").await;
        assert_eq!(status, 422, "{bomb}");
        assert!(message.contains(named), "{named}: {message}");
    }
    assert_eq!(
        exotel_greeting(&app, "recursion", "07314853246").await,
        "Welcome to Swift Couriers."
    );
}

#[tokio::test]
async fn a_greeting_that_fails_or_grows_only_when_attempts_left_is_not_2_can_not_be_saved() {
    let app = app().await;
    let broken = "{% if attempts_left != 2 %}{{ brand - attempts_left }}{% endif %}Welcome";
    // With "Swift Couriers", over 3,000 bytes: past what a <Say> takes.
    let heavy = format!(
        "{{% if attempts_left != 2 %}}{{{{ brand{} }}}}{{% endif %}}Welcome",
        " ~ brand".repeat(230)
    );
    for body in [broken, heavy.as_str()] {
        for action in ["preview", "save"] {
            let (status, message) = refused(&app, body, action).await;
            assert_eq!(status, 422, "{action} {body}");
            assert!(
                message.starts_with("with attempts_left = 0: "),
                "{action}: {message}"
            );
        }
    }
    assert_eq!(
        exotel_greeting(&app, "variants", "07314853246").await,
        "Welcome to Swift Couriers."
    );
}

#[tokio::test]
async fn while_two_cpu_heavy_previews_run_a_couriers_check_pin_answers_within_a_second() {
    let app = app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("courier-during-previews");
    assert_eq!(
        app.exotel_text("greeting", &call.query(None)).await,
        "Welcome to Swift Couriers."
    );
    app.exotel_json("gather", &call.query(None)).await;
    let (cookie, csrf) = session(&app).await;
    // A new connection for each preview: the server hands new connections to its workers in
    // turn, so the two previews reach both of them.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let preview = || {
        fresh
            .post(format!("{}/admin/greetings/edit", app.address))
            .header(reqwest::header::COOKIE, &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("prompt", "welcome"),
                ("kind", "text"),
                ("body", NESTED_LOOPS),
                ("language", "en"),
                ("virtual_number", ""),
                ("action", "preview"),
            ])
            .send()
    };
    let courier = async {
        // The previews go first, as someone timing them against calls would send them.
        tokio::time::sleep(Duration::from_millis(100)).await;
        tokio::time::timeout(Duration::from_secs(1), app.check_pin(&call, "4821")).await
    };
    let ((first, second), checked) =
        tokio::join!(async { tokio::join!(preview(), preview()) }, courier);
    assert_eq!(
        checked.expect("check-pin answers within a second"),
        200,
        "the PIN goes on to Connect"
    );
    assert_eq!(first.unwrap().status(), 422);
    assert_eq!(second.unwrap().status(), 422);
}
