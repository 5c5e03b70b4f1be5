//! A database that answers reads but refuses writes, made so for real on the engine the tests
//! run on: on SQLite, filled to its last page (SQLite's own `max_page_count`, set on the
//! server's connections by `PINBRIDGE_SQLITE_MAX_SIZE_MB`: "database or disk is full"); on
//! PostgreSQL, turned read-only (`default_transaction_read_only`, its sessions cut, as in a
//! failover to a standby). While it lasts, `/readyz` says not ready, the admin API answers 503
//! `database_unavailable` and a courier's PIN call still gets playable answers; once writes
//! succeed again, the service is ready again by itself.

use std::time::{Duration, Instant};

use pinbridge::domain::PhoneNumber;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Executor, Row};

use crate::common::{
    CUSTOMER, CUSTOMER_E164, Call, TestApp, VIRTUAL_NUMBER, spawn_app_with, test_postgres_url,
};

const DESK_E164: &str = "+918045678901";
/// `PINBRIDGE_SQLITE_MAX_SIZE_MB` of the app: a fresh database fills a fifth of it.
const MAX_MB: u64 = 1;

/// How a test makes the app's database refuse writes, and takes the fault away.
enum Fault {
    /// SQLite: a table of the test's own fills the file up to the app's bound.
    Full(AnyConnection),
    /// PostgreSQL: the database is read-only for every new session.
    ReadOnly {
        conn: AnyConnection,
        database: String,
    },
}

impl Fault {
    /// Makes writes fail on `app`'s database.
    async fn begin(app: &TestApp) -> Fault {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&app.database_url).await.unwrap();
        if test_postgres_url().is_none() {
            // The same bound as the app's connections, so that this one fills the file to
            // the very page where theirs stop; a file grown past it would only raise theirs.
            let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let pages = (MAX_MB * 1024 * 1024) as i64 / page_size;
            let set = format!("PRAGMA max_page_count = {pages}");
            sqlx::query(sqlx::AssertSqlSafe(set))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            conn.execute("create table filler (b blob)").await.unwrap();
            let mut rows = 0;
            let full = loop {
                match conn
                    .execute("insert into filler values (zeroblob(3000))")
                    .await
                {
                    Ok(_) => rows += 1,
                    Err(e) => break e,
                }
                assert!(rows < 10_000, "the database never filled up");
            };
            assert!(full.to_string().contains("full"), "{full}");
            Fault::Full(conn)
        } else {
            let database: String = sqlx::query("select current_database()::text as name")
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get("name");
            let alter = format!("alter database {database} set default_transaction_read_only = on");
            conn.execute(sqlx::AssertSqlSafe(alter)).await.unwrap();
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity
                 where datname = current_database() and pid <> pg_backend_pid()",
            )
            .await
            .unwrap();
            Fault::ReadOnly { conn, database }
        }
    }

    /// Lets writes succeed again, and only that: the app is left to notice by itself.
    async fn end(self) {
        match self {
            Fault::Full(mut conn) => {
                conn.execute("drop table filler").await.unwrap();
                conn.close().await.unwrap();
            }
            Fault::ReadOnly { mut conn, database } => {
                let alter =
                    format!("alter database {database} set default_transaction_read_only = off");
                conn.execute(sqlx::AssertSqlSafe(alter)).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

async fn readyz(app: &TestApp) -> (u16, String) {
    let r = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("the server answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Asks `/readyz` until it answers `status`, for at most ten seconds; returns its body.
async fn readyz_becomes(app: &TestApp, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (got, body) = readyz(app).await;
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {got} {body:?}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An order with a PIN of its own, generated.
fn order(id: &str) -> Value {
    json!({"order_id": id, "customer_number": CUSTOMER, "virtual_number": VIRTUAL_NUMBER})
}

/// A courier's whole PIN call (greeting, gather, check-pin, connect): every answer playable,
/// and Connect dials the customer or the fallback desk, never anyone else. Returns whom.
async fn courier_call(app: &TestApp, sid: &str, pin: &str) -> String {
    let call = Call::new(sid);
    let greeting = app.exotel_text("greeting", &call.query(None)).await;
    assert!(!greeting.trim().is_empty(), "something to say");
    let gather = app.exotel_json("gather", &call.query(None)).await;
    assert!(gather["gather_prompt"]["text"].is_string(), "{gather}");
    let check = app.check_pin(&call, pin).await;
    assert!(check == 200 || check == 302, "check-pin answered {check}");
    let dialled = app.connect(&call).await;
    assert!(
        dialled == CUSTOMER_E164 || dialled == DESK_E164,
        "Connect dialled {dialled:?}"
    );
    dialled
}

#[tokio::test]
async fn a_database_refusing_writes_is_reported_and_the_service_heals_by_itself() {
    let app = spawn_app_with(|s| {
        s.database.sqlite_max_bytes = Some(MAX_MB * 1024 * 1024);
        s.calls.fallback_number = PhoneNumber::parse("080 4567 8901", s.orders.region).ok();
    })
    .await;
    app.create_order("OD-1", "4821").await;
    assert_eq!(readyz(&app).await, (200, "ready".to_owned()));

    let fault = Fault::begin(&app).await;

    // SQLite may still fit a short row in a page it has; the next one needs a page.
    let mut answers = Vec::new();
    let refused = loop {
        let (status, body) = app
            .post_json("/orders", &order(&format!("OD-F{}", answers.len())))
            .await;
        if status != 201 {
            break (status, body);
        }
        answers.push(status);
        assert!(answers.len() < 500, "every order was stored");
    };
    assert_eq!(refused.0, 503, "{}", refused.1);
    assert_eq!(refused.1["error"]["code"], "database_unavailable");
    assert_eq!(readyz_becomes(&app, 503).await, "database refuses writes");

    // The caller hears something playable throughout, and nobody else is dialled.
    courier_call(&app, "fault-call", "4821").await;
    let (status, _) = app.post_json("/orders", &order("OD-X")).await;
    assert_eq!(status, 503, "still refused");
    let healthz = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);

    fault.end().await;

    assert_eq!(readyz_becomes(&app, 200).await, "ready");
    app.create_order("OD-2", "7391").await;
    assert_eq!(
        courier_call(&app, "healed-call", "7391").await,
        CUSTOMER_E164,
        "the call path writes again"
    );
    let record = app.call_record("healed-call").await;
    assert_eq!(record["order_id"], "OD-2");
}
