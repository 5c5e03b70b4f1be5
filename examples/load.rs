//! The load benchmark: a real `pinbridge serve` process on a database seeded with many orders,
//! driven with whole calls of every flow pinbridge serves, each request shaped (and signed) as
//! its provider sends it. Run it with `scripts/load.sh` (which builds the release binaries
//! first); `--help` lists the options.
//!
//! Phases, one after the other, against one server:
//! 1. seed: `pinbridge orders import` of `--orders` active orders (timed), then `--bookings`
//!    bookings created one by one through the admin API (timed), then `--callbacks` orders of
//!    their own, each with a seed PIN call whose bridge reached its customer;
//! 2. each flow of `--flows` ([`Flow`]) in its turn, first at a fixed offered rate
//!    (`--steps-per-second`), then at maximum rate (`--concurrency` callers, each starting its
//!    next call when the last ends). At the fixed rate calls start on a fixed schedule whatever
//!    the server's speed, each in a task of its own, so a slow server can not slow the offered
//!    load down and hide its delay (no coordinated omission); how late each call started
//!    against its schedule shows as `(start lag)`. Every call has its own CallSid
//!    (random-looking, as Exotel's are) and caller; one PIN call in ten keys a wrong PIN first.
//!    Every answer is checked ([`Expect`]: the status, and the number a bridge dials); a wrong
//!    one counts as an error and ends the call;
//! 3. `/healthz` at maximum rate, the ceiling of the HTTP stack on this machine, in `--rounds`
//!    rounds alternating with those of the Exotel check-pin flow at maximum rate (alone when
//!    that flow is not run), each phase's rounds added up.
//!
//! Prints a table (calls/s, steps/s, latency percentiles per step, errors, the server's peak
//! RSS, steps/s as a share of the `/healthz` ceiling), then the CPU time a step of the server
//! and of the generator in each phase and how busy the cores were ([`CpuUse`], from `/proc`),
//! and writes the same as JSON. Then stops the server and checks that the database holds one
//! call record per call made (the callbacks' seed calls among them).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// The server's allocator (mimalloc) for the generator too: it shares the two cores with the
/// server, and glibc's allocator was a tenth of its time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "load-exotel-secret-0123456789";
const TOKEN: &str = "load-admin-token-0123456789";
/// The brand the prompts name (`PINBRIDGE_BRAND`).
const BRAND: &str = "Swift Couriers";
/// The public URL the providers' requests are signed over (`PINBRIDGE_PUBLIC_URL`), never the
/// address the generator connects to.
const PUBLIC_URL: &str = "https://masking.example.com";
const TWILIO_TOKEN: &str = "load-twilio-auth-token";
const PLIVO_TOKEN: &str = "load-plivo-auth-token";
const EIGHT_BY_EIGHT_SECRET: &str = "load-8x8-secret-0123456789";
const VONAGE_SECRET: &str = "load-vonage-signature-secret-0123456789";
/// Virtual numbers the orders are spread over (PINs are unique per number).
const PIN_NUMBERS: u64 = 20;
/// Virtual numbers of the booking pool.
const POOL_NUMBERS: u64 = 10;

#[derive(Parser, Debug, Clone)]
#[command(about = "Load benchmark of whole calls of every flow against a real pinbridge server")]
struct Args {
    /// Active orders to seed before the run.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// Bookings to create for the caller-based calls.
    #[arg(long, default_value_t = 2_000)]
    bookings: u64,
    /// Callbacks to seed (an order and a bridged PIN call each) for the callback calls.
    #[arg(long, default_value_t = 2_000)]
    callbacks: u64,
    /// The flows to drive, comma-separated, each at the fixed rate and then at maximum rate;
    /// they run in this order whatever the order named: exotel-pin, exotel-recipe, booking,
    /// callback, twilio, plivo, 8x8, vonage.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "exotel-pin,exotel-recipe,booking,callback,twilio,plivo,8x8,vonage"
    )]
    flows: Vec<Flow>,
    /// Offered load of the fixed-rate phases, in call steps a second.
    #[arg(long, default_value_t = 2_000)]
    steps_per_second: u64,
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The `/healthz` ceiling and the PIN calls at maximum rate are measured in this many
    /// alternating rounds (`--seconds` divided among them), each phase's rounds added up. The
    /// host's speed drifts: on this project's shared 2-core machine a fixed loop took from 1.0
    /// to 2.0 times its fastest time within half a minute, and one phase run after the other
    /// caught a fast moment for one and a slow one for the other (shares from 31 to 45 % for
    /// one binary). Alternating gives both phases their part of the fast and the slow moments.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Concurrent callers of the maximum-rate phases. With 32, the two cores were a fifth idle
    /// at maximum rate: each caller waits for its step's answer, and the rate was bounded by
    /// those round trips, not by the server. 128 keeps the machine busy.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Database URL; default: a new SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// The server binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/pinbridge"))]
    server: PathBuf,
    /// Where the JSON report goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/load-report.json"))]
    json: PathBuf,
    /// A Python with Flask and gunicorn (`scripts/load.sh --flask` installs them in
    /// `target/flask-venv`): then Exotel's recipe Connect is also measured against the seeds'
    /// Flask design ([`Flask`]) on the same orders, round by round.
    #[arg(long)]
    flask_python: Option<PathBuf>,
}

/// Latencies of one phase, per step name, in microseconds.
#[derive(Default)]
struct Stats {
    steps: BTreeMap<&'static str, Histogram<u64>>,
    calls: u64,
    errors: u64,
    first_errors: Vec<String>,
}

impl Stats {
    fn record(&mut self, step: &'static str, latency: Duration) {
        let h = self
            .steps
            .entry(step)
            .or_insert_with(|| Histogram::new_with_bounds(1, 60_000_000, 3).unwrap());
        h.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(what);
        }
    }

    /// The step histograms, without `(start lag)`, which is no step.
    fn real_steps(&self) -> impl Iterator<Item = &Histogram<u64>> {
        self.steps
            .iter()
            .filter(|(name, _)| !name.starts_with('('))
            .map(|(_, h)| h)
    }

    fn step_count(&self) -> u64 {
        self.real_steps().map(Histogram::len).sum()
    }

    /// Adds what `other` measured (another round of the same phase).
    fn add(&mut self, other: Stats) {
        for (name, h) in other.steps {
            match self.steps.get_mut(name) {
                Some(mine) => mine.add(&h).unwrap(),
                None => {
                    self.steps.insert(name, h);
                }
            }
        }
        self.calls += other.calls;
        self.errors += other.errors;
        let room = 5usize.saturating_sub(self.first_errors.len());
        self.first_errors
            .extend(other.first_errors.into_iter().take(room));
    }

    fn all_steps(&self) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for h in self.real_steps() {
            all.add(h).unwrap();
        }
        all
    }
}

type Shared = Arc<Mutex<Stats>>;

/// What a phase measured.
struct Phase {
    name: String,
    seconds: f64,
    stats: Stats,
    /// CPU time spent while it ran ([`CpuUse::since`]).
    cpu: CpuUse,
}

impl Phase {
    /// A phase measured in rounds, before its first ([`Phase::add`]).
    fn empty(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            seconds: 0.0,
            stats: Stats::default(),
            cpu: CpuUse::default(),
        }
    }

    fn steps_per_second(&self) -> f64 {
        self.stats.step_count() as f64 / self.seconds
    }

    /// Adds another round of the same phase.
    fn add(&mut self, round: Phase) {
        self.seconds += round.seconds;
        self.stats.add(round.stats);
        self.cpu.add(&round.cpu);
    }

    /// Microseconds of CPU a step: the server's and the generator's.
    fn cpu_per_step(&self) -> (f64, f64) {
        let steps = self.stats.step_count().max(1) as f64;
        (
            self.cpu.server_seconds * 1e6 / steps,
            self.cpu.generator_seconds * 1e6 / steps,
        )
    }
}

/// CPU time, read from `/proc` (proc(5)): what the server process and this generator spent
/// (user and system, all threads), and how busy the machine's cores were. The rates are of
/// the server and the generator sharing the cores; the server's CPU time a step is what it
/// costs alone, which sizing needs: a core gives a million microseconds a second.
#[derive(Default, Clone, Copy)]
struct CpuUse {
    /// Seconds of CPU the server process used.
    server_seconds: f64,
    /// Seconds of CPU this generator used.
    generator_seconds: f64,
    /// Clock ticks of all cores: busy (neither idle nor waiting for I/O), and in all.
    machine_busy: u64,
    machine_total: u64,
}

/// A reading of the counters [`CpuUse`] is the difference of.
#[derive(Clone, Copy)]
struct CpuReading {
    server_ticks: u64,
    generator_ticks: u64,
    machine_busy: u64,
    machine_total: u64,
}

impl CpuUse {
    /// Clock ticks a second of `/proc`'s counters (`getconf CLK_TCK`; 100 on Linux).
    fn ticks_per_second() -> f64 {
        static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        *TICKS.get_or_init(|| {
            Command::new("getconf")
                .arg("CLK_TCK")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(100.0)
        })
    }

    /// utime + stime of process `pid` (`/proc/PID/stat`, fields 14 and 15), in clock ticks.
    fn process_ticks(pid: &str) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name, field 2, is in parentheses and may hold spaces.
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
        let utime: u64 = fields.nth(11)?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(utime + stime)
    }

    /// The machine's busy and total clock ticks (`/proc/stat`, first line; idle and iowait
    /// are not busy).
    fn machine_ticks() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|t| t.parse().ok())
            .collect();
        let total: u64 = ticks.iter().sum();
        let idle = ticks.get(3)? + ticks.get(4)?;
        Some((total - idle, total))
    }

    /// Reads the counters now, the server's summed over `server_pids` (one process, or a
    /// gunicorn master and its workers); zeros where `/proc` can not be read.
    fn read(server_pids: &[u32]) -> CpuReading {
        let (machine_busy, machine_total) = Self::machine_ticks().unwrap_or((0, 0));
        CpuReading {
            server_ticks: server_pids
                .iter()
                .filter_map(|pid| Self::process_ticks(&pid.to_string()))
                .sum(),
            generator_ticks: Self::process_ticks("self").unwrap_or(0),
            machine_busy,
            machine_total,
        }
    }

    /// What was spent between `before` and now.
    fn since(server_pids: &[u32], before: CpuReading) -> Self {
        let now = Self::read(server_pids);
        let seconds = |ticks: u64| ticks as f64 / Self::ticks_per_second();
        Self {
            server_seconds: seconds(now.server_ticks.saturating_sub(before.server_ticks)),
            generator_seconds: seconds(now.generator_ticks.saturating_sub(before.generator_ticks)),
            machine_busy: now.machine_busy.saturating_sub(before.machine_busy),
            machine_total: now.machine_total.saturating_sub(before.machine_total),
        }
    }

    fn add(&mut self, other: &CpuUse) {
        self.server_seconds += other.server_seconds;
        self.generator_seconds += other.generator_seconds;
        self.machine_busy += other.machine_busy;
        self.machine_total += other.machine_total;
    }

    /// The share of the machine's cores that were busy, from 0 to 1.
    fn machine_busy_share(&self) -> f64 {
        if self.machine_total == 0 {
            0.0
        } else {
            self.machine_busy as f64 / self.machine_total as f64
        }
    }
}

/// A request's body: empty for Exotel's GETs and `/healthz`, a form or JSON for the other
/// providers' POSTs.
type Body = http_body_util::Full<hyper::body::Bytes>;

/// An HTTP/1.1 client with a pool of kept-alive connections.
type Http =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

/// The server under test.
struct Server {
    child: Child,
    address: String,
    /// For the admin API (JSON bodies).
    client: reqwest::Client,
    /// For the measured requests: call steps and `/healthz`.
    http: Http,
}

impl Server {
    fn start(bin: &Path, database_url: &str, dir: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut child = Command::new(bin)
            .arg("serve")
            .env("PINBRIDGE_LISTEN", "127.0.0.1:0")
            .env("PINBRIDGE_DATABASE_URL", database_url)
            .env("PINBRIDGE_ADMIN_TOKEN", TOKEN)
            .env("PINBRIDGE_EXOTEL_SECRET", SECRET)
            // The other providers' credentials: their routes exist only with them, and every
            // request is checked against them, signed over the public URL.
            .env("PINBRIDGE_PUBLIC_URL", PUBLIC_URL)
            .env("PINBRIDGE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
            .env("PINBRIDGE_PLIVO_AUTH_TOKEN", PLIVO_TOKEN)
            .env("PINBRIDGE_8X8_SECRET", EIGHT_BY_EIGHT_SECRET)
            .env("PINBRIDGE_VONAGE_SIGNATURE_SECRET", VONAGE_SECRET)
            .env("PINBRIDGE_BRAND", BRAND)
            // Every call comes from a caller never seen before, and one in ten keys a wrong
            // PIN: the default guessing budget would refuse them within seconds, as it
            // should an attacker. At its highest (1,000 customer numbers a day) each virtual
            // number's budget lasts hours of the benchmark's wrong PINs, whose spending is
            // still written at every one.
            .env("PINBRIDGE_PIN_GUESSING_BUDGET", "1000")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let port = loop {
            let text = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            if let Some(rest) = text.split("listening on port ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("0")
                    .parse::<u16>()?;
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the server exited ({status}):\n{text}");
            }
            anyhow::ensure!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(1024)
                .build(connector);
        Ok(Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client,
            http,
        })
    }

    /// The absolute URI of `path_and_query` on the server.
    fn uri(&self, path_and_query: &str) -> Option<hyper::Uri> {
        let mut uri = String::with_capacity(self.address.len() + path_and_query.len());
        uri.push_str(&self.address);
        uri.push_str(path_and_query);
        hyper::Uri::from_maybe_shared(hyper::body::Bytes::from(uri)).ok()
    }

    /// The URI of Exotel's request for applet `name` of a call: `common` ([`exotel_common`]),
    /// the call's status, and `digits` wrapped in quotes, as Exotel sends them. Built in one
    /// string, which the URI then holds without a copy: a step's URI is 300 to 400
    /// characters, and it was formatted three times (query, path, absolute URI), then
    /// copied again by the URI's parser.
    fn exotel_uri(
        &self,
        name: &str,
        common: &str,
        digits: Option<&str>,
        end: bool,
    ) -> Option<hyper::Uri> {
        let mut uri = String::with_capacity(self.address.len() + common.len() + 160);
        uri.push_str(&self.address);
        uri.push_str("/exotel/");
        uri.push_str(SECRET);
        uri.push('/');
        uri.push_str(name);
        uri.push('?');
        let query_starts = uri.len();
        uri.push_str(common);
        // Appends after what the string holds, a `&` before the first pair.
        let mut query = form_urlencoded::Serializer::for_suffix(uri, query_starts);
        if end {
            query
                .append_pair("CallType", "completed")
                .append_pair("DialCallStatus", "completed")
                .append_pair("DialCallDuration", "40");
        } else {
            query.append_pair("CallType", "call-attempt");
        }
        if let Some(d) = digits {
            query.append_pair("digits", &format!("\"{d}\""));
        }
        hyper::Uri::from_maybe_shared(hyper::body::Bytes::from(query.finish())).ok()
    }

    /// GET `uri`: the status and the body, or `None` when there was no answer within 30 s.
    async fn get(&self, uri: hyper::Uri) -> Option<(u16, hyper::body::Bytes)> {
        self.send(hyper::Request::get(uri).body(Body::default()).ok()?)
            .await
    }

    /// Sends `request`: the status and the body, or `None` when there was no answer within
    /// 30 s.
    async fn send(&self, request: hyper::Request<Body>) -> Option<(u16, hyper::body::Bytes)> {
        use http_body_util::BodyExt;
        let answer = async {
            let response = self.http.request(request).await.ok()?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.ok()?.to_bytes();
            Some((status, body))
        };
        tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .ok()
            .flatten()
    }

    /// The server's process id.
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident set (VmHWM), in bytes.
    fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// SIGTERM, then waits: the server finishes what it is doing and closes the database.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The seeds' Flask design on Exotel's recipe (`scripts/flask_recipe.py`) under gunicorn with
/// its recommended `2 × cores + 1` sync workers, answering Connect from its own SQLite copy of
/// the run's orders: the yardstick the recipe flow is measured against.
struct Flask {
    master: Child,
    address: Arc<str>,
    workers: usize,
}

/// The seeds' Flask app, beside this benchmark.
const FLASK_APP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts");

impl Flask {
    /// Copies the orders of `csv` (as [`write_orders_csv`] wrote them) to the app's SQLite
    /// file `db`.
    fn load(python: &Path, csv: &Path, db: &Path) -> anyhow::Result<()> {
        let out = Command::new(python)
            .arg(Path::new(FLASK_APP_DIR).join("flask_recipe.py"))
            .arg("load")
            .arg(csv)
            .arg(db)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "loading the orders for the Flask design failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Starts gunicorn on a free port of the loopback, serving `db`; waits until it answers.
    async fn start(python: &Path, db: &Path, dir: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let workers = 2 * std::thread::available_parallelism().map_or(1, |n| n.get()) + 1;
        let log = std::fs::File::create(dir.join("flask.log"))?;
        let master = Command::new(python)
            .args(["-m", "gunicorn", "--workers", &workers.to_string()])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--chdir", FLASK_APP_DIR, "--log-level", "warning"])
            .arg("flask_recipe:app")
            .env("ORDERS_DB", db)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        let flask = Self {
            master,
            address: format!("http://127.0.0.1:{port}").into(),
            workers,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let probe = client
                .get(format!("{}/connect", flask.address))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(flask);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "gunicorn did not answer; see {}",
                dir.join("flask.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The master's process id and its workers' (`/proc/PID/task/PID/children`).
    fn pids(&self) -> Vec<u32> {
        let pid = self.master.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        std::iter::once(pid)
            .chain(children.split_whitespace().filter_map(|c| c.parse().ok()))
            .collect()
    }

    fn stop(mut self) {
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// The CallSids' salt of the Connect-alone calls ([`recipe_connect`]), apart from every
/// flow's.
const CONNECT_ALONE: u64 = 100;

/// Call `n` of Exotel's recipe as far as its Connect: a new CallSid keys the PIN of an active
/// order with `digits`, and pinbridge must answer that order's customer. One step, as the
/// seeds' design answers it.
async fn recipe_connect(ctx: Arc<Ctx>, stats: Shared, n: u64) {
    let sid = call_sid(CONNECT_ALONE, n);
    let o = seed_order(order_for(n, ctx.orders));
    let common = exotel_common(&sid, &courier(n), &o.virtual_number);
    let dialled = Expect::Body(o.customer_e164.clone());
    let step = ctx
        .server
        .exotel_step("connect", &common, Some(&o.pin), false, dialled);
    run_call(&ctx.server, &stats, &sid, Instant::now(), vec![step]).await;
}

/// The same Connect, as Exotel sends it, to the seeds' Flask design at `address`.
async fn flask_connect(ctx: Arc<Ctx>, stats: Shared, n: u64, address: Arc<str>) {
    let sid = call_sid(CONNECT_ALONE, n);
    let o = seed_order(order_for(n, ctx.orders));
    let common = exotel_common(&sid, &courier(n), &o.virtual_number);
    let uri = format!(
        "{address}/connect?{common}&CallType=call-attempt&digits=%22{}%22",
        o.pin
    );
    let step = Step {
        name: "connect",
        request: hyper::Uri::try_from(uri)
            .ok()
            .and_then(|uri| hyper::Request::get(uri).body(Body::default()).ok()),
        expect: Expect::Body(o.customer_e164.clone()),
    };
    run_call(&ctx.server, &stats, &sid, Instant::now(), vec![step]).await;
}

/// An order of the seed: `LOAD-i`.
struct SeedOrder {
    virtual_number: String,
    pin: String,
    customer_e164: String,
}

fn seed_order(i: u64) -> SeedOrder {
    let vn = i % PIN_NUMBERS;
    // i / PIN_NUMBERS numbers the orders of one virtual number; times a prime coprime with
    // 10^8 it gives each a distinct 8-digit PIN.
    let pin = ((i / PIN_NUMBERS) * 7919 + 12_345_678) % 100_000_000;
    SeedOrder {
        virtual_number: format!("0731485{vn:04}"),
        pin: format!("{pin:08}"),
        customer_e164: format!("+919{:09}", i % 1_000_000_000),
    }
}

fn write_orders_csv(path: &Path, n: u64) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "order_id,customer_number,pin,virtual_number,expires_at"
    )?;
    for i in 0..n {
        let o = seed_order(i);
        let national = format!("0{}", &o.customer_e164[3..]);
        writeln!(
            out,
            "LOAD-{i},{national},{},{},2099-01-01T00:00:00Z",
            o.pin, o.virtual_number
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The parameters Exotel sends at every applet of a call (the seed's shape), encoded once a
/// call: each step's query is this and a few more pairs ([`Server::exotel_uri`]).
fn exotel_common(sid: &str, from: &str, to: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::with_capacity(400));
    query
        .append_pair("CallSid", sid)
        .append_pair("CallFrom", from)
        .append_pair("CallTo", to)
        .append_pair("From", from)
        .append_pair("To", to)
        .append_pair("Direction", "incoming")
        .append_pair("Created", "Fri, 16 Jul 2021 18:24:05")
        .append_pair("flow_id", "383431")
        .append_pair("tenant_id", "53926");
    query.finish()
}

/// The CallSid of call `n` of a phase (`salt` tells phases apart), shaped as Exotel's: 32
/// lowercase hex characters that look random (`0e50bc001da69c238b55b56a0a1c157e` in the
/// seeds), so that the call records land all over their index, as they do in production.
fn call_sid(salt: u64, n: u64) -> String {
    // SplitMix64's finaliser: consecutive inputs give unrelated outputs.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let high = mix(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n);
    format!("{high:016x}{:016x}", mix(high ^ n))
}

/// What one call measured, added to the phase's [`Stats`] under one lock when the call ends
/// (a lock a step would make the generator's threads wait for each other).
#[derive(Default)]
struct CallLog {
    latencies: Vec<(&'static str, Duration)>,
    error: Option<String>,
}

impl CallLog {
    /// Adds this call to `stats`; `completed` counts it as a call made.
    fn flush(self, stats: &Shared, completed: bool) {
        let mut s = stats.lock().unwrap();
        for (name, latency) in self.latencies {
            s.record(name, latency);
        }
        if let Some(e) = self.error {
            s.error(e);
        }
        if completed {
            s.calls += 1;
        }
    }
}

/// What the answer to a step must be; anything else counts as an error of the call, so that a
/// broken flow can not look fast.
enum Expect {
    /// This status, whatever the body.
    Status(u16),
    /// 200 and exactly this body (surrounding white space aside): Exotel's Connect "Dial whom"
    /// answers the number to dial, or nothing when no one is to be dialled.
    Body(String),
    /// 200 and a body that holds every one of `has` and not `lacks`: a provider's XML or JSON
    /// asking for the PIN, or dialling the expected number.
    Holds {
        has: Vec<String>,
        lacks: Option<&'static str>,
    },
}

impl Expect {
    /// Why `(status, body)` is not the answer expected, or `None` when it is.
    fn mismatch(&self, status: u16, body: &[u8]) -> Option<String> {
        let wanted = match self {
            Self::Status(s) => *s,
            Self::Body(_) | Self::Holds { .. } => 200,
        };
        if status != wanted {
            return Some(format!("answered {status}, expected {wanted}"));
        }
        let text = String::from_utf8_lossy(body.trim_ascii());
        match self {
            Self::Status(_) => None,
            Self::Body(b) if text == b.as_str() => None,
            Self::Body(b) => Some(format!("answered {text:?}, expected {b:?}")),
            Self::Holds { has, lacks } => {
                let missing = has.iter().find(|h| !text.contains(h.as_str()));
                let excerpt: String = text.chars().take(300).collect();
                match missing {
                    Some(h) => Some(format!("the answer lacks {h:?}: {excerpt}")),
                    None => match lacks {
                        Some(l) if text.contains(l) => {
                            Some(format!("the answer holds {l:?}: {excerpt}"))
                        }
                        _ => None,
                    },
                }
            }
        }
    }
}

/// One request of a call: its name in the table, the request (`None` when it could not be
/// built, an error of the call) and the answer expected.
struct Step {
    name: &'static str,
    request: Option<hyper::Request<Body>>,
    expect: Expect,
}

/// Sends `step` and times it; false (and the call's error noted) when the answer is not the
/// one expected or there was none.
async fn send_step(server: &Server, log: &mut CallLog, sid: &str, step: Step) -> bool {
    let started = Instant::now();
    let answer = match step.request {
        Some(request) => server.send(request).await,
        None => None,
    };
    log.latencies.push((step.name, started.elapsed()));
    let wrong = match answer {
        Some((status, body)) => step.expect.mismatch(status, &body),
        None => Some("transport error".to_owned()),
    };
    if let Some(why) = wrong {
        log.error = Some(format!("{sid} {}: {why}", step.name));
    }
    log.error.is_none()
}

/// Runs a whole call, `steps` one after the other, stopping at the first wrong answer; `due`
/// is when it should have started. How late the generator started it (its timer has
/// millisecond granularity) is reported as `(start lag)`, so that neither the server nor the
/// generator hides the other.
async fn run_call(server: &Server, stats: &Shared, sid: &str, due: Instant, steps: Vec<Step>) {
    let mut log = CallLog::default();
    log.latencies.push(("(start lag)", due.elapsed()));
    for step in steps {
        if !send_step(server, &mut log, sid, step).await {
            return log.flush(stats, false);
        }
    }
    log.flush(stats, true);
}

impl Server {
    /// A GET of Exotel's applet `name` ([`Server::exotel_uri`]).
    fn exotel_step(
        &self,
        name: &'static str,
        common: &str,
        digits: Option<&str>,
        end: bool,
        expect: Expect,
    ) -> Step {
        let request = self
            .exotel_uri(name, common, digits, end)
            .and_then(|uri| hyper::Request::get(uri).body(Body::default()).ok());
        Step {
            name,
            request,
            expect,
        }
    }

    /// A POST of `body` to `path`, with `content_type` and the `headers` given.
    fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Option<hyper::Request<Body>> {
        let mut request =
            hyper::Request::post(self.uri(path)?).header("content-type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::from(body)).ok()
    }
}

/// 200 and a body that holds `text`: Exotel's welcome names the brand, its Gather's JSON has
/// its prompt.
fn holds(text: &str) -> Expect {
    Expect::Holds {
        has: vec![text.to_owned()],
        lacks: None,
    }
}

/// A PIN call's digits: the order's PIN, and a wrong one (the next number) for the calls that
/// key a wrong PIN first.
fn wrong_pin(pin: &str) -> String {
    format!("{:08}", (pin.parse::<u64>().unwrap_or(0) + 1) % 100_000_000)
}

/// The steps of Exotel's flow with check-pin: greeting, gather, check-pin, connect, call-end;
/// with `wrong`, a wrong PIN first, which check-pin answers 302 and Gather asks again.
fn exotel_pin_steps(server: &Server, common: &str, o: &SeedOrder, wrong: bool) -> Vec<Step> {
    let mut steps = Vec::with_capacity(7);
    steps.push(server.exotel_step("greeting", common, None, false, holds(BRAND)));
    steps.push(server.exotel_step("gather", common, None, false, holds("\"gather_prompt\"")));
    if wrong {
        let bad = wrong_pin(&o.pin);
        steps.push(server.exotel_step("check-pin", common, Some(&bad), false, Expect::Status(302)));
        steps.push(server.exotel_step("gather", common, None, false, holds("\"gather_prompt\"")));
    }
    steps.push(server.exotel_step(
        "check-pin",
        common,
        Some(&o.pin),
        false,
        Expect::Status(200),
    ));
    let dialled = Expect::Body(o.customer_e164.clone());
    steps.push(server.exotel_step("connect", common, Some(&o.pin), false, dialled));
    steps.push(server.exotel_step("call-end", common, None, true, Expect::Status(200)));
    steps
}

/// The steps of Exotel's own recipe, without the Passthru: greeting, gather, then Connect
/// with the `digits` Gather passes along, which dials the customer (then call-end) or, for a
/// wrong PIN, no one (an empty body: "We didn't dial anyone", then the goodbye Greeting).
fn exotel_recipe_steps(server: &Server, common: &str, o: &SeedOrder, wrong: bool) -> Vec<Step> {
    let greeting = server.exotel_step("greeting", common, None, false, holds(BRAND));
    let gather = server.exotel_step("gather", common, None, false, holds("\"gather_prompt\""));
    if wrong {
        let bad = wrong_pin(&o.pin);
        let no_one = Expect::Body(String::new());
        vec![
            greeting,
            gather,
            server.exotel_step("connect", common, Some(&bad), false, no_one),
            server.exotel_step("goodbye", common, None, false, Expect::Status(200)),
        ]
    } else {
        let dialled = Expect::Body(o.customer_e164.clone());
        vec![
            greeting,
            gather,
            server.exotel_step("connect", common, Some(&o.pin), false, dialled),
            server.exotel_step("call-end", common, None, true, Expect::Status(200)),
        ]
    }
}

/// The steps of a caller-based Exotel call: Connect first (routed by the caller: a booking's
/// party, or a callback), which must dial `dialled`, then call-end.
fn exotel_routed_steps(server: &Server, common: &str, dialled: &str) -> Vec<Step> {
    vec![
        server.exotel_step(
            "connect",
            common,
            None,
            false,
            Expect::Body(dialled.to_owned()),
        ),
        server.exotel_step("call-end", common, None, true, Expect::Status(200)),
    ]
}

/// A booking of the run: party A calls its virtual number and reaches party B.
#[derive(Clone)]
struct Booking {
    party_a: String,
    party_b_e164: String,
    virtual_number: String,
}

/// A callback of the run: the customer of an order, whom a courier reached through the
/// order's virtual number (a seed call), calls that number back and must reach the courier.
struct Callback {
    /// The customer, national as Exotel sends it.
    customer: String,
    /// The order's virtual number, national.
    virtual_number: String,
    /// The courier of the seed call, E.164.
    courier_e164: String,
}

/// The providers that drive the whole call themselves, each PIN call: the call comes in (a
/// PIN prompt), one call in ten keys a wrong PIN (the prompt again), the right PIN (a bridge to
/// the customer), the call's end. Requests are shaped and signed as each provider sends them
/// (the scenarios of `tests/api` and their drivers, `tests/api/{twilio,plivo,eight_by_eight,
/// vonage}.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    Twilio,
    Plivo,
    EightByEight,
    Vonage,
}

/// One PIN call of a [`Provider`]: its number in the run, its call id, caller and virtual
/// number (E.164).
struct Leg {
    n: u64,
    sid: String,
    from: String,
    to: String,
}

/// A number as Plivo and Vonage write it: E.164 without the `+`.
fn bare(e164: &str) -> &str {
    e164.strip_prefix('+').unwrap_or(e164)
}

/// `sid` (32 hex characters) written as a UUID, as Plivo, 8x8 and Vonage write their ids.
fn uuid(sid: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &sid[..8],
        &sid[8..12],
        &sid[12..16],
        &sid[16..20],
        &sid[20..32]
    )
}

/// `pairs` as owned strings, the shape the signing functions take.
fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn form(params: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
        .into_bytes()
}

impl Provider {
    /// The step names: the call coming in, the PIN, the call's end.
    fn step_names(self) -> [&'static str; 3] {
        match self {
            Self::Twilio => ["voice", "pin", "status"],
            Self::Plivo => ["answer", "pin", "hangup"],
            Self::EightByEight => ["call-received", "pin", "session"],
            Self::Vonage => ["answer", "pin", "event"],
        }
    }

    /// What an answer asking for the PIN holds, and an answer dialling never does.
    fn asks(self) -> &'static str {
        match self {
            Self::Twilio => "<Gather ",
            Self::Plivo => "<GetInput ",
            Self::EightByEight => "\"action\":\"sayAndCapture\"",
            Self::Vonage => "\"action\":\"input\"",
        }
    }

    /// What an answer that bridges the call holds, and an answer asking for the PIN never does.
    fn bridges(self) -> &'static str {
        match self {
            Self::Twilio | Self::Plivo => "<Dial ",
            Self::EightByEight => "\"action\":\"makeCall\"",
            Self::Vonage => "\"action\":\"connect\"",
        }
    }

    /// What an answer dialling `customer` showing `caller_id` (both E.164) holds.
    fn dials(self, customer: &str, caller_id: &str) -> Vec<String> {
        match self {
            Self::Twilio | Self::Plivo => vec![
                format!("<Number>{customer}</Number>"),
                format!("callerId=\"{caller_id}\""),
            ],
            Self::EightByEight => vec![
                "\"action\":\"makeCall\"".to_owned(),
                format!("\"destination\":\"{customer}\""),
                format!("\"source\":\"{caller_id}\""),
            ],
            Self::Vonage => vec![
                "\"action\":\"connect\"".to_owned(),
                format!("\"number\":\"{}\"", bare(customer)),
                format!("\"from\":\"{}\"", bare(caller_id)),
            ],
        }
    }

    /// The call id a leg's call record has at this provider, from the 32 hex characters
    /// `hex`.
    fn call_id(self, hex: &str) -> String {
        match self {
            Self::Twilio => format!("CA{hex}"),
            Self::Plivo | Self::EightByEight | Self::Vonage => uuid(hex),
        }
    }

    /// The request of the call coming in.
    fn start(self, server: &Server, leg: &Leg) -> Option<hyper::Request<Body>> {
        match self {
            Self::Twilio => twilio(server, "/twilio/voice", twilio_params(leg, "ringing")),
            Self::Plivo => plivo(
                server,
                "/plivo/answer",
                plivo_params(leg, "ringing"),
                leg,
                0,
            ),
            Self::EightByEight => eight_by_eight(server, "voice", &call_action(leg, None, 0)),
            Self::Vonage => vonage_answer(server, leg),
        }
    }

    /// The request carrying the `digits` keyed at the prompt; `nth` numbers the requests of
    /// the call (nonces and ids are new at every request).
    fn digits(
        self,
        server: &Server,
        leg: &Leg,
        digits: &str,
        nth: u32,
    ) -> Option<hyper::Request<Body>> {
        match self {
            Self::Twilio => {
                let mut p = twilio_params(leg, "in-progress");
                p.extend(owned(&[("Digits", digits), ("FinishedOnKey", "#")]));
                twilio(server, "/twilio/pin", p)
            }
            Self::Plivo => {
                let mut p = plivo_params(leg, "in-progress");
                p.extend(owned(&[("InputType", "dtmf"), ("Digits", digits)]));
                plivo(server, "/plivo/pin", p, leg, nth)
            }
            Self::EightByEight => {
                let captured = Some((
                    pinbridge::providers::eight_by_eight::PIN_PROMPT_ACTION_ID,
                    digits,
                ));
                eight_by_eight(server, "voice", &call_action(leg, captured, nth))
            }
            Self::Vonage => {
                let body = json!({
                    "speech": {"results": []},
                    "dtmf": {"digits": digits, "timed_out": false},
                    "from": bare(&leg.from),
                    "to": bare(&leg.to),
                    "uuid": leg.sid,
                    "conversation_uuid": format!("CON-{}", leg.sid),
                    "timestamp": "2026-01-01T12:00:00.000Z",
                });
                vonage_post(server, "/vonage/pin", &body, nth)
            }
        }
    }

    /// The request that ends the call, after a bridged conversation of 31 s with `customer`.
    fn end(
        self,
        server: &Server,
        leg: &Leg,
        customer: &str,
        nth: u32,
    ) -> Option<hyper::Request<Body>> {
        match self {
            Self::Twilio => {
                let mut p = twilio_params(leg, "in-progress");
                p.extend(owned(&[
                    ("DialCallStatus", "completed"),
                    ("DialCallSid", "CA11111111111111111111111111111111"),
                    ("DialCallDuration", "31"),
                ]));
                twilio(server, "/twilio/status", p)
            }
            Self::Plivo => {
                let mut p = plivo_params(leg, "in-progress");
                p.extend(owned(&[
                    ("DialStatus", "completed"),
                    ("DialRingStatus", "true"),
                    ("DialHangupCause", "NORMAL_CLEARING"),
                    ("DialALegUUID", &leg.sid),
                    ("DialBLegUUID", "b9a8c7d6-0000-4000-8000-000000000031"),
                    ("DialBLegDuration", "31"),
                ]));
                plivo(server, "/plivo/hangup", p, leg, nth)
            }
            Self::EightByEight => {
                eight_by_eight(server, "session", &session_summary(leg, customer, nth))
            }
            Self::Vonage => {
                let body = json!({
                    "from": bare(&leg.to),
                    "to": bare(customer),
                    "uuid": format!("{}-dialled", leg.sid),
                    "conversation_uuid": format!("CON-{}", leg.sid),
                    "status": "completed",
                    "direction": "outbound",
                    "timestamp": "2026-01-01T12:00:40.000Z",
                    "duration": "31",
                    "start_time": "2026-01-01T12:00:00.000Z",
                    "end_time": "2026-01-01T12:00:40.000Z",
                    "rate": "0.00450000",
                    "price": "0.00225000",
                    "network": "40486",
                });
                vonage_post(server, "/vonage/event", &body, nth)
            }
        }
    }

    /// The steps of one PIN call on order `o` from `from`; `wrong` keys a wrong PIN first.
    fn pin_steps(self, server: &Server, leg: &Leg, o: &SeedOrder, wrong: bool) -> Vec<Step> {
        let [start, pin, end] = self.step_names();
        let ask = || Expect::Holds {
            has: vec![self.asks().to_owned()],
            lacks: Some(self.bridges()),
        };
        let mut steps = vec![Step {
            name: start,
            request: self.start(server, leg),
            expect: ask(),
        }];
        if wrong {
            steps.push(Step {
                name: pin,
                request: self.digits(server, leg, &wrong_pin(&o.pin), 1),
                expect: ask(),
            });
        }
        steps.push(Step {
            name: pin,
            request: self.digits(server, leg, &o.pin, 2),
            expect: Expect::Holds {
                has: self.dials(&o.customer_e164, &leg.to),
                lacks: Some(self.asks()),
            },
        });
        steps.push(Step {
            name: end,
            request: self.end(server, leg, &o.customer_e164, 3),
            expect: Expect::Status(200),
        });
        steps
    }
}

/// Twilio's parameters of every request of a call (twilio.com/docs/usage/webhooks/voice-webhooks).
fn twilio_params(leg: &Leg, status: &str) -> Vec<(String, String)> {
    owned(&[
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", &leg.sid),
        ("CallStatus", status),
        ("Called", &leg.to),
        ("Caller", &leg.from),
        ("Direction", "inbound"),
        ("From", &leg.from),
        ("FromCountry", "IN"),
        ("To", &leg.to),
        ("ToCountry", "IN"),
    ])
}

/// A form POST signed as Twilio signs it (`X-Twilio-Signature` over the public URL and the
/// parameters).
fn twilio(
    server: &Server,
    path: &str,
    params: Vec<(String, String)>,
) -> Option<hyper::Request<Body>> {
    let url = format!("{PUBLIC_URL}{path}");
    let signature = pinbridge::providers::twilio::auth::signature(TWILIO_TOKEN, &url, &params);
    let headers = [("x-twilio-signature", signature.as_str())];
    server.post(
        path,
        "application/x-www-form-urlencoded",
        &headers,
        form(&params),
    )
}

/// Plivo's parameters of every request of a call (plivo.com/docs/voice/xml/request).
fn plivo_params(leg: &Leg, status: &str) -> Vec<(String, String)> {
    owned(&[
        ("CallUUID", &leg.sid),
        ("CallStatus", status),
        ("Direction", "inbound"),
        ("From", bare(&leg.from)),
        ("To", bare(&leg.to)),
    ])
}

/// A form POST signed as Plivo signs it (signature V3 over the public URL, the parameters and
/// a nonce of about twenty digits, each accepted once: the call's number and `nth`).
fn plivo(
    server: &Server,
    path: &str,
    params: Vec<(String, String)>,
    leg: &Leg,
    nth: u32,
) -> Option<hyper::Request<Body>> {
    use pinbridge::providers::plivo::auth::{Method, signature};
    let nonce = format!("{:019}{nth}", leg.n);
    let url = format!("{PUBLIC_URL}{path}");
    let sig = signature(PLIVO_TOKEN, Method::Post, &url, &params, &nonce);
    let headers = [
        ("x-plivo-signature-v3", sig.as_str()),
        ("x-plivo-signature-v3-nonce", nonce.as_str()),
    ];
    server.post(
        path,
        "application/x-www-form-urlencoded",
        &headers,
        form(&params),
    )
}

/// An 8x8 Voice Call Action request (`CALL_RECEIVED`, or `ACTION_COMPLETED` with the
/// `dtmf` captured by the action `captured.0`), shaped like 8x8's sample: every request has
/// its own `eventId` and `callId`, the session stays.
fn call_action(leg: &Leg, captured: Option<(&str, &str)>, nth: u32) -> Value {
    let mut payload = json!({
        "eventId": format!("evt-{}-{nth}", leg.sid),
        "callId": format!("call-{}-{nth}", leg.sid),
        "sessionId": leg.sid,
        "subAccountId": "pinbridge_load",
        "callStatus": "CALL_RECEIVED",
        "callDirection": "INBOUND",
        "callType": "PSTN",
        "source": leg.from,
        "destination": leg.to,
        "sourceFormat": "MSISDN",
        "destinationFormat": "MSISDN",
        "sourceCountryCode": "IN",
        "destinationCountryCode": "IN",
        "destinationRefId": "vn-ref-1",
        "callDuration": 0,
        "sipCode": 200,
        "timestamp": "2024-05-16T04:12:01Z"
    });
    if let Some((client_action_id, dtmf)) = captured {
        payload["callStatus"] = "ACTION_COMPLETED".into();
        payload["clientActionId"] = client_action_id.into();
        payload["eventData"] = json!({ "dtmf": dtmf });
        payload["timestamp"] = "2024-05-16T04:12:11.217Z".into();
    }
    json!({
        "namespace": "VOICE",
        "eventType": "CALL_ACTION",
        "description": "Action request of a call",
        "payload": payload
    })
}

/// An 8x8 Voice Session Summary of a session bridged to `customer` for 31 s.
fn session_summary(leg: &Leg, customer: &str, nth: u32) -> Value {
    json!({
        "payload": {
            "sessionId": leg.sid,
            "subAccountId": "pinbridge_load",
            "sessionStatus": "COMPLETED",
            "startTime": "2024-03-25T06:01:20Z",
            "endTime": "2024-03-25T06:02:08Z",
            "lastAction": "MAKE_CALL",
            "callCount": 2,
            "details": {
                "callA": {
                    "callId": format!("call-{}-{nth}a", leg.sid),
                    "callDirection": "INBOUND",
                    "callType": "PSTN",
                    "initiatedTimestamp": "2024-03-25T06:01:20Z",
                    "connectedTimestamp": "2024-03-25T06:01:21Z",
                    "disconnectedTimestamp": "2024-03-25T06:02:08Z",
                    "source": leg.from,
                    "destination": leg.to,
                    "sourceFormat": "MSISDN",
                    "destinationFormat": "MSISDN",
                    "sourceCountryCode": "IN",
                    "destinationCountryCode": "IN",
                    "destinationRefId": "vn-ref-1",
                    "callStatus": "COMPLETED",
                    "callDuration": 47
                },
                "callB": {
                    "callId": format!("call-{}-{nth}b", leg.sid),
                    "callDirection": "OUTBOUND",
                    "callType": "PSTN",
                    "initiatedTimestamp": "2024-03-25T06:01:30Z",
                    "connectedTimestamp": "2024-03-25T06:01:37Z",
                    "disconnectedTimestamp": "2024-03-25T06:02:08Z",
                    "source": leg.to,
                    "destination": customer,
                    "sourceFormat": "MSISDN",
                    "destinationFormat": "MSISDN",
                    "sourceCountryCode": "IN",
                    "destinationCountryCode": "IN",
                    "sourceRefId": "vn-ref-1",
                    "callStatus": "COMPLETED",
                    "callDuration": 31
                }
            }
        },
        "namespace": "VOICE",
        "eventType": "SESSION_SUMMARY",
        "description": "Summary of a completed call session"
    })
}

/// A JSON POST to `/8x8/{secret}/{hook}`: 8x8 signs nothing, the secret path is the check.
fn eight_by_eight(server: &Server, hook: &str, body: &Value) -> Option<hyper::Request<Body>> {
    let path = format!("/8x8/{EIGHT_BY_EIGHT_SECRET}/{hook}");
    server.post(
        &path,
        "application/json",
        &[],
        serde_json::to_vec(body).ok()?,
    )
}

/// A signed-webhook JWT as Vonage makes it ("Decoding signed webhooks"): HS256 over `iat`
/// (now), `jti` (new for every token: each is accepted once), `iss`, `payload_hash`,
/// `api_key`, `application_id`.
fn vonage_token(payload: &[u8], jti: &str) -> Option<String> {
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({
            "iat": iat,
            "jti": jti,
            "iss": "Vonage",
            "payload_hash": pinbridge::providers::vonage::auth::payload_hash(payload),
            "api_key": "abcd1234",
            "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        }),
        &jsonwebtoken::EncodingKey::from_secret(VONAGE_SECRET.as_bytes()),
    )
    .ok()
}

/// Vonage's answer webhook: a GET whose token's `payload_hash` is over the parameters as
/// compact JSON (what Vonage support describes for a GET).
fn vonage_answer(server: &Server, leg: &Leg) -> Option<hyper::Request<Body>> {
    let conversation = format!("CON-{}", leg.sid);
    let params = [
        ("to", bare(&leg.to)),
        ("from", bare(&leg.from)),
        ("conversation_uuid", conversation.as_str()),
        ("uuid", leg.sid.as_str()),
    ];
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let as_json: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let token = vonage_token(
        &serde_json::to_vec(&as_json).ok()?,
        &format!("{}-0", leg.sid),
    )?;
    hyper::Request::get(server.uri(&format!("/vonage/answer?{query}"))?)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::default())
        .ok()
}

/// A JSON POST signed as Vonage signs it: the token's `payload_hash` is the body's SHA-256.
fn vonage_post(
    server: &Server,
    path: &str,
    body: &Value,
    nth: u32,
) -> Option<hyper::Request<Body>> {
    let bytes = serde_json::to_vec(body).ok()?;
    let jti = format!(
        "{}-{nth}",
        body["conversation_uuid"].as_str().unwrap_or_default()
    );
    let auth = format!("Bearer {}", vonage_token(&bytes, &jti)?);
    server.post(
        path,
        "application/json",
        &[("authorization", auth.as_str())],
        bytes,
    )
}

/// The flows the benchmark drives, each a fixed-rate and a maximum-rate phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Flow {
    /// Exotel: greeting, gather, Passthru check-pin, connect, call-end.
    ExotelPin,
    /// Exotel's recipe without the Passthru: greeting, gather, connect with `digits`, call-end.
    ExotelRecipe,
    /// Exotel, caller-based: connect (routed by the caller's booking), call-end.
    Booking,
    /// Exotel: a customer calls the virtual number back and reaches the courier.
    Callback,
    /// Twilio PIN calls.
    Twilio,
    /// Plivo PIN calls.
    Plivo,
    /// 8x8 PIN calls.
    #[value(name = "8x8")]
    EightByEight,
    /// Vonage PIN calls.
    Vonage,
}

impl Flow {
    /// The phases' names start with it.
    fn label(self) -> &'static str {
        match self {
            Self::ExotelPin => "PIN calls",
            Self::ExotelRecipe => "Exotel recipe calls",
            Self::Booking => "booking calls",
            Self::Callback => "callbacks",
            Self::Twilio => "Twilio PIN calls",
            Self::Plivo => "Plivo PIN calls",
            Self::EightByEight => "8x8 PIN calls",
            Self::Vonage => "Vonage PIN calls",
        }
    }

    /// The average steps of a call, for the fixed rate in steps: one PIN call in ten keys a
    /// wrong PIN first (two steps more with check-pin, one more with a provider's own prompt;
    /// in Exotel's recipe a wrong PIN hears goodbye instead of ending a conversation).
    fn steps_per_call(self) -> f64 {
        match self {
            Self::ExotelPin => 5.2,
            Self::ExotelRecipe => 4.0,
            Self::Booking | Self::Callback => 2.0,
            Self::Twilio | Self::Plivo | Self::EightByEight | Self::Vonage => 3.1,
        }
    }

    fn provider(self) -> Option<Provider> {
        match self {
            Self::Twilio => Some(Provider::Twilio),
            Self::Plivo => Some(Provider::Plivo),
            Self::EightByEight => Some(Provider::EightByEight),
            Self::Vonage => Some(Provider::Vonage),
            _ => None,
        }
    }

    /// One whole call `n` of this flow; `due` is when it should have started.
    async fn call(self, ctx: &Ctx, stats: &Shared, n: u64, due: Instant) {
        let server = &ctx.server;
        // The salt keeps every flow's CallSids apart (the PIN calls' is 1).
        let sid = call_sid(self as u64 + 1, n);
        let wrong = n % 10 == 9;
        let steps = match self {
            Self::ExotelPin | Self::ExotelRecipe => {
                let o = seed_order(order_for(n, ctx.orders));
                let common = exotel_common(&sid, &courier(n), &o.virtual_number);
                if self == Self::ExotelPin {
                    exotel_pin_steps(server, &common, &o, wrong)
                } else {
                    exotel_recipe_steps(server, &common, &o, wrong)
                }
            }
            Self::Booking => {
                let Some(b) = pick(&ctx.bookings, n) else {
                    return;
                };
                let common = exotel_common(&sid, &b.party_a, &b.virtual_number);
                exotel_routed_steps(server, &common, &b.party_b_e164)
            }
            Self::Callback => {
                let Some(c) = pick(&ctx.callbacks, n) else {
                    return;
                };
                let common = exotel_common(&sid, &c.customer, &c.virtual_number);
                exotel_routed_steps(server, &common, &c.courier_e164)
            }
            Self::Twilio | Self::Plivo | Self::EightByEight | Self::Vonage => {
                let Some(p) = self.provider() else { return };
                let o = seed_order(order_for(n, ctx.orders));
                let leg = Leg {
                    n,
                    sid: p.call_id(&sid),
                    from: format!("+91{}", &courier(n)[1..]),
                    to: format!("+91{}", &o.virtual_number[1..]),
                };
                p.pin_steps(server, &leg, &o, wrong)
            }
        };
        run_call(server, stats, &sid, due, steps).await;
    }
}

/// The caller of PIN call `n`, national as Exotel sends it: each call its own.
fn courier(n: u64) -> String {
    format!("070{:08}", n % 100_000_000)
}

/// Item `n` of `items`, round and round.
fn pick<T>(items: &[T], n: u64) -> Option<&T> {
    items.get(usize::try_from(n % (items.len().max(1) as u64)).ok()?)
}

/// What the calls of every flow need: the server and what was seeded.
struct Ctx {
    server: Server,
    orders: u64,
    bookings: Vec<Booking>,
    callbacks: Vec<Callback>,
}

/// The name of the phase of PIN calls at maximum rate.
const MAX_PIN: &str = "PIN calls, maximum rate";

/// The next call number, shared by all phases so every CallSid is new.
static NEXT_CALL: AtomicU64 = AtomicU64::new(0);

fn next_call() -> u64 {
    NEXT_CALL.fetch_add(1, Ordering::Relaxed)
}

/// Calls by `concurrency` callers back to back for `length`; the server's CPU is that of
/// `server_pids`.
async fn closed_loop<F, Fut>(
    name: &str,
    ctx: &Arc<Ctx>,
    args: &Args,
    length: Duration,
    server_pids: &[u32],
    call: F,
) -> Phase
where
    F: Fn(Arc<Ctx>, Shared, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stats: Shared = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let cpu = CpuUse::read(server_pids);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (ctx, stats, stop, call) = (
            Arc::clone(ctx),
            Arc::clone(&stats),
            Arc::clone(&stop),
            call.clone(),
        );
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                call(Arc::clone(&ctx), Arc::clone(&stats), next_call()).await;
            }
        });
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    Phase {
        name: name.to_owned(),
        seconds,
        stats: Arc::try_unwrap(stats)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default(),
        cpu: CpuUse::since(server_pids, cpu),
    }
}

/// Calls of `flow` at maximum rate for `length`.
async fn maximum_rate(flow: Flow, ctx: &Arc<Ctx>, args: &Args, length: Duration) -> Phase {
    let name = format!("{}, maximum rate", flow.label());
    closed_loop(
        &name,
        ctx,
        args,
        length,
        &[ctx.server.pid()],
        move |ctx, stats, n| async move {
            flow.call(&ctx, &stats, n, Instant::now()).await;
        },
    )
    .await
}

/// The order call `n` keys the PIN of, out of `orders`: Knuth's multiplicative hash spreads
/// consecutive calls over the orders, so that their lookups land all over the PIN index.
fn order_for(n: u64, orders: u64) -> u64 {
    n.wrapping_mul(2_654_435_761) % orders
}

/// Calls of `flow` started on a fixed schedule: `--steps-per-second` for `--seconds`.
async fn open_loop(flow: Flow, ctx: &Arc<Ctx>, args: &Args) -> Phase {
    let calls_per_second = args.steps_per_second as f64 / flow.steps_per_call();
    let interval = Duration::from_secs_f64(1.0 / calls_per_second);
    let total = (calls_per_second * args.seconds as f64) as u64;
    let stats: Shared = Arc::default();
    let cpu = CpuUse::read(&[ctx.server.pid()]);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (ctx, stats) = (Arc::clone(ctx), Arc::clone(&stats));
        let n = next_call();
        tasks.spawn(async move {
            flow.call(&ctx, &stats, n, due).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    Phase {
        name: format!("{}, fixed {} steps/s", flow.label(), args.steps_per_second),
        seconds: started.elapsed().as_secs_f64(),
        stats: Arc::try_unwrap(stats)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default(),
        cpu: CpuUse::since(&[ctx.server.pid()], cpu),
    }
}

/// The name of the `/healthz` phase: the ceiling.
const CEILING: &str = "/healthz, maximum rate";

/// Round `r` of the `/healthz` ceiling, `length` long.
async fn ceiling_round(ctx: &Arc<Ctx>, args: &Args, r: u32, length: Duration) -> Phase {
    eprintln!(
        "round {r}/{}: /healthz at maximum rate for {:.1} s",
        args.rounds,
        length.as_secs_f64()
    );
    closed_loop(CEILING, ctx, args, length, &[ctx.server.pid()], healthz).await
}

async fn healthz(ctx: Arc<Ctx>, stats: Shared, _n: u64) {
    let server = &ctx.server;
    let started = Instant::now();
    let ok = match server.uri("/healthz") {
        Some(uri) => server.get(uri).await,
        None => None,
    }
    .is_some_and(|(status, _)| status == 200);
    let mut s = stats.lock().unwrap();
    s.record("healthz", started.elapsed());
    if ok {
        s.calls += 1;
    } else {
        s.error("healthz failed".into());
    }
}

async fn admin_post(server: &Server, path: &str, body: Value) -> anyhow::Result<Value> {
    let r = server
        .client
        .post(format!("{}/api/v1{path}", server.address))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
    Ok(body)
}

async fn create_bookings(server: &Server, n: u64) -> anyhow::Result<Vec<Booking>> {
    for j in 0..POOL_NUMBERS {
        admin_post(
            server,
            "/virtual-numbers",
            json!({"number": format!("0731486{j:04}"), "provider": "exotel"}),
        )
        .await?;
    }
    let mut bookings = Vec::new();
    for i in 0..n {
        let party_a = format!("060{:08}", i);
        let party_b = format!("061{:08}", i);
        let b = admin_post(
            server,
            "/bookings",
            json!({"party_a": party_a, "party_b": party_b, "ttl_seconds": 86_400}),
        )
        .await?;
        let vn = b["virtual_number"].as_str().unwrap_or_default();
        bookings.push(Booking {
            party_a,
            party_b_e164: format!("+9161{:08}", i),
            virtual_number: format!("0{}", vn.strip_prefix("+91").unwrap_or(vn)),
        });
    }
    Ok(bookings)
}

/// Virtual numbers of the callbacks' orders, apart from the other flows' so that no other
/// call reaches their customers.
const CALLBACK_NUMBERS: u64 = 10;

/// Seeds `n` callbacks: an order each (created through the admin API, its own customer on a
/// virtual number of its own), and a seed PIN call on it, from a courier of its own, whose
/// bridge reaches the customer. A callback is the customer calling the number back: the last
/// call bridged to them on that number, while its order is active, dials its caller
/// (`storage::calls::find_callback`). Returns the callbacks and the seed calls, which count
/// among the calls made (each stores its call record).
async fn seed_callbacks(ctx: &Arc<Ctx>, n: u64) -> anyhow::Result<(Vec<Callback>, Phase)> {
    let server = &ctx.server;
    let mut callbacks = Vec::new();
    let mut orders = Vec::new();
    for k in 0..n {
        let o = SeedOrder {
            virtual_number: format!("0731487{:04}", k % CALLBACK_NUMBERS),
            pin: format!("{:08}", (k * 7919 + 23_456_789) % 100_000_000),
            customer_e164: format!("+918{k:09}"),
        };
        admin_post(
            server,
            "/orders",
            json!({"order_id": format!("CALLBACK-{k}"), "customer_number": o.customer_e164,
                   "pin": o.pin, "virtual_number": o.virtual_number}),
        )
        .await?;
        callbacks.push(Callback {
            customer: format!("0{}", &o.customer_e164[3..]),
            virtual_number: o.virtual_number.clone(),
            courier_e164: format!("+9171{k:08}"),
        });
        orders.push(o);
    }
    let stats: Shared = Arc::default();
    let cpu = CpuUse::read(&[server.pid()]);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (o, c) in orders.into_iter().zip(&callbacks) {
        let (ctx, stats) = (Arc::clone(ctx), Arc::clone(&stats));
        let courier = format!("0{}", &c.courier_e164[3..]);
        tasks.spawn(async move {
            let sid = call_sid(100, next_call());
            let common = exotel_common(&sid, &courier, &o.virtual_number);
            let steps = exotel_pin_steps(&ctx.server, &common, &o, false);
            run_call(&ctx.server, &stats, &sid, Instant::now(), steps).await;
        });
        // A few dozen at a time: the seed is no measurement.
        if tasks.len() >= 32 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    let seed = Phase {
        name: "callbacks' seed calls".to_owned(),
        seconds: started.elapsed().as_secs_f64(),
        stats: Arc::try_unwrap(stats)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default(),
        cpu: CpuUse::since(&[server.pid()], cpu),
    };
    anyhow::ensure!(
        seed.stats.errors == 0,
        "the callbacks' seed calls failed: {:?}",
        seed.stats.first_errors
    );
    Ok((callbacks, seed))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn phase_json(p: &Phase, ceiling: f64) -> Value {
    let steps = p.stats.step_count();
    let steps_per_second = steps as f64 / p.seconds;
    let (server_cpu_us, generator_cpu_us) = p.cpu_per_step();
    let per_step: BTreeMap<&str, Value> = p
        .stats
        .steps
        .iter()
        .map(|(name, h)| {
            (
                *name,
                json!({
                    "count": h.len(),
                    "p50_ms": ms(h.value_at_quantile(0.50)),
                    "p90_ms": ms(h.value_at_quantile(0.90)),
                    "p99_ms": ms(h.value_at_quantile(0.99)),
                    "max_ms": ms(h.max()),
                }),
            )
        })
        .collect();
    json!({
        "phase": p.name,
        "seconds": p.seconds,
        "calls": p.stats.calls,
        "calls_per_second": p.stats.calls as f64 / p.seconds,
        "steps": steps,
        "steps_per_second": steps_per_second,
        "share_of_healthz_ceiling": if ceiling > 0.0 { steps_per_second / ceiling } else { 0.0 },
        "errors": p.stats.errors,
        "first_errors": p.stats.first_errors,
        "latency_per_step": per_step,
        "server_cpu_us_per_step": server_cpu_us,
        "generator_cpu_us_per_step": generator_cpu_us,
        "machine_busy_share": p.cpu.machine_busy_share(),
    })
}

fn print_table(report: &Value) {
    println!();
    println!(
        "seed: {} orders imported in {:.1} s ({:.0} orders/s)",
        report["orders"],
        report["import_seconds"].as_f64().unwrap_or(0.0),
        report["import_orders_per_second"].as_f64().unwrap_or(0.0)
    );
    println!(
        "bookings: {} created one by one through the admin API in {:.1} s",
        report["bookings"],
        report["bookings_seconds"].as_f64().unwrap_or(0.0)
    );
    println!(
        "callbacks: {} seeded (an order and a bridged PIN call each)",
        report["callbacks"]
    );
    println!(
        "server peak RSS: {:.1} MB   call records: {} stored / {} calls made",
        report["server_peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        report["call_records"],
        report["calls_made"]
    );
    println!();
    println!(
        "{:<40} {:>8} {:>9} {:>7} {:<13} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "phase",
        "calls/s",
        "steps/s",
        "ceiling",
        "step",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors"
    );
    for p in report["phases"].as_array().into_iter().flatten() {
        let mut first = true;
        for (step, l) in p["latency_per_step"].as_object().into_iter().flatten() {
            if first {
                print!(
                    "{:<40} {:>8.0} {:>9.0} {:>6.1}% ",
                    p["phase"].as_str().unwrap_or(""),
                    p["calls_per_second"].as_f64().unwrap_or(0.0),
                    p["steps_per_second"].as_f64().unwrap_or(0.0),
                    p["share_of_healthz_ceiling"].as_f64().unwrap_or(0.0) * 100.0
                );
            } else {
                print!("{:<40} {:>8} {:>9} {:>7} ", "", "", "", "");
            }
            println!(
                "{:<13} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6}",
                step,
                l["p50_ms"].as_f64().unwrap_or(0.0),
                l["p90_ms"].as_f64().unwrap_or(0.0),
                l["p99_ms"].as_f64().unwrap_or(0.0),
                l["max_ms"].as_f64().unwrap_or(0.0),
                if first {
                    p["errors"].to_string()
                } else {
                    String::new()
                }
            );
            first = false;
        }
        for e in p["first_errors"].as_array().into_iter().flatten() {
            println!("    error: {}", e.as_str().unwrap_or(""));
        }
    }
    let rounds: Vec<String> = report["maximum_rate_rounds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{:.1} % ({:.0} of {:.0})",
                r["share_of_healthz_ceiling"].as_f64().unwrap_or(0.0) * 100.0,
                r["pin_steps_per_second"].as_f64().unwrap_or(0.0),
                r["healthz_per_second"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    if !rounds.is_empty() {
        println!();
        println!(
            "PIN steps at maximum rate as a share of the /healthz ceiling, round by round: {}",
            rounds.join(", ")
        );
    }
    println!();
    println!(
        "{:<40} {:>14} {:>14} {:>12}",
        "CPU time a step (/proc)", "server µs", "generator µs", "cores busy"
    );
    for p in report["phases"].as_array().into_iter().flatten() {
        println!(
            "{:<40} {:>14.1} {:>14.1} {:>11.0}%",
            p["phase"].as_str().unwrap_or(""),
            p["server_cpu_us_per_step"].as_f64().unwrap_or(0.0),
            p["generator_cpu_us_per_step"].as_f64().unwrap_or(0.0),
            p["machine_busy_share"].as_f64().unwrap_or(0.0) * 100.0
        );
    }
    if let Some(pin) = report["phases"]
        .as_array()
        .and_then(|phases| phases.iter().find(|p| p["phase"] == MAX_PIN))
    {
        let us = pin["server_cpu_us_per_step"].as_f64().unwrap_or(0.0);
        let steps_per_call =
            pin["steps"].as_f64().unwrap_or(0.0) / pin["calls"].as_f64().unwrap_or(0.0).max(1.0);
        if us > 0.0 && steps_per_call > 0.0 {
            println!();
            println!(
                "Sizing: {us:.1} µs of server CPU a PIN step at maximum rate, so one core serves \
                 about {:.0} PIN steps ({:.0} whole calls) a second.",
                1e6 / us,
                1e6 / us / steps_per_call
            );
        }
    }
    if let Some(times) = report["recipe_connect_times_flask"].as_f64() {
        println!();
        println!(
            "Exotel's recipe: pinbridge answered {times:.1} times as many Connects a second as \
             the seeds' Flask design, on the same orders and cores."
        );
    }
    println!();
}

async fn count_call_records(database_url: &str) -> anyhow::Result<i64> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await?;
    let (n,): (i64,) = sqlx::query_as("select count(*) from calls")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(n)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.server.exists(),
        "{} is missing: build it with `cargo build --release` (scripts/load.sh does)",
        args.server.display()
    );
    let dir = tempfile::tempdir()?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/load.db", dir.path().display()));

    eprintln!("writing {} orders to a CSV file", args.orders);
    let csv = dir.path().join("orders.csv");
    write_orders_csv(&csv, args.orders)?;
    eprintln!("importing them with `pinbridge orders import`");
    let started = Instant::now();
    let out = Command::new(&args.server)
        .args(["orders", "import"])
        .arg(&csv)
        .env("PINBRIDGE_DATABASE_URL", &database_url)
        .output()?;
    let import_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "the import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let flask_db = dir.path().join("flask.db");
    if let Some(python) = &args.flask_python {
        eprintln!("copying them for the seeds' Flask design");
        Flask::load(python, &csv, &flask_db)?;
    }
    // Unlinked, its dirty pages are dropped rather than written back to the disk.
    std::fs::remove_file(&csv)?;

    let server = Server::start(&args.server, &database_url, dir.path())?;
    let bookings_wanted = if args.flows.contains(&Flow::Booking) {
        args.bookings
    } else {
        0
    };
    eprintln!("creating {bookings_wanted} bookings");
    let started = Instant::now();
    let bookings = create_bookings(&server, bookings_wanted).await?;
    let bookings_seconds = started.elapsed().as_secs_f64();
    let mut ctx = Arc::new(Ctx {
        server,
        orders: args.orders,
        bookings,
        callbacks: Vec::new(),
    });
    let mut seed_calls = 0;
    let with_callbacks = args.flows.contains(&Flow::Callback);
    if with_callbacks {
        eprintln!("seeding {} callbacks", args.callbacks);
        let (callbacks, seed) = seed_callbacks(&ctx, args.callbacks).await?;
        seed_calls = seed.stats.calls;
        let mut c = Arc::try_unwrap(ctx).map_err(|_| anyhow::anyhow!("the seed still runs"))?;
        c.callbacks = callbacks;
        ctx = Arc::new(c);
    }
    // What the setup left in the page cache goes to the disk now, not during a measured
    // phase. The server syncs its write-ahead log about once a second (when the log starts
    // over), on the writer's thread, and on ext4 that sync waits for the writeback of other
    // files too: 800 MB written by `dd` during the fixed-rate phase held the writes up for
    // 170 ms (greeting p99 58 ms). The seed's CSV file (60 MB), written back by the kernel
    // 30 s after it was written, is the likely cause of the pauses of 450 ms seen there.
    let synced = Command::new("sync").status()?;
    anyhow::ensure!(synced.success(), "`sync` failed: {synced}");

    // Each flow in its turn: at the fixed rate, then at maximum rate. The check-pin flow's
    // maximum rate alternates with the `/healthz` ceiling, round by round (`--rounds`); without
    // that flow the ceiling is measured alone, in as many rounds.
    let round = Duration::from_secs_f64(args.seconds as f64 / f64::from(args.rounds));
    let length = Duration::from_secs(args.seconds);
    let mut ceiling_phase = Phase::empty(CEILING);
    let mut rounds = Vec::new();
    let mut phases = Vec::new();
    let mut flows = args.flows.clone();
    flows.sort();
    flows.dedup();
    let with_pin = flows.contains(&Flow::ExotelPin);
    for &flow in &flows {
        eprintln!(
            "{} at {} steps/s for {} s",
            flow.label(),
            args.steps_per_second,
            args.seconds
        );
        phases.push(open_loop(flow, &ctx, &args).await);
        if flow != Flow::ExotelPin {
            eprintln!("{} at maximum rate for {} s", flow.label(), args.seconds);
            phases.push(maximum_rate(flow, &ctx, &args, length).await);
            continue;
        }
        let mut max_pin = Phase::empty(MAX_PIN);
        for r in 1..=args.rounds {
            let healthz = ceiling_round(&ctx, &args, r, round).await;
            eprintln!(
                "round {r}/{}: PIN calls at maximum rate for {:.1} s",
                args.rounds,
                round.as_secs_f64()
            );
            let pin = maximum_rate(flow, &ctx, &args, round).await;
            let (ceiling, steps) = (healthz.steps_per_second(), pin.steps_per_second());
            eprintln!(
                "round {r}/{}: /healthz {ceiling:.0}/s, PIN steps {steps:.0}/s ({:.1} %)",
                args.rounds,
                100.0 * steps / ceiling
            );
            rounds.push(json!({
                "healthz_per_second": ceiling,
                "pin_steps_per_second": steps,
                "share_of_healthz_ceiling": steps / ceiling,
            }));
            ceiling_phase.add(healthz);
            max_pin.add(pin);
        }
        phases.push(max_pin);
    }
    if !with_pin {
        for r in 1..=args.rounds {
            ceiling_phase.add(ceiling_round(&ctx, &args, r, round).await);
        }
    }
    let ceiling = ceiling_phase.steps_per_second();

    // Exotel's recipe Connect against the seeds' Flask design, round by round as the ceiling.
    let mut yardstick = None;
    if let Some(python) = &args.flask_python {
        let flask = Flask::start(python, &flask_db, dir.path()).await?;
        let mut alone = Phase::empty("Exotel recipe, Connect alone, maximum rate");
        let mut seeds = Phase::empty(&format!(
            "the seeds' Flask design ({} gunicorn workers), Connect, maximum rate",
            flask.workers
        ));
        for r in 1..=args.rounds {
            eprintln!(
                "round {r}/{}: {} for {:.1} s",
                args.rounds,
                alone.name,
                round.as_secs_f64()
            );
            let pinbridge = [ctx.server.pid()];
            alone.add(
                closed_loop(&alone.name, &ctx, &args, round, &pinbridge, recipe_connect).await,
            );
            eprintln!(
                "round {r}/{}: {} for {:.1} s",
                args.rounds,
                seeds.name,
                round.as_secs_f64()
            );
            let address = Arc::clone(&flask.address);
            let call = move |ctx, stats, n| flask_connect(ctx, stats, n, Arc::clone(&address));
            seeds.add(closed_loop(&seeds.name, &ctx, &args, round, &flask.pids(), call).await);
        }
        flask.stop();
        let (ours, theirs) = (alone.steps_per_second(), seeds.steps_per_second());
        eprintln!("Connect: pinbridge {ours:.0}/s, the seeds' Flask design {theirs:.0}/s");
        phases.push(alone);
        yardstick = Some((seeds, ours / theirs));
    }

    let peak_rss = ctx.server.peak_rss().unwrap_or(0);
    let calls_made = seed_calls + phases.iter().map(|p| p.stats.calls).sum::<u64>();
    let ctx = Arc::try_unwrap(ctx).map_err(|_| anyhow::anyhow!("the server is still in use"))?;
    ctx.server.stop();
    let records = count_call_records(&database_url).await?;

    phases.insert(0, ceiling_phase);
    let times_flask = yardstick.as_ref().map(|(_, ratio)| *ratio);
    if let Some((seeds, _)) = yardstick {
        // Not pinbridge's calls: after the count of calls made.
        phases.push(seeds);
    }
    let report = json!({
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "database": if database_url.starts_with("sqlite") { "sqlite" } else { "postgres" },
        },
        "orders": args.orders,
        "import_seconds": import_seconds,
        "import_orders_per_second": args.orders as f64 / import_seconds,
        "bookings": bookings_wanted,
        "bookings_seconds": bookings_seconds,
        "callbacks": if with_callbacks { args.callbacks } else { 0 },
        "callback_seed_calls": seed_calls,
        "server_peak_rss_bytes": peak_rss,
        "healthz_ceiling_per_second": ceiling,
        "maximum_rate_rounds": rounds,
        "calls_made": calls_made,
        "call_records": records,
        "recipe_connect_times_flask": times_flask,
        "phases": phases.iter().map(|p| phase_json(p, ceiling)).collect::<Vec<_>>(),
        "all_steps_p99_ms": phases[1..].iter().map(|p| ms(p.stats.all_steps().value_at_quantile(0.99))).collect::<Vec<_>>(),
    });
    print_table(&report);
    if let Some(parent) = args.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)?;
    println!("JSON report: {}", args.json.display());
    anyhow::ensure!(
        records == calls_made as i64,
        "{records} call records for {calls_made} calls made"
    );
    Ok(())
}
