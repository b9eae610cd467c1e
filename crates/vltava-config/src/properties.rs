//! Java `.properties` text, read the way `java.util.Properties::load` reads it.
//!
//! The rules, in short:
//!
//! - A *natural* line ends at `\n`, `\r` or `\r\n`. A *logical* line is one
//!   natural line, or several joined because each but the last ends in an odd
//!   number of backslashes. The joining backslash is dropped and so is the
//!   leading whitespace of the continuation line.
//! - Whitespace means space, tab and form feed.
//! - A natural line whose first non-whitespace character is `#` or `!`
//!   starts a comment, which runs to the end of that natural line (a
//!   trailing backslash does not continue a comment). Inside a continuation
//!   those characters are ordinary.
//! - Blank lines are skipped.
//! - The key runs from the first non-whitespace character to the first
//!   unescaped `=`, `:` or whitespace. Then whitespace, at most one `=` or
//!   `:`, and more whitespace are skipped; the rest of the line is the value.
//!   Trailing whitespace of the value is kept, as Java keeps it.
//! - In keys and values, `\t \n \r \f` are control characters, `\uXXXX` is a
//!   UTF-16 code unit (surrogate pairs are joined), and a backslash before any
//!   other character stands for that character (`\=`, `\:`, `\\`, `\ `, ...).
//!
//! The only malformed input is a bad `\u` escape; the error names the line.

use std::fmt;
use std::path::Path;

/// A malformed line in a properties text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based number of the natural line the problem is on.
    pub line: usize,
    /// What is wrong, in a few words.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reading a properties file failed: either the file or its text.
#[derive(Debug)]
pub enum PropertiesFileError {
    /// The file could not be read (or was not UTF-8).
    Io(std::io::Error),
    /// The text did not parse.
    Parse(ParseError),
}

impl fmt::Display for PropertiesFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertiesFileError::Io(e) => write!(f, "cannot read properties file: {e}"),
            PropertiesFileError::Parse(e) => write!(f, "bad properties file: {e}"),
        }
    }
}

impl std::error::Error for PropertiesFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PropertiesFileError::Io(e) => Some(e),
            PropertiesFileError::Parse(e) => Some(e),
        }
    }
}

/// Reads and parses a properties file (UTF-8).
pub fn read_properties_file(path: &Path) -> Result<Vec<(String, String)>, PropertiesFileError> {
    let text = std::fs::read_to_string(path).map_err(PropertiesFileError::Io)?;
    parse_properties(&text).map_err(PropertiesFileError::Parse)
}

/// Parses properties text into `(key, value)` pairs in file order.
///
/// Duplicate keys are all returned; a reader that wants Java's map semantics
/// lets the last one win.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    for logical in logical_lines(text) {
        out.push(split_entry(&logical)?);
    }
    Ok(out)
}

/// Splits `--set KEY=VALUE` style text at the first `=`. Neither side is
/// unescaped or trimmed; `None` when there is no `=` or the key is empty.
pub fn parse_override(arg: &str) -> Option<(String, String)> {
    let (key, value) = arg.split_once('=')?;
    if key.is_empty() {
        return None;
    }
    Some((key.to_string(), value.to_string()))
}

/// One character of a logical line and the natural line it came from.
type Located = (char, usize);

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

/// Natural lines with their 1-based numbers, terminators removed.
fn natural_lines(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut number = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push((number, &text[start..i]));
                number += 1;
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push((number, &text[start..i]));
                number += 1;
                i += 1;
                if i < bytes.len() && bytes[i] == b'\n' {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push((number, &text[start..]));
    }
    lines
}

/// Logical lines: comments and blank lines removed, continuations joined.
fn logical_lines(text: &str) -> Vec<Vec<Located>> {
    let mut result = Vec::new();
    let mut current: Option<Vec<Located>> = None;
    for (number, line) in natural_lines(text) {
        let content = line.trim_start_matches(is_ws);
        let continuing = current.is_some();
        if !continuing && (content.is_empty() || content.starts_with(['#', '!'])) {
            continue;
        }
        let trailing_backslashes = content.chars().rev().take_while(|&c| c == '\\').count();
        let continues = trailing_backslashes % 2 == 1;
        let kept = if continues {
            &content[..content.len() - 1]
        } else {
            content
        };
        let buf = current.get_or_insert_with(Vec::new);
        buf.extend(kept.chars().map(|c| (c, number)));
        if !continues {
            result.extend(current.take());
        }
    }
    // A continuation at the very end of the text: Java keeps what it has.
    if let Some(buf) = current {
        if !buf.is_empty() {
            result.push(buf);
        }
    }
    result
}

/// Finds the key/value boundary of a logical line and unescapes both parts.
fn split_entry(line: &[Located]) -> Result<(String, String), ParseError> {
    let len = line.len();
    let mut key_len = 0;
    let mut value_start = len;
    let mut has_separator = false;
    let mut preceding_backslash = false;
    while key_len < len {
        let c = line[key_len].0;
        if (c == '=' || c == ':') && !preceding_backslash {
            value_start = key_len + 1;
            has_separator = true;
            break;
        }
        if is_ws(c) && !preceding_backslash {
            value_start = key_len + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
        key_len += 1;
    }
    while value_start < len {
        let c = line[value_start].0;
        if !is_ws(c) {
            if !has_separator && (c == '=' || c == ':') {
                has_separator = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    let key = unescape(&line[..key_len])?;
    let value = unescape(&line[value_start..])?;
    Ok((key, value))
}

fn unescape(chars: &[Located]) -> Result<String, ParseError> {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let (c, line) = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&(escaped, _)) = chars.get(i) else {
            // A lone trailing backslash stands for nothing.
            break;
        };
        i += 1;
        match escaped {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                let unit = hex4(chars, &mut i, line)?;
                match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by `\u` + low surrogate.
                        let low = if chars.get(i).map(|c| c.0) == Some('\\')
                            && chars.get(i + 1).map(|c| c.0) == Some('u')
                        {
                            let mut j = i + 2;
                            let low = hex4(chars, &mut j, line)?;
                            if (0xDC00..=0xDFFF).contains(&low) {
                                i = j;
                                Some(low)
                            } else {
                                None
                            }
                        } else {
                            None
                        };
                        let Some(low) = low else {
                            return Err(ParseError {
                                line,
                                message: format!("unpaired surrogate \\u{unit:04X}"),
                            });
                        };
                        let code = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        // Always valid: the arithmetic above lands in 0x10000..=0x10FFFF.
                        out.extend(char::from_u32(code));
                    }
                    0xDC00..=0xDFFF => {
                        return Err(ParseError {
                            line,
                            message: format!("unpaired surrogate \\u{unit:04X}"),
                        });
                    }
                    _ => out.extend(char::from_u32(u32::from(unit))),
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Reads the four hex digits of a `\u` escape starting at `chars[*i]`.
fn hex4(chars: &[Located], i: &mut usize, line: usize) -> Result<u16, ParseError> {
    let mut unit: u16 = 0;
    for _ in 0..4 {
        let digit = chars
            .get(*i)
            .and_then(|&(c, _)| c.to_digit(16))
            .ok_or_else(|| ParseError {
                line,
                message: "malformed \\uXXXX escape (needs four hex digits)".to_string(),
            })?;
        // Four hex digits fit in 16 bits.
        unit = (unit << 4) | digit as u16;
        *i += 1;
    }
    Ok(unit)
}
