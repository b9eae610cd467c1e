//! The content of a producer-state snapshot file (`<offset>.snapshot`), in
//! Kafka's format: the `ProducerSnapshot` data message
//! (`storage/ProducerSnapshot.json`, version 1, not flexible) prefixed by
//! its version, an int16. The message's first field is a CRC-32C (uint32)
//! of everything after it, i.e. of the bytes from offset 6 to the end of
//! the file: the entry array (int32 count, then per producer its id,
//! epoch, last sequence, last offset, offset delta, timestamp, coordinator
//! epoch and the first offset of its open transaction).
//!
//! The files themselves (where, when, atomic writes, which are kept) are
//! `vltava_storage::Log`'s.

use bytes::{BufMut, Bytes, BytesMut};
use vltava_protocol::message::Message;
use vltava_protocol::messages::producer_snapshot::ProducerEntry;
use vltava_protocol::messages::ProducerSnapshot;

/// The only version Kafka writes and reads.
pub const VERSION: i16 = 1;
/// Where the CRC sits (after the version).
const CRC_AT: usize = 2;
/// Where the CRC'd bytes begin (after the version and the CRC).
const ENTRIES_AT: usize = CRC_AT + 4;

/// The file content for `entries`.
pub fn encode(entries: Vec<ProducerEntry>) -> Bytes {
    let message = ProducerSnapshot {
        crc: 0,
        producer_entries: entries,
    };
    let mut buf = BytesMut::with_capacity(2 + message.encoded_size(VERSION));
    buf.put_i16(VERSION);
    message
        .encode(&mut buf, VERSION)
        .expect("every field of ProducerSnapshot exists in version 1");
    let crc = crc32c::crc32c(&buf[ENTRIES_AT..]);
    buf[CRC_AT..ENTRIES_AT].copy_from_slice(&crc.to_be_bytes());
    buf.freeze()
}

/// The entries of a snapshot file, or why it is unusable (too short, an
/// unknown version, a CRC that does not match, entries that do not decode
/// or bytes after them).
pub fn decode(file: &[u8]) -> Result<Vec<ProducerEntry>, String> {
    if file.len() < ENTRIES_AT {
        return Err(format!("{} bytes, shorter than its header", file.len()));
    }
    let version = i16::from_be_bytes([file[0], file[1]]);
    if version != VERSION {
        return Err(format!("unknown snapshot version {version}"));
    }
    let stored = u32::from_be_bytes(file[CRC_AT..ENTRIES_AT].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&file[ENTRIES_AT..]);
    if stored != computed {
        return Err(format!(
            "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }
    let mut buf = Bytes::copy_from_slice(&file[2..]);
    let message = ProducerSnapshot::decode(&mut buf, VERSION).map_err(|e| e.to_string())?;
    if !buf.is_empty() {
        return Err(format!("{} bytes after the entries", buf.len()));
    }
    Ok(message.producer_entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<ProducerEntry> {
        vec![
            ProducerEntry {
                producer_id: 7,
                epoch: 3,
                last_sequence: 41,
                last_offset: 1_000,
                offset_delta: 4,
                timestamp: 1_700_000_000_000,
                coordinator_epoch: -1,
                current_txn_first_offset: -1,
            },
            ProducerEntry {
                producer_id: 1 << 40,
                epoch: 0,
                last_sequence: -1,
                last_offset: -1,
                offset_delta: 0,
                timestamp: 5,
                coordinator_epoch: 12,
                current_txn_first_offset: 998,
            },
        ]
    }

    /// The bytes are the generated codec's encoding of the message after a
    /// version prefix, with the CRC Kafka computes filled in.
    #[test]
    fn round_trips_through_the_generated_codec() {
        let file = encode(entries());
        assert_eq!(file.len(), 2 + 4 + 4 + 2 * 46, "Kafka's fixed-size layout");
        assert_eq!(&file[..2], &[0, 1], "version 1 first");
        // What the generated codec makes of it, field by field.
        let mut rest = file.slice(2..);
        let decoded = ProducerSnapshot::decode(&mut rest, VERSION).unwrap();
        assert!(rest.is_empty());
        assert_eq!(decoded.producer_entries, entries());
        assert_eq!(decoded.crc, crc32c::crc32c(&file[6..]));
        // The same message encoded by the codec with that CRC is the file.
        let mut again = BytesMut::new();
        again.put_i16(VERSION);
        decoded.encode(&mut again, VERSION).unwrap();
        assert_eq!(&again[..], &file[..]);
        assert_eq!(decode(&file).unwrap(), entries());
        // An empty table is 10 bytes: version, CRC, count 0.
        let empty = encode(Vec::new());
        assert_eq!(empty.len(), 10);
        assert_eq!(decode(&empty).unwrap(), Vec::new());
    }

    #[test]
    fn a_flipped_bit_anywhere_is_refused() {
        let file = encode(entries());
        for at in 0..file.len() {
            let mut bad = file.to_vec();
            bad[at] ^= 0x10;
            let refused = decode(&bad).expect_err("a flipped bit is refused");
            if at >= 2 {
                assert!(refused.contains("CRC"), "byte {at}: {refused}");
            }
        }
        assert!(decode(&file[..file.len() - 1]).is_err(), "a torn file");
        assert!(decode(&file[..4]).is_err());
        let mut longer = file.to_vec();
        longer.extend_from_slice(&[0; 46]);
        assert!(decode(&longer).is_err(), "trailing bytes");
    }
}
