//! `consume --format` templates: `%k` key, `%v` value, `%h` headers, `%o`
//! offset, `%t` timestamp, `%p` partition, `%T` topic, `%%` a percent sign;
//! `\n`, `\t`, `\r` and `\\` escapes. Each record's output ends with a
//! newline.
//!
//! Keys and values are written as their raw bytes; a null key or value
//! prints `null` (as Kafka's console consumer does). Headers print as
//! `k1=v1,k2=v2` (the form `produce --header` takes), a null header value as
//! the bare key.

use vltava_client::ConsumedRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Key,
    Value,
    Headers,
    Offset,
    Timestamp,
    Partition,
    Topic,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let piece = match chars.next() {
                        Some('%') => {
                            literal.push(b'%');
                            continue;
                        }
                        Some('k') => Piece::Key,
                        Some('v') => Piece::Value,
                        Some('h') => Piece::Headers,
                        Some('o') => Piece::Offset,
                        Some('t') => Piece::Timestamp,
                        Some('p') => Piece::Partition,
                        Some('T') => Piece::Topic,
                        Some(other) => {
                            return Err(format!(
                                "unknown placeholder %{other} in the format (known: %k %v %h %o \
                                 %t %p %T %%)"
                            ))
                        }
                        None => return Err("the format ends with a lone %".to_string()),
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
                '\\' => match chars.next() {
                    Some('n') => literal.push(b'\n'),
                    Some('t') => literal.push(b'\t'),
                    Some('r') => literal.push(b'\r'),
                    Some('\\') => literal.push(b'\\'),
                    Some(other) => {
                        literal.push(b'\\');
                        let mut buf = [0; 4];
                        literal.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                    }
                    None => literal.push(b'\\'),
                },
                c => {
                    let mut buf = [0; 4];
                    literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template { pieces })
    }

    /// Appends the record's line (with its newline) to `out`.
    pub fn render(&self, topic: &str, partition: i32, r: &ConsumedRecord, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(b) => out.extend_from_slice(b),
                Piece::Key => nullable(r.key.as_deref(), out),
                Piece::Value => nullable(r.value.as_deref(), out),
                Piece::Headers => {
                    for (i, h) in r.headers.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(&h.key);
                        if let Some(v) = &h.value {
                            out.push(b'=');
                            out.extend_from_slice(v);
                        }
                    }
                }
                Piece::Offset => out.extend_from_slice(r.offset.to_string().as_bytes()),
                Piece::Timestamp => out.extend_from_slice(r.timestamp.to_string().as_bytes()),
                Piece::Partition => out.extend_from_slice(partition.to_string().as_bytes()),
                Piece::Topic => out.extend_from_slice(topic.as_bytes()),
            }
        }
        out.push(b'\n');
    }
}

fn nullable(b: Option<&[u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(b.unwrap_or(b"null"));
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vltava_client::Header;

    use super::*;

    fn record() -> ConsumedRecord {
        ConsumedRecord {
            offset: 42,
            timestamp: 1_700_000_000_123,
            key: Some(Bytes::from_static(b"user-1")),
            value: Some(Bytes::from_static(b"{\"a\":1}")),
            headers: vec![
                Header {
                    key: Bytes::from_static(b"trace"),
                    value: Some(Bytes::from_static(b"abc")),
                },
                Header {
                    key: Bytes::from_static(b"flag"),
                    value: None,
                },
            ],
        }
    }

    fn render(template: &str, r: &ConsumedRecord) -> String {
        let mut out = Vec::new();
        Template::parse(template)
            .unwrap()
            .render("orders", 3, r, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_placeholder() {
        assert_eq!(render("%v", &record()), "{\"a\":1}\n");
        assert_eq!(
            render("%T/%p@%o %t %k=%v [%h]", &record()),
            "orders/3@42 1700000000123 user-1={\"a\":1} [trace=abc,flag]\n"
        );
        assert_eq!(render("100%% %o", &record()), "100% 42\n");
    }

    #[test]
    fn escapes() {
        assert_eq!(render(r"%k\t%v\n--", &record()), "user-1\t{\"a\":1}\n--\n");
        assert_eq!(render(r"a\\b\x\", &record()), "a\\b\\x\\\n");
    }

    #[test]
    fn nulls_and_no_headers() {
        let r = ConsumedRecord {
            key: None,
            value: None,
            headers: vec![],
            ..record()
        };
        assert_eq!(render("%k|%v|%h|", &r), "null|null||\n");
    }

    #[test]
    fn raw_bytes_pass_through() {
        let r = ConsumedRecord {
            value: Some(Bytes::from_static(&[0xff, 0x00, b'x'])),
            ..record()
        };
        let mut out = Vec::new();
        Template::parse("%v").unwrap().render("t", 0, &r, &mut out);
        assert_eq!(out, [0xff, 0x00, b'x', b'\n']);
    }

    #[test]
    fn unicode_literals_survive() {
        assert_eq!(render("→ %o ✓", &record()), "→ 42 ✓\n");
    }

    #[test]
    fn bad_templates() {
        let err = Template::parse("%x").unwrap_err();
        assert!(err.contains("%x"), "{err}");
        assert!(Template::parse("abc%").is_err());
        assert_eq!(Template::parse("").unwrap().pieces, vec![]);
    }
}
