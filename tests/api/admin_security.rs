//! What confines the admin web UI in a browser: the security headers on every response under
//! `/admin`, pages without inline script or style (which the policy would block), and the
//! sign-in form's CSRF token.

use reqwest::Response;
use reqwest::header::{CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, LOCATION};

use crate::common::{ADMIN_TOKEN, TestApp, admin_csrf, set_cookie, sign_in_form, spawn_app};
use crate::helpers::{admin_get, admin_post, admin_sign_in};

/// The directives the issue asks of the Content-Security-Policy.
const REQUIRED_DIRECTIVES: [&str; 5] = [
    "default-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
];

/// Panics unless `r` carries every security header of the admin UI.
fn assert_confined(r: &Response, what: &str) {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_owned()
    };
    let policy = header("content-security-policy");
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for required in REQUIRED_DIRECTIVES {
        assert!(
            directives.contains(&required),
            "{what}: the policy {policy:?} lacks {required:?}"
        );
    }
    assert!(
        !policy.contains("'unsafe-inline'") && !policy.contains("'unsafe-eval'"),
        "{what}: {policy:?}"
    );
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
}

/// Panics if the HTML `page` holds an inline script, event handler or style, which the
/// policy blocks (a page that relied on one would break in a browser).
fn assert_no_inline_code(page: &str, what: &str) {
    let lower = page.to_ascii_lowercase();
    for inline in [
        "<script",
        "<style",
        " style=",
        " onclick=",
        " onload=",
        "javascript:",
    ] {
        assert!(!lower.contains(inline), "{what}: the page holds {inline:?}");
    }
}

async fn get(app: &TestApp, cookie: Option<&str>, path: &str) -> Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

/// A bridged and ended call in the log, so that its page exists; the path of its page.
async fn a_logged_call(app: &TestApp) -> &'static str {
    app.create_order("OD-SEC", "4821").await;
    let call = crate::common::Call::new("sec-call-1");
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, crate::common::CUSTOMER_E164);
    let end = call
        .query(None)
        .replace("DialCallStatus=null", "DialCallStatus=completed")
        .replace("CallType=call-attempt", "CallType=completed");
    assert_eq!(app.exotel("call-end", &end).await.status(), 200);
    "/admin/calls/exotel/sec-call-1"
}

#[tokio::test]
async fn every_admin_page_is_sent_with_the_security_headers_and_no_inline_code() {
    let app = spawn_app().await;
    let call_page = a_logged_call(&app).await;
    let cookie = admin_sign_in(&app).await;
    for path in [
        "/admin",
        "/admin/",
        "/admin/dashboard",
        "/admin/calls",
        "/admin/calls?outcome=pin_failed",
        call_page,
        "/admin/orders",
        "/admin/orders?q=OD-1",
        "/admin/bookings",
        "/admin/greetings",
        "/admin/greetings/edit?prompt=welcome&language=en&virtual_number=",
        "/admin/test-call",
    ] {
        let r = get(&app, Some(&cookie), path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_confined(&r, path);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("<link rel=\"stylesheet\" href=\"/admin/static/admin.css\">"),
            "{path}: the page takes its style from the stylesheet"
        );
        assert_no_inline_code(&page, path);
    }
    // The sign-in page too, and what strangers, wrong addresses and refused forms get.
    let r = get(&app, None, "/admin/login").await;
    assert_eq!(r.status(), 200);
    assert_confined(&r, "the sign-in page");
    assert_no_inline_code(&r.text().await.unwrap(), "the sign-in page");
    let r = get(&app, None, "/admin/orders").await;
    assert_eq!(r.status(), 303);
    assert_confined(&r, "a stranger's redirect");
    let r = get(&app, Some(&cookie), "/admin/no-such-page").await;
    assert_eq!(r.status(), 404);
    assert_confined(&r, "an unknown admin path");
    let r = admin_post(&app, &cookie, "/admin/orders", &[("csrf", "forged")]).await;
    assert_eq!(r.status(), 403);
    assert_confined(&r, "a refused form");
}

#[tokio::test]
async fn posting_the_sign_in_form_answers_with_the_security_headers_whatever_the_outcome() {
    let app = spawn_app().await;
    let (cookie, csrf) = sign_in_form(&app.client, &app.address).await;
    for (token, csrf, status) in [
        ("not-the-admin-token-0000", csrf.as_str(), 401),
        (ADMIN_TOKEN, "", 403),
        (ADMIN_TOKEN, csrf.as_str(), 303),
    ] {
        let r = app
            .client
            .post(format!("{}/admin/login", app.address))
            .header(COOKIE, &cookie)
            .form(&[("token", token), ("csrf", csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "token {token:?}, csrf {csrf:?}");
        assert_confined(&r, &format!("a sign-in answered {status}"));
    }
}

#[tokio::test]
async fn the_stylesheet_is_served_as_css_and_revalidated_by_its_etag() {
    let app = spawn_app().await;
    let r = get(&app, None, "/admin/static/admin.css").await;
    assert_eq!(r.status(), 200);
    assert_confined(&r, "the stylesheet");
    assert_eq!(r.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    let etag = r.headers()[ETAG].to_str().unwrap().to_owned();
    let css = r.text().await.unwrap();
    assert!(css.contains(".error {"), "{css}");
    let again = app
        .client
        .get(format!("{}/admin/static/admin.css", app.address))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()[ETAG], etag.as_str());
    let stale = app
        .client
        .get(format!("{}/admin/static/admin.css", app.address))
        .header(IF_NONE_MATCH, "\"an-older-version\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn the_sign_in_form_carries_a_csrf_token_that_matches_its_cookie() {
    let app = spawn_app().await;
    let r = get(&app, None, "/admin/login").await;
    let set = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("pinbridge_login="))
        .expect("the sign-in form sets its CSRF cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin/login"] {
        assert!(set.contains(attribute), "{set}");
    }
    let page = r.text().await.unwrap();
    let token = admin_csrf(&page);
    assert!(token.len() >= 32, "{token:?}");
    assert!(
        set.starts_with(&format!("pinbridge_login={token};")),
        "{set}"
    );
    // A second form in the same browser keeps the token, so that two tabs both work.
    let again = get(
        &app,
        Some(&format!("pinbridge_login={token}")),
        "/admin/login",
    )
    .await;
    assert_eq!(admin_csrf(&again.text().await.unwrap()), token);
    // A new browser gets a token of its own.
    let other = get(&app, None, "/admin/login").await;
    assert_ne!(admin_csrf(&other.text().await.unwrap()), token);
}

#[tokio::test]
async fn a_sign_in_without_the_forms_csrf_token_is_refused_with_a_page_and_starts_no_session() {
    let app = spawn_app().await;
    let (cookie, csrf) = sign_in_form(&app.client, &app.address).await;
    let (_, other_browsers) = sign_in_form(&app.client, &app.address).await;
    // The last character changed: to `y` when it is `x` already (one token in 62).
    let last = if csrf.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &csrf[..csrf.len() - 1]);
    // The admin token is right every time: only the CSRF token is missing or wrong, as when
    // another site posts the form (no cookie: SameSite=Strict keeps it at home).
    let attempts: [(Option<&str>, Option<&str>, &str); 6] = [
        (None, None, "no cookie, no field"),
        (None, Some(&csrf), "a field without its cookie"),
        (Some(&cookie), None, "a cookie without the field"),
        (Some(&cookie), Some(""), "an empty field"),
        (Some(&cookie), Some(&forged), "a forged field"),
        (
            Some(&cookie),
            Some(&other_browsers),
            "another browser's token",
        ),
    ];
    for (cookie, field, what) in attempts {
        let mut form = vec![("token", ADMIN_TOKEN)];
        if let Some(field) = field {
            form.push(("csrf", field));
        }
        let mut request = app
            .client
            .post(format!("{}/admin/login", app.address))
            .form(&form);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what}");
        assert!(
            set_cookie(&r, "pinbridge_session").is_none(),
            "{what}: a session was started"
        );
        assert!(r.headers().get(LOCATION).is_none(), "{what}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{what}: an HTML page, not a bare error"
        );
        let fresh = set_cookie(&r, "pinbridge_login").expect("a fresh token to try again with");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("did not come from pinbridge"),
            "{what}: {page}"
        );
        assert!(page.contains("<h1>Sign in to pinbridge</h1>"), "{what}");
        assert_eq!(
            format!("pinbridge_login={}", admin_csrf(&page)),
            fresh,
            "{what}: the form shown again works"
        );
    }
}

#[tokio::test]
async fn a_signed_in_session_works_and_the_sign_in_token_is_spent() {
    let app = spawn_app().await;
    let (cookie, csrf) = sign_in_form(&app.client, &app.address).await;
    let r = app
        .client
        .post(format!("{}/admin/login", app.address))
        .header(COOKIE, &cookie)
        .form(&[("token", ADMIN_TOKEN), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/admin");
    let session = set_cookie(&r, "pinbridge_session").expect("a session cookie");
    let spent = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("pinbridge_login="))
        .expect("the sign-in token's cookie is removed");
    assert!(spent.starts_with("pinbridge_login=;"), "{spent}");
    assert!(spent.contains("Max-Age=0"), "{spent}");
    let (status, page) = admin_get(&app, &session, "/admin").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Dashboard"), "{page}");
}
