//! The `pinbridge` command: `serve`, `migrate`, `orders import`, `trusted-callers import`,
//! `urls`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

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
            print_exotel_urls(&public, &secrets.exotel_secret);
            println!();
            print_other_provider_urls(
                &public,
                &settings.providers.on(),
                settings
                    .providers
                    .eight_by_eight_secret
                    .as_ref()
                    .map(ExposeSecret::expose_secret),
            );
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
    let public_url_set = settings.server.public_url.is_some();
    let database = settings
        .database
        .url
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let database = if database.starts_with("sqlite") {
        database
    } else {
        "PostgreSQL".to_owned()
    };
    let app = Application::build(settings).await?;
    let secrets = app.secrets().clone();
    let public = settings_public_url(&app);
    println!(
        "pinbridge {} listening on port {} ({database})",
        env!("CARGO_PKG_VERSION"),
        app.port()
    );
    println!();
    let providers = app.settings().providers.on();
    print_providers(&providers);
    println!();
    let mask = pinbridge::domain::mask;
    if secrets.exotel_secret_generated {
        println!(
            "Generated the Exotel URL secret (kept in the database; set PINBRIDGE_EXOTEL_SECRET to choose it)."
        );
        print_exotel_urls(&public, &secrets.exotel_secret);
    } else {
        print_exotel_urls(&public, &mask(&secrets.exotel_secret));
    }
    let eight_by_eight = app
        .settings()
        .providers
        .eight_by_eight_secret
        .as_ref()
        .map(|s| mask(s.expose_secret()));
    print_other_provider_urls(&public, &providers, eight_by_eight.as_deref());
    println!("(secrets masked; `pinbridge urls` prints the URLs in full)");
    if let Some(token) = &secrets.generated_admin_token {
        println!();
        println!(
            "Admin API token, generated now and shown only this once (only its hash is stored):"
        );
        println!("    {token}");
        println!("Set PINBRIDGE_ADMIN_TOKEN to choose your own.");
    }
    if !public_url_set {
        println!();
        println!(
            "Exotel must reach these URLs: set PINBRIDGE_PUBLIC_URL to this server's public https address."
        );
    }
    println!();
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

fn settings_public_url(app: &Application) -> String {
    app.settings().server.public_base_url(app.port())
}

fn print_exotel_urls(public: &str, secret: &str) {
    let base = format!("{public}/exotel/{secret}");
    println!("Exotel applet URLs (PIN flow):");
    let rows = [
        ("1. Greeting", "Read text from URL", "greeting"),
        ("2. Gather", "Programmable Gather", "gather"),
        ("3. Passthru", "sync: 200 Connect, 302 Gather", "check-pin"),
        ("4. Connect", "Dial whom URL", "connect"),
        ("   or Connect", "Programmable Connect", "connect.json"),
        ("5. Greeting", "on 'We didn't dial anyone'", "goodbye"),
        ("6. Passthru", "async, then Hangup", "call-end"),
    ];
    for (applet, kind, path) in rows {
        println!("  {applet:<14} {kind:<30} {base}/{path}");
    }
}

/// Each provider, on or off, and how its requests are authenticated (or what turns it on).
fn print_providers(providers: &pinbridge::config::Providers) {
    use pinbridge::config::ProviderAuth;
    println!("Providers:");
    for (provider, auth, how) in providers.describe() {
        let state = match auth {
            ProviderAuth::Off => "off",
            ProviderAuth::Unsigned => "ON, UNSIGNED",
            ProviderAuth::SecretPath | ProviderAuth::Signed => "on",
        };
        println!("  {provider:<8} {state:<13} {how}");
    }
}

/// The URLs of the providers other than Exotel that are on; `eight_by_eight_secret` as it may
/// be shown (masked in the start banner).
fn print_other_provider_urls(
    public: &str,
    providers: &pinbridge::config::Providers,
    eight_by_eight_secret: Option<&str>,
) {
    let eight_by_eight_secret = eight_by_eight_secret.unwrap_or_default();
    let on = |name: &str| match name {
        "Twilio" => providers.twilio.is_on(),
        "Plivo" => providers.plivo.is_on(),
        "8x8" => providers.eight_by_eight.is_on(),
        "Vonage" => providers.vonage.is_on(),
        _ => false,
    };
    let rows = [
        (
            "Twilio",
            "A call comes in (POST)",
            format!("{public}/twilio/voice"),
        ),
        (
            "Twilio",
            "Call status changes",
            format!("{public}/twilio/status"),
        ),
        ("Plivo", "Answer URL", format!("{public}/plivo/answer")),
        ("Plivo", "Hangup URL", format!("{public}/plivo/hangup")),
        (
            "8x8",
            "VCA webhook",
            format!("{public}/8x8/{eight_by_eight_secret}/voice"),
        ),
        (
            "8x8",
            "VCS webhook",
            format!("{public}/8x8/{eight_by_eight_secret}/status"),
        ),
        (
            "8x8",
            "VSS webhook",
            format!("{public}/8x8/{eight_by_eight_secret}/session"),
        ),
        (
            "Vonage",
            "Answer URL (GET)",
            format!("{public}/vonage/answer"),
        ),
        (
            "Vonage",
            "Event URL (POST)",
            format!("{public}/vonage/event"),
        ),
    ];
    let rows: Vec<_> = rows.into_iter().filter(|(p, _, _)| on(p)).collect();
    if rows.is_empty() {
        return;
    }
    println!();
    println!("Other providers (see README, \"Setting up each provider\"):");
    for (provider, kind, url) in rows {
        println!("  {provider:<14} {kind:<30} {url}");
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
