//! Field-by-field comparison of two normalised answers.

use crate::normalise::key_of;
use crate::tree::Value;

/// One field that differs: its path (`topics[0].error_code`) and the
/// value each broker gave, `-` where one has no such field or element.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub path: String,
    pub kafka: String,
    pub vltava: String,
}

/// Every difference between `kafka` and `vltava`, in field order.
pub fn diff(path: &str, kafka: &Value, vltava: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(path, kafka, vltava, &mut out);
    out
}

fn walk(path: &str, k: &Value, v: &Value, out: &mut Vec<Difference>) {
    match (k, v) {
        (Value::Struct(kf), Value::Struct(vf)) => {
            for (name, kv) in kf {
                let p = join(path, name);
                match vf.iter().find(|(n, _)| n == name) {
                    Some((_, vv)) => walk(&p, kv, vv, out),
                    None => out.push(differ(p, Some(kv), None)),
                }
            }
            for (name, vv) in vf {
                if !kf.iter().any(|(n, _)| n == name) {
                    out.push(differ(join(path, name), None, Some(vv)));
                }
            }
        }
        (Value::List(ki), Value::List(vi)) if keyed(ki) && keyed(vi) => {
            // Elements with keys are lined up by key, so one missing
            // element is one difference and not a shift of all after it.
            let key = |x: &Value| key_of(x).map(|(_, k)| k).unwrap_or_default();
            for a in ki {
                let p = format!("{path}[{}]", key(a));
                match vi.iter().find(|b| key(b) == key(a)) {
                    Some(b) => walk(&p, a, b, out),
                    None => out.push(differ(p, Some(a), None)),
                }
            }
            for b in vi {
                if !ki.iter().any(|a| key(a) == key(b)) {
                    out.push(differ(format!("{path}[{}]", key(b)), None, Some(b)));
                }
            }
        }
        (Value::List(ki), Value::List(vi)) => {
            for i in 0..ki.len().max(vi.len()) {
                let p = format!("{path}[{i}]");
                match (ki.get(i), vi.get(i)) {
                    (Some(a), Some(b)) => walk(&p, a, b, out),
                    (a, b) => out.push(differ(p, a, b)),
                }
            }
        }
        _ if k == v => {}
        _ => out.push(differ(path.to_string(), Some(k), Some(v))),
    }
}

/// A list of several elements that all have distinct keys.
fn keyed(items: &[Value]) -> bool {
    let keys: Vec<_> = items.iter().map(key_of).collect();
    items.len() > 1
        && keys.iter().all(Option::is_some)
        && keys.iter().collect::<std::collections::HashSet<_>>().len() == keys.len()
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn differ(path: String, k: Option<&Value>, v: Option<&Value>) -> Difference {
    let show = |x: Option<&Value>| match x {
        None => "-".to_string(),
        Some(x) => {
            let s = x.to_string();
            if s.chars().count() > 160 {
                format!("{}…", s.chars().take(160).collect::<String>())
            } else {
                s
            }
        }
    };
    Difference {
        path,
        kafka: show(k),
        vltava: show(v),
    }
}

/// Whether `path` matches `pattern`, where `*` stands for any run of
/// characters (list indexes, field names) and the pattern must match the
/// whole path or a prefix of it ending at a field or element boundary.
pub fn matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty() || matches!(s[0], b'.' | b'[' | b':'),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;

    #[test]
    fn reports_changed_missing_and_extra_fields_and_elements() {
        let k = parse("R { a: 1, b: [1, 2], c: \"x\", d: S { e: 0 } }").unwrap();
        let v = parse("R { a: 1, b: [1], c: \"y\", d: S { e: 0, f: 3 } }").unwrap();
        let d = diff("", &k, &v);
        let shown: Vec<_> = d
            .iter()
            .map(|d| format!("{} {} {}", d.path, d.kafka, d.vltava))
            .collect();
        assert_eq!(shown, ["b[1] 2 -", "c \"x\" \"y\"", "d.f - 3"]);
        assert!(diff("", &k, &k).is_empty());
    }

    #[test]
    fn patterns_match_whole_fields() {
        assert!(matches(
            "topics[*].error_message",
            "topics[3].error_message"
        ));
        assert!(matches("topics", "topics[3].error_message"));
        assert!(!matches("topics[*].error", "topics[3].error_message"));
        assert!(!matches("topic", "topics[0]"));
    }
}
