//! Reading the client's SCRAM messages: the client-first message with its
//! gs2 header, saslname escapes and extensions, and the small grammar
//! pieces the client-final message shares.

use super::{ScramError, ScramErrorKind, ScramMechanism};

/// The extensions of a client-first message, in the order sent (a repeated
/// name keeps its last value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScramExtensions {
    pairs: Vec<(String, String)>,
}

impl ScramExtensions {
    /// Kafka's extension for delegation-token authentication.
    pub const TOKEN_AUTH: &'static str = "tokenauth";

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether the client authenticates with a delegation token: the
    /// user name is then a token id and the password its HMAC. Kafka reads
    /// the value with `Boolean.parseBoolean`, so case does not matter.
    #[must_use]
    pub fn token_auth(&self) -> bool {
        self.get(Self::TOKEN_AUTH)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn insert(&mut self, name: &str, value: &str) {
        match self.pairs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.pairs.push((name.to_owned(), value.to_owned())),
        }
    }
}

/// A parsed client-first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFirst {
    /// `n,,`, `y,,` or with an authzid `n,a=<saslname>,`, as sent.
    pub gs2_header: String,
    /// The authzid, unescaped; `None` if the client sent none.
    pub authzid: Option<String>,
    /// The user name, unescaped.
    pub user: String,
    pub nonce: String,
    pub extensions: ScramExtensions,
    /// Everything after the gs2 header, as sent: the first part of
    /// AuthMessage.
    pub bare: String,
}

/// Parses a client-first message on its own, for a caller that wants to
/// look at it (its extensions, say) before running the exchange.
pub fn parse_client_first(
    mechanism: ScramMechanism,
    message: &[u8],
) -> Result<ClientFirst, ScramError> {
    let malformed = |why: &str| {
        ScramError::new(
            ScramErrorKind::MalformedClientFirst,
            mechanism,
            format!(
                "Invalid SCRAM client first message format: {} ({why})",
                String::from_utf8_lossy(message)
            ),
        )
    };
    let text = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
    let mut parts = text.split(',');
    let flag = parts.next().unwrap_or_default();
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => {
            return Err(ScramError::new(
                ScramErrorKind::ChannelBindingNotSupported,
                mechanism,
                format!(
                    "Invalid SCRAM client first message format: {text} (channel binding is not supported)"
                ),
            ))
        }
        _ => return Err(malformed("bad gs2 channel binding flag")),
    }
    let authzid = match parts.next() {
        None => return Err(malformed("no authzid field")),
        Some("") => None,
        Some(a) => match a.strip_prefix("a=") {
            Some(name) => Some(decode_saslname(name).ok_or_else(|| malformed("bad authzid"))?),
            None => return Err(malformed("bad authzid field")),
        },
    };
    let gs2_len = flag.len() + 1 + authzid_field_len(text, flag) + 1;
    let gs2_header = text[..gs2_len].to_owned();
    let bare = text[gs2_len..].to_owned();

    let mut field = parts.next().ok_or_else(|| malformed("no user name"))?;
    if field.starts_with("m=") {
        return Err(ScramError::new(
            ScramErrorKind::MandatoryExtension,
            mechanism,
            format!(
                "Invalid SCRAM client first message format: {text} (mandatory extension m= is not supported)"
            ),
        ));
    }
    let user = field
        .strip_prefix("n=")
        .and_then(decode_saslname)
        .ok_or_else(|| malformed("bad user name"))?;
    field = parts.next().ok_or_else(|| malformed("no nonce"))?;
    let nonce = field
        .strip_prefix("r=")
        .filter(|n| is_printable(n))
        .ok_or_else(|| malformed("bad nonce"))?
        .to_owned();
    let mut extensions = ScramExtensions::default();
    for ext in parts {
        let (name, value) = parse_extension(ext).ok_or_else(|| malformed("bad extension"))?;
        extensions.insert(name, value);
    }
    Ok(ClientFirst {
        gs2_header,
        authzid,
        user,
        nonce,
        extensions,
        bare,
    })
}

/// The length of the authzid field (between the first two commas).
fn authzid_field_len(text: &str, flag: &str) -> usize {
    text[flag.len() + 1..].find(',').unwrap_or(0)
}

/// A saslname with `=2C` and `=3D` turned back into `,` and `=`; `None` if
/// it is empty, holds NUL, or has any other `=`.
pub(crate) fn decode_saslname(name: &str) -> Option<String> {
    if name.is_empty() || name.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at + 1..at + 3)?;
        out.push(match escape {
            "2C" => ',',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// RFC 5802's `printable`: ASCII 0x21..=0x7E but `,`; at least one.
pub(super) fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `name=value`, the name letters only, the value not empty.
pub(super) fn parse_extension(ext: &str) -> Option<(&str, &str)> {
    let (name, value) = ext.split_once('=')?;
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphabetic())
        && !value.is_empty()
        && !value.contains('\0');
    ok.then_some((name, value))
}

/// A nonce as SCRAM text (printable, no `,`), one character per byte of
/// `random`, which the caller draws from a secure source (this crate has
/// no randomness of its own): 6 bits of each byte, so 18 bytes give 108
/// bits.
pub fn nonce_text(random: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    random
        .iter()
        .map(|b| ALPHABET[(*b & 63) as usize] as char)
        .collect()
}

#[cfg(test)]
mod nonce_tests {
    use super::*;

    #[test]
    fn every_byte_gives_a_character_a_nonce_may_hold() {
        let all: Vec<u8> = (0..=255).collect();
        let text = nonce_text(&all);
        assert_eq!(text.len(), 256);
        assert!(is_printable(&text), "{text}");
    }
}
