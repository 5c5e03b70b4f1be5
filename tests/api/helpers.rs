//! The API tests' own helpers: the requests of the PIN flow, the admin API's JSON, the call
//! log, the admin UI as the shared [`TestApp`] signs in to it, and times to expire rows at.
//! What the other test binaries share is in `tests/common/`.

use serde_json::Value;

use crate::common::{ADMIN_TOKEN, Call, TestApp, sign_in_at};

impl TestApp {
    /// An Exotel applet's JSON answer (Gather's); panics unless it is a 200 in JSON.
    pub async fn exotel_json(&self, applet: &str, query: &str) -> Value {
        let r = self.exotel(applet, query).await;
        assert_eq!(r.status(), 200, "{applet}");
        assert_eq!(r.headers()["content-type"], "application/json");
        r.json().await.unwrap()
    }

    /// `check-pin`'s status: 200 (go on to Connect) or 302 (ask again).
    pub async fn check_pin(&self, call: &Call, digits: &str) -> u16 {
        self.exotel("check-pin", &call.query(Some(digits)))
            .await
            .status()
            .as_u16()
    }

    /// Connect's answer for `call`: the number dialled, empty for no one.
    pub async fn connect(&self, call: &Call) -> String {
        self.exotel_text("connect", &call.query(None)).await
    }

    /// [`TestApp::post_api`], with the answer's status and JSON body (`null` when not JSON).
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.post_api(path, body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// DELETEs the admin API's `path` with the admin token: the answer's status and JSON body
    /// (`null` when not JSON).
    pub async fn delete_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .delete(self.api(path))
            .bearer_auth(crate::common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// PATCHes `body` as JSON to the admin API's `path` with the admin token: the answer's
    /// status and JSON body (`null` when not JSON).
    pub async fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .patch(self.api(path))
            .bearer_auth(crate::common::ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The value of the `/metrics` sample written exactly `series` (name and labels as the
    /// exporter prints them, e.g. `pinbridge_x_total{provider="vonage"}`), if it is there.
    /// The recorder is shared by every app of the test binary: compare before and after.
    pub async fn metric_value(&self, series: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("a body");
        text.lines()
            .filter_map(|l| l.rsplit_once(' '))
            .find(|(s, _)| *s == series)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The call log entry of one call; panics unless there is exactly one.
    pub async fn call_record(&self, call_sid: &str) -> Value {
        let (status, body) = self.get_json(&format!("/calls?call_sid={call_sid}")).await;
        assert_eq!(status, 200);
        let calls = body["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "one record for {call_sid}");
        calls[0].clone()
    }

    /// Runs SQL on the application's database, as an operator or a clock would.
    pub async fn sql(&self, statement: impl Into<String>) {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(statement.into()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

/// A minute ago, in ms since the epoch: a time to expire a row at in a test. A time far in the
/// past would not do: the server purges rows that ended before its retention cutoff
/// (`PINBRIDGE_RETENTION_DAYS`) once at start-up, in a task that may run after the test's
/// update, and the row would then be gone instead of expired.
pub fn a_minute_ago_ms() -> i64 {
    pinbridge::domain::clock::now_ms() - 60_000
}

/// Encodes a sample request written in a seed document (values unencoded, as printed there)
/// the way Exotel sends it on the wire.
pub fn encode_seed(raw: &str) -> String {
    let pairs: Vec<(&str, &str)> = raw
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .collect();
    serde_urlencoded::to_string(pairs).unwrap()
}

/// Signs in to the admin web UI and returns the `Cookie` header value of the session.
pub async fn admin_sign_in(app: &TestApp) -> String {
    sign_in_at(&app.client, &app.address, ADMIN_TOKEN).await
}

/// Signs in to the admin web UI with `token` and returns the `Cookie` header value of the
/// session.
pub async fn admin_sign_in_with(app: &TestApp, token: &str) -> String {
    sign_in_at(&app.client, &app.address, token).await
}

/// GETs an admin UI page with the session cookie: (status, HTML).
pub async fn admin_get(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = app
        .client
        .get(format!("{}{path}", app.address))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POSTs an admin UI form with the session cookie.
pub async fn admin_post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header(reqwest::header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}
