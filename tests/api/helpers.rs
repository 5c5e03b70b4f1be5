//! `spawn_app()` and the requests tests send.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use pinbridge::app::startup::Application;
use pinbridge::config::{AdminToken, Settings};
use reqwest::{Response, redirect};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const EXOTEL_SECRET: &str = "test-exotel-secret-0123456789";

/// The virtual number of the seeds (`CallTo=07314853246`).
pub const VIRTUAL_NUMBER: &str = "07314853246";
/// The customer tests create orders for, and its E.164 form.
pub const CUSTOMER: &str = "09812345678";
pub const CUSTOMER_E164: &str = "+919812345678";

/// `TEST_LOG=1`: logs on stdout. `TEST_LOG_FILE=path`: every log line of the run appended to
/// that file, which `scripts/scan-logs.sh` checks for personal data.
static TRACING: LazyLock<()> = LazyLock::new(|| {
    if let Some(path) = std::env::var_os("TEST_LOG_FILE") {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the log file opens");
        // sqlx echoes statement texts at debug; the tests' own literal SQL would show there.
        pinbridge::telemetry::init_with_writer("debug,sqlx=info", std::sync::Mutex::new(file));
    } else if std::env::var_os("TEST_LOG").is_some() {
        pinbridge::telemetry::init("debug");
    }
});

/// The PostgreSQL server of the PostgreSQL pass (`scripts/test.sh`), when there is one:
/// `TEST_DATABASE_URL=postgres://...`.
pub fn test_postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

/// A new, empty database for one test: a SQLite file in `dir`, or, in the PostgreSQL pass, a
/// database of its own created on the `TEST_DATABASE_URL` server (tests run in parallel).
pub async fn fresh_database_url(dir: &Path) -> String {
    let Some(server) = test_postgres_url() else {
        return format!("sqlite://{}/pinbridge.db", dir.display());
    };
    pinbridge::storage::create_test_database(&server, "t")
        .await
        .expect("a test database on the TEST_DATABASE_URL server")
}

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub settings: Settings,
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Kept so the database file outlives restarts; deleted when the last clone drops.
    pub dir: Arc<tempfile::TempDir>,
    /// The application's event emitter (tests emit through it directly).
    pub events: pinbridge::outbound::events::Events,
}

/// The application with the test settings: PINs of 3 to 12 digits (the seeds' PIN is `568`).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The application with the test settings changed by `change`.
pub async fn spawn_app_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let mut settings = Settings::default();
    settings.server.listen.port = 0;
    settings.database.url = fresh_database_url(dir.path()).await;
    settings.access.admin_tokens = vec![AdminToken::new("admin", ADMIN_TOKEN, true)];
    settings.providers.exotel_secret = Some(EXOTEL_SECRET.into());
    settings.orders.pin_min = 3;
    settings.calls.brand = "Swift Couriers".into();
    change(&mut settings);
    start(settings, dir).await
}

async fn start(settings: Settings, dir: Arc<tempfile::TempDir>) -> TestApp {
    LazyLock::force(&TRACING);
    let app = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let events = app.events().clone();
    let join = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        // Exotel's Passthru answers 302 as a signal; it must reach the test, not be followed.
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        database_url: settings.database.url.clone(),
        settings,
        handle,
        join,
        dir,
        events,
    }
}

impl TestApp {
    /// Stops this process's server and starts a new one on the same database: nothing of the
    /// old process (its cache) survives.
    pub async fn restart(self) -> TestApp {
        self.handle.stop(true).await;
        let _ = self.join.await;
        start(self.settings, self.dir).await
    }

    pub fn exotel_url(&self, applet: &str) -> String {
        format!("{}/exotel/{EXOTEL_SECRET}/{applet}", self.address)
    }

    /// GET an Exotel applet URL with a query string as Exotel encodes it.
    pub async fn exotel(&self, applet: &str, query: &str) -> Response {
        self.client
            .get(format!("{}?{query}", self.exotel_url(applet)))
            .header("Exotel-Version", "1.0")
            .send()
            .await
            .expect("request sent")
    }

    pub async fn exotel_text(&self, applet: &str, query: &str) -> String {
        let r = self.exotel(applet, query).await;
        assert_eq!(r.status(), 200, "{applet}");
        r.text().await.unwrap()
    }

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

    pub async fn connect(&self, call: &Call) -> String {
        self.exotel_text("connect", &call.query(None)).await
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.address)
    }

    /// POSTs `body` as JSON to the admin API's `path`, with the admin token.
    pub async fn post_api(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.api(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// [`TestApp::post_api`], with the answer's status and JSON body (`null` when not JSON).
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.post_api(path, body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_order(&self, body: Value) -> Response {
        self.post_api("/orders", &body).await
    }

    /// Creates an order and returns it; panics unless the API answers 201.
    pub async fn create_order(&self, order_id: &str, pin: &str) -> Value {
        let r = self
            .post_order(json!({
                "order_id": order_id,
                "customer_number": CUSTOMER,
                "pin": pin,
                "virtual_number": VIRTUAL_NUMBER,
            }))
            .await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.api(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The call log entry of one call.
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

/// One inbound Exotel call: the seed's parameters with its own CallSid and caller.
#[derive(Debug, Clone)]
pub struct Call {
    pub sid: String,
    pub from: String,
}

impl Call {
    pub fn new(sid: &str) -> Self {
        Self {
            sid: sid.into(),
            from: "07709562799".into(),
        }
    }

    /// The query string of an applet request in the PIN flow, shaped like the seed's Connect
    /// sample (seed 003, "Pin based Number"); `digits` is sent wrapped in quotes as Exotel does.
    pub fn query(&self, digits: Option<&str>) -> String {
        let mut pairs = vec![
            ("CallFrom", self.from.clone()),
            ("CallSid", self.sid.clone()),
            ("CallTo", VIRTUAL_NUMBER.into()),
            ("CallType", "call-attempt".into()),
            ("Created", "Fri, 16 Jul 2021 18:24:05".into()),
            ("CurrentTime", "2021-07-16 18:24:12".into()),
            ("DialCallDuration", "0".into()),
            ("DialCallStatus", "null".into()),
            ("DialWhomNumber", "".into()),
            ("Direction", "incoming".into()),
            ("EndTime", "1970-01-01 05:30:00".into()),
            ("ForwardedFrom", "null".into()),
            ("From", self.from.clone()),
            ("ProcessStatus", "null".into()),
            ("RecordingUrl", "null".into()),
            ("StartTime", "2021-07-16 18:24:05".into()),
            ("To", VIRTUAL_NUMBER.into()),
            ("flow_id", "383431".into()),
            ("tenant_id", "53926".into()),
        ];
        if let Some(d) = digits {
            pairs.push(("digits", format!("\"{d}\"")));
        }
        serde_urlencoded::to_string(pairs).unwrap()
    }
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

/// The CSRF token in an admin page's hidden input.
pub fn admin_csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF input") + 19;
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}
