//! The call log: one call as the admin API and UI show it ([`CallRecord`]), listed, filtered
//! and fetched.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;

/// One call as the call log shows it.
///
/// The caller, the virtual number and the destination stay text: they hold E.164 when the
/// number parsed, else the text as the provider sent it (a withheld or malformed caller ID,
/// what the provider says it dialled), and the log shows that text as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub provider: String,
    pub call_sid: String,
    pub caller: Option<String>,
    pub virtual_number: Option<String>,
    pub order_id: Option<String>,
    pub booking_id: Option<String>,
    /// `pin`, `booking` or `callback`, once bridged.
    pub route: Option<String>,
    pub destination: Option<String>,
    pub pin_attempts: i64,
    pub outcome: Outcome,
    pub dial_call_status: Option<String>,
    pub call_type: Option<String>,
    pub dial_secs: Option<i64>,
    pub talk_secs: Option<i64>,
    pub recording_url: Option<String>,
    pub legs: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
}

/// Filters of the call log; empty strings and `None` filter nothing.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub call_sid: Option<String>,
    pub order_id: Option<String>,
    pub booking_id: Option<String>,
    /// A number as stored that either called or was dialled (the caller or the destination).
    pub number: Option<String>,
    /// `exotel`, `twilio`, ... as stored.
    pub provider: Option<String>,
    /// An [`Outcome`]'s name.
    pub outcome: Option<String>,
    /// Calls started at or after, unix milliseconds.
    pub since_ms: Option<i64>,
    /// Calls started before, unix milliseconds.
    pub until_ms: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// Calls matching `filter`, newest first.
pub async fn list(db: &Db, filter: &CallFilter) -> Result<Vec<CallRecord>, crate::storage::Error> {
    let mut filters = Filters::default();
    filters.equal(&["call_sid"], filter.call_sid.as_deref());
    filters.equal(&["order_id"], filter.order_id.as_deref());
    filters.equal(&["booking_id"], filter.booking_id.as_deref());
    filters.equal(&["caller", "destination"], filter.number.as_deref());
    filters.equal(&["provider"], filter.provider.as_deref());
    filters.equal(&["outcome"], filter.outcome.as_deref());
    filters
        .fetch(
            db,
            filter.since_ms,
            filter.until_ms,
            filter.limit,
            filter.offset,
        )
        .await
}

/// The equality filters of a call-log query, each written into the statement only when it
/// is set: a `($1 = '' or order_id = $1)` term would keep SQLite from using the column's
/// index (the plan is made before the value is known). Values are bound from `$3`, after the
/// time range.
#[derive(Default)]
struct Filters<'a> {
    terms: String,
    values: Vec<&'a str>,
}

impl<'a> Filters<'a> {
    /// Calls whose value in one of `columns` is `value`; nothing when `value` is `None` or
    /// empty.
    fn equal(&mut self, columns: &[&str], value: Option<&'a str>) {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return;
        };
        self.values.push(value);
        let n = self.values.len() + 2;
        let any = columns
            .iter()
            .map(|c| format!("{c} = ${n}"))
            .collect::<Vec<_>>()
            .join(" or ");
        self.terms.push_str(&format!(" and ({any})"));
    }

    /// The statement: `$1` and `$2` the time range, then the values, the limit and the offset.
    fn statement(&self) -> String {
        let n = self.values.len() + 2;
        format!(
            "select {RECORD_COLUMNS} from calls
             where started_at >= $1 and started_at < $2{terms}
             order by started_at desc, call_sid desc
             limit ${limit} offset ${offset}",
            terms = self.terms,
            limit = n + 1,
            offset = n + 2,
        )
    }

    /// The matching calls started within [`since_ms`, `until_ms`) (unix ms; `None`: no
    /// bound), newest first, `limit` of them after skipping `offset`.
    async fn fetch(
        self,
        db: &Db,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CallRecord>, crate::storage::Error> {
        let sql = sqlx::AssertSqlSafe(self.statement());
        let mut query = sqlx::query(sql)
            .bind(since_ms.unwrap_or(i64::MIN))
            .bind(until_ms.unwrap_or(i64::MAX));
        for value in self.values {
            query = query.bind(value);
        }
        query
            .bind(limit)
            .bind(offset)
            .fetch_all(db.pool())
            .await?
            .iter()
            .map(record_from_row)
            .collect()
    }
}

/// Filters of the admin UI's call log; empty strings filter nothing.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub provider: String,
    pub outcome: String,
    pub order_id: String,
    /// A number as stored (E.164 when it parsed): the caller, the virtual number or the
    /// destination.
    pub number: String,
    /// Calls started at or after, unix milliseconds.
    pub since_ms: Option<i64>,
    /// Calls started before, unix milliseconds.
    pub until_ms: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

const RECORD_COLUMNS: &str = "provider, call_sid, caller, virtual_number, order_id, booking_id,
    route, destination, pin_attempts, outcome, dial_call_status, call_type, dial_secs, talk_secs,
    recording_url, legs, started_at, updated_at, ended_at";

fn record_from_row(row: &AnyRow) -> Result<CallRecord, crate::storage::Error> {
    Ok(CallRecord {
        provider: row.try_get("provider")?,
        call_sid: row.try_get("call_sid")?,
        caller: row.try_get("caller")?,
        virtual_number: row.try_get("virtual_number")?,
        order_id: row.try_get("order_id")?,
        booking_id: row.try_get("booking_id")?,
        route: row.try_get("route")?,
        destination: row.try_get("destination")?,
        pin_attempts: row.try_get("pin_attempts")?,
        outcome: crate::storage::stored_outcome(
            "calls.outcome",
            &row.try_get::<String, _>("outcome")?,
        )?,
        dial_call_status: row.try_get("dial_call_status")?,
        call_type: row.try_get("call_type")?,
        dial_secs: row.try_get("dial_secs")?,
        talk_secs: row.try_get("talk_secs")?,
        recording_url: row.try_get("recording_url")?,
        legs: row.try_get("legs")?,
        started_at: row.try_get("started_at")?,
        updated_at: row.try_get("updated_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// Calls matching the admin UI's filter, newest first.
pub async fn log(db: &Db, filter: &LogFilter) -> Result<Vec<CallRecord>, crate::storage::Error> {
    let mut filters = Filters::default();
    filters.equal(&["provider"], Some(&filter.provider));
    filters.equal(&["outcome"], Some(&filter.outcome));
    filters.equal(&["order_id"], Some(&filter.order_id));
    filters.equal(
        &["caller", "virtual_number", "destination"],
        Some(&filter.number),
    );
    filters
        .fetch(
            db,
            filter.since_ms,
            filter.until_ms,
            filter.limit,
            filter.offset,
        )
        .await
}

/// One call, by provider and call id.
pub async fn get(
    db: &Db,
    provider: &str,
    call_sid: &str,
) -> Result<Option<CallRecord>, crate::storage::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {RECORD_COLUMNS} from calls where provider = $1 and call_sid = $2"
    ));
    sqlx::query(sql)
        .bind(provider)
        .bind(call_sid)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(record_from_row)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_plan as plan;

    /// The call path writes `calls_order_id` and `calls_callback` for bridged calls only
    /// (partial indexes); the lookups that need them must still use them.
    #[tokio::test]
    async fn the_order_filter_and_the_callback_use_their_partial_indexes() {
        let db = crate::storage::sqlite_test_db().await;
        let mut filters = Filters::default();
        filters.equal(&["order_id"], Some("ORD-1"));
        let by_order = plan(&db, &filters.statement()).await;
        assert!(by_order.contains("INDEX calls_order_id"), "{by_order}");
        let callback = plan(&db, CALLBACK).await;
        assert!(callback.contains("INDEX calls_callback"), "{callback}");
    }
}
