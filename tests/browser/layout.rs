//! The call log, the call page, the dashboard and the other tables at a 1,280 px laptop's
//! width and at a 390 px phone's: nothing cut off or scrolled sideways, tables as cards on the
//! phone, times in the operators' time zone (India by default), and the pages of a new
//! install and of a path that does not exist.

use serde_json::{Value, json};

use crate::common::{CUSTOMER_E164, Call, VIRTUAL_NUMBER};
use crate::harness::{Browser, Window};

const WINDOWS: [Window; 2] = [Window::Desktop, Window::Phone];

/// A call that keys the PIN of `OD-LAYOUT-0001`, is bridged and ends answered. The CallSid is
/// as long as Exotel's (32 characters), the widest thing in the log.
async fn bridged_call(b: &Browser, sid: &str) {
    let app = &b.app;
    let call = Call::new(sid);
    app.exotel_text("greeting", &call.query(None)).await;
    let status = app
        .exotel("check-pin", &call.query(Some("4821")))
        .await
        .status();
    assert_eq!(status, 200, "the PIN is taken");
    assert_eq!(
        app.exotel_text("connect", &call.query(None)).await,
        CUSTOMER_E164
    );
    let end = call
        .query(None)
        .replace("DialCallStatus=null", "DialCallStatus=completed")
        .replace("CallType=call-attempt", "CallType=completed")
        .replace("DialCallDuration=0", "DialCallDuration=95");
    assert_eq!(app.exotel("call-end", &end).await.status(), 200);
}

/// Scrolls `css` into view and takes a screenshot named `page`.
async fn shot_at(b: &Browser, css: &str, page: &str) {
    b.client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView();",
            vec![json!(css)],
        )
        .await
        .unwrap();
    b.shot(page).await;
}

/// Where the page shown now overflows: the page's own width against the window's, every
/// cell of `table` (CSS selector) whose box leaves the window or whose content is wider than
/// its box (cut off), and, per cell, its label as a card shows it (`::before`) and its display.
async fn fit(b: &Browser, table: &str) -> Value {
    b.client
        .execute(
            "const table = document.querySelector(arguments[0]); \
             const w = window.innerWidth; \
             const cells = table ? [...table.querySelectorAll('th, td')] : []; \
             const shown = c => { const head = c.closest('thead'); \
                 return !head || head.getBoundingClientRect().width > 1; }; \
             const out = cells.filter(shown).filter(c => { \
                 const r = c.getBoundingClientRect(); \
                 return r.width > 0 && (r.left < -1 || r.right > w + 1 \
                        || c.scrollWidth > c.clientWidth + 1); }) \
               .map(c => c.tagName + ' ' + (c.dataset.label || '') + ': ' + c.textContent.trim()); \
             const tds = table ? [...table.querySelectorAll('tbody td')] : []; \
             return { found: !!table, \
                      innerWidth: w, \
                      scrollWidth: document.documentElement.scrollWidth, \
                      tableRight: table ? table.getBoundingClientRect().right : 0, \
                      out, \
                      cells: tds.length, \
                      displays: [...new Set(tds.map(c => getComputedStyle(c).display))], \
                      unlabelled: tds.filter(c => !c.dataset.label || \
                          !getComputedStyle(c, '::before').content.includes(c.dataset.label)) \
                        .map(c => c.outerHTML) };",
            vec![json!(table)],
        )
        .await
        .unwrap()
}

/// Asserts that `table` fits the window of `window` with every cell whole (column headers a
/// phone's cards hide visually aside), and that on a phone it is cards whose every cell shows
/// its label. A table of `name: value` rows (the call's fields) stays a table: pass `cards`
/// false.
async fn assert_fits(b: &Browser, window: Window, table: &str, what: &str) {
    assert_fits_as(b, window, table, what, true).await;
}

async fn assert_fits_as(b: &Browser, window: Window, table: &str, what: &str, cards: bool) {
    let f = fit(b, table).await;
    assert_eq!(f["found"], json!(true), "{what}: no {table}");
    let inner = f["innerWidth"].as_f64().unwrap();
    match window {
        Window::Desktop => assert!(inner >= 1200.0, "{what}: a laptop window: {f}"),
        Window::Phone => assert!(inner <= 400.0, "{what}: a phone window: {f}"),
    }
    assert!(
        f["scrollWidth"].as_f64().unwrap() <= inner + 1.0,
        "{what}: the page scrolls sideways at {inner} px: {f}"
    );
    assert!(
        f["tableRight"].as_f64().unwrap() <= inner + 1.0,
        "{what}: {table} ends past the window's right edge: {f}"
    );
    assert_eq!(f["out"], json!([]), "{what}: cells cut off at {inner} px");
    assert!(f["cells"].as_u64().unwrap() > 0, "{what}: {table} has rows");
    if let (Window::Phone, true) = (window, cards) {
        assert!(
            !f["displays"]
                .as_array()
                .unwrap()
                .contains(&json!("table-cell")),
            "{what}: at {inner} px the rows are cards, not table cells: {f}"
        );
        assert_eq!(
            f["unlabelled"],
            json!([]),
            "{what}: every card line names its field"
        );
    }
}

/// The `<time>` elements of the page with their text and their instant written in India's
/// time by the browser's own time zone database (`15:04:05`), to compare.
async fn times(b: &Browser) -> Vec<(String, String)> {
    let v = b
        .client
        .execute(
            "return [...document.querySelectorAll('time[datetime]')].map(t => [ \
               t.textContent.trim(), \
               new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Kolkata', hour: '2-digit', \
                 minute: '2-digit', second: '2-digit', hourCycle: 'h23' }) \
                 .format(new Date(t.getAttribute('datetime'))) ]);",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// `7 Dec 2026, 15:04:05 IST`: day, month, year, time to the second, the zone.
fn is_local_time(text: &str) -> bool {
    let Some(rest) = text.strip_suffix(" IST") else {
        return false;
    };
    let Some((date, clock)) = rest.split_once(", ") else {
        return false;
    };
    let date: Vec<&str> = date.split(' ').collect();
    date.len() == 3
        && date[0].parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
        && date[1].len() == 3
        && date[2].len() == 4
        && clock.len() == 8
        && clock
            .split(':')
            .all(|p| p.len() == 2 && p.parse::<u8>().is_ok())
}

#[tokio::test]
async fn the_call_log_and_a_call_fit_a_laptop_and_become_cards_on_a_phone_in_india_time() {
    for window in WINDOWS {
        let name = match window {
            Window::Desktop => "call-log-laptop",
            Window::Phone => "call-log-phone",
        };
        let b = Browser::start_with(name, window).await;
        b.app.create_order("OD-LAYOUT-0001", "4821").await;
        bridged_call(&b, "0f4bd1ee8a4c59c3a6b2e1a9d7c41b9a").await;
        bridged_call(&b, "7e2c0c1d5b3a49f0b8d6e4a2c1f3e5d7").await;
        b.sign_in().await;

        b.visit("/admin/calls", "log").await;
        b.element("table#calls").await;
        shot_at(&b, "table#calls", "log-table").await;
        assert_fits(&b, window, "table#calls", "the call log").await;
        let zone = b.element("#time-zone").await.text().await.unwrap();
        assert!(zone.contains("Asia/Kolkata"), "{zone}");
        let shown = times(&b).await;
        assert_eq!(shown.len(), 2, "{shown:?}");
        for (text, india) in &shown {
            assert!(is_local_time(text), "a readable time in IST: {text:?}");
            assert!(
                text.contains(india.as_str()),
                "{text:?} is the call's time in India ({india})"
            );
        }

        b.click("table#calls a[href^=\"/admin/calls/exotel/\"]")
            .await;
        b.element("table#steps").await;
        b.shot("call").await;
        shot_at(&b, "table#steps", "call-steps").await;
        assert_fits_as(&b, window, "table#call", "the call's fields", false).await;
        assert_fits(&b, window, "table#steps", "the call's steps").await;
        let started = b
            .element("table#call tr:nth-child(14) td")
            .await
            .text()
            .await
            .unwrap();
        assert!(is_local_time(&started), "Started: {started:?}");
        let step_time = b
            .element("table#steps tbody tr td:nth-child(2)")
            .await
            .text()
            .await
            .unwrap();
        assert!(is_local_time(&step_time), "a step's time: {step_time:?}");
        b.finish().await;
    }
}

#[tokio::test]
async fn the_bookings_trusted_callers_and_greetings_tables_fit_a_laptop_and_a_phone() {
    for window in WINDOWS {
        let name = match window {
            Window::Desktop => "tables-laptop",
            Window::Phone => "tables-phone",
        };
        let b = Browser::start_with(name, window).await;
        let app = &b.app;
        let r = app
            .post_api(
                "/virtual-numbers",
                &json!({ "number": VIRTUAL_NUMBER, "provider": "exotel" }),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let r = app
            .post_api(
                "/bookings",
                &json!({ "party_a": "09812345678", "party_b": "07709562799",
                         "reference": "ride RIDE-2026-12-07-0001-BLR, airport drop" }),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let r = app
            .post_api(
                "/trusted-callers",
                &json!({ "number": "07709562799", "label": "Ravi, night shift courier, Koramangala hub" }),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        b.sign_in().await;

        b.visit("/admin/bookings", "bookings").await;
        assert_fits(&b, window, "table#numbers", "the pool").await;
        assert_fits(&b, window, "table#bookings", "the bookings").await;
        shot_at(&b, "table#bookings", "bookings-table").await;
        let expires = b
            .element("table#bookings tbody td[data-label=\"Expires\"]")
            .await
            .text()
            .await
            .unwrap();
        assert!(is_local_time(&expires), "Expires: {expires:?}");

        b.visit("/admin/trusted-callers", "trusted-callers").await;
        assert_fits(&b, window, "table#trusted-callers", "the trusted callers").await;
        shot_at(&b, "table#trusted-callers", "trusted-callers-table").await;
        let since = b
            .element("table#trusted-callers tbody td[data-label=\"Trusted since\"]")
            .await
            .text()
            .await
            .unwrap();
        assert!(is_local_time(&since), "Trusted since: {since:?}");

        b.visit("/admin/greetings", "greetings").await;
        assert_fits(&b, window, "table#greetings", "the greetings").await;
        shot_at(&b, "table#greetings", "greetings-table").await;
        assert_fits(
            &b,
            window,
            "table#found-hi",
            "where Hindi prompts come from",
        )
        .await;
        shot_at(&b, "section#languages", "greetings-languages").await;
        b.finish().await;
    }
}

/// The charts of the dashboard shown now: each one's width against its box's, the smallest
/// of its texts as drawn on screen (px), its axis titles, its bars, and where the legend is.
async fn charts(b: &Browser) -> Value {
    b.client
        .execute(
            "return [...document.querySelectorAll('svg.chart')].map(svg => { \
               const box = svg.parentElement.getBoundingClientRect(); \
               const r = svg.getBoundingClientRect(); \
               const scale = svg.getScreenCTM().a; \
               const texts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()); \
               const sizes = texts.map(t => parseFloat(getComputedStyle(t).fontSize) * scale); \
               const legend = svg.parentElement.parentElement.querySelector('ul.legend'); \
               return { width: r.width, boxWidth: box.width, right: r.right, \
                        boxRight: box.right, viewBox: svg.getAttribute('viewBox'), \
                        smallest: Math.min(...sizes), \
                        texts: texts.map(t => t.textContent.trim()), \
                        bars: [...svg.querySelectorAll('rect')] \
                          .filter(x => !['#FFFFFF', 'white', '#ffffff'].includes(x.getAttribute('fill'))).length, \
                        legendBelow: legend ? legend.getBoundingClientRect().top >= r.bottom - 1 : null, \
                        legend: legend ? legend.textContent : '' }; });",
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_dashboard_charts_scale_to_a_laptop_and_a_phone_with_readable_labels_in_india_time() {
    for window in WINDOWS {
        let name = match window {
            Window::Desktop => "dashboard-laptop",
            Window::Phone => "dashboard-phone",
        };
        let b = Browser::start_with(name, window).await;
        b.app.create_order("OD-LAYOUT-0001", "4821").await;
        bridged_call(&b, "0f4bd1ee8a4c59c3a6b2e1a9d7c41b9a").await;
        let r = b
            .app
            .post_api(
                "/virtual-numbers",
                &json!({"number": "+917314850001", "provider": "exotel"}),
            )
            .await;
        assert_eq!(r.status(), 201);
        b.sign_in().await;
        b.visit("/admin", "dashboard").await;
        b.element("svg.chart").await;
        assert_fits(&b, window, "#pool", "the dashboard's pool table").await;
        // The charts are further down: a picture of each.
        for id in ["hourly-chart", "daily-chart"] {
            shot_at(&b, &format!("#{id}"), id).await;
        }
        let zone = b.element("#time-zone").await.text().await.unwrap();
        assert!(zone.contains("IST (Asia/Kolkata)"), "{zone}");
        assert!(
            b.client
                .find(fantoccini::Locator::Css("#getting-started"))
                .await
                .is_err(),
            "a dashboard with calls has no getting-started steps"
        );

        let inner = b
            .client
            .execute(
                "return [window.innerWidth, document.documentElement.scrollWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (inner, scroll) = (inner[0].as_f64().unwrap(), inner[1].as_f64().unwrap());
        assert!(scroll <= inner + 1.0, "no sideways scrolling at {inner} px");

        let found = charts(&b).await;
        let found = found.as_array().unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        for (chart, axis) in found.iter().zip(["Hour (IST)", "Day (IST)"]) {
            assert!(chart["viewBox"].is_string(), "{chart}");
            assert!(
                chart["boxRight"].as_f64().unwrap() <= inner + 1.0,
                "the chart's box ends inside the window: {chart}"
            );
            let texts = chart["texts"].as_array().unwrap();
            assert!(texts.contains(&json!(axis)), "the x axis: {chart}");
            assert!(texts.contains(&json!("Calls")), "the y axis: {chart}");
            assert!(chart["bars"].as_u64().unwrap() > 0, "{chart}");
            assert_eq!(
                chart["legendBelow"],
                json!(true),
                "the legend is outside the plot: {chart}"
            );
            assert!(
                chart["legend"].as_str().unwrap().contains("connected"),
                "{chart}"
            );
            if let Window::Desktop = window {
                assert!(
                    (chart["width"].as_f64().unwrap() - chart["boxWidth"].as_f64().unwrap()).abs()
                        < 1.0,
                    "the chart fills its box's width: {chart}"
                );
                assert!(
                    chart["smallest"].as_f64().unwrap() >= 12.0,
                    "every label is at least 12 px: {chart}"
                );
            } else {
                // A phone scrolls the chart inside its box, at a size that stays legible.
                assert!(
                    chart["smallest"].as_f64().unwrap() >= 10.0,
                    "labels stay legible on a phone: {chart}"
                );
            }
        }
        // The hourly chart's hours are India's: its last bar is the current hour there.
        let hour_now = b
            .client
            .execute(
                "return new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Kolkata', \
                   hour: '2-digit', hourCycle: 'h23' }).format(new Date());",
                vec![],
            )
            .await
            .unwrap();
        let hour_now: u32 = hour_now.as_str().unwrap().parse().unwrap();
        let first = (hour_now + 1) % 24;
        let expected: Vec<String> = (0..24)
            .map(|i| (first + i) % 24)
            .filter(|h| h % 3 == 0)
            .map(|h| format!("{h:02}:00"))
            .collect();
        let drawn: Vec<String> = found[0]["texts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t.as_str().filter(|t| t.ends_with(":00")).map(String::from))
            .collect();
        assert_eq!(drawn, expected, "the hours run in India's time");
        b.finish().await;
    }
}

#[tokio::test]
async fn a_new_install_is_told_what_to_set_up_first() {
    for window in WINDOWS {
        let name = match window {
            Window::Desktop => "new-install-laptop",
            Window::Phone => "new-install-phone",
        };
        let b = Browser::start_with(name, window).await;
        b.sign_in().await;
        b.shot("dashboard").await;
        let steps = b.element("#getting-started").await.text().await.unwrap();
        assert!(steps.contains("The Exotel flow to build"), "{steps}");
        let fits = b
            .client
            .execute(
                "const r = document.getElementById('getting-started').getBoundingClientRect(); \
                 return r.right <= window.innerWidth + 1 \
                   && document.documentElement.scrollWidth <= window.innerWidth + 1;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "the steps fit the window");
        b.element("#getting-started a#start-greetings[href=\"/admin/greetings\"]")
            .await;
        b.click("#getting-started a#start-test-call").await;
        b.wait_for_path("/admin/test-call").await;
        b.shot("test-call").await;

        // Once there is an order, the steps give way to the figures.
        b.app.create_order("OD-FIRST", "4821").await;
        b.visit("/admin", "with-an-order").await;
        b.element("#connect-rate").await;
        assert!(
            b.client
                .find(fantoccini::Locator::Css("#getting-started"))
                .await
                .is_err(),
            "no getting-started steps once an order exists"
        );
        b.finish().await;
    }
}

#[tokio::test]
async fn an_unknown_admin_page_or_call_is_a_404_page_with_the_navigation() {
    for window in WINDOWS {
        let name = match window {
            Window::Desktop => "not-found-laptop",
            Window::Phone => "not-found-phone",
        };
        let b = Browser::start_with(name, window).await;
        b.sign_in().await;

        b.visit("/admin/no-such-page/at-all", "unknown-page").await;
        assert_eq!(b.status().await, 404);
        let heading = b.element("h1#not-found").await.text().await.unwrap();
        assert_eq!(heading, "Page not found");
        b.element("header nav a[href=\"/admin/calls\"]").await;
        b.element("header form[action=\"/admin/logout\"]").await;

        b.visit("/admin/calls/exotel/CAno-such-call", "unknown-call")
            .await;
        assert_eq!(b.status().await, 404);
        let heading = b.element("h1#not-found").await.text().await.unwrap();
        assert_eq!(heading, "No such call");
        let current = b
            .element("header nav a[aria-current=\"page\"]")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(current, "Call log");
        let fits = b
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "the 404 page fits the window");
        b.click("a#back").await;
        b.wait_for_path("/admin/calls").await;
        assert_eq!(b.status().await, 200);

        // The admin API keeps its JSON errors.
        let r = b
            .app
            .client
            .get(b.url("/api/v1/no-such-resource"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.expect("a JSON error");
        assert!(body["error"]["code"].is_string(), "{body}");
        b.finish().await;
    }
}
