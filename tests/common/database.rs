//! The database of one test: a SQLite file, or a database of its own on the PostgreSQL
//! server of the PostgreSQL pass.

use std::path::Path;

/// The PostgreSQL server of the PostgreSQL pass (`scripts/test.sh`), when there is one:
/// `TEST_DATABASE_URL=postgres://...`.
pub fn test_postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

/// A new, empty database for one test: a SQLite file in `dir`, or, in the PostgreSQL pass, a
/// database of its own created on the `TEST_DATABASE_URL` server (tests run in parallel).
pub async fn fresh_database_url(dir: &Path) -> String {
    let Some(server) = test_postgres_url() else {
        return format!("sqlite://{}/pinbridge.db", dir.display());
    };
    pinbridge::storage::create_test_database(&server, "t")
        .await
        .expect("a test database on the TEST_DATABASE_URL server")
}
