//! `pinbridge orders import FILE.csv`: bulk-loading orders.
//!
//! The header names the columns, in any order: `order_id` and `customer_number` are required;
//! `pin`, `virtual_number` and `expires_at` are optional, as columns or as empty cells. Rows are
//! validated exactly as `POST /api/v1/orders` validates them.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use crate::clock::now_ms;
use crate::domain::{NewOrder, OrderRules};
use crate::storage::Db;
use crate::storage::orders::{self, Density};

const COLUMNS: [&str; 5] = [
    "order_id",
    "customer_number",
    "pin",
    "virtual_number",
    "expires_at",
];

/// A row that was not imported: its line in the file (the header is line 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// How an import went.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    /// Orders stored.
    pub imported: usize,
    /// Rows refused, in file order. Without `--skip-bad`, any refusal means `imported == 0`.
    pub refused: Vec<RowError>,
}

/// The valid rows of a file with their line numbers, and the invalid ones.
pub type ParsedRows = (Vec<(u64, NewOrder)>, Vec<RowError>);

/// Reads the CSV and validates each row. Errors: a header that lacks a required column or
/// names an unknown one, or a file that is not CSV.
pub fn parse_csv(input: impl Read, rules: &OrderRules, now: i64) -> anyhow::Result<ParsedRows> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let header = reader.headers()?.clone();
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if !COLUMNS.contains(&name) {
            anyhow::bail!(
                "line 1: unknown column {name:?}; the columns are {}",
                COLUMNS.join(",")
            );
        }
        index.insert(name.to_owned(), i);
    }
    for required in ["order_id", "customer_number"] {
        if !index.contains_key(required) {
            anyhow::bail!("line 1: the header lacks the column {required}");
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    message: format!("not a well-formed CSV row ({e})"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let cell = |name: &str| {
            index
                .get(name)
                .and_then(|i| record.get(*i))
                .filter(|v| !v.is_empty())
        };
        match NewOrder::parse(
            cell("order_id").unwrap_or(""),
            cell("customer_number").unwrap_or(""),
            cell("pin"),
            cell("virtual_number"),
            cell("expires_at"),
            rules,
            now,
        ) {
            Ok(order) => rows.push((line, order)),
            Err(e) => errors.push(RowError {
                line,
                message: e.to_string(),
            }),
        }
    }
    Ok((rows, errors))
}

/// Imports a CSV file in one transaction. Without `skip_bad`, one bad row (invalid, a
/// duplicate order id, a PIN already active) imports nothing; with it, the good rows are
/// imported and the bad ones reported.
pub async fn import(
    db: &Db,
    input: impl Read,
    rules: &OrderRules,
    density: Density,
    skip_bad: bool,
) -> anyhow::Result<ImportOutcome> {
    let now = now_ms();
    let (rows, mut refused) = parse_csv(input, rules, now)?;
    if !refused.is_empty() && !skip_bad {
        return Ok(ImportOutcome {
            imported: 0,
            refused,
        });
    }
    let orders: Vec<NewOrder> = rows.iter().map(|(_, o)| o.clone()).collect();
    let report = orders::import(db, &orders, skip_bad, density, now).await?;
    refused.extend(report.refused.into_iter().map(|(i, e)| RowError {
        line: rows[i].0,
        message: format!("{} ({})", e, rows[i].1.order_id),
    }));
    refused.sort_by_key(|e| e.line);
    Ok(ImportOutcome {
        imported: report.imported,
        refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Region;

    fn rules() -> OrderRules {
        OrderRules {
            region: Region::parse("IN").unwrap(),
            pin_min: 4,
            pin_max: 12,
            default_ttl_ms: 86_400_000,
            allowed_country_codes: vec![91],
        }
    }

    #[test]
    fn rows_are_validated_with_their_line_numbers() {
        let csv = "order_id,customer_number,pin,virtual_number,expires_at\n\
                   OD-1,09812345678,4821,07314853246,\n\
                   OD-2,not-a-number,,,\n\
                   OD-3,09812345679,,,\n";
        let (rows, errors) = parse_csv(csv.as_bytes(), &rules(), 0).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[1].0, 4);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].message.contains("customer_number"));
    }

    #[test]
    fn optional_columns_may_be_left_out_and_unknown_ones_are_refused() {
        let (rows, errors) = parse_csv(
            "customer_number,order_id\n09812345678,OD-1\n".as_bytes(),
            &rules(),
            0,
        )
        .unwrap();
        assert_eq!((rows.len(), errors.len()), (1, 0));
        assert!(parse_csv("order_id,phone\nOD-1,1\n".as_bytes(), &rules(), 0).is_err());
        assert!(parse_csv("order_id\nOD-1\n".as_bytes(), &rules(), 0).is_err());
    }

    #[test]
    fn a_ragged_row_is_reported_not_fatal() {
        let (rows, errors) = parse_csv(
            "order_id,customer_number\nOD-1,09812345678,extra\nOD-2,09812345678\n".as_bytes(),
            &rules(),
            0,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(errors[0].line, 2);
    }
}
