//! Sign-in sessions of the admin web UI. Only the SHA-256 of a session's cookie is stored.

use sqlx::Row;

use super::Db;

/// A live session.
#[derive(Debug, Clone)]
pub struct AdminSessionRow {
    pub token_name: String,
    pub pii: bool,
    pub csrf: String,
}

/// Stores a new session until `expires_at_ms`.
pub async fn create(
    db: &Db,
    id_sha256: &str,
    token_name: &str,
    pii: bool,
    csrf: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<(), super::Error> {
    sqlx::query(
        "insert into admin_sessions (id_sha256, token_name, pii, csrf, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id_sha256)
    .bind(token_name)
    .bind(i64::from(pii))
    .bind(csrf)
    .bind(now_ms)
    .bind(expires_at_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The live session with this cookie digest, if any.
pub async fn find(
    db: &Db,
    id_sha256: &str,
    now_ms: i64,
) -> Result<Option<AdminSessionRow>, super::Error> {
    let row = sqlx::query(
        "select token_name, pii, csrf from admin_sessions where id_sha256 = $1 and expires_at > $2",
    )
    .bind(id_sha256)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(AdminSessionRow {
            token_name: r.try_get("token_name")?,
            pii: r.try_get::<i64, _>("pii")? != 0,
            csrf: r.try_get("csrf")?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

/// Ends a session (sign-out), and forgets every expired one.
pub async fn delete(db: &Db, id_sha256: &str, now_ms: i64) -> Result<(), super::Error> {
    sqlx::query("delete from admin_sessions where id_sha256 = $1 or expires_at <= $2")
        .bind(id_sha256)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(())
}
