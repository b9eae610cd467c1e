//! First byte picks the codec, the rest is its input: decompress under a
//! limit (must not panic or exceed it), and compress-then-decompress the
//! input (must round-trip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vltava_records::compression::{compress, decompress, Compression};
use vltava_records::Error;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else { return };
    let codec = Compression::ALL[usize::from(sel) % Compression::ALL.len()];
    match decompress(codec, input, LIMIT) {
        Ok(out) => assert!(out.len() <= LIMIT),
        Err(Error::DecompressedTooLarge { .. } | Error::Decompression { .. }) => {}
        Err(e) => panic!("unexpected error kind: {e:?}"),
    }
    let packed = compress(codec, input).expect("compress");
    let unpacked = decompress(codec, &packed, input.len()).expect("round trip");
    assert_eq!(unpacked, input);
});
