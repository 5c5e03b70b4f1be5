//! The browser harness: ChromeDriver as a child process, Debian's Chromium headless, the app on
//! port 0, and a screenshot of every page a test looks at.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use pinbridge::config::Signing;
use serde_json::{Value, json};

use crate::common::{self, ADMIN_TOKEN, TestApp};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The window a test's browser opens with.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    Desktop,
    /// 390 × 844: a phone held upright.
    Phone,
}

impl Window {
    fn size(self) -> &'static str {
        match self {
            Window::Desktop => "--window-size=1280,900",
            Window::Phone => "--window-size=390,844",
        }
    }
}

/// A running ChromeDriver, shut down (with the Chromium it started) when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(log: &Path) -> Driver {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} or {CHROMIUM} is missing: run scripts/install-browser.sh \
             (or scripts/test.sh, which runs it) to install Debian's chromium and chromium-driver"
        );
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} starts: {e}"));
        let mut driver = Driver { child, port };
        driver.wait_until_ready(log);
        driver
    }

    /// Polls `GET /status` until ChromeDriver answers that it is ready.
    fn wait_until_ready(&mut self, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{CHROMEDRIVER} exited with {status} before answering; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if raw_get(self.port, "/status").is_some_and(|body| body.contains("\"ready\":true")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{CHROMEDRIVER} did not answer on port {} within 20 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `/shutdown` ends every session, so the Chromium processes go too; a kill does not.
        let _ = raw_get(self.port, "/shutdown");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on loopback right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// A blocking HTTP/1.1 GET on loopback, for the driver's lifecycle (also from `Drop`): the
/// body, read up to its `Content-Length` (ChromeDriver keeps the connection open).
fn raw_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if length.is_none_or(|l| body.len() >= l) {
                return Some(body.to_owned());
            }
        }
    }
    Some(String::from_utf8_lossy(&response).into_owned())
}

/// One test's browser and app.
/// The Twilio Auth Token of the browser tests' app: Twilio is on, its requests signed.
pub const TWILIO_TOKEN: &str = "browser-twilio-auth-token";

pub struct Browser {
    pub client: Client,
    pub app: TestApp,
    test: &'static str,
    // Dropped after `client`: the driver shuts Chromium down, then the profile is deleted.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// The app with the test settings and a desktop-sized browser.
    pub async fn start(test: &'static str) -> Browser {
        Browser::start_with(test, Window::Desktop).await
    }

    pub async fn start_with(test: &'static str, window: Window) -> Browser {
        let app =
            common::spawn_app_with(|s| s.providers.twilio = Signing::Signed(TWILIO_TOKEN.into()))
                .await;
        let profile = tempfile::tempdir().expect("a temporary directory");
        let driver = Driver::start(&profile.path().join("chromedriver.log"));
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            window.size(),
        ]
        .map(String::from)
        .into_iter()
        .chain([format!(
            "--user-data-dir={}",
            profile.path().join("chromium").display()
        )])
        .collect::<Vec<_>>();
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        if let Window::Phone = window {
            // Headless Chromium will not make a window narrower than 500 px: the phone's
            // viewport comes from ChromeDriver's device emulation.
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 1.0 },
            });
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "a Chromium session through {CHROMEDRIVER}: {e}; its log:\n{}",
                    std::fs::read_to_string(profile.path().join("chromedriver.log"))
                        .unwrap_or_default()
                )
            });
        Browser {
            client,
            app,
            test,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the browser session (a test that panics leaves that to `Drop`).
    pub async fn finish(self) {
        let _ = self.client.clone().close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }

    /// Opens `path` and takes its screenshot as `<test>-<page>.png`.
    pub async fn visit(&self, path: &str, page: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        self.shot(page).await;
    }

    /// Writes a PNG of what the browser shows to `target/screenshots/<test>-<page>.png`.
    pub async fn shot(&self, page: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder is created");
        let path = dir.join(format!("{}-{page}.png", self.test));
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }

    /// The path of the page shown now.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the current URL")
            .path()
            .to_owned()
    }

    /// The HTTP status of the page shown now (Navigation Timing).
    pub async fn status(&self) -> u64 {
        let v = self
            .client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 return n ? n.responseStatus : 0;",
                vec![],
            )
            .await
            .expect("the page's status");
        v.as_u64().unwrap_or(0)
    }

    /// Waits until `path` is shown.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            if Instant::now() > deadline {
                self.shot("timeout").await;
                panic!("expected to be on {path}, still on {now}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element, with a clear message (and a screenshot) if it never comes.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let shot = self.shot("missing").await;
                panic!(
                    "no `{css}` on {} ({e}); screenshot {}",
                    self.path().await,
                    shot.display()
                )
            }
        }
    }

    /// Waits until the text of `css` contains `needle`, and returns that text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                let shot = self.shot("timeout").await;
                panic!(
                    "`{css}` on {} never contained {needle:?}; it reads {text:?}; screenshot {}",
                    self.path().await,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field.clear().await.expect("the field clears");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into `{css}`: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    /// Signs in through the form with `token`; does not check where it lands.
    pub async fn submit_sign_in(&self, token: &str) {
        self.visit("/admin/login", "login").await;
        self.fill("#token", token).await;
        self.click("form[action=\"/admin/login\"] button[type=submit]")
            .await;
    }

    /// Signs in with the test admin token and waits for the dashboard.
    pub async fn sign_in(&self) {
        self.submit_sign_in(ADMIN_TOKEN).await;
        self.wait_for_path("/admin").await;
    }
}

/// `target/screenshots` of this package (`CARGO_TARGET_DIR` when cargo was given one).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(target)
    } else {
        target
    };
    target.join("screenshots")
}
