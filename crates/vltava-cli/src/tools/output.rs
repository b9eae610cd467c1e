//! Output of the tools: aligned tables for people, JSON for programs.

use std::fmt::Write as _;

/// `--output`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns with a header line.
    Table,
    /// One JSON document (one per line for `consume`).
    Json,
}

/// A table: a header row and rows of cells, rendered with every column as
/// wide as its widest cell, two spaces apart.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra ones are an error of the
    /// caller.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert!(row.len() <= self.headers.len(), "more cells than columns");
        self.rows.push(row);
    }

    /// The table as text, one line per row, each ending in a newline, with
    /// no trailing spaces.
    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let _ = write!(text, "{cell:<width$}", width = widths[i]);
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut self.headers.iter().map(String::as_str));
        for row in &self.rows {
            let mut cells = (0..columns).map(|i| row.get(i).map_or("", String::as_str));
            line(&mut cells);
        }
        out
    }
}

/// A list of broker ids as `1,2,3`.
pub fn id_list(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Bytes as a JSON string (lossy UTF-8), or null.
pub fn json_bytes(b: Option<&[u8]>) -> serde_json::Value {
    match b {
        Some(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
        None => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let mut t = Table::new(&["ID", "HOST", "PORT", "RACK"]);
        t.push(vec![
            "1".into(),
            "localhost".into(),
            "9092".into(),
            "".into(),
        ]);
        t.push(vec![
            "1002".into(),
            "broker-2.example".into(),
            "19092".into(),
            "eu-1a".into(),
        ]);
        assert_eq!(
            t.render(),
            "ID    HOST              PORT   RACK\n\
             1     localhost         9092\n\
             1002  broker-2.example  19092  eu-1a\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header_and_short_rows_are_padded() {
        let mut t = Table::new(&["TOPIC", "PARTITIONS"]);
        assert_eq!(t.render(), "TOPIC  PARTITIONS\n");
        t.push(vec!["a".into()]);
        assert_eq!(t.render(), "TOPIC  PARTITIONS\na\n");
    }

    #[test]
    fn width_counts_characters_not_bytes() {
        let mut t = Table::new(&["K", "V"]);
        t.push(vec!["žluťoučký".into(), "1".into()]);
        t.push(vec!["x".into(), "2".into()]);
        assert_eq!(t.render(), "K          V\nžluťoučký  1\nx          2\n");
    }

    #[test]
    fn helpers() {
        assert_eq!(id_list(&[1, 2, 3]), "1,2,3");
        assert_eq!(id_list(&[]), "");
        assert_eq!(json_bytes(None), serde_json::Value::Null);
        assert_eq!(json_bytes(Some(b"a\"b")), serde_json::json!("a\"b"));
    }
}
