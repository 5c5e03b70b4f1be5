//! One `pinbridge serve` process of a cluster, and the PostgreSQL server they share.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::redirect;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, CUSTOMER, Call, EXOTEL_SECRET, VIRTUAL_NUMBER};

/// The server of `TEST_DATABASE_URL`; these tests need one.
pub fn server_url() -> String {
    crate::common::test_postgres_url().expect(
        "TEST_DATABASE_URL=postgres://... (scripts/postgres.sh start; scripts/test.sh does it)",
    )
}

/// A new database on the shared server for one test.
pub async fn fresh_database() -> String {
    server_url();
    let dir = tempfile::tempdir().unwrap();
    crate::common::fresh_database_url(dir.path()).await
}

/// Stops or starts the PostgreSQL server through `scripts/postgres.sh` (`stop`, `start`).
pub fn postgres(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh");
    let out = Command::new(script)
        .arg(action)
        .output()
        .expect("scripts/postgres.sh runs");
    assert!(
        out.status.success(),
        "scripts/postgres.sh {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `pinbridge serve`, its log lines collected (and appended to `TEST_LOG_FILE`, for
/// the personal-data scan, when it stops).
pub struct Instance {
    pub name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub address: String,
    pub client: reqwest::Client,
}

impl Instance {
    /// Starts an instance on `database_url` with the test settings and `extra` settings
    /// (`PINBRIDGE_*` pairs), and waits until it listens.
    pub fn start(name: &'static str, database_url: &str, extra: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinbridge"));
        for (key, _) in std::env::vars() {
            if key.starts_with("PINBRIDGE_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("serve")
            .env("PINBRIDGE_LISTEN", "127.0.0.1:0")
            .env("PINBRIDGE_DATABASE_URL", database_url)
            .env("PINBRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("PINBRIDGE_EXOTEL_SECRET", EXOTEL_SECRET)
            .env("PINBRIDGE_PIN_MIN_LENGTH", "3")
            .env("PINBRIDGE_BRAND", "Swift Couriers")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in extra {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().expect("pinbridge starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        let mut instance = Self {
            name,
            child,
            lines,
            address: String::new(),
            client: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        let port = instance.port();
        instance.address = format!("http://127.0.0.1:{port}");
        instance
    }

    fn port(&mut self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let found = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.split("listening on port ").nth(1).map(str::to_owned));
            if let Some(rest) = found {
                return rest.split_whitespace().next().unwrap().parse().unwrap();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}): {:#?}",
                    self.name,
                    self.lines.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not start: {:#?}",
            self.name,
            self.lines.lock().unwrap()
        );
    }

    /// SIGKILL: the process dies at once, whatever it was doing.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().unwrap();
    }

    fn exotel_url(&self, applet: &str, query: &str) -> String {
        format!("{}/exotel/{EXOTEL_SECRET}/{applet}?{query}", self.address)
    }

    /// GET an Exotel applet: (status, body).
    pub async fn exotel(&self, applet: &str, query: &str) -> (u16, String) {
        let r = self
            .client
            .get(self.exotel_url(applet, query))
            .header("Exotel-Version", "1.0")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {applet}: {e}", self.name));
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.api(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
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

    pub async fn delete(&self, path: &str) -> u16 {
        self.client
            .delete(self.api(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The status of an operations endpoint (`/healthz`, `/readyz`).
    pub async fn probe(&self, path: &str) -> u16 {
        match self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Creates an order for the tests' customer on the seeds' virtual number.
    pub async fn create_order(&self, order_id: &str, pin: &str) {
        let (status, body) = self
            .post_json(
                "/orders",
                json!({
                    "order_id": order_id,
                    "customer_number": CUSTOMER,
                    "pin": pin,
                    "virtual_number": VIRTUAL_NUMBER,
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// The call log entry of one call, if any.
    pub async fn call_record(&self, call_sid: &str) -> Option<Value> {
        let (status, body) = self.get_json(&format!("/calls?call_sid={call_sid}")).await;
        assert_eq!(status, 200, "{body}");
        body["calls"].as_array().unwrap().first().cloned()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(path) = std::env::var_os("TEST_LOG_FILE")
            && let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            for line in self.lines.lock().unwrap().iter() {
                let _ = writeln!(file, "{line}");
            }
        }
    }
}

/// The query of an Exotel request in the PIN flow with the PIN keyed, as Exotel sends it on
/// every applet after the Gather (seed 003's Connect sample carries `digits` too).
pub fn keyed(call: &Call, pin: &str) -> String {
    call.query(Some(pin))
}

/// The call-end Passthru of a call answered and talked for 40 s, after Connect dialled
/// `dialled` (E.164, or empty): Exotel reports it in `DialWhomNumber`, in the national form.
pub fn completed(call: &Call, dialled: &str) -> String {
    let national = dialled
        .strip_prefix("+91")
        .map(|n| format!("0{n}"))
        .unwrap_or_default();
    call.query(None)
        .replace("CallType=call-attempt", "CallType=completed")
        .replace("DialCallStatus=null", "DialCallStatus=completed")
        .replace("DialCallDuration=0", "DialCallDuration=40")
        .replace("DialWhomNumber=", &format!("DialWhomNumber={national}"))
}
