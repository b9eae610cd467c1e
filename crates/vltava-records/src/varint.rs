//! Zigzag varints, as Kafka's record format v2 uses them (protobuf style:
//! 7 bits per byte, least significant group first, high bit = "more").
//!
//! Kafka's `ByteUtils.readVarint` allows at most 5 bytes for an int and 10
//! for a long and ignores surplus high bits in the last byte; we do the same
//! so that we accept exactly what the Java broker accepts.

use crate::error::{Error, Result};

/// Longest encoding of a 32-bit varint.
pub const MAX_VARINT_LEN: usize = 5;
/// Longest encoding of a 64-bit varlong.
pub const MAX_VARLONG_LEN: usize = 10;

/// Reads a zigzag varint at `buf[*pos..]`, advancing `pos`.
///
/// Running out of bytes is [`Error::Truncated`]; a sixth continuation byte is
/// [`Error::VarintOverflow`].
#[inline]
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32> {
    // Fast path: most lengths and deltas fit one byte.
    if let Some(&b) = buf.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Ok(unzigzag32(b as u32));
        }
    }
    let raw = read_unsigned(buf, pos, MAX_VARINT_LEN)?;
    Ok(unzigzag32(raw as u32))
}

/// Reads a zigzag varlong at `buf[*pos..]`, advancing `pos`.
#[inline]
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64> {
    if let Some(&b) = buf.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Ok(unzigzag64(b as u64));
        }
    }
    let raw = read_unsigned(buf, pos, MAX_VARLONG_LEN)?;
    Ok(unzigzag64(raw))
}

fn read_unsigned(buf: &[u8], pos: &mut usize, max_len: usize) -> Result<u64> {
    let start = *pos;
    let mut value: u64 = 0;
    for i in 0..max_len {
        let Some(&b) = buf.get(start + i) else {
            return Err(Error::Truncated {
                needed: i + 1,
                available: i,
            });
        };
        // Shift is at most 63 (i <= 9), so no shift overflow; surplus bits
        // of a 5th/10th byte fall off the top as in Java.
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *pos = start + i + 1;
            return Ok(value);
        }
    }
    Err(Error::VarintOverflow)
}

#[inline]
fn unzigzag32(n: u32) -> i32 {
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

#[inline]
fn unzigzag64(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[inline]
fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_unsigned(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn unsigned_len(n: u64) -> usize {
    // 1 byte per started group of 7 significant bits, at least 1.
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` as a zigzag varint.
pub fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, u64::from(zigzag32(v)));
}

/// Appends `v` as a zigzag varlong.
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, zigzag64(v));
}

/// Encoded size of `v` as a zigzag varint.
pub fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(zigzag32(v)))
}

/// Encoded size of `v` as a zigzag varlong.
pub fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        // Values from the protobuf zigzag table and Kafka's ByteUtilsTest.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, bytes) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out, bytes, "encode {v}");
            assert_eq!(varint_len(v), bytes.len());
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos).unwrap(), v);
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn varlong_round_trip() {
        for v in [0i64, 1, -1, 1 << 40, -(1 << 40), i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v));
            let mut pos = 0;
            assert_eq!(read_varlong(&out, &mut pos).unwrap(), v);
            assert_eq!(pos, out.len());
        }
        let mut out = Vec::new();
        put_varlong(&mut out, i64::MIN);
        assert_eq!(out.len(), MAX_VARLONG_LEN);
    }

    #[test]
    fn overflow_and_truncation() {
        let six = [0x80u8, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(read_varint(&six, &mut 0), Err(Error::VarintOverflow));
        let eleven = [0xffu8; 11];
        assert_eq!(read_varlong(&eleven, &mut 0), Err(Error::VarintOverflow));
        let mut pos = 0;
        assert!(read_varint(&[0x80, 0x80], &mut pos)
            .unwrap_err()
            .is_truncated());
        assert_eq!(pos, 0, "position untouched on error");
        assert!(read_varint(&[], &mut 0).unwrap_err().is_truncated());
    }
}
