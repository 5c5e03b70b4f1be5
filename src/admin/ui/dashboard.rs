//! Admin UI: the dashboard. Calls per hour (24 h) and per day (7 days) by outcome as
//! server-side SVG charts (plotters), in the UI's time zone (local hours and days), the
//! connect rate, the wrong-PIN rate, lockouts, step latency, and each virtual number's
//! exposure to PIN guessing, with an alert while a guessing budget is spent. A new install
//! (no call, order or booking yet) is told what to set up first.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use jiff::tz::TimeZone;
use plotters::prelude::*;

use super::AdminSession;
use super::calls::OUTCOMES;
use super::local_time::{self, HOUR_MS};
use super::orders::{html, unavailable};
use crate::domain::clock::now_ms;
use crate::state::AppState;
use crate::storage::stats;

/// The charts' drawing size in SVG units: the page scales it to its width (`viewBox`).
const CHART_SIZE: (u32, u32) = (760, 340);
/// The charts' text, in SVG units: at least 12 px once scaled to a 1,280 px laptop's page.
const CHART_FONT: f64 = 15.0;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(page))
        .route("/", web::get().to(page))
        .route("/dashboard", web::get().to(page));
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    /// No call, order or booking yet: the page says what to set up first.
    new_install: bool,
    /// Where providers reach this server (`PINBRIDGE_PUBLIC_URL`), for the setup steps.
    public_url: String,
    /// The time zone the page counts hours and days in: `IST (Asia/Kolkata)`.
    zone: String,
    hourly_svg: String,
    daily_svg: String,
    /// The outcomes the charts show, with their colour (`#146c2e`) and calls over 7 days.
    legend: Vec<(&'static str, String, i64)>,
    totals: Vec<(&'static str, i64)>,
    bridged: i64,
    connected: i64,
    connect_rate: String,
    pin_entries: i64,
    wrong_pins: i64,
    wrong_pin_rate: String,
    locked_callers: i64,
    steps: i64,
    median_ms: String,
    p99_ms: String,
    guessing: Vec<GuessingRow>,
    /// The pool by country and provider.
    pool: Vec<PoolRow>,
    /// `PINBRIDGE_POOL_HEADROOM_ALERT`: rows under it are flagged.
    headroom_alert: i64,
}

/// One row of the pool table: the numbers of one country and provider, and how full they are.
struct PoolRow {
    /// `IN`, or `—` for numbers of no country.
    country: String,
    /// `exotel`, ...; `any` for refusals of bookings that named no provider.
    provider: String,
    numbers: i64,
    healthy: i64,
    allocatable: i64,
    busiest: i64,
    /// Allocatable numbers less the busiest party's load.
    headroom: i64,
    /// Allocations refused over the last 24 hours.
    refused: i64,
}

/// One row of the guessing table: a virtual number (or the orders valid on every number).
struct GuessingRow {
    number: String,
    active_pins: i64,
    /// The chance a guess hits: `1 in 200`, or `—`.
    density: String,
    /// Wrong PINs of unknown callers the budget allows a day at that density.
    allowed: String,
    /// Customer numbers wrong PINs could have reached over the last day (an expectation).
    reached: String,
    /// Share of the budget spent now.
    spent: String,
    /// While spent: when unknown callers are taken again, if nothing more is spent.
    refusing_until: Option<String>,
}

impl GuessingRow {
    fn of(
        e: &crate::storage::attempts::Exposure,
        budget: crate::storage::attempts::Budget,
        session: &AdminSession,
        now: i64,
        tz: &TimeZone,
    ) -> Self {
        let number = if e.scope == crate::storage::attempts::EVERY_NUMBER {
            "every number (orders without one)".to_owned()
        } else {
            session.show(e.scope.clone())
        };
        let density = if e.density > 0 {
            format!("1 in {}", (1_000_000 / e.density).max(1))
        } else {
            "—".into()
        };
        let allowed = budget
            .guesses_per_day(e.density)
            .map_or_else(|| "no limit needed".into(), |g| format!("{}", g.floor()));
        let refusing_until = budget.is_spent(e.spent).then(|| {
            let secs = i64::try_from(budget.seconds_until_open(e.spent)).unwrap_or(0);
            local_time::clock(tz, now + secs * 1000)
        });
        Self {
            number,
            active_pins: e.active_pins,
            density,
            allowed,
            reached: format!("{:.3}", e.reached_24h as f64 / 1e6),
            spent: percent(e.spent, budget.capacity),
            refusing_until,
        }
    }
}

/// `part / whole` as a percentage (`50%`, `33.3%`), or `—` when `whole` is 0.
fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if (p - p.round()).abs() < 0.05 {
        format!("{}%", p.round() as i64)
    } else {
        format!("{p:.1}%")
    }
}

fn millis(us: Option<i64>) -> String {
    us.map_or_else(|| "—".into(), |us| format!("{:.1} ms", us as f64 / 1000.0))
}

fn colour(outcome: &str) -> RGBColor {
    match outcome {
        "connected" => RGBColor(20, 108, 46),
        "no_answer" => RGBColor(230, 159, 0),
        "busy" => RGBColor(213, 94, 0),
        "canceled" => RGBColor(120, 120, 120),
        "failed" => RGBColor(179, 38, 30),
        "pin_failed" => RGBColor(204, 121, 167),
        "abandoned" => RGBColor(86, 180, 233),
        "unknown" => RGBColor(90, 90, 90),
        _ => RGBColor(11, 87, 208),
    }
}

/// The colour of `outcome` as CSS writes it: `#146c2e`.
fn hex(outcome: &str) -> String {
    let RGBColor(r, g, b) = colour(outcome);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Counts per bar for each outcome: `starts` are the bars' starts (unix milliseconds, rising),
/// and a count belongs to the last bar that starts at or before its bucket.
fn series(counts: &[stats::BucketCount], starts: &[i64]) -> Vec<(&'static str, Vec<i64>)> {
    OUTCOMES
        .iter()
        .map(|outcome| {
            let mut values = vec![0; starts.len()];
            for c in counts.iter().filter(|c| c.outcome == *outcome) {
                let i = starts.partition_point(|s| *s <= c.start_ms);
                if i > 0 {
                    values[i - 1] += c.calls;
                }
            }
            (*outcome, values)
        })
        .collect()
}

/// A stacked bar chart as an inline `<svg class="chart">` with `role="img"`, an `aria-label`
/// and a title, that scales to the width of its box (a `viewBox`, no fixed size). `x_desc`
/// names the x axis (with the time zone); an empty label leaves its bar unlabelled. The legend
/// is the page's (HTML, beside the chart), so that it never covers a bar.
fn bar_chart(
    label: &str,
    x_desc: &str,
    x_labels: &[String],
    series: &[(&'static str, Vec<i64>)],
) -> Result<String, String> {
    let n = x_labels.len();
    let max = (0..n)
        .map(|i| series.iter().map(|s| s.1[i]).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut svg = String::new();
    {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(64)
            // At least 0..5, so that small counts get whole-number ticks.
            .build_cartesian_2d(
                -0.5f64..(n as f64 - 0.5),
                0f64..(max as f64 * 1.15).max(5.0),
            )
            .map_err(|e| err(&e))?;
        let label_of = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                x_labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label_of)
            .y_labels(6)
            // Calls are whole: a fractional tick gets no label rather than a rounded repeat.
            .y_label_formatter(&|y| {
                if (y - y.round()).abs() < 1e-6 {
                    format!("{}", y.round() as i64)
                } else {
                    String::new()
                }
            })
            .x_desc(x_desc)
            .y_desc("Calls")
            .label_style(("sans-serif", CHART_FONT))
            .axis_desc_style(("sans-serif", CHART_FONT))
            .draw()
            .map_err(|e| err(&e))?;
        let mut base = vec![0i64; n];
        for (outcome, values) in series {
            if values.iter().all(|v| *v == 0) {
                continue;
            }
            let c = colour(outcome);
            let bars: Vec<_> = (0..n)
                .filter(|i| values[*i] > 0)
                .map(|i| {
                    let x = i as f64;
                    Rectangle::new(
                        [
                            (x - 0.38, base[i] as f64),
                            (x + 0.38, (base[i] + values[i]) as f64),
                        ],
                        c.filled(),
                    )
                })
                .collect();
            for i in 0..n {
                base[i] += values[i];
            }
            chart.draw_series(bars).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    let escaped = askama::filters::escape(label, askama::filters::Html)
        .map(|e| e.to_string())
        .unwrap_or_default();
    let (w, h) = CHART_SIZE;
    let svg = svg.replacen(
        &format!("<svg width=\"{w}\" height=\"{h}\" "),
        &format!("<svg class=\"chart\" role=\"img\" aria-label=\"{escaped}\" "),
        1,
    );
    let svg = match svg.find('>') {
        Some(end) => format!(
            "{}<title>{escaped}</title>{}",
            &svg[..=end],
            &svg[end + 1..]
        ),
        None => svg,
    };
    Ok(svg)
}

/// The label of an hour's bar: its local start (`15:00`) every third hour, else nothing, so
/// that the labels do not run into each other.
fn hour_label(tz: &TimeZone, ms: i64) -> String {
    match local_time::hour_of(tz, ms) {
        Some(hour) if hour % 3 == 0 => format!("{hour:02}:00"),
        _ => String::new(),
    }
}

/// `GET /admin` and `/admin/dashboard`.
async fn page(
    session: AdminSession,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let now = now_ms();
    let tz = &state.settings.admin_ui.time_zone;
    // The current local hour and today are the last bars.
    let hour_start = local_time::hour_start(tz, now) - 23 * HOUR_MS;
    let hour_starts: Vec<i64> = (0..24).map(|i| hour_start + i * HOUR_MS).collect();
    let days = local_time::last_days(tz, now, 7);
    let day_starts: Vec<i64> = days.iter().map(|(_, start)| *start).collect();
    let day_start = day_starts
        .first()
        .copied()
        .unwrap_or(now - 7 * 24 * HOUR_MS);
    let db = &state.db;
    // The latency figures read the call steps: see the latest ones.
    state.writer.flush().await;
    let hourly = stats::calls_by_bucket(db, hour_start, HOUR_MS)
        .await
        .map_err(unavailable)?;
    // Days counted from local hours: a day with a daylight-saving change has 23 or 25.
    let daily = stats::calls_by_bucket(db, day_start, HOUR_MS)
        .await
        .map_err(unavailable)?;
    let (bridged, connected) = stats::bridged_and_connected(db, day_start)
        .await
        .map_err(unavailable)?;
    let (pin_entries, wrong_pins) = stats::pin_entries_and_failures(db, day_start)
        .await
        .map_err(unavailable)?;
    let window =
        i64::try_from(state.settings.guessing.lockout_window.as_millis()).unwrap_or(i64::MAX / 2);
    let locked_callers = stats::locked_callers(
        db,
        now - window,
        i64::from(state.settings.guessing.caller_max_failures),
    )
    .await
    .map_err(unavailable)?;
    let (steps, latency) = stats::step_latency(db, day_start, &[0.5, 0.99])
        .await
        .map_err(unavailable)?;
    let budget = state.sessions.budget();
    let guessing = crate::storage::attempts::exposure(db, budget, now)
        .await
        .map_err(unavailable)?
        .iter()
        .map(|e| GuessingRow::of(e, budget, &session, now, tz))
        .collect();
    let pool = crate::storage::pool::groups(db, "", "", now - 24 * HOUR_MS, now)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|g| PoolRow {
            headroom: g.headroom(),
            country: if g.country.is_empty() {
                "—".into()
            } else {
                g.country
            },
            provider: g.provider,
            numbers: g.numbers,
            healthy: g.healthy,
            allocatable: g.allocatable,
            busiest: g.busiest_load,
            refused: g.refused,
        })
        .collect();
    let new_install = !stats::in_use(db).await.map_err(unavailable)?;

    let hourly_series = series(&hourly, &hour_starts);
    let daily_series = series(&daily, &day_starts);
    let hour_labels: Vec<String> = hour_starts.iter().map(|ms| hour_label(tz, *ms)).collect();
    let day_labels: Vec<String> = days
        .iter()
        .map(|(date, _)| date.strftime("%-d %b").to_string())
        .collect();
    let zone = local_time::zone_label(tz, now);
    let abbreviation = local_time::abbreviation(tz, now);
    let chart_error = |e: String| {
        tracing::error!(error = %e, "admin UI: a chart failed to draw");
        actix_web::error::ErrorInternalServerError("A chart failed to draw.")
    };
    let hourly_svg = bar_chart(
        &format!("Calls per hour over the last 24 hours, by outcome ({zone})"),
        &format!("Hour ({abbreviation})"),
        &hour_labels,
        &hourly_series,
    )
    .map_err(chart_error)?;
    let daily_svg = bar_chart(
        &format!("Calls per day over the last 7 days, by outcome ({zone})"),
        &format!("Day ({abbreviation})"),
        &day_labels,
        &daily_series,
    )
    .map_err(chart_error)?;
    let totals = daily_series
        .iter()
        .map(|(o, v)| (*o, v.iter().sum::<i64>()))
        .filter(|(_, n)| *n > 0)
        .collect::<Vec<_>>();
    let legend = totals.iter().map(|(o, n)| (*o, hex(o), *n)).collect();
    let page = DashboardPage {
        signed_in: true,
        section: "dashboard",
        csrf: session.csrf.clone(),
        new_install,
        public_url: state.public_url.clone(),
        zone,
        hourly_svg,
        daily_svg,
        legend,
        totals,
        bridged,
        connected,
        connect_rate: percent(connected, bridged),
        pin_entries,
        wrong_pins,
        wrong_pin_rate: percent(wrong_pins, pin_entries),
        locked_callers,
        steps,
        median_ms: millis(latency.first().copied().flatten()),
        p99_ms: millis(latency.get(1).copied().flatten()),
        guessing,
        pool,
        headroom_alert: i64::from(state.settings.allocation.headroom_alert),
    };
    html(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_well() {
        assert_eq!(percent(1, 2), "50%");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "—");
    }

    #[test]
    fn charts_are_accessible_svg() {
        let labels: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        let svg = bar_chart(
            "Calls <per> hour",
            "Hour (IST)",
            &labels,
            &[("connected", vec![1, 0, 2])],
        )
        .unwrap();
        assert!(
            svg.starts_with(
                "<svg class=\"chart\" role=\"img\" aria-label=\"Calls &#60;per&#62; hour\""
            ),
            "{svg}"
        );
        // It scales: a viewBox, no fixed width.
        assert!(svg.contains("viewBox=\"0 0 760 340\""), "{svg}");
        let open_tag = &svg[..svg.find('>').unwrap()];
        assert!(!open_tag.contains("width="), "{open_tag}");
        assert!(
            svg.contains("Hour (IST)"),
            "the x axis names the zone: {svg}"
        );
        assert!(svg.contains("<title>Calls &#60;per&#62; hour</title>"));
        assert!(svg.contains("<rect"));
    }
}
