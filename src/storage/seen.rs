//! One-time tokens of signed requests (Plivo's V3 nonce, Vonage's JWT `jti`): each is accepted
//! once while it is kept, so a captured request can not be sent again (DESIGN.md: signed
//! requests are accepted once and only while fresh, where the provider's scheme allows it).
//! Kept in the database, so that every instance refuses a token any of them accepted.

use sqlx::AnyConnection;

/// Claims `$2` (the token) for `$1` (the provider) until `$3` (unix ms), unless it is held
/// and not yet expired at `$4` (now): one row changed when the claim is new.
pub(super) const CLAIM: &str = "insert into seen_tokens (provider, token, expires_at)
         values ($1, $2, $3)
         on conflict (provider, token) do update set expires_at = excluded.expires_at
         where seen_tokens.expires_at <= $4";

/// Claims `token` for `provider` until `until` (unix ms): true when no request carried it
/// before (or its last claim expired by `now`), false for a replay.
pub async fn claim(
    conn: &mut AnyConnection,
    provider: &str,
    token: &str,
    until: i64,
    now: i64,
) -> Result<bool, super::Error> {
    let done = sqlx::query(CLAIM)
        .bind(provider)
        .bind(token)
        .bind(until)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the tokens whose claim expired before `now` (unix ms); returns how many.
pub async fn purge(db: &super::Db, now: i64) -> Result<u64, super::Error> {
    let done = sqlx::query("delete from seen_tokens where expires_at < $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
