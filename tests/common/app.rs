//! The application under test: `spawn_app()` builds and runs it on port 0 with a fresh
//! database, and [`TestApp`] holds what a test needs to talk to it.

use std::sync::{Arc, LazyLock};

use pinbridge::app::startup::Application;
use pinbridge::config::{AdminToken, Settings};
use reqwest::{Response, redirect};
use serde_json::{Value, json};

use super::{ADMIN_TOKEN, CUSTOMER, EXOTEL_SECRET, VIRTUAL_NUMBER};

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

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client that does not follow redirects.
    pub client: reqwest::Client,
    pub database_url: String,
    /// The settings the application was built with.
    pub settings: Settings,
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Kept so the database file outlives restarts; deleted when the last clone drops.
    pub dir: Arc<tempfile::TempDir>,
    /// The application's event emitter (tests emit through it directly).
    pub events: pinbridge::outbound::events::Events,
    /// The application's SMS sender, when SMS is on.
    sms: Option<Arc<pinbridge::outbound::sms::UnansweredSms>>,
    /// The proxy [`TestApp::api`] points at, which checks every answer of the admin API
    /// against the OpenAPI document, and fails the test on drop when one does not match.
    pub api_check: super::ApiCheck,
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
    settings.database.url = super::fresh_database_url(dir.path()).await;
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
    let sms = app.sms().cloned();
    let join = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        // Exotel's Passthru answers 302 as a signal; it must reach the test, not be followed.
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let api_check = super::ApiCheck::start(&address);
    TestApp {
        api_check,
        address,
        client,
        database_url: settings.database.url.clone(),
        settings,
        handle,
        join,
        dir,
        events,
        sms,
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

    /// Waits until the background work the application started so far is done: every SMS
    /// decision spawned has ended, and every event due has been posted (a post under way
    /// included). A test awaits it before it checks that something was NOT sent: what has
    /// not happened by then will not happen, whereas a sleep only guesses how long to wait.
    /// Panics when that work takes longer than the HTTP clients' timeouts allow.
    pub async fn drain(&self) {
        let work = async {
            if let Some(sms) = &self.sms {
                sms.drain().await;
            }
            self.events.drain().await
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), work)
            .await
            .expect("the background work ends within 30 s")
            .expect("the event outbox can be read");
    }

    /// The URL of an Exotel applet (`greeting`, `check-pin`, ...), with the URL secret.
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

    /// An Exotel applet's text answer; panics unless it is a 200.
    pub async fn exotel_text(&self, applet: &str, query: &str) -> String {
        let r = self.exotel(applet, query).await;
        assert_eq!(r.status(), 200, "{applet}");
        r.text().await.unwrap()
    }

    /// The URL of the admin API's `path` (`/orders`, ...), through the proxy that checks each
    /// answer against the OpenAPI document ([`super::ApiCheck`]).
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.api_check.address)
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

    /// POSTs an order as JSON to the admin API.
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

    /// GETs the admin API's `path` with the admin token: (status, JSON body or `null`).
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
}
