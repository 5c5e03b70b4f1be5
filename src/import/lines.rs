//! The line a CSV row starts on, as an editor numbers the file's lines (the header is line 1).
//!
//! The csv crate's own `Position::line` is one short after a CRLF line ending, which Excel and
//! every paste into a browser write (rust-csv issue 395: the record ends at the `\r` and the
//! `\n` is counted only when the next record is read). Its byte offsets are right, so lines are
//! counted here from the bytes: a row with a quoted field over several lines is named by the
//! line it starts on.

/// Counts the lines of one file's bytes up to each row, in the order the rows are read.
#[derive(Debug, Default)]
pub(super) struct LineNumbers {
    /// The bytes counted so far, from the start.
    counted_to: usize,
    /// Line endings (`\n`) within them.
    endings: u64,
}

impl LineNumbers {
    /// The line that a row (or an error) at `position` starts on in `bytes`, the whole file;
    /// 0 when the csv reader gave no position.
    pub(super) fn of(&mut self, bytes: &[u8], position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return 0;
        };
        let byte = usize::try_from(position.byte())
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        // The position may be the end of the line before (the `\n` of a CRLF) or the first of
        // the blank lines the reader skipped; a row never starts with a line ending.
        let start = bytes[byte..]
            .iter()
            .position(|b| *b != b'\n' && *b != b'\r')
            .map_or(bytes.len(), |skipped| byte + skipped);
        let count = |bytes: &[u8]| bytes.iter().filter(|b| **b == b'\n').count() as u64;
        if start < self.counted_to {
            // Rows come in order; an error may point back into its row: count afresh.
            return count(&bytes[..start]) + 1;
        }
        self.endings += count(&bytes[self.counted_to..start]);
        self.counted_to = start;
        self.endings + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line of each row of `csv` (header first), as read by the csv crate.
    fn lines(csv: &str) -> Vec<u64> {
        let bytes = csv.as_bytes();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut numbers = LineNumbers::default();
        let mut record = csv::StringRecord::new();
        let mut found = Vec::new();
        while reader.read_record(&mut record).unwrap() {
            found.push(numbers.of(bytes, record.position()));
        }
        found
    }

    #[test]
    fn rows_are_numbered_alike_with_lf_and_crlf_line_endings() {
        assert_eq!(lines("h,i\na,1\nb,2\nc,3\n"), [1, 2, 3, 4]);
        assert_eq!(lines("h,i\r\na,1\r\nb,2\r\nc,3\r\n"), [1, 2, 3, 4]);
        assert_eq!(lines("h,i\r\na,1\r\nb,2\r\nc,3"), [1, 2, 3, 4]);
    }

    #[test]
    fn a_row_with_a_quoted_field_over_several_lines_is_named_by_its_first_line() {
        assert_eq!(lines("h,i\na,\"x\ny\"\nb,2\n"), [1, 2, 4]);
        assert_eq!(lines("h,i\r\na,\"x\r\ny\r\nz\"\r\nb,2\r\n"), [1, 2, 5]);
    }

    #[test]
    fn blank_lines_count_as_lines() {
        assert_eq!(lines("h,i\n\na,1\n\n\nb,2\n"), [1, 3, 6]);
        assert_eq!(lines("h,i\r\n\r\na,1\r\nb,2\r\n"), [1, 3, 4]);
    }
}
