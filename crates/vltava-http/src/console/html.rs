//! The pieces every console page is made of: escaping, the page frame,
//! paging, the query string, number and time formatting, and the inline
//! SVG sparklines and plots. All pure functions over copied data, so they
//! are unit-tested without a broker.

use std::fmt::Write;

/// Escapes text for an HTML element body or a double-quoted attribute.
/// Written by hand rather than pulled in as a crate: five characters cover
/// both contexts, and every page only ever puts data in those two.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes one path segment or query value (group ids may hold any
/// character, `/` included), keeping only RFC 3986's unreserved set.
pub fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Decodes a query-string component (`+` is a space, `%XX` a byte);
/// malformed escapes are kept as written and invalid UTF-8 is replaced.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string's parameters, decoded; a later duplicate wins.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            raw.unwrap_or("")
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (url_decode(k), url_decode(v)),
                    None => (url_decode(kv), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
}

/// Rows per page of the topic and group lists: enough to scan, few enough
/// that a page of a 10,000-topic cluster renders in milliseconds.
pub const PER_PAGE: usize = 100;

/// One page of a list: which rows (`start..end` of `total`), the page
/// shown (1-based, clamped into range) and how many pages there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: usize,
    pub pages: usize,
    pub start: usize,
    pub end: usize,
    pub total: usize,
}

/// Pages `total` rows `per_page` at a time; `page` below 1 is the first,
/// beyond the last is the last. An empty list has one (empty) page.
pub fn paging(total: usize, page: i64, per_page: usize) -> Paging {
    let per_page = per_page.max(1);
    let pages = total.div_ceil(per_page).max(1);
    let page = (page.max(1) as usize).min(pages);
    let start = (page - 1) * per_page;
    Paging {
        page,
        pages,
        start: start.min(total),
        end: (start + per_page).min(total),
        total,
    }
}

/// Previous/next links of a paged list; `base` is the path with the
/// filter already in its query (`?q=...`), so `&page=` is appended.
pub fn pager(base: &str, p: &Paging) -> String {
    let mut out = String::from("<p class=\"pager\">");
    if p.page > 1 {
        let _ = write!(
            out,
            "<a href=\"{}&amp;page={}\">&larr; previous</a> ",
            esc(base),
            p.page - 1
        );
    }
    let _ = write!(
        out,
        "page {} of {} ({} rows{})",
        p.page,
        p.pages,
        p.total,
        if p.total > 0 {
            format!(", {}&ndash;{} shown", p.start + 1, p.end)
        } else {
            String::new()
        }
    );
    if p.page < p.pages {
        let _ = write!(
            out,
            " <a href=\"{}&amp;page={}\">next &rarr;</a>",
            esc(base),
            p.page + 1
        );
    }
    out.push_str("</p>");
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}\
header{background:#1d3557;color:#fff;padding:8px 16px}header a{color:#fff;margin-right:16px;text-decoration:none}\
header b{margin-right:24px}main{padding:8px 16px}table{border-collapse:collapse;margin:8px 0}\
th,td{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left;vertical-align:top}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f1f3f5}\
pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:60em}\
.ok{color:#2b8a3e}.warn{color:#e67700}.err{color:#c92a2a}.muted{color:#868e96}\
.pager a{margin:0 6px}td a{white-space:nowrap}form{margin:8px 0}input,select{margin-right:8px}\
.cards{display:flex;gap:16px;flex-wrap:wrap}.card{border:1px solid #ddd;padding:8px 12px;border-radius:4px}\
.card .v{font-size:20px;font-weight:600}";

/// A whole page: the frame (navigation, stylesheet) around `body`. With
/// `refresh`, a few lines of script reload the page every 10 s unless the
/// reader unticks the box; nothing is fetched but the page itself.
pub fn page(title: &str, body: &str, refresh: bool) -> String {
    let script = if refresh {
        "<label class=\"muted\"><input type=\"checkbox\" id=\"auto\" checked> refresh every 10 s</label>\
<script>setTimeout(function(){if(document.getElementById('auto').checked)location.reload()},10000)</script>"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>{title} &middot; Vltava</title><style>{STYLE}</style></head><body>\
<header><b>Vltava</b><a href=\"/ui\">Cluster</a><a href=\"/ui/topics\">Topics</a>\
<a href=\"/ui/groups\">Consumer groups</a></header><main><h1>{title}</h1>{body}{script}</main></body></html>",
        title = esc(title),
    )
}

/// A status word in its colour class.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "OK" | "Stable" | "Leader" => "ok",
        "WARN" | "PreparingRebalance" | "CompletingRebalance" => "warn",
        "ERR" | "STOP" | "STALL" | "REWIND" | "Dead" => "err",
        _ => "muted",
    }
}

/// Bytes in KiB/MiB/GiB with one decimal.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A per-second rate, or a dash when the sampler has no two samples yet.
pub fn rate(r: Option<f64>) -> String {
    match r {
        None => "&ndash;".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`
/// (negative timestamps, Kafka's "none", print as the number).
pub fn timestamp(ms: i64) -> String {
    if ms < 0 {
        return ms.to_string();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// A point in time typed by a reader: milliseconds since the epoch, or a
/// UTC date `YYYY-MM-DD`, optionally with ` HH:MM[:SS[.mmm]]` (or `T`
/// between, and a trailing `Z` or ` UTC`).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix('Z'))
        .unwrap_or(s);
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, t),
        None => (s, "00:00"),
    };
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, millis) = match time.split_once('.') {
        Some((hms, frac)) => {
            let frac = format!("{frac:0<3}");
            (hms, frac.get(..3)?.parse::<i64>().ok()?)
        }
        None => (time, 0),
    };
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let hour = t.next()??;
    let minute = t.next()??;
    let second = t.next().unwrap_or(Some(0))?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil, the inverse of `timestamp`'s.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// A small inline line chart of `points` (oldest first), scaled to its own
/// maximum. Empty: an empty box; one point: a flat line at its level.
pub fn sparkline(points: &[f64]) -> String {
    svg_line(points, 100.0, 20.0, false)
}

/// A larger plot with its maximum labelled, for "over time" figures.
pub fn plot(points: &[f64], label: &str) -> String {
    let max = points.iter().copied().fold(0.0_f64, f64::max);
    format!(
        "<figure><figcaption>{} (max {max:.0}, {} samples)</figcaption>{}</figure>",
        esc(label),
        points.len(),
        svg_line(points, 480.0, 120.0, true)
    )
}

fn svg_line(points: &[f64], w: f64, h: f64, axes: bool) -> String {
    let mut out = format!(
        "<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
xmlns=\"http://www.w3.org/2000/svg\">"
    );
    if axes {
        let _ = write!(
            out,
            "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#f8f9fa\" stroke=\"#ddd\"/>"
        );
    }
    let finite: Vec<f64> = points
        .iter()
        .map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 })
        .collect();
    if !finite.is_empty() {
        let max = finite.iter().copied().fold(0.0_f64, f64::max);
        // A plot keeps a quarter of headroom, so a flat line is seen inside
        // the box rather than on its edge; sparklines use their full height.
        let max = if axes { max * 1.25 } else { max };
        let pad = 2.0;
        let y = |v: f64| {
            if max > 0.0 {
                h - pad - (v / max) * (h - 2.0 * pad)
            } else {
                h - pad
            }
        };
        let coords: Vec<(f64, f64)> = if finite.len() == 1 {
            vec![(0.0, y(finite[0])), (w, y(finite[0]))]
        } else {
            let step = w / (finite.len() - 1) as f64;
            finite
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64 * step, y(v)))
                .collect()
        };
        out.push_str("<polyline fill=\"none\" stroke=\"#1c7ed6\" stroke-width=\"1.5\" points=\"");
        for (i, (x, y)) in coords.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{x:.1},{y:.1}");
        }
        out.push_str("\"/>");
    }
    out.push_str("</svg>");
    out
}

/// A table: `head` cells (a leading `#` marks a numeric column) and rows
/// of already-escaped cell HTML.
pub fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let numeric: Vec<bool> = head.iter().map(|h| h.starts_with('#')).collect();
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let (class, text) = match h.strip_prefix('#') {
            Some(t) => (" class=\"n\"", t),
            None => ("", *h),
        };
        let _ = write!(out, "<th{class}>{}</th>", esc(text));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if numeric.get(i).copied().unwrap_or(false) {
                let _ = write!(out, "<td class=\"n\">{cell}</td>");
            } else {
                let _ = write!(out, "<td>{cell}</td>");
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Node ids as a comma-separated list.
pub fn ids(ids: &[i32]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(esc("plain.topic-1"), "plain.topic-1");
    }

    #[test]
    fn urls_round_trip() {
        let odd = "group/with space&amp?=é";
        assert_eq!(url_decode(&url(odd)), odd);
        assert_eq!(url("a b/c"), "a%20b%2Fc");
        assert_eq!(url_decode("a+b%2"), "a b%2");
        assert_eq!(url_decode("%zz"), "%zz");
        let q = Query::parse(Some("q=foo%20bar&page=3&page=4&empty="));
        assert_eq!(q.get("q"), Some("foo bar"));
        assert_eq!(q.int("page"), Some(4));
        assert_eq!(q.get("empty"), None);
        assert_eq!(Query::parse(None).get("q"), None);
    }

    #[test]
    fn paging_clamps_and_slices() {
        assert_eq!(
            paging(0, 1, 100),
            Paging {
                page: 1,
                pages: 1,
                start: 0,
                end: 0,
                total: 0
            }
        );
        assert_eq!(
            paging(10_000, 1, 100),
            Paging {
                page: 1,
                pages: 100,
                start: 0,
                end: 100,
                total: 10_000
            }
        );
        assert_eq!(paging(10_000, 100, 100).start, 9_900);
        assert_eq!(paging(10_000, 500, 100).page, 100);
        assert_eq!(paging(10_000, -3, 100).page, 1);
        let last = paging(250, 3, 100);
        assert_eq!((last.start, last.end, last.pages), (200, 250, 3));
        let links = pager("/ui/topics?q=x", &paging(250, 2, 100));
        assert!(
            links.contains("page=1") && links.contains("page=3"),
            "{links}"
        );
        assert!(!pager("/ui/topics?q=", &paging(5, 1, 100)).contains("next"));
    }

    #[test]
    fn sparklines_for_no_one_and_many_points() {
        let empty = sparkline(&[]);
        assert!(empty.starts_with("<svg") && !empty.contains("polyline"));
        let one = sparkline(&[5.0]);
        assert!(one.contains("points=\"0.0,2.0 100.0,2.0\""), "{one}");
        let many = sparkline(&[0.0, 1.0, 2.0, f64::NAN, 4.0]);
        assert_eq!(many.matches(',').count(), 5, "{many}");
        assert!(
            many.contains("0.0,18.0") && many.contains("100.0,2.0"),
            "{many}"
        );
        let zeros = sparkline(&[0.0, 0.0]);
        assert!(zeros.contains("0.0,18.0 100.0,18.0"), "{zeros}");
        assert!(plot(&[1.0, 3.0], "lag <of> g").contains("lag &lt;of&gt; g (max 3"));
    }

    #[test]
    fn formats_numbers_and_times() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
        assert_eq!(rate(None), "&ndash;");
        assert_eq!(rate(Some(2.25)), "2.2");
        assert_eq!(rate(Some(1234.4)), "1234");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(timestamp(1_709_210_096_789), "2024-02-29 12:34:56.789 UTC");
        assert_eq!(timestamp(-1), "-1");
        assert_eq!(parse_time("1709210096789"), Some(1_709_210_096_789));
        assert_eq!(
            parse_time("2024-02-29 12:34:56.789"),
            Some(1_709_210_096_789)
        );
        assert_eq!(
            parse_time("2024-02-29T12:34:56.789Z"),
            Some(1_709_210_096_789)
        );
        assert_eq!(
            parse_time("2024-02-29 12:34:56.789 UTC"),
            Some(1_709_210_096_789)
        );
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("2024-03-01 00:01"), Some(1_709_251_260_000));
        assert_eq!(parse_time("2024-13-01"), None);
        assert_eq!(parse_time("yesterday"), None);
    }
}
