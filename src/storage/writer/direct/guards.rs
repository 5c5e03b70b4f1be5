//! What guards a call step, on the writer's connection: a wrong PIN counted against the
//! caller and spent from the guessing budgets, the check-pin lookup with those counts, and a
//! signed request's one-time token claimed.

use super::bind::{execute, query_row};
use crate::storage::Error;
use crate::storage::attempts::{self, Budget, Counting, Spent, Weight};
use crate::storage::call_options::StoredOptions;
use crate::storage::orders::{self, PinLookup, PinQuery, StoredOrder};

/// [`attempts::record_failure`] on `conn`.
#[allow(clippy::too_many_arguments)]
pub fn record_failure(
    conn: &rusqlite::Connection,
    caller: &str,
    virtual_number: &str,
    now_ms: i64,
    weight: Weight,
    budget: Budget,
    counting: Counting,
) -> Result<Spent, Error> {
    execute(
        conn,
        attempts::RECORD_FAILURE,
        &[
            &caller,
            &virtual_number,
            &now_ms,
            &weight.number,
            &weight.every,
        ],
    )?;
    let spend = |scope: &str, amount: i64| {
        if amount <= 0 {
            return Ok(0);
        }
        query_row(
            conn,
            attempts::SPEND.as_str(),
            &[&scope, &amount, &now_ms, &budget.refill_per_day],
            |row| row.get(0),
        )
    };
    let number = spend(virtual_number, weight.number)?;
    let every = spend(attempts::EVERY_NUMBER, weight.every)?;
    let by_caller = query_row(
        conn,
        attempts::CALLER_FAILURES,
        &[&caller, &counting.since, &counting.caller_cap],
        |row| row.get(0),
    )?;
    Ok(Spent {
        by_caller,
        number,
        every,
    })
}

/// [`orders::find_active_by_pin`] on `conn`.
pub fn find_active_by_pin(conn: &rusqlite::Connection, q: &PinQuery) -> Result<PinLookup, Error> {
    query_row(
        conn,
        &orders::FIND_BY_PIN,
        &[
            &q.pin,
            &q.now,
            &q.virtual_number,
            &q.caller_key,
            &q.counting.since,
            &q.number_key,
            &q.counting.caller_cap,
            &q.budget.refill_per_day,
            &q.budget.capacity,
            &q.caller,
            &q.known_since,
        ],
        // By position, in the statement's order: the counts and the budgets, then the order's
        // columns. `the_pin_lookup_finds_what_the_pools_finds` reads the same lookup by name
        // through the pool.
        |row| {
            let order_id: Option<String> = row.get(4)?;
            let order = match order_id {
                None => None,
                Some(order_id) => Some(StoredOrder {
                    order_id,
                    customer_number: row.get(5)?,
                    pin: row.get(6)?,
                    virtual_number: row.get(7)?,
                    created_at: row.get(8)?,
                    expires_at: row.get(9)?,
                    deactivated_at: row.get(10)?,
                    allowed_callers: row.get(11)?,
                    options: StoredOptions {
                        language: row.get(12)?,
                        ring_timeout_secs: row.get(13)?,
                        max_conversation_secs: row.get(14)?,
                        record: row.get(15)?,
                        whisper: row.get(16)?,
                    },
                }),
            };
            let lookup = PinLookup {
                caller_failures: row.get(0)?,
                number_spent: row.get::<_, i64>(1)?.max(0),
                every_spent: row.get::<_, i64>(2)?.max(0),
                known: row.get::<_, i64>(3)? != 0,
                order: None,
            };
            Ok((lookup, order))
        },
    )
    .and_then(|(lookup, order)| {
        Ok(PinLookup {
            order: order.map(StoredOrder::decode).transpose()?,
            ..lookup
        })
    })
}

/// [`crate::storage::seen::claim`] on `conn`.
pub fn claim(
    conn: &rusqlite::Connection,
    provider: &str,
    token: &str,
    until: i64,
    now: i64,
) -> Result<bool, Error> {
    Ok(execute(
        conn,
        crate::storage::seen::CLAIM,
        &[&provider, &token, &until, &now],
    )? == 1)
}

#[cfg(test)]
mod tests {
    use super::super::Connection;
    use super::super::tests::file_db;
    use super::*;

    #[tokio::test]
    async fn the_pin_lookup_finds_what_the_pools_finds() {
        use crate::domain::{NewOrder, PhoneNumber, Pin, PinChoice, Region};
        use crate::storage::orders;
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().unwrap();
        let conn = Connection::open(path, timeout).unwrap();
        let india = Region::parse("IN").unwrap();
        let vn = PhoneNumber::parse("+917314850001", india).unwrap();
        let new = NewOrder {
            order_id: "ORD-7".into(),
            customer: PhoneNumber::parse("09812345678", india).unwrap(),
            pin: PinChoice::Given(Pin::parse("4321", 4, 8).unwrap()),
            virtual_number: Some(vn.clone()),
            expires_at_ms: 10_000,
            allowed_callers: vec![PhoneNumber::parse("+919800000002", india).unwrap()],
        };
        orders::insert(&db, &new, Pin::parse("4321", 4, 8).unwrap(), 1_000)
            .await
            .unwrap();
        let caller = "+919800000002";
        let budget = Budget::new(1.0, std::time::Duration::from_secs(3600));
        // The direct lookup, checked against the pool's with the same arguments.
        let both = async |pin: &str, number: Option<&str>, now: i64, counting: Counting| {
            let q = PinQuery {
                pin: pin.to_owned(),
                virtual_number: number.map(str::to_owned),
                caller: Some(caller.to_owned()),
                caller_key: caller.to_owned(),
                number_key: vn.as_ref().to_owned(),
                now,
                counting,
                budget,
                known_since: 0,
            };
            let direct = find_active_by_pin(conn.alone(), &q).unwrap();
            let pooled = orders::find_active_by_pin(&db, &q).await.unwrap();
            assert_eq!(direct, pooled, "{pin} {number:?} {now} {counting:?}");
            direct
        };
        let all = Counting::new(0, 10);
        let guess = Weight {
            number: 5_000,
            every: 0,
        };
        record_failure(conn.alone(), caller, vn.as_ref(), 1_500, guess, budget, all).unwrap();
        for (pin, number, now) in [
            ("4321", Some(vn.as_ref()), 2_000),
            ("4321", None, 2_000),
            ("4321", Some(vn.as_ref()), 20_000),
            ("9999", Some(vn.as_ref()), 2_000),
        ] {
            both(pin, number, now, all).await;
        }
        let found = both("4321", Some(vn.as_ref()), 2_000, all).await;
        assert_eq!(
            (
                found.caller_failures,
                found.number_spent,
                found.every_spent,
                found.known
            ),
            (1, budget.spent_at(5_000, 1_500, 2_000), 0, false)
        );

        // The caller's count stops two past its limit, on both paths alike; the budget leaks.
        let capped = Counting::new(0, 1);
        let mut spent = Spent::default();
        for at in 1_600..1_610 {
            spent = record_failure(conn.alone(), caller, vn.as_ref(), at, guess, budget, capped)
                .unwrap();
        }
        // Eleven guesses of 5,000, less what leaked back over the 109 ms they took.
        assert_eq!(spent.by_caller, 3);
        assert!((54_990..=55_000).contains(&spent.number), "{spent:?}");
        let direct = both("4321", None, 1_609, capped).await;
        assert_eq!(
            (direct.caller_failures, direct.number_spent),
            (3, spent.number)
        );
        assert!(
            !direct.known && budget.is_spent(direct.number_spent),
            "spent, and the caller not known"
        );
        let hour_later = both("4321", Some(vn.as_ref()), 3_601_609, capped).await;
        assert_eq!(
            hour_later.number_spent,
            budget.spent_at(spent.number, 1_609, 3_601_609)
        );
        let by_caller = attempts::caller_failures(db.pool(), caller, all)
            .await
            .unwrap();
        assert_eq!(by_caller, 11);

        // While the budget is spent, a trusted caller is known, on both paths alike.
        sqlx::query("insert into trusted_callers (number, label, created_at) values ($1, 'x', 0)")
            .bind(caller)
            .execute(db.pool())
            .await
            .unwrap();
        let trusted = both("4321", Some(vn.as_ref()), 2_000, all).await;
        assert!(trusted.known);
        let order = trusted.order.expect("the active order");
        assert_eq!(order.order_id, "ORD-7");
        assert_eq!(
            order.allowed_callers,
            [PhoneNumber::from_e164(caller).unwrap()]
        );
    }
}
