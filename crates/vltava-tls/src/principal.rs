//! The principal of a TLS client: its certificate's subject, written as
//! Java's `X500Principal.getName()` writes it (RFC 2253: the most specific
//! part first, `CN=alice,OU=eng,O=Example,C=CZ`), then mapped by Kafka's
//! `ssl.principal.mapping.rules`.

use regex::Regex;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::settings::TlsError;

/// The subject of a DER certificate in RFC 2253 form.
pub fn subject_of(der: &[u8]) -> Result<String, TlsError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| TlsError::config(format!("unreadable client certificate: {e}")))?;
    let mut parts = Vec::new();
    // The certificate lists the RDNs from the root down (C first); RFC 2253
    // writes them the other way round.
    for rdn in cert.subject().iter().collect::<Vec<_>>().into_iter().rev() {
        let attributes: Vec<String> = rdn
            .iter()
            .map(|attr| {
                let oid = attr.attr_type().to_id_string();
                let name = short_name(&oid).map_or(oid.clone(), str::to_string);
                let value = attr
                    .as_str()
                    .map(escape)
                    .unwrap_or_else(|_| format!("#{}", hex(attr.attr_value().data)));
                format!("{name}={value}")
            })
            .collect();
        parts.push(attributes.join("+"));
    }
    Ok(parts.join(","))
}

/// The keywords RFC 2253 (and Java) use for the common attribute types.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ssl.principal.mapping.rules`: Kafka's list of `DEFAULT` and
/// `RULE:pattern/replacement/[LU]`, separated by commas or new lines. The
/// first rule whose pattern matches the whole subject gives the principal
/// name; `DEFAULT` gives the subject unchanged. A subject no rule matches
/// is refused, as Kafka refuses it.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl PrincipalMapper {
    pub fn parse(rules: &str) -> Result<PrincipalMapper, TlsError> {
        let bad =
            |why: String| TlsError::config(format!("ssl.principal.mapping.rules {rules:?}: {why}"));
        let mut parsed = Vec::new();
        let mut rest = rules.trim_start();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                parsed.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = until_slash(after)
                    .ok_or_else(|| bad("a RULE needs pattern/replacement/".into()))?;
                let (replacement, after) = until_slash(after)
                    .ok_or_else(|| bad("a RULE needs pattern/replacement/".into()))?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Case::Lower, &after[1..]),
                    Some('U') => (Case::Upper, &after[1..]),
                    _ => (Case::Keep, after),
                };
                let pattern = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| bad(format!("bad pattern {pattern:?}: {e}")))?;
                parsed.push(Rule::Replace {
                    pattern,
                    replacement: java_replacement(&replacement),
                    case,
                });
                rest = after;
            } else {
                return Err(bad(format!("expected DEFAULT or RULE: at {rest:?}")));
            }
            rest = rest.trim_start_matches([' ', '\t']);
            match rest.chars().next() {
                None => {}
                Some(',') | Some('\n') => rest = rest[1..].trim_start(),
                Some(_) => return Err(bad(format!("expected a comma at {rest:?}"))),
            }
        }
        if parsed.is_empty() {
            parsed.push(Rule::Default);
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The principal name for a subject, or why there is none.
    pub fn apply(&self, subject: &str) -> Result<String, TlsError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(subject.to_string()),
                Rule::Replace {
                    pattern,
                    replacement,
                    case,
                } => {
                    if pattern.is_match(subject) {
                        let name = pattern.replace(subject, replacement.as_str()).into_owned();
                        return Ok(match case {
                            Case::Keep => name,
                            Case::Lower => name.to_lowercase(),
                            Case::Upper => name.to_uppercase(),
                        });
                    }
                }
            }
        }
        Err(TlsError::config(format!(
            "no ssl.principal.mapping.rules rule applies to {subject}"
        )))
    }
}

/// Text up to the first `/` not escaped by a backslash, with `\/` made
/// `/`; and the text after that slash.
fn until_slash(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '/' => return Some((out, &text[i + 1..])),
            other => out.push(other),
        }
    }
    None
}

/// Java's `$1` group references written the regex crate's way (`${1}`), so
/// `$1suffix` is not read as a group named `1suffix`.
fn java_replacement(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if next == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(next);
                    }
                }
            }
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_subject() {
        let m = PrincipalMapper::parse("DEFAULT").unwrap();
        assert_eq!(m.apply("CN=alice,O=Example").unwrap(), "CN=alice,O=Example");
    }

    #[test]
    fn the_first_matching_rule_gives_the_name() {
        let m = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, DEFAULT",
        )
        .unwrap();
        assert_eq!(
            m.apply("CN=kafka-svc,OU=ServiceUsers,O=X").unwrap(),
            "kafka-svc"
        );
        assert_eq!(
            m.apply("CN=Duke,OU=JavaSoft,O=Sun").unwrap(),
            "duke@javasoft"
        );
        assert_eq!(m.apply("C=CZ").unwrap(), "C=CZ");
    }

    #[test]
    fn upper_case_and_escaped_slashes() {
        let m = PrincipalMapper::parse(r"RULE:^CN=([^,]*)\/x,.*$/$1/U").unwrap();
        assert_eq!(m.apply("CN=ab/x,O=Y").unwrap(), "AB");
    }

    #[test]
    fn a_subject_no_rule_matches_is_refused() {
        let m = PrincipalMapper::parse("RULE:^CN=(.*?),O=Only$/$1/").unwrap();
        assert!(m.apply("CN=a,O=Other").is_err());
    }

    #[test]
    fn malformed_rules_are_refused() {
        for rules in [
            "RULE:abc",
            "RULE:a/b",
            "SOMETHING",
            "RULE:(/x/",
            "DEFAULT DEFAULT",
        ] {
            assert!(PrincipalMapper::parse(rules).is_err(), "{rules}");
        }
    }

    #[test]
    fn values_are_escaped_as_rfc_2253_says() {
        assert_eq!(escape("a,b+c"), r"a\,b\+c");
        assert_eq!(escape("#x "), r"\#x\ ");
    }
}
