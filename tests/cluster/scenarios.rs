//! The multi-instance scenarios of the PostgreSQL issue.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{CUSTOMER_E164, Call};
use crate::instance::{Instance, completed, fresh_database, keyed, postgres};

/// The support desk of the outage test (`PINBRIDGE_FALLBACK_NUMBER`).
const DESK: &str = "08045678901";
const DESK_E164: &str = "+918045678901";

/// What the caller of one Exotel PIN call ended up hearing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    /// Bridged to the order's customer.
    Customer,
    /// Bridged to the fallback number.
    Desk,
    /// Connect dialled no one (sorry).
    NoOne,
    /// Anything else: a wrong number, an error status, no answer while Exotel waited.
    Wrong(String),
}

fn heard(status: u16, body: &str) -> Heard {
    match (status, body.trim()) {
        (200, CUSTOMER_E164) => Heard::Customer,
        (200, DESK_E164) => Heard::Desk,
        (200, "") => Heard::NoOne,
        (status, body) => Heard::Wrong(format!("{status} {body}")),
    }
}

/// How long Exotel waits for an applet's answer before it gives up on it, falling to the
/// flow's fallback URL or dropping the caller: 5 s, as integrators measured it (Exotel
/// documents no number; `reference/exotel.md` §3). An answer later than that reaches no
/// caller, however right it is.
const EXOTEL_WAITS: Duration = Duration::from_secs(5);

/// One Exotel PIN call: greeting, gather, check-pin (a wrong PIN first when `wrong_first`,
/// then gather again), check-pin with the right PIN, connect, call-end. Step `i` goes to
/// `pick(i)`; with `end_on_connects_instance`, the call-end goes where connect went and does
/// not report the number dialled (so only that instance knows it). Returns what the caller
/// heard: a step not answered within [`EXOTEL_WAITS`] is abandoned, as Exotel abandons it.
async fn pin_call(
    pick: impl Fn(usize) -> Arc<Instance>,
    call: &Call,
    pin: &str,
    wrong_first: bool,
    end_on_connects_instance: bool,
) -> Heard {
    let mut step = 0;
    let mut send = async |applet: &str, query: String| {
        if applet == "call-end" && end_on_connects_instance {
            step -= 1;
        }
        let instance = pick(step);
        step += 1;
        tokio::time::timeout(EXOTEL_WAITS, instance.exotel(applet, &query))
            .await
            .map_err(|_| Heard::Wrong(format!("{applet}: no answer while Exotel waited")))
    };
    let steps = async {
        let (status, _) = send("greeting", call.query(None)).await?;
        if status != 200 {
            return Err(Heard::Wrong(format!("greeting {status}")));
        }
        let (status, _) = send("gather", call.query(None)).await?;
        if status != 200 {
            return Err(Heard::Wrong(format!("gather {status}")));
        }
        if wrong_first {
            // 302 asks again; 200 (the fallback while storage fails) goes on to Connect.
            let (status, _) = send("check-pin", keyed(call, "999")).await?;
            if status == 302 {
                send("gather", call.query(None)).await?;
            } else if status != 200 {
                return Err(Heard::Wrong(format!("check-pin {status}")));
            }
        }
        let (status, _) = send("check-pin", keyed(call, pin)).await?;
        if status != 200 {
            return Err(Heard::Wrong(format!("check-pin {status}")));
        }
        let (status, body) = send("connect", keyed(call, pin)).await?;
        let result = heard(status, &body);
        let dialled = if end_on_connects_instance {
            ""
        } else {
            body.trim()
        };
        let (status, _) = send("call-end", completed(call, dialled)).await?;
        if status != 200 {
            return Err(Heard::Wrong(format!("call-end {status}")));
        }
        Ok(result)
    };
    steps.await.unwrap_or_else(|wrong| wrong)
}

/// Step `i` on `a` when `i` is even, on `b` when odd.
fn alternate(a: &Arc<Instance>, b: &Arc<Instance>) -> impl Fn(usize) -> Arc<Instance> {
    let (a, b) = (Arc::clone(a), Arc::clone(b));
    move |i| Arc::clone(if i % 2 == 0 { &a } else { &b })
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it"]
async fn a_call_whose_steps_alternate_between_instances_completes_as_on_one() {
    let db = fresh_database().await;
    let a = Arc::new(Instance::start("a", &db, &[]));
    let b = Arc::new(Instance::start("b", &db, &[]));
    a.create_order("OD-568", "568").await;

    for n in 0..8 {
        let sid = format!("alt{n:02}");
        let wrong_first = n % 2 == 1;
        let result = pin_call(
            alternate(&a, &b),
            &Call::new(&sid),
            "568",
            wrong_first,
            false,
        )
        .await;
        assert_eq!(result, Heard::Customer, "{sid}");
        // The record, read through the instance that did not take the call-end.
        let record = a.call_record(&sid).await.expect("a call record");
        assert_eq!(record["outcome"], "connected", "{record}");
        assert_eq!(record["destination"], CUSTOMER_E164, "{record}");
        assert_eq!(
            record["pin_attempts"],
            if wrong_first { 2 } else { 1 },
            "{record}"
        );
    }

    // The attempts of one call add up across instances: the third wrong PIN ends the PIN
    // flow wherever the first two were keyed.
    let call = Call::new("alt-wrong");
    let order = [&a, &b, &a];
    a.exotel("greeting", &call.query(None)).await;
    for (i, instance) in order.iter().enumerate() {
        let other = if i % 2 == 0 { &b } else { &a };
        other.exotel("gather", &call.query(None)).await;
        let (status, _) = instance.exotel("check-pin", &keyed(&call, "111")).await;
        let expected = if i < 2 { 302 } else { 200 };
        assert_eq!(status, expected, "wrong PIN {} of 3", i + 1);
    }
    let (status, body) = b.exotel("connect", &call.query(None)).await;
    assert_eq!(heard(status, &body), Heard::NoOne);
    let record = b.call_record("alt-wrong").await.unwrap();
    assert_eq!(record["pin_attempts"], 3, "{record}");
    assert_eq!(record["destination"], Value::Null, "{record}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it"]
async fn an_instance_killed_between_two_steps_leaves_the_call_to_another() {
    let db = fresh_database().await;
    let a = Instance::start("a", &db, &[]);
    let b = Instance::start("b", &db, &[]);
    a.create_order("OD-568", "568").await;

    // Call 1 got its PIN accepted on a; call 2 keyed a wrong PIN on a.
    let one = Call::new("kill-one");
    let two = Call::new("kill-two");
    for call in [&one, &two] {
        assert_eq!(a.exotel("greeting", &call.query(None)).await.0, 200);
        assert_eq!(a.exotel("gather", &call.query(None)).await.0, 200);
    }
    assert_eq!(a.exotel("check-pin", &keyed(&one, "568")).await.0, 200);
    assert_eq!(a.exotel("check-pin", &keyed(&two, "999")).await.0, 302);

    a.kill();

    // Call 1 is connected by b; call 2 goes on with its second attempt on b.
    let (status, body) = b.exotel("connect", &one.query(None)).await;
    assert_eq!(heard(status, &body), Heard::Customer);
    assert_eq!(
        b.exotel("call-end", &completed(&one, CUSTOMER_E164))
            .await
            .0,
        200
    );

    let (status, gather) = b.exotel("gather", &two.query(None)).await;
    assert_eq!(status, 200);
    assert!(
        gather.contains("not recognised") && gather.contains("2 attempts left"),
        "b says the first PIN was wrong: {gather}"
    );
    assert_eq!(b.exotel("check-pin", &keyed(&two, "568")).await.0, 200);
    let (status, body) = b.exotel("connect", &two.query(None)).await;
    assert_eq!(heard(status, &body), Heard::Customer);
    assert_eq!(
        b.exotel("call-end", &completed(&two, CUSTOMER_E164))
            .await
            .0,
        200
    );

    for (sid, attempts) in [("kill-one", 1), ("kill-two", 2)] {
        let record = b.call_record(sid).await.expect("a call record");
        assert_eq!(record["outcome"], "connected", "{record}");
        assert_eq!(record["pin_attempts"], attempts, "{record}");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it"]
async fn two_instances_allocating_at_once_never_break_the_pool_rule() {
    let db = fresh_database().await;
    let a = Arc::new(Instance::start("a", &db, &[]));
    let b = Arc::new(Instance::start("b", &db, &[]));
    let pool = ["07314853246", "08088919888", "07314853247"];
    for number in pool {
        let (status, body) = a
            .post_json(
                "/virtual-numbers",
                json!({"number": number, "provider": "exotel"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // A rider books with twelve drivers at once, half through each instance, while four
    // other riders book with the same drivers.
    let rider = "07709562799";
    let drivers: Vec<String> = (0..12).map(|i| format!("0981234{i:04}")).collect();
    let mut requests = Vec::new();
    for (i, driver) in drivers.iter().enumerate() {
        requests.push((rider.to_owned(), driver.clone(), i % 2));
        if i < 8 {
            requests.push((format!("0770956{i:04}"), driver.clone(), (i + 1) % 2));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (party_a, party_b, via) in requests {
        let instance = Arc::clone(if via == 0 { &a } else { &b });
        tasks.spawn(async move {
            let (status, body) = instance
                .post_json("/bookings", json!({"party_a": party_a, "party_b": party_b}))
                .await;
            (party_a, status, body)
        });
    }
    let mut rider_numbers = Vec::new();
    let (mut created, mut exhausted) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (party_a, status, body) = done.unwrap();
        match status {
            201 => {
                created += 1;
                if party_a == rider {
                    rider_numbers.push(body["virtual_number"].as_str().unwrap().to_owned());
                }
            }
            409 => {
                assert_eq!(body["error"]["code"], "pool_exhausted", "{body}");
                exhausted += 1;
            }
            other => panic!("booking answered {other}: {body}"),
        }
    }
    assert_eq!(
        rider_numbers.len(),
        pool.len(),
        "the rider holds each number once: {rider_numbers:?}"
    );
    let distinct: HashSet<_> = rider_numbers.iter().collect();
    assert_eq!(distinct.len(), pool.len(), "{rider_numbers:?}");
    assert_eq!(created + exhausted, 20);

    // The rule, read from the database: no party twice on one number among active bookings.
    sqlx::any::install_default_drivers();
    let conn = sqlx::AnyPool::connect(&db).await.unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "select virtual_number, party_a, party_b from bookings where closed_at is null",
    )
    .fetch_all(&conn)
    .await
    .unwrap();
    conn.close().await;
    assert_eq!(rows.len(), created);
    let mut seen = HashSet::new();
    for (number, party_a, party_b) in &rows {
        assert!(
            seen.insert((number.clone(), party_a.clone())),
            "{party_a} twice on {number}"
        );
        assert!(
            seen.insert((number.clone(), party_b.clone())),
            "{party_b} twice on {number}"
        );
    }
}

/// Books each pair of `pairs` at once, alternately through `a` and `b`: (status, body) in
/// the pairs' order.
async fn book_at_once(
    a: &Arc<Instance>,
    b: &Arc<Instance>,
    pairs: &[(String, String)],
) -> Vec<(u16, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (party_a, party_b)) in pairs.iter().cloned().enumerate() {
        let instance = Arc::clone(if i % 2 == 0 { a } else { b });
        tasks.spawn(async move {
            let body = json!({"party_a": party_a, "party_b": party_b});
            (i, instance.post_json("/bookings", body).await)
        });
    }
    let mut answers = vec![(0, Value::Null); pairs.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, answer) = done.unwrap();
        answers[i] = answer;
    }
    answers
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it"]
async fn two_instances_allocating_at_once_keep_country_and_cool_off() {
    let db = fresh_database().await;
    let codes = [("PINBRIDGE_ALLOWED_COUNTRY_CODES", "91,1")];
    let a = Arc::new(Instance::start("a", &db, &codes));
    let b = Arc::new(Instance::start("b", &db, &codes));
    // The US number comes first in number order: only the country rule keeps it from Indian
    // bookings.
    let pool = [
        ("+12015550124", "twilio"),
        ("+917314850001", "exotel"),
        ("+917314850002", "exotel"),
    ];
    for (number, provider) in pool {
        let (status, body) = a
            .post_json(
                "/virtual-numbers",
                json!({"number": number, "provider": provider}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let indian = |n: &str| n.starts_with("+91");
    let pairs: Vec<(String, String)> = (0..8)
        .map(|i| (format!("0770956{i:04}"), format!("0981234{i:04}")))
        .collect();

    let first = book_at_once(&a, &b, &pairs).await;
    let mut before = Vec::new();
    for (status, body) in &first {
        assert_eq!(*status, 201, "{body}");
        let number = body["virtual_number"].as_str().unwrap().to_owned();
        assert!(indian(&number), "an Indian booking got {number}");
        assert_eq!(
            a.delete(&format!(
                "/bookings/{}",
                body["booking_id"].as_str().unwrap()
            ))
            .await,
            200
        );
        before.push(number);
    }

    // Booked again within the cool-off, each pair gets the other Indian number.
    let second = book_at_once(&a, &b, &pairs).await;
    for ((status, body), was) in second.iter().zip(&before) {
        assert_eq!(*status, 201, "{body}");
        let number = body["virtual_number"].as_str().unwrap();
        assert!(indian(number), "an Indian booking got {number}");
        assert_ne!(
            number, was,
            "the same pair got the same number within the cool-off"
        );
        assert_eq!(
            b.delete(&format!(
                "/bookings/{}",
                body["booking_id"].as_str().unwrap()
            ))
            .await,
            200
        );
    }

    // Both Indian numbers cool off for every pair now: refused, never the US number.
    for (status, body) in book_at_once(&a, &b, &pairs).await {
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "pool_exhausted", "{body}");
    }

    // One rider with four new drivers at once: each Indian number once, the rest refused.
    let rider = "07709569999";
    let many: Vec<(String, String)> = (0..4)
        .map(|i| (rider.to_owned(), format!("0981239{i:04}")))
        .collect();
    let answers = book_at_once(&a, &b, &many).await;
    let mut held: Vec<&str> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| body["virtual_number"].as_str().unwrap())
        .collect();
    held.sort_unstable();
    assert_eq!(held, ["+917314850001", "+917314850002"], "{answers:?}");
}

/// What Exotel's Greeting applet on `instance` speaks to a new call `sid`.
async fn greeting(instance: &Instance, sid: &str) -> String {
    instance
        .exotel("greeting", &Call::new(sid).query(None))
        .await
        .1
}

/// Saves the `welcome` greeting (English, every number) as `body` through the admin UI of
/// `instance`; returns the session cookie.
async fn save_welcome(instance: &Instance, body: &str) -> String {
    let (cookie, csrf) = admin_session(instance).await;
    let saved = instance
        .client
        .post(format!("{}/admin/greetings/edit", instance.address))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("prompt", "welcome"),
            ("kind", "text"),
            ("body", body),
            ("language", "en"),
            ("virtual_number", ""),
            ("action", "save"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    cookie
}

/// What `instance` greets new calls with once it says `expected`, or after a second: a new
/// call (CallSid `sid`, then `sid` with a count) every 50 ms until then.
async fn greeting_within_a_second(instance: &Instance, sid: &str, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut n = 0;
    loop {
        let heard = greeting(instance, &format!("{sid}-{n}")).await;
        if heard == expected || Instant::now() >= deadline {
            return heard;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in to the admin UI of `instance`: (cookie, CSRF token of the greetings page).
async fn admin_session(instance: &Instance) -> (String, String) {
    let cookie = crate::common::sign_in_at(
        &instance.client,
        &instance.address,
        crate::common::ADMIN_TOKEN,
    )
    .await;
    let page = instance
        .client
        .get(format!("{}/admin/greetings", instance.address))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, crate::common::admin_csrf(&page))
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it"]
async fn a_change_on_one_instance_takes_effect_on_the_other_within_a_second() {
    let db = fresh_database().await;
    let a = Instance::start("a", &db, &[]);
    let b = Instance::start("b", &db, &[]);
    a.create_order("OD-568", "568").await;

    // Orders are read from the database on every call: a deactivation holds at once.
    let before = Call::new("inv-before");
    assert_eq!(b.exotel("check-pin", &keyed(&before, "568")).await.0, 200);
    assert_eq!(a.delete("/orders/OD-568").await, 200);
    let after = Call::new("inv-after");
    b.exotel("greeting", &after.query(None)).await;
    assert_eq!(
        b.exotel("check-pin", &keyed(&after, "568")).await.0,
        302,
        "the deactivated order's PIN is refused on the other instance"
    );

    // Greetings are held in memory and reloaded when an instance announces an edit.
    assert_eq!(greeting(&b, "g0").await, "Welcome to Swift Couriers.");
    let cookie = save_welcome(&a, "Namaste from {{ brand }}.").await;
    assert_eq!(greeting(&a, "g1").await, "Namaste from Swift Couriers.");
    // b reloads when PostgreSQL passes on a's announcement (LISTEN/NOTIFY), not on a timer.
    assert_eq!(
        greeting_within_a_second(&b, "g2", "Namaste from Swift Couriers.").await,
        "Namaste from Swift Couriers.",
        "within a second of the edit on a, b speaks it"
    );

    // The admin session signed in on a is good on b: sessions live in the database.
    let page = b
        .client
        .get(format!("{}/admin/greetings", b.address))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it"]
async fn calls_survive_the_database_stopping_and_starting_under_traffic() {
    let db = fresh_database().await;
    let settings = [
        ("PINBRIDGE_FALLBACK_NUMBER", DESK),
        ("PINBRIDGE_WEBHOOK_TIMEOUT", "2s"),
        ("PINBRIDGE_DATABASE_ACQUIRE_TIMEOUT", "1s"),
        // Every caller is new and one call in five keys a wrong PIN first, against one active
        // 3-digit PIN: the default guessing budget would refuse them after about 200 calls.
        ("PINBRIDGE_PIN_GUESSING_BUDGET", "1000"),
    ];
    let a = Arc::new(Instance::start("a", &db, &settings));
    let b = Arc::new(Instance::start("b", &db, &settings));
    a.create_order("OD-568", "568").await;

    // Two callers at a time, each call's steps alternating between the instances.
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let mut callers = tokio::task::JoinSet::new();
    for lane in 0..2 {
        let (a, b, stop, counter) = (a.clone(), b.clone(), stop.clone(), counter.clone());
        callers.spawn(async move {
            let mut calls = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sid = format!("outage{n:04}");
                let pick = if lane == 0 {
                    alternate(&a, &b)
                } else {
                    alternate(&b, &a)
                };
                // Callers of their own: one caller's wrong PINs add up to a lockout.
                let call = Call {
                    sid: sid.clone(),
                    from: format!("0770956{n:04}"),
                };
                let result = pin_call(pick, &call, "568", n % 5 == 4, n % 2 == 0).await;
                calls.push((sid, result));
            }
            calls
        });
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    postgres("stop");
    let stopped = Instant::now();
    // Within the outage: not ready, still alive, on both.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for instance in [&a, &b] {
        assert_eq!(instance.probe("/readyz").await, 503, "{}", instance.name);
        assert_eq!(instance.probe("/healthz").await, 200, "{}", instance.name);
    }
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed())).await;
    postgres("start");
    // Back without a restart.
    let back = Instant::now();
    for instance in [&a, &b] {
        while instance.probe("/readyz").await != 200 {
            assert!(
                back.elapsed() < Duration::from_secs(30),
                "{} ready again",
                instance.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = Vec::new();
    while let Some(lane) = callers.join_next().await {
        calls.extend(lane.unwrap());
    }

    // What the callers heard: the customer, or the desk while the database was away.
    let count = |h: Heard| calls.iter().filter(|c| c.1 == h).count();
    let (customer, desk) = (count(Heard::Customer), count(Heard::Desk));
    eprintln!(
        "{} calls: {customer} to the customer, {desk} to the desk",
        calls.len()
    );
    // Every step was answered while Exotel waited (PINBRIDGE_WEBHOOK_TIMEOUT, 2 s, makes a
    // step that can not reach the database answer the desk well within it), and the answer
    // reached someone the call was meant for.
    for (sid, result) in &calls {
        assert!(
            matches!(result, Heard::Customer | Heard::Desk),
            "{sid} heard {result:?}"
        );
    }
    assert!(desk > 0, "the outage reached some calls");
    let last = &calls.iter().max_by_key(|c| c.0.clone()).unwrap().1;
    assert_eq!(*last, Heard::Customer, "service resumed");

    // Nothing recorded is lost: every call has its record once the call ends kept during the
    // outage are written, and each names whom the caller really reached.
    let deadline = Instant::now() + Duration::from_secs(15);
    for (sid, result) in &calls {
        let record = loop {
            match b.call_record(sid).await {
                Some(r) if r["outcome"] != "in_progress" => break r,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "{sid}: no final record: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        if *result == Heard::Customer {
            assert_eq!(record["destination"], CUSTOMER_E164, "{sid}: {record}");
            assert_eq!(record["outcome"], "connected", "{sid}: {record}");
        } else {
            assert_eq!(record["route"], "fallback", "{sid}: {record}");
            assert_eq!(record["destination"], DESK_E164, "{sid}: {record}");
        }
    }

    // The connection that listens for edits came back too: an edit on a is heard on b.
    save_welcome(&a, "Back again at {{ brand }}.").await;
    assert_eq!(
        greeting_within_a_second(&b, "after-outage", "Back again at Swift Couriers.").await,
        "Back again at Swift Couriers.",
        "b hears an edit made on a after the database came back"
    );
}
