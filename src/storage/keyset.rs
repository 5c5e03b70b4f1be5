//! The conditions of a list query read a page at a time, newest first: each written into the
//! statement only when it filters something (a `($1 = '' or x = $1)` term would keep SQLite
//! from using the column's index), with its values bound in the order their placeholders are
//! numbered.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

enum Value {
    Text(String),
    Int(i64),
}

/// The `where` terms of a list query and their values.
#[derive(Default)]
pub(super) struct Conditions {
    terms: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    /// The placeholder of a text value.
    pub(super) fn text(&mut self, value: &str) -> String {
        self.values.push(Value::Text(value.to_owned()));
        format!("${}", self.values.len())
    }

    /// The placeholder of an integer value.
    pub(super) fn int(&mut self, value: i64) -> String {
        self.values.push(Value::Int(value));
        format!("${}", self.values.len())
    }

    /// Adds a term, joined to the others by `and`.
    pub(super) fn push(&mut self, term: String) {
        self.terms.push(term);
    }

    /// Rows created before the cursor `before` (`created_at` unix ms, id), in the order
    /// `created_column desc, id_column desc`.
    pub(super) fn before(&mut self, created_column: &str, id_column: &str, before: &(i64, String)) {
        let at = self.int(before.0);
        let id = self.text(&before.1);
        self.push(format!(
            "({created_column} < {at} or ({created_column} = {at} and {id_column} < {id}))"
        ));
    }

    /// `select_from` (`select ... from t`) with the terms, `order by created_column desc,
    /// id_column desc` and at most `limit` rows, its values bound.
    pub(super) fn query(
        mut self,
        select_from: &str,
        created_column: &str,
        id_column: &str,
        limit: i64,
    ) -> Query<'static, Any, AnyArguments> {
        let limit = self.int(limit);
        let filters = if self.terms.is_empty() {
            String::new()
        } else {
            format!("where {}", self.terms.join(" and "))
        };
        let sql = format!(
            "{select_from} {filters}
             order by {created_column} desc, {id_column} desc limit {limit}"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in self.values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(n) => query.bind(n),
            };
        }
        query
    }
}
