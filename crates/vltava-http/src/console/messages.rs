//! `/ui/topics/{topic}/{partition}`: the message browser. Shows records of
//! a partition this node hosts: the latest N, or N from an offset, or N
//! from the first record at or after a timestamp, each with its offset,
//! timestamp, key, value and headers, keys and values as text,
//! pretty-printed JSON or hex.
//!
//! It reads through the same local read path as Fetch
//! (`Partition::read`: whole stored batches below the high watermark) and
//! decodes the batches with vltava-records (decompressing as needed). A
//! page never loads unbounded data: at most [`MAX_RECORDS`] records, at
//! most [`MAX_READ_BYTES`] of stored batches read, at most
//! [`MAX_DECOMPRESSED`] per batch decompressed, and at most
//! [`MAX_SHOWN_BYTES`] of each key, value or header shown. A partition not
//! hosted here is not fetched over the network: the page names its leader,
//! whose console shows it.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use vltava_records::batch::BatchSplitter;

use super::html::{self, esc, url, Query};
use crate::Node;

/// Records on one page at most (and the default for "latest N").
pub const MAX_RECORDS: usize = 200;
/// The default number of records shown.
pub const DEFAULT_RECORDS: usize = 50;
/// Stored batch bytes one page reads at most. Whole batches are read, so a
/// batch larger than this is not shown (the page says so).
pub const MAX_READ_BYTES: usize = 4 * 1024 * 1024;
/// Decompressed bytes of one batch at most (a compressed batch may expand
/// far beyond its stored size).
pub const MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;
/// Bytes of one key, value or header value shown; the rest is cut with a
/// note of the full length.
pub const MAX_SHOWN_BYTES: usize = 4 * 1024;

/// How keys and values are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON pretty-printed when it parses as JSON, text when UTF-8, else hex.
    Auto,
    Text,
    Json,
    Hex,
}

impl Format {
    fn parse(s: Option<&str>) -> Format {
        match s {
            Some("text") => Format::Text,
            Some("json") => Format::Json,
            Some("hex") => Format::Hex,
            _ => Format::Auto,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Text => "text",
            Format::Json => "json",
            Format::Hex => "hex",
        }
    }
}

/// Where the page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    Latest,
    Offset(i64),
    Timestamp(i64),
}

/// One decoded record, copied out of its batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What was read, and why it stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Read {
    pub records: Vec<Shown>,
    pub start: i64,
    pub log_start: i64,
    pub high_watermark: i64,
    pub notes: Vec<String>,
}

/// Cuts `bytes` to [`MAX_SHOWN_BYTES`], returning whether it was cut.
fn capped(bytes: &[u8]) -> (&[u8], bool) {
    if bytes.len() > MAX_SHOWN_BYTES {
        (&bytes[..MAX_SHOWN_BYTES], true)
    } else {
        (bytes, false)
    }
}

/// A hex dump: 16 bytes a line with the offset and the printable ASCII.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:06x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

/// A key, value or header value as escaped HTML in `format`.
pub fn render_bytes(bytes: Option<&[u8]>, format: Format) -> String {
    let Some(full) = bytes else {
        return "<span class=\"muted\">null</span>".into();
    };
    let (b, cut) = capped(full);
    let note = if cut {
        format!(
            "<br><span class=\"muted\">(first {} of {} bytes)</span>",
            b.len(),
            full.len()
        )
    } else {
        String::new()
    };
    let as_hex = || format!("<pre class=\"hex\">{}</pre>{note}", esc(&hex(b)));
    let as_text = |s: &str| format!("<pre>{}</pre>{note}", esc(s));
    // JSON is only parsed when whole: a cut document would not parse.
    let json = || {
        if cut {
            return None;
        }
        serde_json::from_slice::<serde_json::Value>(b)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
    };
    match format {
        Format::Hex => as_hex(),
        Format::Text => as_text(&String::from_utf8_lossy(b)),
        Format::Json => match json() {
            Some(pretty) => format!("<pre class=\"json\">{}</pre>", esc(&pretty)),
            None => format!(
                "<span class=\"muted\">not JSON:</span>{}",
                as_text(&String::from_utf8_lossy(b))
            ),
        },
        Format::Auto => {
            let looks_json = b
                .iter()
                .find(|c| !c.is_ascii_whitespace())
                .is_some_and(|c| *c == b'{' || *c == b'[');
            match (looks_json, json()) {
                (true, Some(pretty)) => format!("<pre class=\"json\">{}</pre>", esc(&pretty)),
                _ => match std::str::from_utf8(b) {
                    Ok(s)
                        if !s
                            .chars()
                            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') =>
                    {
                        as_text(s)
                    }
                    _ => as_hex(),
                },
            }
        }
    }
}

/// Decodes the records of `batches` (concatenated stored batches) with an
/// offset in `start..upper`, at most `max` of them, skipping control
/// batches (transaction markers).
pub fn decode(
    batches: bytes::Bytes,
    start: i64,
    upper: i64,
    max: usize,
    notes: &mut Vec<String>,
) -> Vec<Shown> {
    let mut out = Vec::new();
    let mut markers = 0;
    'batches: for batch in BatchSplitter::new(batches) {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                notes.push(format!("stopped at an unreadable batch: {e}"));
                break;
            }
        };
        if batch.is_control() {
            markers += 1;
            continue;
        }
        let records = match batch.records_with_limit(MAX_DECOMPRESSED) {
            Ok(r) => r,
            Err(e) => {
                notes.push(format!(
                    "the batch at offset {} could not be decoded: {e}",
                    batch.base_offset()
                ));
                continue;
            }
        };
        for r in records {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    notes.push(format!(
                        "a record of the batch at offset {} could not be decoded: {e}",
                        batch.base_offset()
                    ));
                    break;
                }
            };
            if r.offset < start {
                continue;
            }
            if r.offset >= upper || out.len() >= max {
                break 'batches;
            }
            out.push(Shown {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key.as_deref().map(<[u8]>::to_vec),
                value: r.value.as_deref().map(<[u8]>::to_vec),
                headers: r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            String::from_utf8_lossy(&h.key).into_owned(),
                            h.value.as_deref().map(<[u8]>::to_vec),
                        )
                    })
                    .collect(),
            });
        }
    }
    if markers > 0 {
        notes.push(format!("{markers} transaction marker batch(es) skipped"));
    }
    out
}

/// Reads at most `count` records from a hosted partition, from `from`.
/// Blocking file reads: run on the blocking pool.
fn read(p: &vltava_broker::replica::Partition, from: From, count: usize) -> Read {
    let log = p.log();
    let log_start = log.log_start_offset();
    let hw = p.high_watermark();
    let mut notes = Vec::new();
    let start = match from {
        From::Latest => (hw - count as i64).max(log_start),
        From::Offset(o) if o < log_start => {
            notes.push(format!("offset {o} is below the log start; starting there"));
            log_start
        }
        From::Offset(o) => o.min(hw),
        From::Timestamp(ts) => match p.offset_for_timestamp(ts) {
            Ok(Some((o, _))) => o.max(log_start).min(hw),
            Ok(None) => {
                notes.push(format!("no record at or after {}", html::timestamp(ts)));
                hw
            }
            Err(e) => {
                notes.push(format!("timestamp lookup failed: {e:?}"));
                hw
            }
        },
    };
    let mut out = Read {
        start,
        log_start,
        high_watermark: hw,
        ..Read::default()
    };
    if start >= hw {
        out.notes = notes;
        return out;
    }
    match p.read(start, MAX_READ_BYTES, hw, false) {
        Ok(batches) if batches.is_empty() => notes.push(format!(
            "the batch at offset {start} is larger than this page reads ({})",
            html::bytes(MAX_READ_BYTES as f64)
        )),
        Ok(batches) => out.records = decode(batches, start, hw, count, &mut notes),
        Err(e) => notes.push(format!("read failed: {e:?}")),
    }
    out.notes = notes;
    out
}

pub async fn handle(
    State(node): State<Arc<Node>>,
    Path((topic, partition)): Path<(String, i32)>,
    RawQuery(raw): RawQuery,
    who: Option<axum::Extension<crate::auth::HttpPrincipal>>,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let format = Format::parse(q.get("format"));
    let count = q
        .int("n")
        .map_or(DEFAULT_RECORDS, |n| n.clamp(1, MAX_RECORDS as i64) as usize);
    let ts = q.get("ts").and_then(html::parse_time);
    let from = match (q.get("from"), q.int("offset"), ts) {
        (Some("offset"), Some(o), _) => From::Offset(o),
        (Some("timestamp"), _, Some(ts)) => From::Timestamp(ts),
        _ => From::Latest,
    };
    let (broker, _permit) = match super::begin(&node).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Record contents are what a consumer reads: the principal needs Read
    // on the topic, as Fetch asks (the guard checked Describe on the
    // cluster already).
    if !crate::auth::may_read_topic(who.as_deref(), &broker, &topic) {
        return super::html_response(
            axum::http::StatusCode::FORBIDDEN,
            html::page(
                "Not allowed",
                &format!(
                    "<p>{} may not read topic {}.</p>",
                    html::esc(who.as_deref().map_or("", |w| w.principal.as_str())),
                    html::esc(&topic)
                ),
                false,
            ),
        );
    }
    let leader = broker
        .metadata
        .image()
        .partition(&topic, partition)
        .map(|p| p.leader);
    let Some(leader) = leader else {
        return super::not_found(&format!("There is no partition {topic}-{partition}."));
    };
    let Some(hosted) = broker.replicas.get(&topic, partition) else {
        let body = format!(
            "<p>Partition {} of topic <a href=\"/ui/topics/{}\">{}</a> is not hosted on node {}; {}</p>",
            partition,
            url(&topic),
            esc(&topic),
            broker.node_id,
            if leader >= 0 {
                format!("its leader is node {leader}, whose console at <code>/ui</code> shows its messages.")
            } else {
                "it has no leader now.".into()
            }
        );
        return super::ok(html::page(&format!("{topic}-{partition}"), &body, false));
    };
    let mut result = tokio::task::spawn_blocking(move || read(&hosted, from, count))
        .await
        .unwrap_or_else(|e| Read {
            notes: vec![format!("the read failed: {e}")],
            ..Read::default()
        });
    if leader != broker.node_id {
        result.notes.insert(
            0,
            format!(
                "node {} holds a follower copy of this partition (its leader is node {leader}); shown up to this copy's high watermark",
                broker.node_id
            ),
        );
    }
    super::ok(render(&topic, partition, from, count, format, &result))
}

pub fn render(
    topic: &str,
    partition: i32,
    from: From,
    count: usize,
    format: Format,
    r: &Read,
) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"/ui/topics/{}\">&larr; topic {}</a>. Log start {}, high watermark {}; records beyond the high watermark are never shown.</p>",
        url(topic),
        esc(topic),
        r.log_start,
        r.high_watermark
    );
    let (sel_latest, sel_offset, sel_ts, offset, ts) = match from {
        From::Latest => (" selected", "", "", String::new(), String::new()),
        From::Offset(o) => ("", " selected", "", o.to_string(), String::new()),
        From::Timestamp(t) => ("", "", " selected", String::new(), t.to_string()),
    };
    let _ = write!(
        body,
        "<form method=\"get\"><select name=\"from\"><option value=\"latest\"{sel_latest}>latest</option>\
<option value=\"offset\"{sel_offset}>from offset</option><option value=\"timestamp\"{sel_ts}>from time (ms or UTC date)</option></select>\
offset <input name=\"offset\" size=\"10\" value=\"{offset}\"> time <input name=\"ts\" size=\"22\" placeholder=\"2024-02-29 12:00:00\" value=\"{ts}\"> \
records <input name=\"n\" size=\"4\" value=\"{count}\"> as <select name=\"format\">"
    );
    for f in [Format::Auto, Format::Text, Format::Json, Format::Hex] {
        let _ = write!(
            body,
            "<option value=\"{0}\"{1}>{0}</option>",
            f.name(),
            if f == format { " selected" } else { "" }
        );
    }
    body.push_str("</select><button>Show</button></form>");
    let _ = write!(
        body,
        "<p class=\"muted\">At most {MAX_RECORDS} records and {} of stored batches per page; keys, values and headers are cut at {} each.</p>",
        html::bytes(MAX_READ_BYTES as f64),
        html::bytes(MAX_SHOWN_BYTES as f64)
    );
    for note in &r.notes {
        let _ = write!(body, "<p class=\"warn\">{}</p>", esc(note));
    }
    let _ = write!(
        body,
        "<p>{} records from offset {}.</p>",
        r.records.len(),
        r.start
    );
    body.push_str(&html::table(
        &["#offset", "timestamp", "key", "value", "headers"],
        r.records.iter().map(|m| {
            let headers = m
                .headers
                .iter()
                .map(|(k, v)| format!("<b>{}</b>: {}", esc(k), render_bytes(v.as_deref(), format)))
                .collect::<Vec<_>>()
                .join("");
            vec![
                m.offset.to_string(),
                esc(&html::timestamp(m.timestamp)),
                render_bytes(m.key.as_deref(), format),
                render_bytes(m.value.as_deref(), format),
                headers,
            ]
        }),
    ));
    if let Some(last) = r.records.last() {
        let _ = write!(
            body,
            "<p><a href=\"?from=offset&amp;offset={}&amp;n={count}&amp;format={}\">next records &rarr;</a></p>",
            last.offset + 1,
            format.name()
        );
    }
    html::page(&format!("{topic} / partition {partition}"), &body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_pretty_printed_and_escaped() {
        let v = br#"{"name":"<b>&","n":[1,2]}"#;
        let shown = render_bytes(Some(v), Format::Auto);
        assert!(shown.contains("class=\"json\""), "{shown}");
        assert!(
            shown.contains("&quot;name&quot;: &quot;&lt;b&gt;&amp;&quot;"),
            "{shown}"
        );
        assert!(shown.contains("\n  &quot;n&quot;"), "{shown}");
        let not = render_bytes(Some(b"plain <text>"), Format::Json);
        assert!(not.contains("not JSON") && not.contains("plain &lt;text&gt;"));
        assert_eq!(
            render_bytes(None, Format::Text),
            "<span class=\"muted\">null</span>"
        );
    }

    #[test]
    fn hex_dumps_and_binary_falls_back_to_hex() {
        let dump = hex(b"ABCDEFGHIJKLMNOPQ\x00");
        assert_eq!(
            dump,
            "000000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP\n\
000010  51 00                                            Q.\n"
        );
        let shown = render_bytes(Some(&[0xff, 0x00, b'<']), Format::Auto);
        assert!(
            shown.contains("ff 00 3c") && shown.contains(".."),
            "{shown}"
        );
        assert!(shown.contains(".&lt;"), "{shown}");
        assert!(render_bytes(Some(b"hello"), Format::Hex).contains("68 65 6c 6c 6f"));
        assert!(render_bytes(Some(b"hello"), Format::Auto).contains("<pre>hello</pre>"));
    }

    #[test]
    fn long_values_are_cut() {
        let big = vec![b'x'; MAX_SHOWN_BYTES * 3];
        let shown = render_bytes(Some(&big), Format::Text);
        assert!(shown.contains(&format!("first {MAX_SHOWN_BYTES} of {} bytes", big.len())));
        assert!(shown.len() < MAX_SHOWN_BYTES + 200);
    }

    #[test]
    fn decodes_batches_within_the_range_and_cap() {
        use vltava_records::{Compression, RecordBatchBuilder};
        let mut all = Vec::new();
        // The second batch is compressed: the browser decompresses.
        for (base, codec) in [(0i64, Compression::None), (3, Compression::Gzip)] {
            let mut b = RecordBatchBuilder::new()
                .base_offset(base)
                .base_timestamp(1_000)
                .compression(codec);
            for i in 0..3 {
                let key = format!("k{}", base + i);
                b.append(
                    1_000 + i,
                    Some(key.as_bytes()),
                    Some(b"v"),
                    &[(b"h", Some(b"1"))],
                )
                .unwrap();
            }
            all.extend_from_slice(&b.build().unwrap());
        }
        let bytes = bytes::Bytes::from(all);
        let mut notes = Vec::new();
        let got = decode(bytes.clone(), 1, 5, 100, &mut notes);
        assert_eq!(
            got.iter().map(|s| s.offset).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(got[0].key.as_deref(), Some(b"k1".as_slice()));
        let capped = decode(bytes, 0, 100, 2, &mut notes);
        assert_eq!(capped.len(), 2);
        assert!(notes.is_empty(), "{notes:?}");
        let page = render(
            "t",
            0,
            From::Latest,
            50,
            Format::Auto,
            &Read {
                records: got,
                ..Read::default()
            },
        );
        assert!(page.contains("<pre>k1</pre>") && page.contains("offset=5"));
    }
}
