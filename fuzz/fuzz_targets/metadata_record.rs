//! Arbitrary bytes as the value of a cluster metadata log record: Kafka's
//! metadata record frame (frame version, record type, record version) and
//! the body it announces. Decoding must never panic, and whatever decodes
//! must re-encode in the same frame to bytes that decode and re-encode to
//! themselves.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use vltava_metadata::records::{decode_frame, FRAME_VERSION};
use vltava_metadata::MetadataRecord;
use vltava_protocol::codec::write_uvarint;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    // Our own records: a decoded one re-encodes and decodes to itself.
    if let Ok(record) = MetadataRecord::decode(input.clone()) {
        let bytes = record.encode().expect("a decoded record re-encodes");
        assert_eq!(MetadataRecord::decode(bytes).expect("re-encoded record decodes"), record);
    }
    // Every Kafka record type, including those we do not apply.
    let Ok((body, version)) = decode_frame(input) else { return };
    let frame = |body: &vltava_protocol::MetadataRecordBody| {
        let mut buf = BytesMut::new();
        write_uvarint(&mut buf, FRAME_VERSION);
        write_uvarint(&mut buf, body.record_type() as i16 as u32);
        write_uvarint(&mut buf, version as u32);
        body.encode(&mut buf, version).expect("a decoded body re-encodes");
        buf.freeze()
    };
    let first = frame(&body);
    let (again, _) = decode_frame(first.clone()).expect("re-encoded frame decodes");
    assert_eq!(frame(&again), first);
});
