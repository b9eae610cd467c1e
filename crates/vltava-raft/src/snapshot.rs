//! The state machine's header in front of a snapshot's content.
//!
//! Kafka's snapshots start with control records (SnapshotHeaderRecord,
//! KRaftVersionRecord, VotersRecord) so that a replica that loads one knows
//! the voter set without the log it replaced. This header stands in for
//! them until the wire encoding is wired in: a magic, the voter count and
//! the voter ids (big-endian), then the driver's opaque content.

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::NodeId;

const MAGIC: &[u8; 4] = b"VRS1";

/// Prefixes `content` with the voter set.
pub fn encode_snapshot(voters: &[NodeId], content: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + 4 * voters.len() + content.len());
    b.put_slice(MAGIC);
    b.put_u32(voters.len() as u32);
    for v in voters {
        b.put_i32(*v);
    }
    b.put_slice(content);
    b.freeze()
}

/// Splits a stored snapshot into its voter set and the driver's content;
/// `None` if it does not start with the header.
pub fn decode_snapshot(bytes: &Bytes) -> Option<(Vec<NodeId>, Bytes)> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return None;
    }
    let n = u32::from_be_bytes(bytes[4..8].try_into().ok()?) as usize;
    let end = 8usize.checked_add(n.checked_mul(4)?)?;
    if bytes.len() < end {
        return None;
    }
    let voters = bytes[8..end]
        .chunks_exact(4)
        .map(|c| i32::from_be_bytes(c.try_into().expect("4 bytes")))
        .collect();
    Some((voters, bytes.slice(end..)))
}
