//! The call session against a real SQLite file: a step's facts, its writes, where a wrong PIN
//! is counted, Exotel's Connect with `digits`, and the answers of a step that can not run.

use std::time::Duration;

use super::*;
use crate::call::flow::{Prompt, Route};
use crate::domain::{NewOrder, Pin, PinChoice};
use crate::storage::PoolSettings;

const PIN: &str = "4821";
const CUSTOMER: &str = "+919812345678";
const COURIER: &str = "+919800000001";
const VIRTUAL_NUMBER: &str = "+918047000000";

fn config(cache_call_state: bool) -> SessionConfig {
    SessionConfig {
        policy: Policy {
            max_attempts: 3,
            pin_min_len: 4,
            pin_max_len: 6,
            input_timeout_secs: 6,
        },
        region: Region::parse("IN").unwrap(),
        state_ttl: Duration::from_secs(3600),
        state_capacity: 1000,
        cache_call_state,
        callback_window: Duration::from_secs(3600),
        limits: Limits {
            caller_max_failures: 5,
            window: Duration::from_secs(3600),
            budget: Budget::new(1e9, Duration::from_secs(3600)),
            known_window: Duration::from_secs(3600),
        },
        allowed_country_codes: vec![91],
        pin_counts_ttl: PIN_COUNTS_TTL,
        webhook_timeout: Duration::from_secs(5),
        fallback_number: Some(PhoneNumber::from_e164("+918000000000").unwrap()),
    }
}

/// Admits an active order `order_id` (PIN `pin`, customer [`CUSTOMER`], on `virtual_number`
/// or valid on every number) as the admin API does.
async fn admit(db: &Db, order_id: &str, pin: &str, virtual_number: Option<&str>) {
    let order = NewOrder {
        order_id: order_id.to_owned(),
        customer: PhoneNumber::from_e164(CUSTOMER).unwrap(),
        pin: PinChoice::Given(Pin::parse(pin, 4, 6).unwrap()),
        virtual_number: virtual_number.map(|vn| PhoneNumber::from_e164(vn).unwrap()),
        expires_at_ms: now_ms() + 3_600_000,
        allowed_callers: vec![],
    };
    crate::import::admission::create(db, &order, crate::import::admission::Density(0.5), now_ms())
        .await
        .unwrap();
}

/// Sessions over a fresh SQLite file in `dir` with one active order (PIN [`PIN`], customer
/// [`CUSTOMER`], on [`VIRTUAL_NUMBER`]).
async fn sessions(dir: &tempfile::TempDir, cache_call_state: bool) -> (Sessions, Db) {
    let url = format!("sqlite://{}/session.db", dir.path().display());
    let db = Db::connect(&url, &PoolSettings::single()).await.unwrap();
    db.migrate().await.unwrap();
    admit(&db, "order-1", PIN, Some(VIRTUAL_NUMBER)).await;
    let writer = Writer::start(db.clone());
    let events = Events::new(db.clone(), None, None).unwrap();
    let sessions = Sessions::new(db.clone(), writer, events, None, config(cache_call_state));
    (sessions, db)
}

fn call(sessions: &Sessions, sid: &str) -> Inbound {
    sessions
        .identify("exotel", Some(sid), Some(COURIER), Some(VIRTUAL_NUMBER))
        .unwrap()
}

fn digits(sessions: &Sessions, keyed: &str) -> CallEvent {
    sessions.digits_event(keyed)
}

#[tokio::test]
async fn a_call_is_identified_by_a_well_formed_call_sid_and_keeps_unparsed_numbers_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    assert!(
        sessions
            .identify("exotel", Some("bad sid\n"), None, None)
            .is_none()
    );
    assert!(sessions.identify("exotel", None, None, None).is_none());
    let call = sessions
        .identify(
            "exotel",
            Some("sid-1"),
            Some("09812345678"),
            Some("not a number"),
        )
        .unwrap();
    assert_eq!(call.caller.as_ref().map(|c| c.as_ref()), Some(CUSTOMER));
    assert_eq!(call.virtual_number, None);
    assert_eq!(call.virtual_number_raw.as_deref(), Some("not a number"));
    assert_eq!(call.virtual_number_key(), "unknown");
    assert_eq!(call.key(), "exotel:sid-1");
}

#[tokio::test]
async fn keyed_digits_drop_the_finishing_hash_and_nothing_keyed_is_no_input() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    assert_eq!(digits(&sessions, "  "), CallEvent::NoInput);
    assert_eq!(digits(&sessions, "#"), CallEvent::NoInput);
    assert_eq!(
        digits(&sessions, " 4821# "),
        CallEvent::Digits {
            pin: Some(Pin::parse(PIN, 4, 6).unwrap())
        }
    );
    assert_eq!(
        digits(&sessions, "12"),
        CallEvent::Digits { pin: None },
        "too short to be a PIN, still an entry"
    );
}

/// The whole PIN call, with each step's state read back from the database by a second
/// process that does not trust its cache (as another instance would).
async fn the_pin_call_bridges_to_the_customer(cache_call_state: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, db) = sessions(&dir, cache_call_state).await;
    let other = Sessions::new(
        db.clone(),
        Writer::start(db.clone()),
        Events::new(db.clone(), None, None).unwrap(),
        None,
        config(false),
    );
    let call = call(&sessions, "sid-pin");
    let welcome = sessions.step(&call, CallEvent::Started).await.unwrap();
    assert!(matches!(
        welcome,
        Decision::Greet {
            prompt: Prompt::Welcome
        }
    ));
    let ask = sessions.step(&call, CallEvent::PromptNeeded).await.unwrap();
    assert!(matches!(ask, Decision::AskForPin { .. }), "{ask:?}");
    let found = sessions.step(&call, digits(&sessions, PIN)).await.unwrap();
    assert_eq!(
        other.state(&call).await.unwrap().phase,
        Phase::Resolved {
            order_id: "order-1".to_owned()
        }
    );
    assert!(
        !matches!(found, Decision::Goodbye { .. }),
        "a right PIN goes on to Connect: {found:?}"
    );
    let dial = other.step(&call, CallEvent::DialNeeded).await.unwrap();
    match dial {
        Decision::Bridge {
            to,
            caller_id,
            route,
            ..
        } => {
            assert_eq!(to.as_ref(), CUSTOMER);
            assert_eq!(caller_id.as_ref().map(|c| c.as_ref()), Some(VIRTUAL_NUMBER));
            assert_eq!(
                route,
                Route::Pin {
                    order_id: "order-1".to_owned()
                }
            );
        }
        other => panic!("expected a bridge, got {other:?}"),
    }
}

#[tokio::test]
async fn the_pin_call_bridges_to_the_customer_with_the_call_state_cached() {
    the_pin_call_bridges_to_the_customer(true).await;
}

#[tokio::test]
async fn the_pin_call_bridges_to_the_customer_reading_the_call_state_from_the_database() {
    the_pin_call_bridges_to_the_customer(false).await;
}

#[tokio::test]
async fn a_wrong_pin_is_counted_against_the_caller_and_in_the_call_state() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    let call = call(&sessions, "sid-wrong");
    sessions.step(&call, CallEvent::Started).await.unwrap();
    let again = sessions
        .step(&call, digits(&sessions, "9999"))
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            Decision::AskForPin {
                prompt: Prompt::WrongPin { .. },
                ..
            }
        ),
        "{again:?}"
    );
    let state = sessions.state(&call).await.unwrap();
    assert_eq!(state.attempts, 1);
    // The count is the caller's: a second call from the same phone starts from it.
    let query = sessions.pin_query(&call, "0000");
    let lookup = sessions
        .writer
        .find_active_by_pin(&sessions.db, query)
        .await
        .unwrap();
    assert_eq!(lookup.caller_failures, 1);
    // Digits that are not a PIN cost an attempt as well.
    sessions.step(&call, digits(&sessions, "12")).await.unwrap();
    assert_eq!(sessions.state(&call).await.unwrap().attempts, 2);
}

#[tokio::test]
async fn a_locked_out_caller_gets_the_wrong_pin_answer_even_for_the_right_pin() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    // Five wrong PINs over two calls (three attempts each), then one more: locked.
    for (sid, wrong) in [("sid-a", 3), ("sid-b", 3)] {
        let call = call(&sessions, sid);
        sessions.step(&call, CallEvent::Started).await.unwrap();
        for _ in 0..wrong {
            sessions
                .step(&call, digits(&sessions, "9999"))
                .await
                .unwrap();
        }
    }
    let call = call(&sessions, "sid-c");
    sessions.step(&call, CallEvent::Started).await.unwrap();
    let refused = sessions.step(&call, digits(&sessions, PIN)).await.unwrap();
    assert!(
        matches!(
            refused,
            Decision::AskForPin {
                prompt: Prompt::WrongPin { .. },
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(
        sessions.state(&call).await.unwrap().phase,
        Phase::CollectingPin
    );
}

#[tokio::test]
async fn exotels_connect_with_digits_checks_them_then_dials_in_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    let call = call(&sessions, "sid-recipe");
    sessions.step(&call, CallEvent::Started).await.unwrap();
    let dial = sessions.dial("connect", Some(&call), Some(PIN)).await;
    assert!(
        matches!(&dial, Decision::Bridge { to, .. } if to.as_ref() == CUSTOMER),
        "{dial:?}"
    );
    assert_eq!(sessions.state(&call).await.unwrap().attempts, 1);
    // Delivered again, the digits are not checked twice: the call is resolved already.
    let again = sessions.dial("connect", Some(&call), Some(PIN)).await;
    assert_eq!(again, dial);
    assert_eq!(sessions.state(&call).await.unwrap().attempts, 1);
}

#[tokio::test]
async fn exotels_connect_with_digits_works_for_a_call_not_seen_before() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    let call = call(&sessions, "sid-connect-first");
    let dial = sessions.dial("connect", Some(&call), Some(PIN)).await;
    assert!(
        matches!(&dial, Decision::Bridge { to, .. } if to.as_ref() == CUSTOMER),
        "{dial:?}"
    );
}

#[tokio::test]
async fn exotels_connect_with_wrong_digits_dials_no_one_and_the_goodbye_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    let call = call(&sessions, "sid-recipe-wrong");
    sessions.step(&call, CallEvent::Started).await.unwrap();
    let dial = sessions.dial("connect", Some(&call), Some("9999")).await;
    assert!(matches!(dial, Decision::Goodbye { .. }), "{dial:?}");
    assert_eq!(sessions.state(&call).await.unwrap().attempts, 1);
    let farewell = sessions.farewell("goodbye", Some(&call)).await;
    assert_ne!(farewell, Prompt::Welcome);
    assert_eq!(
        sessions.farewell("goodbye", None).await,
        Prompt::NoOneToDial
    );
}

#[tokio::test]
async fn a_request_without_a_usable_call_gets_its_fallback_and_storage_failure_the_desk() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    let fallback = sorry();
    let answered = sessions
        .answer("greeting", None, CallEvent::Started, fallback.clone())
        .await;
    assert_eq!(answered, fallback);
    assert_eq!(sessions.unavailable(None), sorry());
    let call = call(&sessions, "sid-desk");
    match sessions.unavailable(Some(&call)) {
        Decision::Bridge {
            to,
            caller_id,
            route,
            ..
        } => {
            assert_eq!(to.as_ref(), "+918000000000");
            assert_eq!(caller_id.as_ref().map(|c| c.as_ref()), Some(VIRTUAL_NUMBER));
            assert_eq!(route, Route::Fallback);
        }
        other => panic!("expected the desk, got {other:?}"),
    }
}

#[tokio::test]
async fn a_call_end_during_an_outage_waits_and_is_written_when_the_database_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, _db) = sessions(&dir, true).await;
    let call = call(&sessions, "sid-end");
    let end = storage::calls::CallEnd {
        dial_status: None,
        dial_call_status: None,
        call_type: Some("call-attempt".to_owned()),
        dial_secs: None,
        talk_secs: None,
        recording_url: None,
        legs_json: None,
        provider_start_time: None,
        dialled: None,
        fallback_to: None,
        outcome: None,
    };
    // Kept as if the write had failed, then flushed: the record exists with its outcome.
    sessions.pending.push(call.clone(), end, now_ms());
    assert_eq!(sessions.pending_ends(), 1);
    assert_eq!(sessions.flush_pending_ends().await, 1);
    assert_eq!(sessions.pending_ends(), 0);
    let record = storage::calls::get(&sessions.db, "exotel", "sid-end")
        .await
        .unwrap()
        .expect("the call end was written");
    assert_ne!(record.outcome, crate::domain::Outcome::InProgress);
}

#[tokio::test]
async fn a_guess_never_waits_for_a_recount_of_active_pins_and_new_orders_are_counted_soon() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, db) = sessions(&dir, true).await;
    // Counts older than nothing: every guess starts a recount (one at a time).
    let sessions = Sessions {
        config: Arc::new(SessionConfig {
            pin_counts_ttl: Duration::ZERO,
            ..config(true)
        }),
        ..sessions
    };
    let call = call(&sessions, "sid-counts");
    // The first guess counts: one active 4-digit PIN on the number.
    assert_eq!(sessions.reachable(&call, 4).await.unwrap().on_number(), 1);
    admit(&db, "order-2", "5555", Some(VIRTUAL_NUMBER)).await;
    // The next guess answers from the kept count and starts a recount, which the guesses
    // after it see.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = sessions.reachable(&call, 4).await.unwrap().on_number();
    assert_eq!(seen, 1, "answered from the kept count");
    while seen != 2 && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
        seen = sessions.reachable(&call, 4).await.unwrap().on_number();
    }
    assert_eq!(seen, 2, "the recount took the new order in");
}

#[tokio::test]
async fn the_counts_made_at_start_are_those_a_guess_would_make() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, db) = sessions(&dir, true).await;
    assert!(sessions.pin_counts.get(VIRTUAL_NUMBER).is_none());
    sessions.count_all_pins().await;
    let kept = sessions
        .pin_counts
        .get(VIRTUAL_NUMBER)
        .expect("the number's count is kept");
    let counted = storage::orders::active_pin_counts(&db, Some(VIRTUAL_NUMBER), now_ms())
        .await
        .unwrap();
    assert_eq!(*kept.counts(), counted);
    assert_eq!(counted.of_len(4), 1);
}

#[tokio::test]
async fn a_count_of_no_pins_is_kept_a_second_then_the_first_order_weighs() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, db) = sessions(&dir, true).await;
    // The seeded order names its number: none is valid on every number.
    let call = call(&sessions, "sid-nothing");
    assert_eq!(sessions.reachable(&call, 4).await.unwrap().everywhere(), 0);
    let kept = sessions
        .pin_counts
        .get(crate::storage::attempts::EVERY_NUMBER)
        .expect("a count of nothing is kept too: no read at every guess");
    admit(&db, "order-everywhere", "7777", None).await;
    // Within the second the count stands; after it, the guess counts again and weighs the
    // new order.
    let fresh_until = Duration::from_millis(
        u64::try_from(kept.at() + super::pin::NOTHING_COUNTED_FOR - now_ms()).unwrap_or(0),
    );
    if !fresh_until.is_zero() {
        assert_eq!(sessions.reachable(&call, 4).await.unwrap().everywhere(), 0);
    }
    tokio::time::sleep(fresh_until + Duration::from_millis(10)).await;
    assert_eq!(sessions.reachable(&call, 4).await.unwrap().everywhere(), 1);
}
