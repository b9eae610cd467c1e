//! A response as a tree of named fields, read back from its `Debug` text.
//!
//! The generated message types derive `Debug` and nothing that walks their
//! fields, and the derived text is regular: structs `Name { field: value,
//! .. }`, tuples `Name(value, ..)`, lists `[..]`, strings and byte strings
//! with Rust's escapes, and bare numbers and words. Reading it back gives
//! every field of every message with no per-type code, so a new API needs
//! no walker of its own.

use std::fmt;

/// A value of a response field.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number, `true`/`false`, `null` (from `None`) or a normalised
    /// placeholder such as `<topic-id#1>`.
    Atom(String),
    /// A string field.
    Str(String),
    /// A `bytes` field.
    Bytes(Vec<u8>),
    List(Vec<Value>),
    /// A struct with its fields in declaration order.
    Struct(Vec<(String, Value)>),
}

impl Value {
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Atom(a) => f.write_str(a),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "{:?}", bytes::Bytes::copy_from_slice(b)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fields) => {
                f.write_str("{")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, " {name}: {value}")?;
                }
                f.write_str(" }")
            }
        }
    }
}

/// Parses the compact `{:?}` text of a value. `Some(x)` becomes `x` and
/// `None` the atom `null`: Kafka's nullable fields differ from plain ones
/// only in allowing null. A `Uuid([..])` becomes an atom of its 32 hex
/// digits.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing text"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        let end = (self.i + 40).min(self.s.len());
        format!(
            "{what} at byte {}: {:?}",
            self.i,
            String::from_utf8_lossy(&self.s[self.i..end])
        )
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {:?}", c as char)))
        }
    }

    fn word(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.') {
                self.i += 1;
            } else {
                break;
            }
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        match self.peek() {
            Some(b'"') => Ok(Value::Str(
                String::from_utf8(self.quoted()?).map_err(|e| e.to_string())?,
            )),
            Some(b'b') if self.s.get(self.i + 1) == Some(&b'"') => {
                self.i += 1;
                Ok(Value::Bytes(self.quoted()?))
            }
            Some(b'[') => {
                self.i += 1;
                Ok(Value::List(self.items(b']')?))
            }
            // A tuple: a list of its elements.
            Some(b'(') => {
                self.i += 1;
                Ok(Value::List(self.items(b')')?))
            }
            Some(_) => {
                let word = self.word();
                if word.is_empty() {
                    return Err(self.err("unexpected character"));
                }
                self.ws();
                match self.peek() {
                    Some(b'{') => {
                        self.i += 1;
                        self.fields()
                    }
                    Some(b'(') => {
                        self.i += 1;
                        let mut items = self.items(b')')?;
                        match (word.as_str(), items.len()) {
                            ("Some", 1) => Ok(items.remove(0)),
                            ("Uuid", 1) => Ok(uuid_atom(&items[0])),
                            _ => Ok(Value::Struct(
                                items
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, v)| (i.to_string(), v))
                                    .collect(),
                            )),
                        }
                    }
                    _ if word == "None" => Ok(Value::Atom("null".into())),
                    _ => Ok(Value::Atom(word)),
                }
            }
            None => Err(self.err("unexpected end")),
        }
    }

    fn items(&mut self, close: u8) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(out);
            }
            out.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.err("expected ',' or a closing bracket")),
            }
        }
    }

    fn fields(&mut self) -> Result<Value, String> {
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(Value::Struct(out));
            }
            let name = self.word();
            if name.is_empty() {
                return Err(self.err("expected a field name"));
            }
            self.expect(b':')?;
            let value = self.value()?;
            out.push((name, value));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    /// A quoted string with Rust's `Debug` escapes, as bytes.
    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = self.peek().ok_or_else(|| self.err("bad escape"))?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'0' => out.push(0),
                        b'\\' | b'"' | b'\'' => out.push(e),
                        b'x' => {
                            let hex = self.s.get(self.i..self.i + 2).ok_or("short \\x")?;
                            let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                            self.i += 2;
                        }
                        b'u' => {
                            self.expect(b'{')?;
                            let start = self.i;
                            while self.peek().is_some_and(|c| c != b'}') {
                                self.i += 1;
                            }
                            let hex = std::str::from_utf8(&self.s[start..self.i])
                                .map_err(|e| e.to_string())?;
                            self.i += 1;
                            let ch = u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err("bad \\u escape"))?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err("unknown escape")),
                    }
                }
                _ => out.push(c),
            }
        }
    }
}

fn uuid_atom(bytes: &Value) -> Value {
    let Value::List(items) = bytes else {
        return bytes.clone();
    };
    let hex: String = items
        .iter()
        .map(|b| match b {
            Value::Atom(a) => format!("{:02x}", a.parse::<u8>().unwrap_or(0)),
            _ => "??".into(),
        })
        .collect();
    Value::Atom(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Read only through their Debug text.
    #[allow(dead_code)]
    #[derive(Debug)]
    struct Inner {
        name: String,
        id: Option<i64>,
        missing: Option<String>,
        data: bytes::Bytes,
    }

    #[allow(dead_code)]
    #[derive(Debug)]
    struct Outer {
        error_code: i16,
        ratio: f64,
        flag: bool,
        topic_id: vltava_client::Uuid,
        items: Vec<Inner>,
        nested: Vec<Vec<i32>>,
        pair: Option<(i16, i16)>,
    }

    #[test]
    fn reads_back_derived_debug_text() {
        let outer = Outer {
            error_code: -3,
            ratio: 1.5e-7,
            flag: true,
            topic_id: vltava_client::Uuid([0xab; 16]),
            items: vec![Inner {
                name: "a \"quoted\"\n\u{1F600} name".into(),
                id: Some(-1),
                missing: None,
                data: bytes::Bytes::from_static(b"\x00\x7f\xff\"\\ab"),
            }],
            nested: vec![vec![], vec![1, 2]],
            pair: Some((0, -13)),
        };
        let v = parse(&format!("{outer:?}")).unwrap();
        assert_eq!(v.field("error_code"), Some(&Value::Atom("-3".into())));
        assert_eq!(v.field("ratio"), Some(&Value::Atom("1.5e-7".into())));
        assert_eq!(v.field("flag"), Some(&Value::Atom("true".into())));
        assert_eq!(v.field("topic_id"), Some(&Value::Atom("ab".repeat(16))));
        let Some(Value::List(items)) = v.field("items") else {
            panic!("items: {v}");
        };
        let inner = &items[0];
        assert_eq!(
            inner.field("name"),
            Some(&Value::Str("a \"quoted\"\n\u{1F600} name".into()))
        );
        assert_eq!(inner.field("id"), Some(&Value::Atom("-1".into())));
        assert_eq!(inner.field("missing"), Some(&Value::Atom("null".into())));
        assert_eq!(
            inner.field("data"),
            Some(&Value::Bytes(b"\x00\x7f\xff\"\\ab".to_vec()))
        );
        assert_eq!(
            v.field("pair"),
            Some(&Value::List(vec![
                Value::Atom("0".into()),
                Value::Atom("-13".into())
            ]))
        );
        assert_eq!(
            v.field("nested"),
            Some(&Value::List(vec![
                Value::List(vec![]),
                Value::List(vec![Value::Atom("1".into()), Value::Atom("2".into())])
            ]))
        );
    }

    #[test]
    fn refuses_what_is_not_debug_text() {
        assert!(parse("Outer { a: 1").is_err());
        assert!(parse("Outer { a: \"x }").is_err());
        assert!(parse("[1, 2] 3").is_err());
    }
}
