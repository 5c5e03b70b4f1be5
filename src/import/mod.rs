//! `pinbridge orders import FILE.csv`: bulk-loading orders. Trusted callers are imported by
//! [`trusted_callers`].
//!
//! The header names the columns, in any order: `order_id` and `customer_number` are required;
//! `pin`, `virtual_number` and `expires_at` are optional, as columns or as empty cells. Rows are
//! validated exactly as `POST /api/v1/orders` validates them.
//!
//! Owns: the rules of admitting orders, one or a million ([`admission`]: unique ids, PIN
//! clashes, PIN density, generated PINs), and reading the CSV files. Must not touch: SQL
//! (storage's [`crate::storage::orders::OrderWrite`] looks up and inserts).

pub mod admission;
mod lines;
pub mod trusted_callers;

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use self::admission::{CreateError, Density};
use crate::domain::clock::now_ms;
use crate::domain::{NewOrder, OrderFieldError, OrderRules, PhoneNumber};
use crate::storage::Db;

const COLUMNS: [&str; 5] = [
    "order_id",
    "customer_number",
    "pin",
    "virtual_number",
    "expires_at",
];

/// A row that was not imported: its line in the file (the header is line 1), why (the same
/// words for every row refused for the same reason, so that they can be counted together:
/// [`summarise`]), and the order id when the row had a valid one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
    pub order_id: Option<String>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)?;
        match &self.order_id {
            Some(id) => write!(f, " ({id})"),
            None => Ok(()),
        }
    }
}

/// How many rows a reason is listed for, one line each, before they are counted instead.
const LISTED: usize = 3;

/// `refused`, in file order, as lines a person reads: each reason once, with its rows listed
/// when there are a few (`line 7: ...`) and counted when there are many (`190,000 rows:
/// ... (first at line 10,002)`).
pub fn summarise(refused: &[RowError]) -> Vec<String> {
    let mut by_reason: Vec<(&str, Vec<&RowError>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for error in refused {
        let at = *index.entry(error.message.as_str()).or_insert_with(|| {
            by_reason.push((error.message.as_str(), Vec::new()));
            by_reason.len() - 1
        });
        by_reason[at].1.push(error);
    }
    let mut lines = Vec::new();
    for (reason, rows) in by_reason {
        if rows.len() <= LISTED {
            lines.extend(rows.iter().map(ToString::to_string));
        } else {
            lines.push(format!(
                "{} rows: {reason} (first at line {})",
                thousands(rows.len() as u64),
                thousands(rows[0].line)
            ));
        }
    }
    lines
}

/// `n` with a comma between thousands: `190,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
pub fn parse_csv(mut input: impl Read, rules: &OrderRules, now: i64) -> anyhow::Result<ParsedRows> {
    let mut csv = Vec::new();
    input.read_to_end(&mut csv)?;
    let mut rows = CsvRows::new(csv.into(), rules.clone(), now)?;
    let mut parsed = (Vec::new(), Vec::new());
    while rows.parse(usize::MAX, &mut parsed) {}
    Ok(parsed)
}

/// A CSV file being read and validated row by row.
struct CsvRows {
    /// The whole file, for the line numbers ([`lines`]).
    bytes: std::sync::Arc<[u8]>,
    reader: csv::Reader<std::io::Cursor<std::sync::Arc<[u8]>>>,
    lines: lines::LineNumbers,
    /// Where each of [`COLUMNS`] is in a record, when the header names it.
    columns: [Option<usize>; COLUMNS.len()],
    record: csv::StringRecord,
    rules: OrderRules,
    now: i64,
    virtual_numbers: VirtualNumbers,
}

impl CsvRows {
    /// Reads and checks the header of `bytes`, a whole file. Errors: as [`parse_csv`]'s.
    fn new(bytes: std::sync::Arc<[u8]>, rules: OrderRules, now: i64) -> anyhow::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(std::io::Cursor::new(std::sync::Arc::clone(&bytes)));
        let mut columns = [None; COLUMNS.len()];
        for (i, name) in reader.headers()?.iter().enumerate() {
            let Some(column) = COLUMNS.iter().position(|c| *c == name) else {
                anyhow::bail!(
                    "line 1: unknown column {name:?}; the columns are {}",
                    COLUMNS.join(",")
                );
            };
            columns[column] = Some(i);
        }
        // The first two columns are required.
        for (column, required) in COLUMNS.iter().enumerate().take(2) {
            if columns[column].is_none() {
                anyhow::bail!("line 1: the header lacks the column {required}");
            }
        }
        Ok(Self {
            bytes,
            reader,
            lines: lines::LineNumbers::default(),
            columns,
            record: csv::StringRecord::new(),
            rules,
            now,
            virtual_numbers: VirtualNumbers::default(),
        })
    }

    /// Reads and validates up to `max` more rows into `parsed`. Returns false once the file
    /// is read to its end.
    fn parse(&mut self, max: usize, (rows, errors): &mut ParsedRows) -> bool {
        for _ in 0..max {
            match self.reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(e) => {
                    let line = self.lines.of(&self.bytes, e.position());
                    errors.push(RowError {
                        line,
                        message: format!("not a well-formed CSV row ({e})"),
                        order_id: None,
                    });
                    continue;
                }
            }
            let line = self.lines.of(&self.bytes, self.record.position());
            match self.order() {
                Ok(order) => rows.push((line, order)),
                Err(e) => errors.push(RowError {
                    line,
                    message: e.to_string(),
                    order_id: None,
                }),
            }
        }
        true
    }

    /// Validates the record just read.
    fn order(&mut self) -> Result<NewOrder, OrderFieldError> {
        let [order_id, customer_number, pin, virtual_number, expires_at] =
            self.columns.map(|column| {
                column
                    .and_then(|i| self.record.get(i))
                    .filter(|v| !v.is_empty())
            });
        let parse = |virtual_number| {
            NewOrder::parse(
                order_id.unwrap_or(""),
                customer_number.unwrap_or(""),
                pin,
                virtual_number,
                expires_at,
                &self.rules,
                self.now,
            )
        };
        let Some(raw) = virtual_number else {
            return parse(None);
        };
        match self.virtual_numbers.parse(raw, &self.rules) {
            // A valid virtual number changes nothing else in the row's validation.
            Some(number) => parse(None).map(|order| NewOrder {
                virtual_number: Some(number),
                ..order
            }),
            // Parsed again, so that the row's first bad field is named as the API names it.
            None => parse(Some(raw)),
        }
    }
}

/// The virtual numbers of a file, each parsed once: a business has a few, and parsing one
/// costs as much as all the rest of its row.
#[derive(Default)]
struct VirtualNumbers(HashMap<String, Option<PhoneNumber>>);

impl VirtualNumbers {
    /// Most distinct numbers remembered; past them, numbers are parsed each time.
    const CAPACITY: usize = 10_000;

    /// `raw` in E.164 when it is a valid number, as [`NewOrder::parse`] reads it; `None`
    /// when it is not.
    fn parse(&mut self, raw: &str, rules: &OrderRules) -> Option<PhoneNumber> {
        if let Some(known) = self.0.get(raw) {
            return known.clone();
        }
        let parsed = PhoneNumber::parse(raw, rules.region).ok();
        if self.0.len() < Self::CAPACITY {
            self.0.insert(raw.to_owned(), parsed.clone());
        }
        parsed
    }
}

/// Rows validated at a time on a thread of their own, while the previous ones are stored.
const BATCH_ROWS: usize = 10_000;

/// Imports a CSV file in one transaction. Every row is checked, and every bad one reported
/// (invalid, a duplicate order id, a PIN already active, a PIN space too crowded), in file
/// order. Without `skip_bad`, one bad row imports nothing; with it, the good rows are
/// imported.
///
/// Validating a row costs about as much as storing it, and libphonenumber validates on one
/// thread at a time, so the file is read into memory and validated on a blocking thread,
/// [`BATCH_ROWS`] at a time, while the database stores the batch before.
///
/// `progress` is told, after each batch, how many rows were checked and about how many the
/// file holds (its lines).
///
/// Errors: as [`parse_csv`]'s, or the database's (nothing is imported then).
pub async fn import(
    db: &Db,
    input: impl Read,
    rules: &OrderRules,
    density: Density,
    skip_bad: bool,
    progress: &dyn Fn(usize, usize),
) -> anyhow::Result<ImportOutcome> {
    import_in_batches(
        db,
        input,
        rules,
        density,
        (skip_bad, now_ms(), BATCH_ROWS),
        progress,
    )
    .await
}

/// [`import`] at `now` (unix milliseconds), validating `batch_rows` rows at a time.
async fn import_in_batches(
    db: &Db,
    mut input: impl Read,
    rules: &OrderRules,
    density: Density,
    (skip_bad, now, batch_rows): (bool, i64, usize),
    progress: &dyn Fn(usize, usize),
) -> anyhow::Result<ImportOutcome> {
    let mut csv = Vec::new();
    input.read_to_end(&mut csv)?;
    // At most one row a line.
    let expected_rows = csv.iter().filter(|b| **b == b'\n').count() + 1;
    let rules = rules.clone();
    let mut parsing = tokio::task::spawn_blocking(move || {
        let mut rows = CsvRows::new(csv.into(), rules, now)?;
        let mut batch = (Vec::new(), Vec::new());
        let more = rows.parse(batch_rows, &mut batch);
        anyhow::Ok((rows, batch, more))
    });
    // Rows refused as invalid, and rows refused by the rules of admission.
    let mut refused: Vec<RowError> = Vec::new();
    let mut store: Option<admission::Import> = None;
    let mut checked = 0;
    loop {
        let (mut rows, (valid, errors), more) = (&mut parsing).await??;
        if more {
            parsing = tokio::task::spawn_blocking(move || {
                let mut batch = (Vec::new(), Vec::new());
                let more = rows.parse(batch_rows, &mut batch);
                anyhow::Ok((rows, batch, more))
            });
        }
        checked += valid.len() + errors.len();
        refused.extend(errors);
        // Every row is checked, with or without `skip_bad`, so that one pass reports every bad
        // row; without it, the transaction is rolled back at the end when any was bad.
        let (lines, orders): (Vec<u64>, Vec<NewOrder>) = valid.into_iter().unzip();
        let refusals = add(db, &mut store, &orders, density, now, expected_rows).await?;
        refused.extend(refusals.into_iter().map(|(i, e)| RowError {
            line: lines[i],
            message: refusal_message(&e),
            order_id: Some(orders[i].order_id.clone()),
        }));
        // The lines but the header and the empty one after the last line ending.
        progress(checked, expected_rows.saturating_sub(2));
        if !more {
            break;
        }
    }
    refused.sort_by_key(|e| e.line);
    let store = match store {
        Some(store) => store,
        // No valid row: the transaction is still begun and committed, as for good rows.
        None => admission::Import::begin(db, true, density, now, 0).await?,
    };
    if !skip_bad && !refused.is_empty() {
        store.abandon().await?;
        return Ok(ImportOutcome {
            imported: 0,
            refused,
        });
    }
    let imported = store.finish().await?;
    Ok(ImportOutcome { imported, refused })
}

/// Why the rules of admission refused a row, with what to do about it.
fn refusal_message(e: &CreateError) -> String {
    match e {
        CreateError::OrderExists => "an active order with this order_id exists already (an id \
            is given again only once its order is closed: give the row a new one, or leave it \
            out if it was imported before)"
            .to_owned(),
        CreateError::PinInUse => "this PIN is already active on this virtual number (or, for an \
            order without one, on some virtual number): choose another, or leave pin empty to \
            have one generated"
            .to_owned(),
        CreateError::PinSpaceCrowded => "too many active PINs of this length on this virtual \
            number (orders without one share the space of every number): give the rows a \
            virtual_number, spread them over more numbers, or use longer PINs \
            (PINBRIDGE_PIN_MIN_LENGTH, or a longer pin), or raise PINBRIDGE_PIN_MAX_DENSITY"
            .to_owned(),
        CreateError::Database(e) => e.to_string(),
    }
}

/// Adds `orders` to the import, begun by the first call with the other arguments, checking
/// every row.
async fn add(
    db: &Db,
    store: &mut Option<admission::Import>,
    orders: &[NewOrder],
    density: Density,
    now: i64,
    expected_rows: usize,
) -> Result<Vec<(usize, CreateError)>, crate::storage::Error> {
    let store = match store {
        Some(store) => store,
        None => {
            store.insert(admission::Import::begin(db, true, density, now, expected_rows).await?)
        }
    };
    store.add(orders).await
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::{PinChoice, Region};
    use crate::storage::orders::CaseDbs;

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
    fn a_bad_row_is_named_by_its_own_line_with_crlf_endings_and_multi_line_fields() {
        let csv = "order_id,customer_number,pin,virtual_number,expires_at\r\n\
                   \"OD\r\n1\",09812345678,4821,07314853246,\r\n\
                   OD-2,not-a-number,,,\r\n\
                   OD-3,09812345679,,,\r\n\
                   OD-4,98,,,\r\n";
        let (rows, errors) = parse_csv(csv.as_bytes(), &rules(), 0).unwrap();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 4, 6], "{errors:?}");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 5);
    }

    #[test]
    fn a_reason_given_for_many_rows_is_counted_once_and_a_few_are_listed() {
        let row = |line, message: &str| RowError {
            line,
            message: message.to_owned(),
            order_id: Some(format!("OD-{line}")),
        };
        let mut refused: Vec<RowError> = (10_002..200_002).map(|l| row(l, "crowded")).collect();
        refused.insert(0, row(7, "exists"));
        refused.insert(1, row(9, "exists"));
        assert_eq!(
            summarise(&refused),
            [
                "line 7: exists (OD-7)",
                "line 9: exists (OD-9)",
                "190,000 rows: crowded (first at line 10,002)",
            ]
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
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

    const NOW: i64 = 1_790_000_000_000; // 2026-09-21
    const HEADER: &str = "order_id,customer_number,pin,virtual_number,expires_at";
    // Valid values first, then invalid ones.
    const IDS: ([&str; 5], usize) = (["OD-1", "OD-2", "OD-3", "OD-4", ""], 4);
    const CUSTOMERS: ([&str; 5], usize) = (
        ["09812345678", "+91 99887 76655", "98", "+14155552671", ""],
        2,
    );
    const PINS: ([&str; 6], usize) = (["", "4821", "1234", "48213377", "12a4", "123"], 4);
    const NUMBERS: ([&str; 5], usize) = (["", "07314853246", "+918088919888", "x", "0731485"], 3);
    const EXPIRIES: ([&str; 4], usize) = (
        [
            "",
            "2099-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            "tomorrow",
        ],
        2,
    );

    /// A CSV row as indices into the lists above; `ragged`: one cell too many.
    type Cells = (usize, usize, usize, usize, usize, bool);

    /// An index into `values`, mostly of a valid one.
    fn pick<const N: usize>((values, valid): ([&str; N], usize)) -> impl Strategy<Value = usize> {
        prop_oneof![19 => 0..valid, 1 => valid..values.len()]
    }

    fn cells() -> impl Strategy<Value = Cells> {
        (
            pick(IDS),
            pick(CUSTOMERS),
            pick(PINS),
            pick(NUMBERS),
            pick(EXPIRIES),
            proptest::bool::weighted(0.02),
        )
    }

    fn csv(rows: &[Cells]) -> String {
        let mut csv = format!("{HEADER}\n");
        for (i, c, p, n, e, ragged) in rows {
            let extra = if *ragged { ",extra" } else { "" };
            let (i, c, p, n, e) = (
                IDS.0[*i],
                CUSTOMERS.0[*c],
                PINS.0[*p],
                NUMBERS.0[*n],
                EXPIRIES.0[*e],
            );
            csv.push_str(&format!("{i},{c},{p},{n},{e}{extra}\n"));
        }
        csv
    }

    fn summary(o: &NewOrder) -> String {
        let pin = match &o.pin {
            PinChoice::Given(pin) => pin.as_ref().to_owned(),
            PinChoice::Generate { len } => format!("{len} digits, generated"),
        };
        format!(
            "{} {} {pin} {:?} {} {:?}",
            o.order_id, o.customer, o.virtual_number, o.expires_at_ms, o.allowed_callers
        )
    }

    /// The import as it was before it was split in batches: every row validated, then every
    /// valid row checked and stored at once; without `skip_bad`, any bad row stores nothing.
    async fn import_at_once(db: &Db, csv: &str, density: Density, skip_bad: bool) -> ImportOutcome {
        let (rows, mut refused) = parse_csv(csv.as_bytes(), &rules(), NOW).unwrap();
        let orders: Vec<NewOrder> = rows.iter().map(|(_, o)| o.clone()).collect();
        let mut import = admission::Import::begin(db, true, density, NOW, orders.len())
            .await
            .unwrap();
        let refusals = import.add(&orders).await.unwrap();
        refused.extend(refusals.into_iter().map(|(i, e)| RowError {
            line: rows[i].0,
            message: refusal_message(&e),
            order_id: Some(rows[i].1.order_id.clone()),
        }));
        refused.sort_by_key(|e| e.line);
        let imported = if skip_bad || refused.is_empty() {
            import.finish().await.unwrap()
        } else {
            import.abandon().await.unwrap();
            0
        };
        ImportOutcome { imported, refused }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Each row of a file is accepted or refused as `NewOrder::parse` decides alone,
        /// though each virtual number is parsed once per file.
        #[test]
        fn each_row_is_validated_as_the_api_validates_it(
            rows in proptest::collection::vec(cells(), 0..25)
        ) {
            let (valid, invalid) = parse_csv(csv(&rows).as_bytes(), &rules(), NOW).unwrap();
            let mut valid = valid.into_iter();
            let mut invalid = invalid.into_iter();
            for (r, (i, c, p, n, e, ragged)) in rows.iter().enumerate() {
                let line = r as u64 + 2;
                if *ragged {
                    let error = invalid.next().unwrap();
                    prop_assert_eq!(error.line, line);
                    prop_assert!(error.message.starts_with("not a well-formed CSV row"));
                    continue;
                }
                let cell = |v: &'static str| (!v.is_empty()).then_some(v);
                let alone = NewOrder::parse(
                    IDS.0[*i], CUSTOMERS.0[*c], cell(PINS.0[*p]), cell(NUMBERS.0[*n]),
                    cell(EXPIRIES.0[*e]), &rules(), NOW,
                );
                match alone {
                    Ok(order) => {
                        let (l, parsed) = valid.next().unwrap();
                        prop_assert_eq!(l, line);
                        prop_assert_eq!(summary(&parsed), summary(&order));
                    }
                    Err(e) => prop_assert_eq!(
                        invalid.next().unwrap(),
                        RowError { line, message: e.to_string(), order_id: None }
                    ),
                }
            }
            prop_assert!(valid.next().is_none() && invalid.next().is_none());
        }

        /// Storing a file batch by batch while the next batch is validated refuses the same
        /// rows, with the same messages, and imports as many orders as validating the whole
        /// file first and storing it at once.
        #[test]
        fn an_import_in_batches_decides_as_one_at_once(
            rows in proptest::collection::vec(cells(), 0..25),
            batch_rows in 1..6usize,
            skip_bad in any::<bool>(),
            density in proptest::sample::select(vec![0.0003, 0.01]),
        ) {
            let csv = csv(&rows);
            let density = Density(density);
            static DBS: OnceLock<CaseDbs> = OnceLock::new();
            let (batched, at_once) = DBS.get_or_init(CaseDbs::new).run(|a, b| async move {
                let batched = import_in_batches(
                    &a, csv.as_bytes(), &rules(), density, (skip_bad, NOW, batch_rows), &|_, _| {},
                )
                .await
                .unwrap();
                (batched, import_at_once(&b, &csv, density, skip_bad).await)
            });
            prop_assert_eq!(batched.imported, at_once.imported);
            prop_assert_eq!(batched.refused, at_once.refused);
        }
    }
}
