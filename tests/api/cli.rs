//! The `pinbridge` binary as a new user runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::Call;
use crate::helpers::encode_seed;

fn pinbridge(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinbridge"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("PINBRIDGE_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Collects the lines of one of a process's outputs, on a thread that ends when it closes.
struct Collected {
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Collected {
    fn from(output: impl std::io::Read + Send + 'static) -> Self {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            lines,
            reader: Some(reader),
        }
    }

    /// Every line, once the output has ended.
    fn finish(&mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the reader ends with the output");
        }
        self.lines()
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a line containing `needle` and returns it.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no line with {needle:?} in {:#?}", self.lines());
    }
}

/// A `pinbridge serve` process: its stdout (the JSON logs) and its stderr (the start banner)
/// are collected line by line.
struct Server {
    child: Child,
    stdout: Collected,
    stderr: Collected,
}

/// What a stopped server wrote.
struct Output {
    /// The JSON log lines.
    stdout: Vec<String>,
    /// The start banner and anything else for the operator.
    stderr: Vec<String>,
}

impl Server {
    fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Starts `serve` with the settings `env` besides the listen address.
    fn start_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = pinbridge(dir)
            .arg("serve")
            // Port 0: the only setting given, so parallel tests do not clash on 8080.
            .env("PINBRIDGE_LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pinbridge starts");
        let stdout = Collected::from(child.stdout.take().unwrap());
        let stderr = Collected::from(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Stops the server as an operator or an orchestrator does, with SIGTERM (it answers the
    /// requests under way, writes what is queued and exits), and returns every line it wrote:
    /// its outputs have ended, so a line missing from them was never written.
    /// The client connections to it should be dropped first (an open one keeps it waiting).
    async fn stop(mut self) -> Output {
        // A server that has answered a request has its workers running, and they start with
        // its SIGTERM handler; before that, SIGTERM would kill it.
        let ready = reqwest::get(format!("http://127.0.0.1:{}/healthz", self.port()))
            .await
            .expect("pinbridge answers /healthz");
        assert_eq!(ready.status(), 200);
        drop(ready);
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "pinbridge stops on SIGTERM");
            // The test's runtime goes on meanwhile, so its dropped connections get closed.
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            status.success(),
            "pinbridge exits cleanly on SIGTERM: {status}"
        );
        Output {
            stdout: self.stdout.finish(),
            stderr: self.stderr.finish(),
        }
    }

    /// Waits for a line of the banner (stderr) containing `needle` and returns it.
    fn banner_line(&self, needle: &str) -> String {
        self.stderr.wait_for(needle)
    }

    /// Waits for a log line (stdout) containing `needle` and returns it.
    fn log_line(&self, needle: &str) -> String {
        self.stdout.wait_for(needle)
    }

    fn port(&self) -> u16 {
        let line = self.banner_line("listening on port");
        line.split("port ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serve_with_no_configuration_works_and_logs_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let port = server.port();
    let admin = server.banner_line("Admin UI:");
    assert!(
        admin.contains(&format!("http://127.0.0.1:{port}/admin")),
        "{admin}"
    );
    // Only Exotel is on: every other provider is said to be off, with what turns it on.
    for (provider, setting) in [
        ("twilio", "PINBRIDGE_TWILIO_AUTH_TOKEN"),
        ("plivo", "PINBRIDGE_PLIVO_AUTH_TOKEN"),
        ("8x8", "PINBRIDGE_8X8_SECRET"),
        ("vonage", "PINBRIDGE_VONAGE_SIGNATURE_SECRET"),
    ] {
        let line = server.banner_line(&format!("  {provider} "));
        assert!(line.contains(" off ") && line.contains(setting), "{line}");
    }
    let exotel = server.banner_line("  exotel ");
    assert!(exotel.contains(" on "), "{exotel}");
    // stderr is a pipe here, as under docker or systemd: the URL secret is withheld, and the
    // generated admin token is written to a file of the database's directory, not shown.
    let greeting = server.banner_line("/greeting");
    assert!(greeting.contains("/exotel/<secret>/greeting"), "{greeting}");
    server.banner_line("`pinbridge urls` prints the URLs in full");
    let written = server.banner_line("Admin API token generated now, not shown");
    let token_file = dir.path().join("pinbridge.db.admin-token");
    assert!(
        written.contains(&token_file.display().to_string()),
        "{written}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the token file");
    }
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.len() >= 32, "a long generated token");
    let urls = pinbridge(dir.path()).arg("urls").output().unwrap();
    assert!(urls.status.success());
    let printed = String::from_utf8_lossy(&urls.stdout).into_owned();
    let greeting_url = printed
        .lines()
        .find(|l| l.ends_with("/greeting"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no greeting URL in {printed}"))
        .to_owned();
    let secret = greeting_url
        .split("/exotel/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.len() >= 32, "a long generated secret");
    // `urls` names the configured listen port; the server listens on the one it was given.
    let greeting_url = format!("http://127.0.0.1:{port}/exotel/{secret}/greeting");
    assert!(
        dir.path().join("pinbridge.db").exists(),
        "the SQLite file is created"
    );

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&token)
        .json(
            &json!({"order_id": "OD-9", "customer_number": "09812345678", "pin": "739154",
                      "virtual_number": "07314853246"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the printed token is the admin token");
    // A body the server refuses: the client's error names the value, the log must not.
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&json!({"order_id": "OD-10", "customer_number": 919812345678_u64, "pin": "739154"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let call = Call::new("cli-call");
    let url = |applet: &str| greeting_url.replace("/greeting", &format!("/{applet}"));
    assert_eq!(
        client
            .get(format!(
                "{}?{}",
                url("check-pin"),
                call.query(Some("739154"))
            ))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let dial = client
        .get(format!("{}?{}", url("connect"), call.query(None)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(dial, "+919812345678");
    client
        .get(format!(
            "{}?{}",
            url("check-pin"),
            Call::new("cli-2").query(Some("111111"))
        ))
        .send()
        .await
        .unwrap();

    // Every log line (JSON) the server wrote, up to its exit, is free of numbers, PINs and
    // the URL secret; stdout holds nothing but log lines, and the banner on stderr no secret.
    drop(client);
    let output = server.stop().await;
    let logs = output.stdout;
    assert!(
        logs.iter().any(|l| l.contains("cli-call")),
        "the call steps are logged: {logs:#?}"
    );
    for line in &logs {
        let parsed: Value = serde_json::from_str(line).expect("stdout holds JSON log lines only");
        assert!(parsed.is_object());
        for secret_thing in [
            "9812345678",
            "7709562799",
            "739154",
            "111111",
            &secret,
            &token,
        ] {
            assert!(
                !line.contains(secret_thing),
                "{secret_thing} leaked into {line}"
            );
        }
    }
    let banner = output.stderr.join("\n");
    assert!(banner.contains("listening on port"), "{banner}");
    assert!(!banner.contains(&secret), "{banner}");
    assert!(!banner.contains(&token), "{banner}");

    // A second start keeps the secret and the token: nothing new is generated, and the token
    // file left behind is pointed out for deletion.
    let again = Server::start(dir.path());
    again.banner_line("pinbridge urls");
    let out = again.stop().await;
    let banner = out.stderr.join("\n");
    assert!(!banner.contains(&secret), "{banner}");
    assert!(!banner.contains(&token), "{banner}");
    assert!(!banner.contains("generated now"), "{banner}");
    assert!(
        banner.contains("delete it once the token is kept elsewhere"),
        "{banner}"
    );
    assert!(out.stdout.iter().all(|l| l.starts_with('{')));
}

/// On a terminal (a pseudo-terminal from util-linux's `script`, as an operator's shell has)
/// the banner shows the URL secret and the generated admin token in full, and writes no file.
#[test]
fn on_a_terminal_the_banner_shows_the_secrets_in_full() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: util-linux's `script` is missing");
        return;
    }
    const EXOTEL_SECRET: &str = "terminal-exotel-secret-abcdefgh";
    let dir = tempfile::tempdir().unwrap();
    // The server's stdout (the logs) goes to a file; stderr, the terminal, is `script`'s
    // output. `timeout` stops the server once it has started.
    let command = format!(
        "timeout -s TERM 5 {} serve 2>&1 >{}",
        env!("CARGO_BIN_EXE_pinbridge"),
        dir.path().join("logs").display()
    );
    let mut script = Command::new(script);
    for (key, _) in std::env::vars() {
        if key.starts_with("PINBRIDGE_") {
            script.env_remove(key);
        }
    }
    let out = script
        .current_dir(dir.path())
        .env("PINBRIDGE_LISTEN", "127.0.0.1:0")
        .env("PINBRIDGE_EXOTEL_SECRET", EXOTEL_SECRET)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(
        terminal.contains(&format!("/exotel/{EXOTEL_SECRET}/greeting")),
        "{terminal}"
    );
    let at = terminal
        .find("shown only this once")
        .unwrap_or_else(|| panic!("no admin token in {terminal}"));
    let token = terminal[at..].lines().nth(1).unwrap().trim();
    assert!(token.len() >= 32, "{terminal}");
    assert!(!dir.path().join("pinbridge.db.admin-token").exists());
    let logs = std::fs::read_to_string(dir.path().join("logs")).unwrap();
    assert!(logs.lines().all(|l| l.starts_with('{')), "{logs}");
    assert!(
        !logs.contains(token) && !logs.contains(EXOTEL_SECRET),
        "{logs}"
    );
}

#[tokio::test]
async fn an_unsigned_provider_is_announced_as_such_and_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[("PINBRIDGE_UNSIGNED_PROVIDERS", "vonage")]);
    let line = server.banner_line("  vonage ");
    assert!(line.contains("ON, UNSIGNED"), "{line}");
    let warning = server.log_line("WITHOUT authentication");
    assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
}

#[tokio::test]
async fn a_language_without_a_voice_on_a_provider_that_is_on_is_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            ("PINBRIDGE_UNSIGNED_PROVIDERS", "twilio"),
            ("PINBRIDGE_DEFAULT_LANGUAGE", "ta"),
        ],
    );
    let warning = server.log_line("no voice of this language");
    assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
    assert!(warning.contains("\"provider\":\"twilio\""), "{warning}");
    assert!(warning.contains("\"language\":\"ta\""), "{warning}");
    assert!(warning.contains("en-IN Polly.Raveena"), "{warning}");
    let logs = server.stop().await.stdout;
    let warnings = logs
        .iter()
        .filter(|l| l.contains("no voice of this language"))
        .count();
    assert_eq!(warnings, 1, "once, for the one provider on: {logs:?}");
}

#[tokio::test]
async fn identifiers_from_requests_reach_the_log_only_bounded_or_hashed() {
    const EXOTEL_SECRET: &str = "cli-exotel-secret-abcdefghijk";
    const TOKEN: &str = "cli-admin-token-abcdefghijk";
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            ("PINBRIDGE_EXOTEL_SECRET", EXOTEL_SECRET),
            ("PINBRIDGE_ADMIN_TOKEN", TOKEN),
            // Unsigned, so that the hostile ids reach the parser and the log.
            ("PINBRIDGE_UNSIGNED_PROVIDERS", "twilio"),
            ("RUST_LOG", "debug,sqlx=info"),
        ],
    );
    let base = format!("http://127.0.0.1:{}", server.port());
    let client = reqwest::Client::new();
    let huge = "x".repeat(60 * 1024);
    let holds_a_number = ["09812345678", "919812345678.tok_s3cr3t"];

    for sid in [huge.as_str(), holds_a_number[0], holds_a_number[1]] {
        let r = client
            .post(format!("{base}/twilio/voice"))
            .form(&[
                ("CallSid", sid),
                ("From", "+917709562799"),
                ("To", "+917314853246"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "a playable answer to a CallSid of {} bytes",
            sid.len()
        );
        assert!(r.text().await.unwrap().contains("<Say"));
        let r = client
            .post(format!("{base}/exotel/{EXOTEL_SECRET}/status"))
            .form(&[("CallSid", sid), ("Status", "completed")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let call = Call::new(holds_a_number[1]);
    let r = client
        .get(format!(
            "{base}/exotel/{EXOTEL_SECRET}/check-pin?{}",
            call.query(Some("4821"))
        ))
        .send()
        .await
        .unwrap();
    assert!([200, 302].contains(&r.status().as_u16()));
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(TOKEN)
        .header("X-Request-Id", "+919812345678 s3cr3t")
        .json(
            &json!({"order_id": "OD-919812345678", "customer_number": "09812345678",
                      "virtual_number": "07314853246"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Every line the server wrote, up to its exit.
    drop(client);
    let logs: Vec<Value> = server
        .stop()
        .await
        .stdout
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            assert!(l.len() <= 4096, "a log line of {} bytes", l.len());
            for leaked in ["9812345678", "s3cr3t", &huge[..65]] {
                assert!(!l.contains(leaked), "{leaked:?} leaked into {l}");
            }
            serde_json::from_str(l).expect("log lines are JSON")
        })
        .collect();
    let field = |line: &Value, name: &str| {
        line.get(name)
            .or_else(|| line["span"].get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut hashed = std::collections::HashSet::new();
    for line in &logs {
        for name in ["call.sid", "order.id", "request_id"] {
            if let Some(id) = field(line, name) {
                assert!(id.len() <= 64, "{name} {id}");
                assert!(
                    id.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b)),
                    "{name} {id}"
                );
                if id.starts_with("hashed-") {
                    hashed.insert(format!("{name} {id}"));
                }
            }
        }
    }
    // The steps and the order were logged, by digest: both ids that hold a number, and the
    // order id.
    let shown = |name: &str| hashed.iter().filter(|h| h.starts_with(name)).count();
    assert_eq!(shown("call.sid"), 2, "{hashed:?}");
    assert_eq!(shown("order.id"), 1, "{hashed:?}");
}

#[test]
fn migrate_creates_the_database_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = pinbridge(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("pinbridge.db").exists());
    let again = pinbridge(dir.path()).arg("migrate").output().unwrap();
    assert!(again.status.success(), "migrating twice is harmless");
}

#[test]
fn bad_settings_stop_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = pinbridge(dir.path())
        .arg("migrate")
        .env("PINBRIDGE_PIN_MAX_ATTEMPTS", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pin_max_attempts"));
    let out = pinbridge(dir.path())
        .arg("migrate")
        .env("PINBRIDGE_TWILIO_VOICES", "hi:Polly.Aditi")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("PINBRIDGE_TWILIO_VOICES"), "{said}");
    // A misspelled variable is not ignored: a typo in a provider's secret would leave it off.
    let out = pinbridge(dir.path())
        .arg("migrate")
        .env("PINBRIDGE_TWILIO_AUTH_TOKN", "a-token")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("PINBRIDGE_TWILIO_AUTH_TOKN") && said.contains("PINBRIDGE_TWILIO_AUTH_TOKEN"),
        "{said}"
    );
    std::fs::write(
        dir.path().join("p.toml"),
        "pin_min_length = 9\npin_max_length = 5\n",
    )
    .unwrap();
    let out = pinbridge(dir.path())
        .args(["--config", "p.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PIN_MIN_LENGTH"));
}

#[test]
fn a_value_that_does_not_read_as_its_type_stops_every_command_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bad) in [
        ("PINBRIDGE_LISTEN", "localhost"),
        ("PINBRIDGE_FALLBACK_NUMBER", "support desk"),
        ("PINBRIDGE_EXOTEL_CALLER_ID", "the desk"),
        ("PINBRIDGE_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("PINBRIDGE_ALLOWED_SOURCE_NETWORKS", "office"),
        ("PINBRIDGE_ADMIN_TOKENS", "ops:too-short"),
        ("PINBRIDGE_ALLOWED_COUNTRY_CODES", "91,india"),
        ("PINBRIDGE_DEFAULT_REGION", "XX"),
        ("PINBRIDGE_UNSIGNED_PROVIDERS", "exotel"),
    ] {
        let out = pinbridge(dir.path())
            .arg("migrate")
            .env(name, bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}={bad} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{name}={bad}: {stderr}");
    }
    assert!(
        !dir.path().join("pinbridge.db").exists(),
        "nothing ran before the settings were refused"
    );
}

#[test]
fn an_events_url_that_is_not_https_stops_the_start_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    // Settings are read before any command runs, `serve` included.
    for (url, allow_http_loopback) in [
        ("file:///etc/passwd", "true"),
        ("gopher://127.0.0.1:6379/_INFO", "true"),
        ("http://hooks.example.com/pinbridge", "true"),
        ("http://127.0.0.1:9/hooks", "false"),
        ("https://169.254.169.254/latest/meta-data/", "true"),
        ("https://[fe80::1]/hooks", "false"),
    ] {
        let out = pinbridge(dir.path())
            .arg("migrate")
            .env("PINBRIDGE_EVENTS_URL", url)
            .env("PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK", allow_http_loopback)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("PINBRIDGE_EVENTS_URL"), "{url}: {stderr}");
    }
    assert!(
        !dir.path().join("pinbridge.db").exists(),
        "nothing ran before the settings were refused"
    );
    let out = pinbridge(dir.path())
        .arg("migrate")
        .env("PINBRIDGE_EVENTS_URL", "http://127.0.0.1:9/hooks")
        .env("PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "loopback http with the explicit setting: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn stored_order_count(url: &str) -> i64 {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let n: i64 = sqlx::query("select count(*) as n from orders")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("n");
    pool.close().await;
    n
}

#[tokio::test]
async fn orders_import_is_all_or_nothing_and_reports_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "order_id,customer_number,pin,virtual_number,expires_at\n\
               OD-1,09812345678,4821,07314853246,\n\
               OD-2,09812345679,,,2099-01-01T00:00:00Z\n\
               OD-3,not-a-number,,,\n\
               OD-4,09812345670,4821,07314853246,\n";
    std::fs::write(dir.path().join("orders.csv"), csv).unwrap();
    // SQLite by default; in the PostgreSQL pass, a database of its own on that server.
    let url = crate::common::fresh_database_url(dir.path()).await;

    let out = pinbridge(dir.path())
        .env("PINBRIDGE_DATABASE_URL", &url)
        .args(["orders", "import", "orders.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 4: customer_number"), "{stderr}");
    // The PIN clash of OD-4 is reported in the same pass as the invalid row.
    assert!(
        stderr.contains("line 5:") && stderr.contains("PIN"),
        "the PIN clash of OD-4: {stderr}"
    );
    assert!(
        stderr.contains("nothing imported: 2 bad row(s)"),
        "{stderr}"
    );
    assert_eq!(stored_order_count(&url).await, 0);

    let out = pinbridge(dir.path())
        .env("PINBRIDGE_DATABASE_URL", &url)
        .args(["orders", "import", "orders.csv", "--skip-bad"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 4:"), "{stderr}");
    assert!(
        stderr.contains("line 5:") && stderr.contains("PIN"),
        "the PIN clash of OD-4: {stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 order(s)"));
    assert_eq!(stored_order_count(&url).await, 2);

    // A file whose rows clash with stored orders imports nothing either.
    std::fs::write(
        dir.path().join("again.csv"),
        "order_id,customer_number\nOD-5,09812345678\nOD-1,09812345678\n",
    )
    .unwrap();
    let out = pinbridge(dir.path())
        .env("PINBRIDGE_DATABASE_URL", &url)
        .args(["orders", "import", "again.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3:"));
    assert_eq!(stored_order_count(&url).await, 2);
}

#[tokio::test]
async fn a_crlf_file_names_each_bad_row_by_its_line_and_counts_repeated_reasons() {
    let dir = tempfile::tempdir().unwrap();
    // As Excel writes it: CRLF line endings, a quoted field over two lines (lines 2 and 3;
    // an order id may not hold a line break).
    let mut csv = String::from("order_id,customer_number\r\n\"OD\r\n0\",09812345678\r\n");
    for i in 1..=6 {
        csv.push_str(&format!("OD-{i},not-a-number\r\n"));
    }
    csv.push_str("OD-7,09812345678\r\nOD-7,09812345678\r\n");
    std::fs::write(dir.path().join("excel.csv"), csv).unwrap();
    let url = crate::common::fresh_database_url(dir.path()).await;
    let out = pinbridge(dir.path())
        .env("PINBRIDGE_DATABASE_URL", &url)
        .args(["orders", "import", "excel.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Six rows, lines 4 to 9, for one reason: counted, named by the first.
    assert!(
        stderr.contains("6 rows: customer_number") && stderr.contains("(first at line 4)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 11: an active order with this order_id exists already"),
        "the second OD-7, on line 11: {stderr}"
    );
    assert!(stderr.contains("line 2: order_id"), "{stderr}");
    assert!(
        stderr.contains("nothing imported: 8 bad row(s)"),
        "{stderr}"
    );
    assert_eq!(stored_order_count(&url).await, 0);
}

#[test]
fn the_seed_encoding_helper_round_trips() {
    let q = encode_seed("digits=\"568\"&Created=Fri, 16 Jul");
    assert_eq!(q, "digits=%22568%22&Created=Fri%2C+16+Jul");
}

#[tokio::test]
async fn trusted_callers_import_is_all_or_nothing_and_reports_every_bad_line() {
    use pinbridge::storage::{Db, PoolSettings, trusted_callers};
    let dir = tempfile::tempdir().unwrap();
    let csv = "number,label\n\
               09812345678,Ravi\n\
               98,Short\n\
               +91 98123 45679,Priya\n\
               919812345678,Ravi again\n";
    std::fs::write(dir.path().join("couriers.csv"), csv).unwrap();
    let url = crate::common::fresh_database_url(dir.path()).await;
    let import = |args: &[&str]| {
        pinbridge(dir.path())
            .env("PINBRIDGE_DATABASE_URL", &url)
            .args(["trusted-callers", "import"])
            .args(args)
            .output()
            .unwrap()
    };
    let said = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let out = import(&["couriers.csv"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3: number:"), "{stderr}");
    assert!(
        stderr.contains("line 5: number: the same number as line 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("nothing imported: 2 bad row(s)"),
        "{stderr}"
    );
    let db = Db::connect(&url, &PoolSettings::single()).await.unwrap();
    assert_eq!(trusted_callers::count(&db).await.unwrap(), 0);

    let out = import(&["couriers.csv", "--skip-bad"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("imported 2 trusted caller(s): 2 new, 0 updated, skipped 2 bad row(s)"),
        "{}",
        said(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3:"));
    assert!(
        trusted_callers::is_trusted(&db, "+919812345678")
            .await
            .unwrap()
    );
    assert!(
        trusted_callers::is_trusted(&db, "+919812345679")
            .await
            .unwrap()
    );
    assert!(!said(&out).contains("9812345678"), "no number is printed");

    // A number registered already takes the file's label.
    std::fs::write(
        dir.path().join("again.csv"),
        "label,number\nRavi Kumar,09812345678\n,09812345670\n",
    )
    .unwrap();
    let out = import(&["again.csv"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("imported 2 trusted caller(s): 1 new, 1 updated"),
        "{}",
        said(&out)
    );
    let ravi = pinbridge::domain::PhoneNumber::from_e164("+919812345678").unwrap();
    let stored = trusted_callers::get(&db, &ravi).await.unwrap().unwrap();
    assert_eq!(stored.label.as_deref(), Some("Ravi Kumar"));
    assert_eq!(trusted_callers::count(&db).await.unwrap(), 3);

    std::fs::write(dir.path().join("bad.csv"), "phone,label\n09812345671,x\n").unwrap();
    let out = import(&["bad.csv"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1: unknown column \"phone\""),
        "{}",
        said(&out)
    );
    db.close().await;
}

/// `pinbridge backup FILE` run as an operator runs it, beside a server taking orders and
/// calls; a server started on the copy finds every order created before the backup.
#[tokio::test]
async fn backup_copies_a_database_in_use_and_a_server_on_the_copy_finds_its_orders() {
    use crate::common::{Call, spawn_app_with};
    // SQLite in both passes: the backup is SQLite's (PostgreSQL has pg_dump).
    let data = tempfile::tempdir().unwrap();
    let live = format!("sqlite://{}/live.db", data.path().display());
    let app = spawn_app_with(|s| s.database.url = live.clone()).await;
    for i in 0..20 {
        app.create_order(&format!("OD-B{i}"), &format!("{}", 5100 + i))
            .await;
    }

    // In use: orders created and PIN calls stepped while the copy is taken.
    let busy = async {
        let mut i = 0;
        loop {
            // Eight-digit PINs: however long the copy takes, the orders made meanwhile never
            // crowd the PIN space (four-digit ones were refused after about a hundred).
            app.create_order(&format!("OD-DURING-{i}"), &format!("{}", 71_000_000 + i))
                .await;
            assert_eq!(
                app.check_pin(&Call::new(&format!("backup-call-{i}")), "5100")
                    .await,
                200
            );
            i += 1;
            tokio::task::yield_now().await;
        }
    };
    let copy = data.path().join("copy.db");
    let backup = {
        let copy = copy.clone();
        let live = live.clone();
        let dir = data.path().to_owned();
        tokio::task::spawn_blocking(move || {
            pinbridge(&dir)
                .env("PINBRIDGE_DATABASE_URL", &live)
                .arg("backup")
                .arg(&copy)
                .output()
                .unwrap()
        })
    };
    let out = tokio::select! {
        out = backup => out.unwrap(),
        () = busy => unreachable!("the traffic never ends by itself"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up the database to"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the copy holds personal data");
    }

    // An existing file is never overwritten.
    let before = std::fs::metadata(&copy).unwrap().len();
    let again = pinbridge(data.path())
        .env("PINBRIDGE_DATABASE_URL", &live)
        .arg("backup")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), before);

    let restored =
        spawn_app_with(|s| s.database.url = format!("sqlite://{}", copy.display())).await;
    for i in 0..20 {
        let (status, order) = restored.get_json(&format!("/orders/OD-B{i}")).await;
        assert_eq!(status, 200, "OD-B{i}: {order}");
        assert_eq!(order["customer_number"], crate::common::CUSTOMER_E164);
    }
    // The copy is a database of its own: what the live server takes later is not in it.
    app.create_order("OD-AFTER", "9100").await;
    let (status, _) = restored.get_json("/orders/OD-AFTER").await;
    assert_eq!(status, 404);
}

#[test]
fn backup_on_postgresql_says_to_use_pg_dump_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = pinbridge(dir.path())
        .env(
            "PINBRIDGE_DATABASE_URL",
            "postgres://pinbridge@127.0.0.1:1/pinbridge",
        )
        .args(["backup", "copy.db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!dir.path().join("copy.db").exists());
}

/// `pinbridge healthcheck`, a container's HEALTHCHECK: 0 while the server answers /healthz,
/// 1 once nothing answers there.
#[tokio::test]
async fn healthcheck_exits_zero_while_the_server_answers_and_one_when_it_does_not() {
    let app = crate::common::spawn_app().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let check = |env: Vec<(&'static str, String)>, args: Vec<String>| {
        let dir = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            pinbridge(&dir)
                .envs(env)
                .arg("healthcheck")
                .args(args)
                .output()
                .unwrap()
        })
    };

    let out = check(
        vec![],
        vec!["--url".into(), format!("{}/healthz", app.address)],
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without --url: /healthz at PINBRIDGE_LISTEN, 0.0.0.0 (a container's) read as loopback.
    let out = check(
        vec![("PINBRIDGE_LISTEN", format!("0.0.0.0:{port}"))],
        vec![],
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A path that answers 404, and a port where nothing listens.
    let out = check(
        vec![],
        vec!["--url".into(), format!("{}/no-such", app.address)],
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = check(
        vec![("PINBRIDGE_LISTEN", format!("127.0.0.1:{closed_port}"))],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty(), "it says why");
}

/// On PostgreSQL there is no directory of the database to keep a generated admin token in:
/// without a terminal the banner says it is kept nowhere and to set PINBRIDGE_ADMIN_TOKEN, and
/// neither output holds it. Runs in the PostgreSQL pass (`TEST_DATABASE_URL`).
#[tokio::test]
async fn on_postgresql_without_a_terminal_a_generated_admin_token_is_shown_nowhere() {
    if crate::common::test_postgres_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database_url(dir.path()).await;
    let server = Server::start_with(dir.path(), &[("PINBRIDGE_DATABASE_URL", &url)]);
    server.banner_line("(PostgreSQL)");
    let lost = server.banner_line("Admin API token generated now, but not shown");
    assert!(lost.contains("not kept"), "{lost}");
    server.banner_line("Set PINBRIDGE_ADMIN_TOKEN");
    let out = server.stop().await;
    let written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(written.is_empty(), "no file written: {written:?}");
    // No line of either output holds a 40-character token.
    for line in out.stdout.iter().chain(&out.stderr) {
        let longest = line
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest < 40, "a token-like word in {line}");
    }
}
