//! The state machine's header in front of a snapshot's content.
//!
//! Kafka's snapshots start with control records (SnapshotHeaderRecord,
//! KRaftVersionRecord, VotersRecord) so that a replica that loads one knows
//! the voter set without the log it replaced. This header stands in for
//! them: a magic, then the voters, then the driver's opaque content.
//!
//! - `VRS1` (written before voters carried endpoints): a big-endian `u32`
//!   count and that many `i32` ids. Still read.
//! - `VRS2`: a `u32` count, then per voter its `i32` id, 16 bytes of
//!   directory id, a `u16` endpoint count and per endpoint the name and the
//!   host (each a `u16` length and UTF-8 bytes) and a `u16` port.
//!
//! A bootstrap checkpoint (`vltava storage format --standalone` or
//! `--initial-controllers`) is such a header with no content, at offset 0.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::types::{Endpoint, NodeId, Voter};

const MAGIC_IDS: &[u8; 4] = b"VRS1";
const MAGIC: &[u8; 4] = b"VRS2";

/// Prefixes `content` with the voter set.
pub fn encode_snapshot(voters: &[Voter], content: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + 32 * voters.len() + content.len());
    b.put_slice(MAGIC);
    b.put_u32(voters.len() as u32);
    for v in voters {
        b.put_i32(v.id);
        b.put_slice(&v.directory_id);
        b.put_u16(v.endpoints.len() as u16);
        for e in &v.endpoints {
            put_str(&mut b, &e.name);
            put_str(&mut b, &e.host);
            b.put_u16(e.port);
        }
    }
    b.put_slice(content);
    b.freeze()
}

fn put_str(b: &mut BytesMut, s: &str) {
    // Listener names and host names are far below 64 KiB; a longer one is
    // cut rather than corrupting the header.
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    b.put_u16(bytes.len() as u16);
    b.put_slice(bytes);
}

/// Splits a stored snapshot into its voter set and the driver's content;
/// `None` if it does not start with a valid header.
pub fn decode_snapshot(bytes: &Bytes) -> Option<(Vec<Voter>, Bytes)> {
    if bytes.len() < 8 {
        return None;
    }
    let mut cur = &bytes[4..];
    let n = cur.get_u32() as usize;
    let mut voters = Vec::with_capacity(n.min(1024));
    match &bytes[..4] {
        m if m == MAGIC_IDS => {
            for _ in 0..n {
                voters.push(Voter::id_only(get_i32(&mut cur)?));
            }
        }
        m if m == MAGIC => {
            for _ in 0..n {
                let id: NodeId = get_i32(&mut cur)?;
                if cur.remaining() < 18 {
                    return None;
                }
                let mut directory_id = [0u8; 16];
                cur.copy_to_slice(&mut directory_id);
                let count = cur.get_u16();
                let mut endpoints = Vec::with_capacity(usize::from(count).min(16));
                for _ in 0..count {
                    let name = get_str(&mut cur)?;
                    let host = get_str(&mut cur)?;
                    if cur.remaining() < 2 {
                        return None;
                    }
                    endpoints.push(Endpoint {
                        name,
                        host,
                        port: cur.get_u16(),
                    });
                }
                voters.push(Voter {
                    id,
                    directory_id,
                    endpoints,
                });
            }
        }
        _ => return None,
    }
    let used = bytes.len() - cur.remaining();
    Some((voters, bytes.slice(used..)))
}

fn get_i32(cur: &mut &[u8]) -> Option<i32> {
    (cur.remaining() >= 4).then(|| cur.get_i32())
}

fn get_str(cur: &mut &[u8]) -> Option<String> {
    if cur.remaining() < 2 {
        return None;
    }
    let len = usize::from(cur.get_u16());
    if cur.remaining() < len {
        return None;
    }
    let s = std::str::from_utf8(&cur[..len]).ok()?.to_string();
    cur.advance(len);
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_with_endpoints_round_trip() {
        let voters = vec![
            Voter::id_only(1),
            Voter {
                id: 2,
                directory_id: [7; 16],
                endpoints: vec![Endpoint {
                    name: "CONTROLLER".into(),
                    host: "10.0.0.2".into(),
                    port: 9093,
                }],
            },
        ];
        let bytes = encode_snapshot(&voters, b"content");
        let (back, content) = decode_snapshot(&bytes).unwrap();
        assert_eq!(back, voters);
        assert_eq!(&content[..], b"content");
        // Every cut inside the header is refused, never a panic.
        let header = bytes.len() - b"content".len();
        for cut in 0..header {
            assert!(decode_snapshot(&bytes.slice(..cut)).is_none(), "cut {cut}");
        }
    }

    #[test]
    fn the_first_header_is_still_read() {
        let mut b = BytesMut::new();
        b.put_slice(b"VRS1");
        b.put_u32(2);
        b.put_i32(1);
        b.put_i32(3);
        b.put_slice(b"x");
        let (voters, content) = decode_snapshot(&b.freeze()).unwrap();
        assert_eq!(voters, vec![Voter::id_only(1), Voter::id_only(3)]);
        assert_eq!(&content[..], b"x");
    }
}
