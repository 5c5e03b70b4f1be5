//! Signing in to the admin web UI as a browser does, and what its pages carry (cookies, the
//! CSRF token).

use reqwest::Response;

/// The sign-in form of the admin UI at `address`: (the `Cookie` header value holding its CSRF
/// token, the token in its hidden field).
pub async fn sign_in_form(client: &reqwest::Client, address: &str) -> (String, String) {
    let r = client
        .get(format!("{address}/admin/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = set_cookie(&r, "pinbridge_login").expect("the sign-in form sets its cookie");
    let page = r.text().await.unwrap();
    (cookie, admin_csrf(&page))
}

/// Signs in to the admin UI at `address` with `token` as a browser does (the form first,
/// then the admin token posted with the form's CSRF token) and returns the `Cookie` header
/// value of the session.
pub async fn sign_in_at(client: &reqwest::Client, address: &str, token: &str) -> String {
    let (cookie, csrf) = sign_in_form(client, address).await;
    let r = client
        .post(format!("{address}/admin/login"))
        .header(reqwest::header::COOKIE, cookie)
        .form(&[("token", token), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    set_cookie(&r, "pinbridge_session").expect("signing in sets the session cookie")
}

/// The `name=value` of the cookie `name` that `r` sets, if it sets one.
pub fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The CSRF token in an admin page's hidden input.
pub fn admin_csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF input") + 19;
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}
