//! Kafka's `sasl.jaas.config` value: one or more login module entries,
//! each `<class> <flag> [key=value ...];`.
//!
//! Kafka reads it with `java.io.StreamTokenizer`; the rules kept here are
//! the ones a real config relies on:
//! - words are letters, digits and `. - _ $` (and anything non-ASCII);
//! - a value is a word or a quoted string, in `"` or `'`, where a
//!   backslash escapes the next character (`\n`, `\t`, `\r` mean what they
//!   do in Java, any other escaped character stands for itself);
//! - `//` and `/* */` comments and any whitespace separate tokens;
//! - the control flag is matched without regard to case;
//! - a repeated option key keeps its last value (Kafka's options are a
//!   `HashMap`), in the place where the key first appeared.
//!
//! Where StreamTokenizer is lax this parser is strict, because a broker
//! that silently takes half a password is worse than one that refuses to
//! start: an unterminated quote is an error (StreamTokenizer ends it at the
//! line's end), and so is a character that is none of the above. Bare
//! numbers are taken as words; Kafka's tokenizer reads `i=4096` as a number
//! token and refuses it as a missing value.
//!
//! A broker's listener-level config (`listener.name.<l>.<mech>.sasl.jaas.config`)
//! must hold exactly one entry: [`parse_single`] checks that with Kafka's
//! messages.

use std::fmt;

/// How a login module's result counts (JAAS `LoginModuleControlFlag`).
/// Kafka only keeps it to hand to JAAS; for a broker's single server-side
/// module it changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

impl ControlFlag {
    fn parse(word: &str) -> Option<ControlFlag> {
        match word.to_ascii_uppercase().as_str() {
            "REQUIRED" => Some(ControlFlag::Required),
            "REQUISITE" => Some(ControlFlag::Requisite),
            "SUFFICIENT" => Some(ControlFlag::Sufficient),
            "OPTIONAL" => Some(ControlFlag::Optional),
            _ => None,
        }
    }
}

/// One login module entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module's class name, e.g.
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub login_module: String,
    pub flag: ControlFlag,
    /// The options in the order they were written.
    pub options: Vec<(String, String)>,
}

impl JaasEntry {
    /// The value of option `key`, if set.
    #[must_use]
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a config could not be read. The message uses Kafka's words where
/// Kafka has a check of the same kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JaasError {
    message: String,
}

impl JaasError {
    fn new(message: impl Into<String>) -> JaasError {
        JaasError {
            message: message.into(),
        }
    }

    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for JaasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JaasError {}

/// Every entry of a config, in order. An empty config is an error (Kafka:
/// "JAAS config property does not contain any login modules").
pub fn parse(config: &str) -> Result<Vec<JaasEntry>, JaasError> {
    let mut tokens = Tokenizer::new(config);
    let mut entries = Vec::new();
    while let Some(token) = tokens.next_token()? {
        let Token::Word(login_module) = token else {
            return Err(JaasError::new(format!(
                "Login module class name expected in JAAS config, found {}",
                token.describe()
            )));
        };
        let flag = match tokens.next_token()? {
            None => {
                return Err(JaasError::new(
                    "Login module control flag not specified in JAAS config",
                ))
            }
            Some(Token::Word(word)) => ControlFlag::parse(&word).ok_or_else(|| {
                JaasError::new(format!(
                    "Invalid login module control flag '{word}' in JAAS config"
                ))
            })?,
            Some(other) => {
                return Err(JaasError::new(format!(
                    "Invalid login module control flag {} in JAAS config",
                    other.describe()
                )))
            }
        };
        let mut options: Vec<(String, String)> = Vec::new();
        loop {
            let key = match tokens.next_token()? {
                None => {
                    return Err(JaasError::new(
                        "JAAS config entry not terminated by semi-colon",
                    ))
                }
                Some(Token::Semicolon) => break,
                Some(Token::Word(key)) => key,
                Some(other) => {
                    return Err(JaasError::new(format!(
                        "Option name expected in JAAS config, found {}",
                        other.describe()
                    )))
                }
            };
            let value = match (tokens.next_token()?, tokens.next_token()?) {
                (Some(Token::Equals), Some(Token::Word(v) | Token::Quoted(v))) => v,
                _ => {
                    return Err(JaasError::new(format!(
                        "Value not specified for key '{key}' in JAAS config"
                    )))
                }
            };
            match options.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => options.push((key, value)),
            }
        }
        entries.push(JaasEntry {
            login_module,
            flag,
            options,
        });
    }
    if entries.is_empty() {
        return Err(JaasError::new(
            "JAAS config property does not contain any login modules",
        ));
    }
    Ok(entries)
}

/// The one entry of a broker's listener-level config; zero or several are
/// errors, with Kafka's messages (`JaasContext.load`).
pub fn parse_single(config: &str) -> Result<JaasEntry, JaasError> {
    let mut entries = parse(config)?;
    if entries.len() != 1 {
        return Err(JaasError::new(format!(
            "JAAS config property contains {} login modules, should be 1 module",
            entries.len()
        )));
    }
    Ok(entries.remove(0))
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Quoted(q) => format!("quoted string \"{q}\""),
            Token::Equals => "'='".to_owned(),
            Token::Semicolon => "';'".to_owned(),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '$') || !c.is_ascii()
}

struct Tokenizer<'a> {
    rest: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl<'a> Tokenizer<'a> {
    fn new(text: &'a str) -> Tokenizer<'a> {
        Tokenizer {
            rest: text.char_indices().peekable(),
            text,
        }
    }

    /// Skips whitespace and comments; `None` at the end of the text.
    fn next_token(&mut self) -> Result<Option<Token>, JaasError> {
        loop {
            let Some(&(at, c)) = self.rest.peek() else {
                return Ok(None);
            };
            if c.is_whitespace() {
                self.rest.next();
                continue;
            }
            if c == '/' {
                self.skip_comment(at)?;
                continue;
            }
            self.rest.next();
            return match c {
                '=' => Ok(Some(Token::Equals)),
                ';' => Ok(Some(Token::Semicolon)),
                '"' | '\'' => self.quoted(c, at).map(Some),
                c if is_word_char(c) => {
                    let mut word = String::from(c);
                    while let Some(&(_, c)) = self.rest.peek() {
                        if !is_word_char(c) {
                            break;
                        }
                        word.push(c);
                        self.rest.next();
                    }
                    Ok(Some(Token::Word(word)))
                }
                other => Err(JaasError::new(format!(
                    "Unexpected character '{other}' at offset {at} in JAAS config"
                ))),
            };
        }
    }

    fn skip_comment(&mut self, at: usize) -> Result<(), JaasError> {
        let tail = &self.text[at..];
        if tail.starts_with("//") {
            for (_, c) in self.rest.by_ref() {
                if c == '\n' || c == '\r' {
                    break;
                }
            }
            Ok(())
        } else if let Some(body) = tail.strip_prefix("/*") {
            let Some(end) = body.find("*/") else {
                return Err(JaasError::new(format!(
                    "Unterminated comment at offset {at} in JAAS config"
                )));
            };
            let stop = at + 2 + end + 2;
            while self.rest.peek().is_some_and(|&(i, _)| i < stop) {
                self.rest.next();
            }
            Ok(())
        } else {
            Err(JaasError::new(format!(
                "Unexpected character '/' at offset {at} in JAAS config"
            )))
        }
    }

    fn quoted(&mut self, quote: char, at: usize) -> Result<Token, JaasError> {
        let mut value = String::new();
        while let Some((_, c)) = self.rest.next() {
            if c == quote {
                return Ok(Token::Quoted(value));
            }
            if c == '\\' {
                match self.rest.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                }
            } else {
                value.push(c);
            }
        }
        Err(JaasError::new(format!(
            "Unterminated quoted string starting at offset {at} in JAAS config"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

    #[test]
    fn kafka_documentation_example() {
        let entry = parse_single(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#,
        )
        .unwrap();
        assert_eq!(entry.login_module, PLAIN_MODULE);
        assert_eq!(entry.flag, ControlFlag::Required);
        let pairs: Vec<(&str, &str)> = entry
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("username", "admin"),
                ("password", "admin-secret"),
                ("user_admin", "admin-secret"),
                ("user_alice", "alice-secret"),
            ]
        );
        assert_eq!(entry.option("user_alice"), Some("alice-secret"));
        assert_eq!(entry.option("user_bob"), None);
    }

    #[test]
    fn flags_are_matched_without_case() {
        for (word, flag) in [
            ("required", ControlFlag::Required),
            ("REQUISITE", ControlFlag::Requisite),
            ("Sufficient", ControlFlag::Sufficient),
            ("optional", ControlFlag::Optional),
        ] {
            let entry = parse_single(&format!("a.B {word};")).unwrap();
            assert_eq!(entry.flag, flag);
            assert!(entry.options.is_empty());
        }
    }

    #[test]
    fn bare_values_escapes_comments_and_newlines() {
        let config = "org.apache.kafka.common.security.scram.ScramLoginModule required\n\
                      // a line comment\n\
                      username=alice /* inline */ password='it\\'s \"quoted\"'\n\
                      iterations=8192 odd=\"back\\\\slash\\ttab\\nline\" dollar=$ecret-1_x;";
        let entry = parse_single(config).unwrap();
        assert_eq!(entry.option("username"), Some("alice"));
        assert_eq!(entry.option("password"), Some("it's \"quoted\""));
        assert_eq!(entry.option("iterations"), Some("8192"));
        assert_eq!(entry.option("odd"), Some("back\\slash\ttab\nline"));
        assert_eq!(entry.option("dollar"), Some("$ecret-1_x"));
    }

    #[test]
    fn quoted_values_keep_separators_and_may_be_empty() {
        let entry = parse_single(r#"m.M required a="x=y; z" b="";"#).unwrap();
        assert_eq!(entry.option("a"), Some("x=y; z"));
        assert_eq!(entry.option("b"), Some(""));
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        let entry = parse_single("m.M required a=1 b=2 a=3;").unwrap();
        assert_eq!(
            entry.options,
            vec![
                ("a".to_owned(), "3".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
    }

    #[test]
    fn several_entries_are_read_but_a_listener_takes_one() {
        let config = "a.A required x=1; b.B optional;";
        let entries = parse(config).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].login_module, "b.B");
        assert_eq!(entries[1].flag, ControlFlag::Optional);
        assert_eq!(
            parse_single(config).unwrap_err().message(),
            "JAAS config property contains 2 login modules, should be 1 module"
        );
    }

    #[test]
    fn malformed_configs_are_refused_with_a_reason() {
        let cases = [
            (
                "",
                "JAAS config property does not contain any login modules",
            ),
            (
                "  // only a comment\n",
                "JAAS config property does not contain any login modules",
            ),
            (
                "a.A required x=1",
                "JAAS config entry not terminated by semi-colon",
            ),
            (
                "a.A",
                "Login module control flag not specified in JAAS config",
            ),
            (
                "a.A mandatory;",
                "Invalid login module control flag 'mandatory' in JAAS config",
            ),
            (
                "a.A required x=\"open;",
                "Unterminated quoted string starting at offset 15 in JAAS config",
            ),
            (
                "a.A required x;",
                "Value not specified for key 'x' in JAAS config",
            ),
            (
                "a.A required x=;",
                "Value not specified for key 'x' in JAAS config",
            ),
            (
                "a.A required x=1 =2;",
                "Option name expected in JAAS config, found '='",
            ),
            (
                "\"a.A\" required;",
                "Login module class name expected in JAAS config, found quoted string \"a.A\"",
            ),
            (
                "a.A required x=a,b;",
                "Unexpected character ',' at offset 16 in JAAS config",
            ),
            (
                "a.A required /* open",
                "Unterminated comment at offset 13 in JAAS config",
            ),
        ];
        for (config, expected) in cases {
            let err = parse(config).unwrap_err();
            assert_eq!(err.message(), expected, "config {config:?}");
        }
    }
}
