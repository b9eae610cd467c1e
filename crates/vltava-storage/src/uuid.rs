//! Kafka's 128-bit ids (topic ids, directory ids) and their text form:
//! URL-safe base64 without padding, 22 characters (Kafka's `Uuid.toString`).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A Kafka UUID (topic id, directory id).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct KafkaUuid(pub [u8; 16]);

impl KafkaUuid {
    /// The all-zero id (Kafka's `Uuid.ZERO_UUID`, "no id").
    pub const ZERO: KafkaUuid = KafkaUuid([0; 16]);

    /// A random version-4 id that, like Kafka's `Uuid.randomUuid`, is never
    /// zero, never the metadata topic id (1) and never starts with '-' in
    /// text form.
    pub fn random() -> KafkaUuid {
        loop {
            let mut b = random_bytes();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let id = KafkaUuid(b);
            let mut one = [0u8; 16];
            one[15] = 1;
            if id != KafkaUuid::ZERO && id.0 != one && !id.to_base64().starts_with('-') {
                return id;
            }
        }
    }

    /// Lower-case hex without dashes (32 characters).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Kafka's text form.
    pub fn to_base64(&self) -> String {
        let mut out = String::with_capacity(22);
        let b = &self.0;
        let mut i = 0;
        while i + 3 <= 15 {
            let n = (u32::from(b[i]) << 16) | (u32::from(b[i + 1]) << 8) | u32::from(b[i + 2]);
            for shift in [18, 12, 6, 0] {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            }
            i += 3;
        }
        // One byte left (16 = 5 * 3 + 1): two characters.
        let n = u32::from(b[15]) << 16;
        out.push(ALPHABET[((n >> 18) & 63) as usize] as char);
        out.push(ALPHABET[((n >> 12) & 63) as usize] as char);
        out
    }

    /// Parses Kafka's text form; `None` unless it is exactly 22 valid
    /// characters that encode 16 bytes.
    pub fn from_base64(s: &str) -> Option<KafkaUuid> {
        let s = s.as_bytes();
        if s.len() != 22 {
            return None;
        }
        let mut vals = [0u8; 22];
        for (v, &c) in vals.iter_mut().zip(s) {
            *v = ALPHABET.iter().position(|&a| a == c)? as u8;
        }
        let mut out = [0u8; 16];
        for g in 0..5 {
            let n = vals[g * 4..g * 4 + 4]
                .iter()
                .fold(0u32, |acc, &v| (acc << 6) | u32::from(v));
            out[g * 3] = (n >> 16) as u8;
            out[g * 3 + 1] = (n >> 8) as u8;
            out[g * 3 + 2] = n as u8;
        }
        // Last byte: 6 bits + top 2 bits of the last character, whose low
        // 4 bits must be zero in a canonical encoding.
        if vals[21] & 0x0f != 0 {
            return None;
        }
        out[15] = (vals[20] << 2) | (vals[21] >> 4);
        Some(KafkaUuid(out))
    }
}

impl fmt::Display for KafkaUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for KafkaUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KafkaUuid({})", self.to_base64())
    }
}

/// 16 random bytes from the OS (`/dev/urandom`), falling back to the
/// standard library's randomly keyed hasher where that is not available.
pub(crate) fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut b).is_ok() {
            return b;
        }
    }
    for chunk in b.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(chunk.as_ptr() as usize);
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_kafka() {
        // Kafka's Uuid(0x0123456789abcdef, 0xfedcba9876543210) prints
        // "ASNFZ4mrze_-3LqYdlQyEA" (java.util.Base64 URL encoder, no padding).
        let id = KafkaUuid([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ]);
        assert_eq!(id.to_base64(), "ASNFZ4mrze_-3LqYdlQyEA");
        assert_eq!(KafkaUuid::from_base64("ASNFZ4mrze_-3LqYdlQyEA"), Some(id));
        assert_eq!(KafkaUuid::ZERO.to_base64(), "AAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn parse_refuses_bad_text() {
        assert_eq!(KafkaUuid::from_base64(""), None);
        assert_eq!(KafkaUuid::from_base64("ASNFZ4mrze_-3LqYdlQyE"), None);
        assert_eq!(KafkaUuid::from_base64("ASNFZ4mrze_-3LqYdlQyE="), None);
        // Non-canonical: low bits of the last character set.
        assert_eq!(KafkaUuid::from_base64("ASNFZ4mrze_-3LqYdlQyEB"), None);
    }

    #[test]
    fn random_ids_round_trip_and_differ() {
        let a = KafkaUuid::random();
        let b = KafkaUuid::random();
        assert_ne!(a, b);
        assert_eq!(KafkaUuid::from_base64(&a.to_base64()), Some(a));
        assert!(!a.to_base64().starts_with('-'));
        assert_eq!(a.to_hex().len(), 32);
    }
}
