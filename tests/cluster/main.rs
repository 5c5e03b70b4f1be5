//! Several pinbridge instances on one PostgreSQL: real `pinbridge serve` processes on their own
//! ports, sharing a database, with the steps of each Exotel call spread over them as a load
//! balancer would. Each test counts what the callers would have heard and checks that no call
//! was lost or routed wrong.
//!
//! These need a PostgreSQL server they may stop and start, so they are `#[ignore]`d in a plain
//! `cargo test`; `scripts/test.sh` runs them, one at a time, after the PostgreSQL pass:
//!
//! ```text
//! TEST_DATABASE_URL=$(scripts/postgres.sh start) \
//!     cargo test --test cluster -- --include-ignored --test-threads=1
//! ```

// The shared helpers; this binary uses a part of them.
#[allow(dead_code, unused_imports)]
#[path = "../common/mod.rs"]
mod common;

mod instance;
mod scenarios;
