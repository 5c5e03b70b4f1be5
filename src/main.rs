//! The `pinbridge` command: `serve`, `migrate`, `orders import`, `trusted-callers import`,
//! `urls`, `purge`, `backup`, `healthcheck`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use pinbridge::app::banner;
use pinbridge::app::startup::{self, Application};
use pinbridge::config::Settings;
use pinbridge::{import, telemetry};

/// mimalloc (MIT) instead of the C library's allocator: a webhook step makes a few hundred
/// small allocations (request, form fields, log line, response) on every worker thread;
/// `docs/performance.md` has the measurement.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Phone-number masking webhook server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file of settings; `PINBRIDGE_*` environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the provider webhooks and the admin API (applies migrations first).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Manage orders of the PIN flow.
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// Manage trusted callers: numbers a virtual number's spent guessing budget never stops.
    TrustedCallers {
        #[command(subcommand)]
        command: TrustedCallersCommand,
    },
    /// Print the URL to paste into each Exotel applet.
    Urls,
    /// Delete call records, and orders and bookings that ended, older than
    /// PINBRIDGE_RETENTION_DAYS (the server also does this hourly).
    Purge,
    /// Copy the SQLite database to FILE, a new file, consistently and while the server may be
    /// running (SQLite's VACUUM INTO). On PostgreSQL, use pg_dump.
    Backup {
        /// The copy to create; an existing file is refused.
        file: PathBuf,
    },
    /// GET /healthz of a running server: exit 0 on a 2xx answer within 5 s, else 1. For a
    /// container's HEALTHCHECK, which then needs no HTTP client in the image.
    Healthcheck {
        /// The URL to GET. Default: /healthz at PINBRIDGE_LISTEN, an unspecified address
        /// (0.0.0.0, [::]) read as loopback.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum OrdersCommand {
    /// Load orders from a CSV file (header: order_id,customer_number,pin,virtual_number,expires_at;
    /// the last three optional) in one transaction.
    Import {
        file: PathBuf,
        /// Import the good rows and report the bad ones, instead of importing nothing.
        #[arg(long)]
        skip_bad: bool,
    },
}

#[derive(Subcommand)]
enum TrustedCallersCommand {
    /// Register trusted callers from a CSV file (header: number,label; label optional) in one
    /// transaction. A number registered already takes the file's label.
    Import {
        file: PathBuf,
        /// Import the good rows and report the bad ones, instead of importing nothing.
        #[arg(long)]
        skip_bad: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pinbridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    pinbridge::outbound::check_settings(&settings)?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            startup::connect_and_migrate(&settings).await?.close().await;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Urls => {
            let db = startup::connect_and_migrate(&settings).await?;
            let (secrets, _) = startup::resolve_secrets(&db, &settings).await?;
            let public = settings.server.public_base_url(settings.server.listen.port);
            let mut out = std::io::stdout().lock();
            banner::exotel_urls(&mut out, &public, &secrets.exotel_secret)?;
            banner::other_provider_urls(
                &mut out,
                &public,
                &settings.providers.on(),
                settings
                    .providers
                    .eight_by_eight_secret
                    .as_ref()
                    .map(ExposeSecret::expose_secret),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge => {
            let db = startup::connect_and_migrate(&settings).await?;
            let p = startup::purge_expired(&db, &settings).await?;
            db.close().await;
            println!(
                "deleted {} call record(s), {} order(s), {} booking(s), {} wrong-PIN record(s) older than {} days",
                p.calls, p.orders, p.bookings, p.pin_failures, settings.retention.days
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { file } => {
            let bytes =
                pinbridge::storage::backup::sqlite_copy(&settings.database.url, &file).await?;
            println!(
                "backed up the database to {} ({bytes} bytes)",
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(|| local_healthz(&settings.server.listen));
            healthcheck(&url).await
        }
        Command::Orders {
            command: OrdersCommand::Import { file, skip_bad },
        } => import_orders(settings, file, skip_bad).await,
        Command::TrustedCallers {
            command: TrustedCallersCommand::Import { file, skip_bad },
        } => import_trusted_callers(settings, file, skip_bad).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    telemetry::init("info");
    let app = Application::build(settings).await?;
    // The banner goes to stderr, the JSON logs to stdout: see `app::banner` for what it shows
    // where, and why.
    let terminal = std::io::stderr().is_terminal();
    let token = banner::admin_token(&app, terminal);
    banner::write(&mut std::io::stderr().lock(), &app, terminal, &token)?;
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// `/healthz` of the server listening at `listen`, an unspecified address read as loopback.
fn local_healthz(listen: &pinbridge::config::Listen) -> String {
    let host = match listen.host.as_str() {
        "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        host => host,
    };
    format!("http://{host}:{}/healthz", listen.port)
}

/// GETs `url`: success on a 2xx answer within 5 s, failure (saying why on stderr) otherwise.
async fn healthcheck(url: &str) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    match client.get(url).send().await {
        Ok(answer) if answer.status().is_success() => {
            println!("{url}: {}", answer.status());
            Ok(ExitCode::SUCCESS)
        }
        Ok(answer) => {
            eprintln!("{url}: {}", answer.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints the bad rows of an import on stderr, each reason once ([`import::summarise`]).
/// Without `skip_bad`, any bad row means nothing was imported: says so and returns the exit
/// code.
fn report_refused(refused: &[import::RowError], skip_bad: bool) -> Option<ExitCode> {
    for line in import::summarise(refused) {
        eprintln!("{line}");
    }
    if refused.is_empty() || skip_bad {
        return None;
    }
    eprintln!(
        "nothing imported: {} bad row(s); fix them, or pass --skip-bad to import the good rows",
        import::thousands(refused.len() as u64)
    );
    Some(ExitCode::FAILURE)
}

async fn import_orders(
    settings: Settings,
    file: PathBuf,
    skip_bad: bool,
) -> anyhow::Result<ExitCode> {
    let input =
        std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let db = startup::connect_and_migrate(&settings).await?;
    // On a terminal only: indicatif draws nothing when stderr is a file or a pipe.
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} checking rows {human_pos}/{human_len} [{wide_bar}] {elapsed}",
        )
        .expect("the template is valid"),
    );
    let show = |checked: usize, rows: usize| {
        bar.set_length(rows.max(checked) as u64);
        bar.set_position(checked as u64);
    };
    let outcome = import::import(
        &db,
        input,
        &settings.orders,
        pinbridge::import::admission::Density(settings.guessing.pin_max_density),
        skip_bad,
        &show,
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    db.close().await;
    if let Some(failure) = report_refused(&outcome.refused, skip_bad) {
        return Ok(failure);
    }
    println!(
        "imported {} order(s){}",
        import::thousands(outcome.imported as u64),
        if outcome.refused.is_empty() {
            String::new()
        } else {
            format!(
                ", skipped {} bad row(s)",
                import::thousands(outcome.refused.len() as u64)
            )
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn import_trusted_callers(
    settings: Settings,
    file: PathBuf,
    skip_bad: bool,
) -> anyhow::Result<ExitCode> {
    let input =
        std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let db = startup::connect_and_migrate(&settings).await?;
    let outcome =
        import::trusted_callers::import(&db, input, settings.orders.region, skip_bad).await;
    db.close().await;
    let outcome = outcome?;
    if let Some(failure) = report_refused(&outcome.refused, skip_bad) {
        return Ok(failure);
    }
    let added = outcome.added;
    println!(
        "imported {} trusted caller(s): {} new, {} updated{}",
        added.new + added.updated,
        added.new,
        added.updated,
        if outcome.refused.is_empty() {
            String::new()
        } else {
            format!(
                ", skipped {} bad row(s)",
                import::thousands(outcome.refused.len() as u64)
            )
        }
    );
    Ok(ExitCode::SUCCESS)
}
