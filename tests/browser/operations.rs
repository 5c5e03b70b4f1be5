//! The orders page with 200,000 orders, the notices after each action, the confirmations
//! before those that can not be undone, forms sent back with mistakes or an expired token,
//! and the CSV import: at 1,280 px and on a 390 px phone.

use std::time::Instant;

use fantoccini::Locator;
use pinbridge::domain::{NewOrder, OrderRules, Pin, Region};
use pinbridge::import::thousands;
use pinbridge::storage::orders::OrderWrite;
use pinbridge::storage::{Db, PoolSettings};
use serde_json::{Value, json};

use crate::common::VIRTUAL_NUMBER;
use crate::harness::{Browser, Window};

/// Distinct customers of the seeded orders; order `i` is for customer `i % CUSTOMERS`.
const CUSTOMERS: usize = 1000;

/// The customer number (E.164) of customer `k`: scattered last digits, so that a search by
/// the last digits finds some of them.
fn customer(k: usize) -> String {
    format!("+9198{:08}", (k * 7_654_321 + 12_345_678) % 100_000_000)
}

/// Order `i` of the seed: `OD-000000` to `OD-199999`, each a millisecond newer than the one
/// before.
fn order_id(i: usize) -> String {
    format!("OD-{i:06}")
}

/// Stores `n` orders straight into the app's database (as `pinbridge orders import` would,
/// without its checks), the newest `OD-<n-1>`.
async fn seed(b: &Browser, n: usize) {
    let started = Instant::now();
    let db = Db::connect(&b.app.database_url, &PoolSettings::single())
        .await
        .unwrap();
    let rules = OrderRules {
        region: Region::parse("IN").unwrap(),
        pin_min: 4,
        pin_max: 12,
        default_ttl_ms: 86_400_000,
        allowed_country_codes: vec![91],
    };
    let now = pinbridge::domain::clock::now_ms();
    let customers: Vec<NewOrder> = (0..CUSTOMERS)
        .map(|k| {
            NewOrder::parse(
                "template",
                &customer(k),
                None,
                Some(VIRTUAL_NUMBER),
                None,
                &rules,
                now,
            )
            .unwrap()
        })
        .collect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let orders: Vec<(NewOrder, Pin)> = chunk
            .iter()
            .map(|&i| {
                let mut order = customers[i % CUSTOMERS].clone();
                order.order_id = order_id(i);
                (order, Pin::parse(&format!("{:07}", i), 4, 12).unwrap())
            })
            .collect();
        let mut write = OrderWrite::begin(&db).await.unwrap();
        // One creation time a thousand: pages cut through orders created together too.
        for (j, batch) in orders.chunks(1000).enumerate() {
            let refs: Vec<(&NewOrder, Pin)> = batch.iter().map(|(o, p)| (o, p.clone())).collect();
            let at = now - 1_000_000 + ((chunk[0] / 1000) + j) as i64;
            write.insert(&refs, at).await.unwrap();
        }
        write.commit().await.unwrap();
    }
    eprintln!("seeded {n} orders in {:?}", started.elapsed());
}

/// The order ids in the table, top to bottom.
async fn ids_shown(b: &Browser) -> Vec<String> {
    let v = b
        .client
        .execute(
            "return [...document.querySelectorAll('table#orders tbody tr td:first-child')] \
               .map(td => td.textContent.trim());",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Searches the orders page for `q` and returns how long the server took (ms).
async fn search(b: &Browser, q: &str, page: &str) -> f64 {
    b.visit(&format!("/admin/orders?q={q}"), page).await;
    server_ms(b).await
}

/// How long the page shown took from request to its last byte (Navigation Timing), in ms.
async fn server_ms(b: &Browser) -> f64 {
    b.client
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return n.responseEnd - n.requestStart;",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap_or(0.0)
}

/// Orders whose customer's number ends in `digits`.
fn ending_in(n: usize, digits: &str) -> usize {
    (0..n)
        .filter(|i| customer(i % CUSTOMERS).ends_with(digits))
        .count()
}

#[tokio::test]
async fn two_hundred_thousand_orders_are_counted_paged_and_found_by_partial_search() {
    const N: usize = 200_000;
    let b = Browser::start("orders-200k").await;
    seed(&b, N).await;
    b.sign_in().await;

    b.visit("/admin/orders", "first-page").await;
    let took = server_ms(&b).await;
    let count = b.wait_for_text("#order-count", "orders").await;
    assert!(count.contains("200,000 orders in all"), "{count}");
    let first = ids_shown(&b).await;
    assert_eq!(first.len(), 50);
    assert_eq!(first[0], order_id(N - 1), "newest first");
    assert_eq!(first[49], order_id(N - 50));
    eprintln!("first page of {N} orders: {took:.0} ms");

    // The next page starts where the first ended, and offers the way back.
    b.click("#next-page").await;
    b.element("#first-page").await;
    b.shot("second-page").await;
    let second = ids_shown(&b).await;
    assert_eq!(second.len(), 50);
    assert_eq!(second[0], order_id(N - 51));
    // A page boundary inside one creation time (1,000 orders share each).
    for _ in 0..19 {
        b.click("#next-page").await;
        b.wait_for_path("/admin/orders").await;
    }
    let twenty_first = ids_shown(&b).await;
    assert_eq!(twenty_first[0], order_id(N - 1 - 20 * 50));
    b.click("#first-page").await;
    b.wait_for_text("#order-count", "200,000").await;
    assert_eq!(ids_shown(&b).await[0], order_id(N - 1));

    // The start of an order id.
    let took = search(&b, "OD-12345", "search-prefix").await;
    let count = b.element("#order-count").await.text().await.unwrap();
    assert!(
        count.contains("10 orders match “OD-12345”, of 200,000 orders in all"),
        "{count}"
    );
    let ids = ids_shown(&b).await;
    assert_eq!(
        ids,
        (0..10)
            .rev()
            .map(|d| format!("OD-12345{d}"))
            .collect::<Vec<_>>()
    );
    eprintln!("search by the start of an order id among {N}: {took:.0} ms");

    // The last digits of the customer's number: every match, and only matches.
    for digits in ["5678", "98"] {
        let expected = ending_in(N, digits);
        assert!(expected > 0, "the seed has customers ending in {digits}");
        let took = search(&b, digits, &format!("search-{digits}")).await;
        let count = b.element("#order-count").await.text().await.unwrap();
        assert!(
            count.contains(&format!(
                "{} orders match “{digits}”",
                thousands(expected as u64)
            )),
            "{digits}: {count}"
        );
        let customers = b
            .client
            .execute(
                "return [...document.querySelectorAll('table#orders tbody tr td:nth-child(2)')] \
                   .map(td => td.textContent.trim());",
                vec![],
            )
            .await
            .unwrap();
        let customers: Vec<String> = serde_json::from_value(customers).unwrap();
        assert_eq!(customers.len(), expected.min(50), "{digits}");
        assert!(
            customers.iter().all(|c| c.ends_with(digits)),
            "{digits}: {customers:?}"
        );
        eprintln!("search by the last digits {digits:?} among {N}: {took:.0} ms");
    }

    // Nothing matches: said so.
    search(&b, "ZZ-none", "search-none").await;
    let count = b.element("#order-count").await.text().await.unwrap();
    assert!(count.contains("0 orders match"), "{count}");
    b.finish().await;
}

/// What the page shown now measures: its width against the window's, and how the orders
/// table's rows are laid out.
async fn layout(b: &Browser) -> Value {
    b.client
        .execute(
            "const row = document.querySelector('table#orders tbody tr'); \
             const head = document.querySelector('table#orders thead'); \
             return { scrollWidth: document.documentElement.scrollWidth, \
                      innerWidth: window.innerWidth, \
                      rowDisplay: row ? getComputedStyle(row).display : null, \
                      headVisible: head ? head.getBoundingClientRect().right > 0 : null };",
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn on_a_phone_the_orders_page_shows_each_order_as_a_card_and_pages_without_scrolling_sideways()
 {
    let b = Browser::start_with("orders-phone", Window::Phone).await;
    seed(&b, 120).await;
    b.sign_in().await;
    b.visit("/admin/orders", "orders").await;
    let count = b.wait_for_text("#order-count", "120 orders").await;
    assert!(count.contains("120 orders in all"), "{count}");
    let found = layout(&b).await;
    let inner = found["innerWidth"].as_u64().unwrap();
    assert!(inner <= 400, "{found}");
    assert!(
        found["scrollWidth"].as_u64().unwrap() <= inner + 1,
        "no sideways scrolling at {inner} px: {found}"
    );
    assert_eq!(found["rowDisplay"], "block", "one card per order: {found}");
    assert_eq!(found["headVisible"], json!(false), "{found}");
    b.click("#next-page").await;
    b.element("#first-page").await;
    b.shot("second-page").await;
    assert_eq!(ids_shown(&b).await[0], order_id(69));
    assert!(layout(&b).await["scrollWidth"].as_u64().unwrap() <= inner + 1);

    // The confirmation before deactivating fits too.
    b.click("table#orders a.button").await;
    b.element("#confirm").await;
    b.shot("confirm").await;
    assert!(layout(&b).await["scrollWidth"].as_u64().unwrap() <= inner + 1);

    // The desktop window shows the same table as a table.
    b.finish().await;
    let b = Browser::start("orders-desktop").await;
    seed(&b, 120).await;
    b.sign_in().await;
    b.visit("/admin/orders", "orders").await;
    let found = layout(&b).await;
    assert_eq!(found["rowDisplay"], "table-row", "{found}");
    assert_eq!(found["headVisible"], json!(true), "{found}");
    assert!(found["scrollWidth"].as_u64().unwrap() <= found["innerWidth"].as_u64().unwrap() + 1);
    b.finish().await;
}

/// The text of the notice shown now.
async fn notice(b: &Browser, needle: &str) -> String {
    b.wait_for_text("#notice", needle).await
}

#[tokio::test]
async fn every_action_ends_with_a_notice_and_those_that_can_not_be_undone_ask_first() {
    let b = Browser::start("notices").await;
    b.sign_in().await;

    // Created.
    b.visit("/admin/orders", "orders").await;
    b.fill("#order_id", "OD-NOTICE").await;
    b.fill("#customer_number", "09812345678").await;
    b.click("#create_order").await;
    let text = notice(&b, "created").await;
    b.shot("created").await;
    assert_eq!(text, "Order OD-NOTICE created.");

    // Deactivate asks first; cancelling changes nothing.
    b.click("a[aria-label=\"Deactivate order OD-NOTICE\"]")
        .await;
    let question = b.wait_for_text("#confirm-heading", "OD-NOTICE").await;
    b.shot("confirm-deactivate").await;
    assert_eq!(question, "Deactivate order OD-NOTICE?");
    b.click("#cancel").await;
    b.wait_for_path("/admin/orders").await;
    assert_eq!(
        b.app.get_json("/orders/OD-NOTICE").await.1["status"],
        "active"
    );
    b.click("a[aria-label=\"Deactivate order OD-NOTICE\"]")
        .await;
    b.click("#confirm").await;
    let text = notice(&b, "deactivated").await;
    b.shot("deactivated").await;
    assert!(text.starts_with("Order OD-NOTICE deactivated"), "{text}");
    assert_eq!(
        b.app.get_json("/orders/OD-NOTICE").await.1["status"],
        "deactivated"
    );

    // The pool and bookings.
    b.visit("/admin/bookings", "bookings").await;
    b.fill("#vn_number", VIRTUAL_NUMBER).await;
    b.click("#add_number").await;
    notice(&b, "added to the pool").await;
    b.fill("#party_a", "09812345678").await;
    b.fill("#party_b", "09812345679").await;
    b.fill("#reference", "ride-7").await;
    b.click("#create_booking").await;
    let text = notice(&b, "created").await;
    b.shot("booking-created").await;
    assert!(text.starts_with("Booking bk_"), "{text}");

    b.click("table#bookings a.button").await;
    b.wait_for_text("#confirm-heading", "Close booking").await;
    b.shot("confirm-close").await;
    b.click("#confirm").await;
    notice(&b, "closed").await;
    assert!(
        b.client.find(Locator::Css("table#bookings")).await.is_err(),
        "the closed booking left the active ones"
    );

    b.click("table#numbers a.button").await;
    let question = b.wait_for_text("#confirm-heading", "Drain").await;
    assert_eq!(question, "Drain +917314853246?");
    b.shot("confirm-drain").await;
    b.click("#confirm").await;
    let text = notice(&b, "drained").await;
    b.shot("drained").await;
    assert!(text.starts_with("Number +917314853246 drained"), "{text}");
    let (_, number) = b.app.get_json("/virtual-numbers/%2B917314853246").await;
    assert_eq!(number["status"], "drained");

    // Saved (a greeting) and imported.
    b.visit(
        "/admin/greetings/edit?prompt=welcome&language=en&virtual_number=",
        "greeting",
    )
    .await;
    b.click("button#save").await;
    b.wait_for_text("#saved", "Saved").await;
    b.visit("/admin/orders", "orders-again").await;
    b.fill(
        "#csv_text",
        "order_id,customer_number\nOD-IMP-1,09812345678\nOD-IMP-2,09812345679\n",
    )
    .await;
    b.click("#import_orders").await;
    assert_eq!(notice(&b, "Imported").await, "Imported 2 orders.");
    b.finish().await;
}

/// The fields marked invalid, the one focused, and the summary's and the messages' text.
async fn form_state(b: &Browser) -> Value {
    b.client
        .execute(
            "return { \
               invalid: [...document.querySelectorAll('[aria-invalid=true]')].map(e => e.id), \
               focused: document.activeElement ? document.activeElement.id : null, \
               summary: [...document.querySelectorAll('#create-errors li')].map(e => e.textContent.trim()), \
               messages: [...document.querySelectorAll('.field-error')] \
                 .map(e => [e.id, e.textContent.trim()]), \
               summaryTop: (document.querySelector('#create-errors') || {getBoundingClientRect: () => ({top: -1})}).getBoundingClientRect().top, \
               innerHeight: window.innerHeight };",
            vec![],
        )
        .await
        .unwrap()
}

async fn every_bad_field_is_shown_at_once(window: Window, test: &'static str) {
    let b = Browser::start_with(test, window).await;
    b.sign_in().await;
    b.visit("/admin/orders", "form").await;
    b.fill("#customer_number", "12").await;
    b.fill("#pin", "12a").await;
    b.fill("#expires_at", "tomorrow").await;
    b.click("#create_order").await;
    b.element("#create-errors").await;
    b.shot("errors").await;
    let state = form_state(&b).await;
    assert_eq!(
        state["invalid"],
        json!(["order_id", "customer_number", "pin", "expires_at"]),
        "{state}"
    );
    assert_eq!(state["focused"], "order_id", "the first bad field: {state}");
    assert_eq!(
        state["summary"],
        json!(["Order id", "Customer number", "PIN", "Expires at"]),
        "{state}"
    );
    let messages = state["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "one message a field: {state}");
    for m in messages {
        let text = m[1].as_str().unwrap();
        for api_name in ["order_id", "customer_number", "expires_at", "pin:"] {
            assert!(!text.contains(api_name), "{text} names the API's field");
        }
        assert!(text.chars().next().unwrap().is_uppercase(), "{text}");
    }
    let top = state["summaryTop"].as_f64().unwrap();
    assert!(
        top >= 0.0 && top < state["innerHeight"].as_f64().unwrap(),
        "the summary is in view: {state}"
    );
    // What was typed is kept.
    let pin = b.element("#pin").await.prop("value").await.unwrap();
    assert_eq!(pin.as_deref(), Some("12a"));
    // Fixed, the form is sent.
    b.fill("#order_id", "OD-FIXED").await;
    b.fill("#customer_number", "09812345678").await;
    b.fill("#pin", "").await;
    b.fill("#expires_at", "").await;
    b.click("#create_order").await;
    notice(&b, "created").await;
    b.finish().await;
}

#[tokio::test]
async fn a_form_shows_every_bad_field_at_once_by_its_label_and_focuses_the_first() {
    every_bad_field_is_shown_at_once(Window::Desktop, "form-errors").await;
}

#[tokio::test]
async fn on_a_phone_a_form_shows_every_bad_field_at_once_too() {
    every_bad_field_is_shown_at_once(Window::Phone, "form-errors-phone").await;
}

#[tokio::test]
async fn a_form_sent_with_an_expired_token_comes_back_filled_in_to_be_sent_again() {
    let b = Browser::start("expired-form").await;
    // A full page of orders above the form: it is below the fold.
    seed(&b, 60).await;
    b.sign_in().await;
    b.visit("/admin/orders", "form").await;
    b.fill("#order_id", "OD-STALE").await;
    b.fill("#customer_number", "09812345678").await;
    // The token of a session that has since ended (a sign-out and sign-in in another tab).
    b.client
        .execute(
            "document.querySelector('form[action=\"/admin/orders\"] input[name=csrf]').value = \
               'a-token-of-an-ended-session-0000';",
            vec![],
        )
        .await
        .unwrap();
    b.click("#create_order").await;
    let text = b.wait_for_text("#create-expired", "submit it again").await;
    b.shot("expired").await;
    assert!(text.contains("nothing was saved"), "{text}");
    assert_eq!(b.status().await, 403);
    // The page opens on the form: its first field focused, the notice in view.
    let seen = b
        .client
        .execute(
            "const r = document.querySelector('#create-expired').getBoundingClientRect(); \
             return { focused: document.activeElement.id, top: r.top, \
                      innerHeight: window.innerHeight, scrollY: window.scrollY };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen["focused"], "order_id", "{seen}");
    assert!(seen["scrollY"].as_f64().unwrap() > 0.0, "{seen}");
    let top = seen["top"].as_f64().unwrap();
    assert!(
        top >= 0.0 && top < seen["innerHeight"].as_f64().unwrap(),
        "the notice is in view: {seen}"
    );
    assert_eq!(b.app.get_json("/orders/OD-STALE").await.0, 404);
    let kept = b.element("#order_id").await.prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("OD-STALE"), "what was typed is kept");
    b.click("#create_order").await;
    notice(&b, "created").await;
    assert_eq!(b.app.get_json("/orders/OD-STALE").await.0, 200);
    b.finish().await;
}

/// A CSV with two good rows, one bad customer number, and five rows without an order id.
const MIXED_CSV: &str = "order_id,customer_number\n\
    OD-CSV-1,09812345678\n\
    OD-CSV-2,12\n\
    ,09812345671\n,09812345672\n,09812345673\n,09812345674\n,09812345675\n\
    OD-CSV-3,09812345679\n";

/// The lines `pinbridge orders import` prints for [`MIXED_CSV`]'s bad rows.
fn cli_summary() -> Vec<String> {
    let rules = OrderRules {
        region: Region::parse("IN").unwrap(),
        pin_min: 3,
        pin_max: 12,
        default_ttl_ms: 86_400_000,
        allowed_country_codes: vec![91],
    };
    let (_, refused) = pinbridge::import::parse_csv(MIXED_CSV.as_bytes(), &rules, 0).unwrap();
    pinbridge::import::summarise(&refused)
}

/// The import's messages and where they are.
async fn import_errors(b: &Browser) -> Value {
    b.client
        .execute(
            "const box = document.querySelector('#import-errors'); \
             return { items: [...box.querySelectorAll('li')].map(e => e.textContent.trim()), \
                      top: box.getBoundingClientRect().top, \
                      bottom: box.getBoundingClientRect().bottom, \
                      innerHeight: window.innerHeight, \
                      scrollY: window.scrollY };",
            vec![],
        )
        .await
        .unwrap()
}

async fn import_reports_like_the_command(window: Window, test: &'static str) {
    let b = Browser::start_with(test, window).await;
    b.sign_in().await;
    b.visit("/admin/orders", "form").await;
    let help = b.element("#import-help").await.text().await.unwrap();
    assert!(help.contains("4 MB, about 50,000 rows"), "{help}");

    b.fill("#csv_text", MIXED_CSV).await;
    b.click("#import_orders").await;
    b.element("#import-errors").await;
    b.shot("refused").await;
    let found = import_errors(&b).await;
    let expected = cli_summary();
    assert_eq!(expected.len(), 2, "{expected:?}");
    assert!(expected[1].starts_with("5 rows: "), "{expected:?}");
    assert_eq!(
        found["items"],
        json!(expected),
        "the command's words: {found}"
    );
    assert!(
        found["top"].as_f64().unwrap() >= 0.0
            && found["bottom"].as_f64().unwrap() <= found["innerHeight"].as_f64().unwrap(),
        "the errors are in view without scrolling: {found}"
    );
    assert_eq!(
        b.app.get_json("/orders/OD-CSV-1").await.0,
        404,
        "all or nothing"
    );
    // The CSV is kept; skipping the bad rows imports the good ones.
    b.click("#skip_bad").await;
    b.click("#import_orders").await;
    let text = notice(&b, "Imported").await;
    b.shot("skipped").await;
    assert_eq!(text, "Imported 2 orders; 6 bad rows were skipped.");
    assert_eq!(import_errors(&b).await["items"], json!(expected));
    assert_eq!(b.app.get_json("/orders/OD-CSV-1").await.0, 200);
    assert_eq!(b.app.get_json("/orders/OD-CSV-3").await.0, 200);
    b.finish().await;
}

#[tokio::test]
async fn an_import_states_its_limit_and_reports_bad_rows_at_the_top_in_the_commands_words() {
    import_reports_like_the_command(Window::Desktop, "import").await;
}

#[tokio::test]
async fn on_a_phone_an_import_reports_bad_rows_at_the_top_too() {
    import_reports_like_the_command(Window::Phone, "import-phone").await;
}
