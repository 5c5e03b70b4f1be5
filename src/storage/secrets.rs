//! Values generated on the first start and kept across restarts and instances.

use sqlx::Row;

use super::Db;

/// The stored value of `name`, if any.
pub async fn get(db: &Db, name: &str) -> Result<Option<String>, super::Error> {
    let row = sqlx::query("select value from instance_secrets where name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get::<String, _>("value"))
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
}

/// Stores `value` under `name` unless a value is there already, and returns the value that
/// is stored afterwards: when two instances start at once, both end up with the same one.
pub async fn get_or_insert(
    db: &Db,
    name: &str,
    value: &str,
    now_ms: i64,
) -> Result<String, super::Error> {
    sqlx::query(
        "insert into instance_secrets (name, value, created_at) values ($1, $2, $3)
         on conflict (name) do nothing",
    )
    .bind(name)
    .bind(value)
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(get(db, name).await?.unwrap_or_else(|| value.to_owned()))
}
