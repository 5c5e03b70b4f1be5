//! The load benchmark: a real `pinbridge serve` process on a database seeded with many orders,
//! driven with whole Exotel calls shaped as Exotel sends them. Run it with `scripts/load.sh`
//! (which builds the release binaries first); `--help` lists the options.
//!
//! Phases, one after the other, against one server:
//! 1. seed: `pinbridge orders import` of `--orders` active orders (timed), then `--bookings`
//!    bookings created one by one through the admin API (timed);
//! 2. PIN calls at a fixed offered rate (`--steps-per-second`): greeting, gather, check-pin
//!    (one wrong PIN in every tenth call, then gather and check-pin again), connect, call-end,
//!    each call with its own CallSid (random-looking, as Exotel's are) and caller. Calls start
//!    on a fixed schedule whatever the server's speed, each in a task of its own, so a slow
//!    server can not slow the offered load down and hide its delay (no coordinated omission);
//!    how late each call started against its schedule shows as `(start lag)`;
//! 3. `/healthz` at maximum rate (the ceiling of the HTTP stack on this machine) and PIN calls
//!    at maximum rate (`--concurrency` callers, each starting its next call when the last
//!    ends), in `--rounds` alternating rounds, each phase's rounds added up;
//! 4. caller-based booking calls at maximum rate: connect (routed by the caller), call-end.
//!
//! Prints a table (calls/s, steps/s, latency percentiles per step, errors, the server's peak
//! RSS, steps/s as a share of the `/healthz` ceiling), then the CPU time a step of the server
//! and of the generator in each phase and how busy the cores were ([`CpuUse`], from `/proc`),
//! and writes the same as JSON. Then stops the server and checks that the database holds one
//! call record per call made.

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
/// Virtual numbers the orders are spread over (PINs are unique per number).
const PIN_NUMBERS: u64 = 20;
/// Virtual numbers of the booking pool.
const POOL_NUMBERS: u64 = 10;

#[derive(Parser, Debug, Clone)]
#[command(about = "Load benchmark of whole Exotel calls against a real pinbridge server")]
struct Args {
    /// Active orders to seed before the run.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// Bookings to create for the caller-based calls.
    #[arg(long, default_value_t = 2_000)]
    bookings: u64,
    /// Offered load of the fixed-rate phase, in call steps a second.
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

    /// Reads the counters now; zeros where `/proc` can not be read.
    fn read(server_pid: u32) -> CpuReading {
        let (machine_busy, machine_total) = Self::machine_ticks().unwrap_or((0, 0));
        CpuReading {
            server_ticks: Self::process_ticks(&server_pid.to_string()).unwrap_or(0),
            generator_ticks: Self::process_ticks("self").unwrap_or(0),
            machine_busy,
            machine_total,
        }
    }

    /// What was spent between `before` and now.
    fn since(server_pid: u32, before: CpuReading) -> Self {
        let now = Self::read(server_pid);
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

/// An HTTP/1.1 client with a pool of kept-alive connections.
type Http = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<hyper::body::Bytes>,
>;

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
            .env("PINBRIDGE_BRAND", "Swift Couriers")
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
        use http_body_util::BodyExt;
        let request = hyper::Request::get(uri)
            .body(http_body_util::Empty::new())
            .ok()?;
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

/// Sends one step (`uri`, `None` when it could not be built) and times it. Returns the body
/// when the answer has `status` (and, with `body`, exactly that body); anything else
/// (another status, another body, no answer) is counted as an error of the call `sid`.
async fn step(
    server: &Server,
    log: &mut CallLog,
    sid: &str,
    (name, uri): (&'static str, Option<hyper::Uri>),
    status: u16,
    body: Option<&str>,
) -> Option<()> {
    let started = Instant::now();
    let answer = match uri {
        Some(uri) => server.get(uri).await,
        None => None,
    };
    log.latencies.push((name, started.elapsed()));
    match answer {
        Some((got, bytes))
            if got == status && body.is_none_or(|b| bytes.trim_ascii() == b.as_bytes()) =>
        {
            Some(())
        }
        Some((got, _)) => {
            log.error = Some(format!("{sid} {name}: answered {got}, expected {status}"));
            None
        }
        None => {
            log.error = Some(format!("{sid} {name}: transport error"));
            None
        }
    }
}

/// One step of a PIN call's script: the applet, the digits it carries, whether it is the
/// call's end, and the status and body expected.
struct ScriptStep<'a> {
    applet: &'static str,
    digits: Option<&'a str>,
    end: bool,
    status: u16,
    body: Option<&'a str>,
}

/// One whole PIN call on order `order`; `n` numbers the call (its CallSid and caller), `due` is
/// when it should have started.
async fn pin_call(server: &Server, stats: &Shared, n: u64, order: u64, due: Instant) {
    let o = seed_order(order);
    let sid = call_sid(1, n);
    let from = format!("070{:08}", n % 100_000_000);
    let common = exotel_common(&sid, &from, &o.virtual_number);
    // How late the generator started this call (its timer has millisecond granularity):
    // reported on its own, so that neither the server nor the generator hides the other.
    let mut log = CallLog::default();
    log.latencies.push(("(start lag)", due.elapsed()));
    let wrong = format!(
        "{:08}",
        (o.pin.parse::<u64>().unwrap_or(0) + 1) % 100_000_000
    );
    let step_of = |applet, digits, status| ScriptStep {
        applet,
        digits,
        end: false,
        status,
        body: None,
    };
    let mut script = Vec::with_capacity(7);
    script.push(step_of("greeting", None, 200));
    script.push(step_of("gather", None, 200));
    if n % 10 == 9 {
        // A wrong PIN asks again (302), and the gather comes again.
        script.push(step_of("check-pin", Some(&wrong), 302));
        script.push(step_of("gather", None, 200));
    }
    script.push(step_of("check-pin", Some(&o.pin), 200));
    script.push(ScriptStep {
        body: Some(o.customer_e164.as_str()),
        ..step_of("connect", Some(&o.pin), 200)
    });
    script.push(ScriptStep {
        end: true,
        ..step_of("call-end", None, 200)
    });
    for s in script {
        let uri = server.exotel_uri(s.applet, &common, s.digits, s.end);
        if step(server, &mut log, &sid, (s.applet, uri), s.status, s.body)
            .await
            .is_none()
        {
            return log.flush(stats, false);
        }
    }
    log.flush(stats, true);
}

/// A booking of the run: party A calls its virtual number and reaches party B.
#[derive(Clone)]
struct Booking {
    party_a: String,
    party_b_e164: String,
    virtual_number: String,
}

/// One caller-based call: connect (routed by the caller), call-end.
async fn booking_call(server: &Server, stats: &Shared, n: u64, b: &Booking) {
    let sid = call_sid(2, n);
    let common = exotel_common(&sid, &b.party_a, &b.virtual_number);
    let dialled = Some(b.party_b_e164.as_str());
    let mut log = CallLog::default();
    let connect = server.exotel_uri("connect", &common, None, false);
    let completed = step(server, &mut log, &sid, ("connect", connect), 200, dialled)
        .await
        .is_some()
        && {
            let end = server.exotel_uri("call-end", &common, None, true);
            step(server, &mut log, &sid, ("call-end", end), 200, None)
                .await
                .is_some()
        };
    log.flush(stats, completed);
}

/// The name of the phase of PIN calls at maximum rate.
const MAX_PIN: &str = "PIN calls, maximum rate";

/// The next call number, shared by all phases so every CallSid is new.
static NEXT_CALL: AtomicU64 = AtomicU64::new(0);

fn next_call() -> u64 {
    NEXT_CALL.fetch_add(1, Ordering::Relaxed)
}

/// Calls of `kind` by `concurrency` callers back to back for `length`.
async fn closed_loop<F, Fut>(
    name: &str,
    server: &Arc<Server>,
    args: &Args,
    length: Duration,
    call: F,
) -> Phase
where
    F: Fn(Arc<Server>, Shared, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stats: Shared = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let cpu = CpuUse::read(server.pid());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (server, stats, stop, call) = (
            Arc::clone(server),
            Arc::clone(&stats),
            Arc::clone(&stop),
            call.clone(),
        );
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                call(Arc::clone(&server), Arc::clone(&stats), next_call()).await;
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
        cpu: CpuUse::since(server.pid(), cpu),
    }
}

/// The order call `n` keys the PIN of, out of `orders`: Knuth's multiplicative hash spreads
/// consecutive calls over the orders, so that their lookups land all over the PIN index.
fn order_for(n: u64, orders: u64) -> u64 {
    n.wrapping_mul(2_654_435_761) % orders
}

/// PIN calls started on a fixed schedule: `calls_per_second` for `seconds`.
async fn open_loop(server: &Arc<Server>, args: &Args, orders: u64) -> Phase {
    // A PIN call is 5 steps, 7 with a wrong PIN (one call in ten): 5.2 on average.
    let calls_per_second = args.steps_per_second as f64 / 5.2;
    let interval = Duration::from_secs_f64(1.0 / calls_per_second);
    let total = (calls_per_second * args.seconds as f64) as u64;
    let stats: Shared = Arc::default();
    let cpu = CpuUse::read(server.pid());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (server, stats) = (Arc::clone(server), Arc::clone(&stats));
        let n = next_call();
        tasks.spawn(async move {
            pin_call(&server, &stats, n, order_for(n, orders), due).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    Phase {
        name: format!("PIN calls, fixed {} steps/s", args.steps_per_second),
        seconds: started.elapsed().as_secs_f64(),
        stats: Arc::try_unwrap(stats)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default(),
        cpu: CpuUse::since(server.pid(), cpu),
    }
}

async fn healthz(server: Arc<Server>, stats: Shared, _n: u64) {
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
        "server peak RSS: {:.1} MB   call records: {} stored / {} calls made",
        report["server_peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        report["call_records"],
        report["calls_made"]
    );
    println!();
    println!(
        "{:<34} {:>8} {:>9} {:>7} {:<10} {:>8} {:>8} {:>8} {:>8} {:>6}",
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
                    "{:<34} {:>8.0} {:>9.0} {:>6.1}% ",
                    p["phase"].as_str().unwrap_or(""),
                    p["calls_per_second"].as_f64().unwrap_or(0.0),
                    p["steps_per_second"].as_f64().unwrap_or(0.0),
                    p["share_of_healthz_ceiling"].as_f64().unwrap_or(0.0) * 100.0
                );
            } else {
                print!("{:<34} {:>8} {:>9} {:>7} ", "", "", "", "");
            }
            println!(
                "{:<10} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6}",
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
    println!();
    println!(
        "PIN steps at maximum rate as a share of the /healthz ceiling, round by round: {}",
        rounds.join(", ")
    );
    println!();
    println!(
        "{:<34} {:>14} {:>14} {:>12}",
        "CPU time a step (/proc)", "server µs", "generator µs", "cores busy"
    );
    for p in report["phases"].as_array().into_iter().flatten() {
        println!(
            "{:<34} {:>14.1} {:>14.1} {:>11.0}%",
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

    // Unlinked, its dirty pages are dropped rather than written back to the disk.
    std::fs::remove_file(&csv)?;

    let server = Arc::new(Server::start(&args.server, &database_url, dir.path())?);
    eprintln!("creating {} bookings", args.bookings);
    let started = Instant::now();
    let bookings = Arc::new(create_bookings(&server, args.bookings).await?);
    let bookings_seconds = started.elapsed().as_secs_f64();
    // What the setup left in the page cache goes to the disk now, not during a measured
    // phase. The server syncs its write-ahead log about once a second (when the log starts
    // over), on the writer's thread, and on ext4 that sync waits for the writeback of other
    // files too: 800 MB written by `dd` during the fixed-rate phase held the writes up for
    // 170 ms (greeting p99 58 ms). The seed's CSV file (60 MB), written back by the kernel
    // 30 s after it was written, is the likely cause of the pauses of 450 ms seen there.
    let synced = Command::new("sync").status()?;
    anyhow::ensure!(synced.success(), "`sync` failed: {synced}");

    eprintln!(
        "PIN calls at {} steps/s for {} s",
        args.steps_per_second, args.seconds
    );
    let fixed = open_loop(&server, &args, args.orders).await;

    // The ceiling and the PIN calls at maximum rate, round by round (`--rounds`).
    let round = Duration::from_secs_f64(args.seconds as f64 / f64::from(args.rounds));
    let orders = args.orders;
    let pin_at_maximum = move |server: Arc<Server>, stats: Shared, n: u64| async move {
        let due = Instant::now();
        pin_call(&server, &stats, n, order_for(n, orders), due).await;
    };
    let mut ceiling_phase = Phase::empty("/healthz, maximum rate");
    let mut max_pin = Phase::empty(MAX_PIN);
    let mut rounds = Vec::new();
    for r in 1..=args.rounds {
        eprintln!(
            "round {r}/{}: /healthz at maximum rate for {:.1} s",
            args.rounds,
            round.as_secs_f64()
        );
        let healthz = closed_loop(&ceiling_phase.name, &server, &args, round, healthz).await;
        eprintln!(
            "round {r}/{}: PIN calls at maximum rate for {:.1} s",
            args.rounds,
            round.as_secs_f64()
        );
        let pin = closed_loop(&max_pin.name, &server, &args, round, pin_at_maximum).await;
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
    let ceiling = ceiling_phase.steps_per_second();

    eprintln!("booking calls at maximum rate for {} s", args.seconds);
    let length = Duration::from_secs(args.seconds);
    let max_booking = closed_loop("booking calls, maximum rate", &server, &args, length, {
        let bookings = Arc::clone(&bookings);
        move |server, stats, n| {
            let bookings = Arc::clone(&bookings);
            async move {
                let b = &bookings[(n % bookings.len() as u64) as usize];
                booking_call(&server, &stats, n, b).await;
            }
        }
    })
    .await;

    let peak_rss = server.peak_rss().unwrap_or(0);
    let calls_made = fixed.stats.calls + max_pin.stats.calls + max_booking.stats.calls;
    let server =
        Arc::try_unwrap(server).map_err(|_| anyhow::anyhow!("the server is still in use"))?;
    server.stop();
    let records = count_call_records(&database_url).await?;

    let phases = [&ceiling_phase, &fixed, &max_pin, &max_booking];
    let report = json!({
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "database": if database_url.starts_with("sqlite") { "sqlite" } else { "postgres" },
        },
        "orders": args.orders,
        "import_seconds": import_seconds,
        "import_orders_per_second": args.orders as f64 / import_seconds,
        "bookings": args.bookings,
        "bookings_seconds": bookings_seconds,
        "server_peak_rss_bytes": peak_rss,
        "healthz_ceiling_per_second": ceiling,
        "maximum_rate_rounds": rounds,
        "calls_made": calls_made,
        "call_records": records,
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
