//! `pinbridge trusted-callers import FILE.csv`, and the admin UI's upload: registering many
//! trusted callers at once.
//!
//! The header names the columns, in either order: `number` is required, `label` optional (as a
//! column or as empty cells). Rows are validated exactly as `POST /api/v1/trusted-callers`
//! validates them ([`NewTrustedCaller::parse`]); a number registered already takes the row's
//! label, as the API does. A number twice in one file is a bad line: which label was meant
//! can not be told.

use std::collections::HashMap;
use std::io::Read;

use super::RowError;
use crate::domain::{NewTrustedCaller, Region};
use crate::storage::Db;
use crate::storage::trusted_callers::{self, AddedMany};

const COLUMNS: [&str; 2] = ["number", "label"];

/// How an import went.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    /// The numbers registered now and those whose label was replaced. Both 0 when a bad line
    /// stopped an import without `skip_bad`.
    pub added: AddedMany,
    /// Bad lines, in file order. The messages never quote a number.
    pub refused: Vec<RowError>,
}

/// The valid rows of a file with their line numbers (the header is line 1), and the bad ones.
pub type ParsedRows = (Vec<(u64, NewTrustedCaller)>, Vec<RowError>);

/// Reads the CSV and validates each row, numbers without a country code read in `region`.
///
/// Errors: a header that lacks `number`, names another column or one twice, or a file that is
/// not CSV at all.
pub fn parse_csv(mut input: impl Read, region: Region) -> anyhow::Result<ParsedRows> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let mut lines = super::lines::LineNumbers::default();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes.as_slice());
    let mut columns: [Option<usize>; COLUMNS.len()] = [None; COLUMNS.len()];
    for (i, name) in reader.headers()?.iter().enumerate() {
        let Some(column) = COLUMNS.iter().position(|c| *c == name) else {
            // A file without its header has a number here: it is not echoed.
            let looks_like_a_name = name.len() <= 40
                && name
                    .chars()
                    .all(|c| c.is_alphabetic() || c == '_' || c == ' ');
            if looks_like_a_name {
                anyhow::bail!(
                    "line 1: unknown column {name:?}; the columns are {}",
                    COLUMNS.join(",")
                );
            }
            anyhow::bail!(
                "line 1: the first line must be the header, naming the columns {}",
                COLUMNS.join(",")
            );
        };
        if columns[column].replace(i).is_some() {
            anyhow::bail!("line 1: the column {name} is named twice");
        }
    }
    let [Some(number_at), label_at] = columns else {
        anyhow::bail!("line 1: the header lacks the column number");
    };
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    // The line of each number's first row.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                errors.push(RowError {
                    line: lines.of(&bytes, e.position()),
                    message: format!("not a well-formed CSV row ({e})"),
                    order_id: None,
                });
                continue;
            }
        }
        let line = lines.of(&bytes, record.position());
        let number = record.get(number_at).unwrap_or_default();
        let label = label_at.and_then(|i| record.get(i));
        match NewTrustedCaller::parse(number, label, region) {
            Err(e) => errors.push(RowError {
                line,
                message: e.to_string(),
                order_id: None,
            }),
            Ok(caller) => match seen.get(caller.number.as_ref()) {
                Some(first) => errors.push(RowError {
                    line,
                    message: format!("number: the same number as line {first}"),
                    order_id: None,
                }),
                None => {
                    seen.insert(caller.number.to_string(), line);
                    rows.push((line, caller));
                }
            },
        }
    }
    Ok((rows, errors))
}

/// Validates a CSV file and registers its trusted callers in one transaction. Without
/// `skip_bad`, one bad line registers nothing, and every bad line is reported; with it, the
/// good lines are registered and the bad ones reported.
///
/// The file is validated on a blocking thread: parsing a number is CPU work, and an upload of
/// the admin UI must not hold up the server's other requests.
///
/// Errors: as [`parse_csv`]'s, or the database's (nothing is registered then).
pub async fn import(
    db: &Db,
    mut input: impl Read,
    region: Region,
    skip_bad: bool,
) -> anyhow::Result<ImportOutcome> {
    let mut csv = Vec::new();
    input.read_to_end(&mut csv)?;
    let (rows, refused) =
        tokio::task::spawn_blocking(move || parse_csv(csv.as_slice(), region)).await??;
    if (!skip_bad && !refused.is_empty()) || rows.is_empty() {
        return Ok(ImportOutcome {
            added: AddedMany::default(),
            refused,
        });
    }
    let callers: Vec<NewTrustedCaller> = rows.into_iter().map(|(_, c)| c).collect();
    let added = trusted_callers::add_many(db, &callers, crate::domain::clock::now_ms()).await?;
    Ok(ImportOutcome { added, refused })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn india() -> Region {
        Region::parse("IN").unwrap()
    }

    #[test]
    fn every_bad_line_is_reported_with_its_line_number() {
        let csv = "number,label\n\
                   09812345678,Ravi\n\
                   98,Short\n\
                   09812345679,\"Two\nlines\"\n\
                   +919812345678,Again\n\
                   09812345670,Priya,extra\n\
                   09812345671\n";
        let (rows, errors) = parse_csv(csv.as_bytes(), india()).unwrap();
        let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2]);
        let expected = [
            (3, "number: "),
            (4, "label: "),
            (6, "number: "),
            (7, "not a well-formed CSV row"),
            (8, "not a well-formed CSV row"),
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:?}");
        for (error, (line, start)) in errors.iter().zip(expected) {
            assert_eq!(error.line, line, "{error}");
            assert!(error.message.starts_with(start), "{error}");
        }
        assert!(
            errors[2].message.contains("line 2"),
            "{}",
            errors[2].message
        );
        for e in &errors {
            assert!(!e.message.contains("9812345678"), "{e}");
        }
    }

    #[test]
    fn the_label_column_may_be_left_out_or_empty_and_come_first() {
        let (rows, errors) = parse_csv("number\n09812345678\n".as_bytes(), india()).unwrap();
        assert_eq!((rows.len(), errors.len()), (1, 0));
        assert_eq!(rows[0].1.label, None);
        let (rows, errors) = parse_csv(
            "label,number\n,09812345678\nRavi,09812345679\n".as_bytes(),
            india(),
        )
        .unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows[0].1.label, None);
        assert_eq!(rows[1].1.label.as_deref(), Some("Ravi"));
    }

    #[test]
    fn a_spreadsheets_byte_order_mark_is_not_part_of_the_header() {
        let (rows, errors) = parse_csv(
            "\u{FEFF}number,label\n09812345678,Ravi\n".as_bytes(),
            india(),
        )
        .unwrap();
        assert_eq!((rows.len(), errors.len()), (1, 0));
    }

    #[test]
    fn a_header_without_number_or_with_another_column_is_refused() {
        for header in [
            "label\nRavi\n",
            "number,phone\n1,2\n",
            "number,number\n1,2\n",
            "",
        ] {
            let e = parse_csv(header.as_bytes(), india()).unwrap_err();
            assert!(e.to_string().starts_with("line 1:"), "{header:?}: {e}");
        }
        let e = parse_csv("09812345678,Ravi\n".as_bytes(), india()).unwrap_err();
        assert!(e.to_string().contains("must be the header"), "{e}");
        assert!(!e.to_string().contains("9812345678"), "{e}");
    }
}
