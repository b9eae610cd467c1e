//! The five codecs of a record batch (attribute bits 0-2) and how each is
//! framed on the wire, with a hard cap on decompressed size.
//!
//! # Where the framing facts come from
//!
//! Checked against the Apache Kafka Java client
//! (`org.apache.kafka.common.compress.*`) and librdkafka
//! (`src/rdkafka_msgset_writer.c`, `rdkafka_lz4.c`, `snappy.c`), and the
//! KIPs named below:
//!
//! * **gzip** (id 1): an RFC 1952 gzip stream. Java writes it with
//!   `GZIPOutputStream` (reads with `GZIPInputStream`, which accepts
//!   concatenated members), librdkafka with zlib's gzip mode. We decode with
//!   a multi-member decoder and write one member, level 6 by default
//!   (Java's `Deflater.DEFAULT_COMPRESSION` and zlib's default).
//! * **snappy** (id 2): two framings exist.
//!   - The Java client writes snappy-java's *xerial* stream framing:
//!     the 8-byte magic `82 53 4E 41 50 50 59 00` (`\x82SNAPPY\0`), two
//!     big-endian i32s (version 1, minimum compatible version 1), then blocks
//!     of `[i32 BE compressed length][raw snappy block]`, each block covering
//!     at most 32 KiB of input (`SnappyOutputStream`'s default).
//!   - librdkafka writes a single **raw** snappy block (no framing:
//!     `rd_kafka_snappy_compress_slice` calls `rd_kafka_snappy_compress_iov`
//!     and pushes the result as is). Java reads it because snappy-java's
//!     `SnappyInputStream` falls back to raw snappy when the magic is absent;
//!     librdkafka's decoder likewise accepts both.
//!
//!   We decode both (xerial if the first 8 bytes are the magic, raw
//!   otherwise; a valid raw stream cannot start with that magic because its
//!   first element would be a copy with nothing to copy from). We **write
//!   xerial**, because that is what the reference implementation (the Java
//!   producer, and the Java broker when it recompresses) writes, so every
//!   consumer in the wild must already read it; some third-party clients
//!   only learnt raw snappy later.
//! * **lz4** (id 3): the standard LZ4 *frame* format with a correct header
//!   checksum (KIP-57 fixed the broken HC of magic-0 messages; v2 batches
//!   always use the correct one). Java's `Lz4BlockInputStream` only accepts
//!   independent blocks (`FLG.validate` rejects block dependence) and block
//!   sizes 64 KiB..4 MiB, so we write independent 64 KiB blocks without
//!   block or content checksums, which is exactly what both Java
//!   (`Lz4BlockOutputStream`) and librdkafka (`LZ4F_blockIndependent`,
//!   default 64 KiB) write. We read linked blocks too (lz4_flex can).
//! * **zstd** (id 4, KIP-110): a standard zstd frame. Java writes it with
//!   zstd-jni's streaming `ZstdOutputStream`, which does not record the
//!   content size, so decoding must stream; we use zstd's streaming decoder.
//!   librdkafka uses the one-shot API (content size recorded); both decode
//!   the same way here.
//!
//! # Limits
//!
//! Every decompression takes `max_output`: output beyond it is
//! [`Error::DecompressedTooLarge`], and the output buffer grows only as
//! decompressed bytes actually appear (doubling, capped at the limit), so a
//! small hostile payload cannot make us reserve a large buffer up front.
//! For zstd the window the decoder may allocate is also bounded (see
//! [`zstd_window_log_max`]).

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

/// Default cap on the decompressed size of one batch's records: 64 MiB.
/// Larger than any batch a default-configured client produces
/// (`max.request.size` 1 MiB, even at 50x compression), small enough that a
/// bomb cannot take the broker down.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 << 20;

/// Xerial snappy stream magic (`\x82SNAPPY\0`).
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Xerial header: magic + version i32 + compatible version i32.
pub const XERIAL_HEADER_LEN: usize = 16;
/// Input bytes per xerial block when we write (snappy-java's default).
pub const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

/// The compression codec in attribute bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Compression {
    /// No compression (0).
    #[default]
    None = 0,
    /// Gzip (1).
    Gzip = 1,
    /// Snappy (2).
    Snappy = 2,
    /// LZ4 frame (3).
    Lz4 = 3,
    /// Zstandard (4).
    Zstd = 4,
}

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Codec for an attribute id (0..=4); 5..=7 are unknown.
    pub fn from_id(id: u8) -> Result<Self> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(Error::UnknownCompression(other)),
        })
    }

    /// The attribute id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Kafka's name for it (`compression.type` values).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Compresses `input` with the codec's default level.
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>> {
    compress_with_level(codec, input, None)
}

/// Compresses `input`; `level` applies to gzip (0..=9, default 6) and zstd
/// (default 3); snappy and lz4 (lz4_flex has one fast level) ignore it.
pub fn compress_with_level(
    codec: Compression,
    input: &[u8],
    level: Option<i32>,
) -> Result<Vec<u8>> {
    let fail = |e: io::Error| Error::CompressionFailed {
        codec,
        message: e.to_string(),
    };
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let level = level.unwrap_or(6).clamp(0, 9) as u32;
            let out = Vec::with_capacity(input.len() / 2 + 32);
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            enc.write_all(input).map_err(fail)?;
            enc.finish().map_err(fail)
        }
        Compression::Snappy => xerial_compress(input),
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let out = Vec::with_capacity(input.len() / 2 + 32);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            enc.write_all(input).map_err(fail)?;
            enc.finish().map_err(|e| Error::CompressionFailed {
                codec,
                message: e.to_string(),
            })
        }
        Compression::Zstd => zstd::bulk::compress(input, level.unwrap_or(3)).map_err(fail),
    }
}

/// Decompresses `input` (a batch's records section), failing with
/// [`Error::DecompressedTooLarge`] if the output would exceed `max_output`.
pub fn decompress(codec: Compression, input: &[u8], max_output: usize) -> Result<Vec<u8>> {
    let fail = |e: io::Error| Error::Decompression {
        codec,
        message: e.to_string(),
    };
    // Initial buffer: proportional to the compressed bytes we were given,
    // never to a size field inside them.
    let initial = input.len().saturating_mul(2).clamp(256, 1 << 20);
    match codec {
        Compression::None => {
            if input.len() > max_output {
                return Err(Error::DecompressedTooLarge { limit: max_output });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => {
            let dec = flate2::read::MultiGzDecoder::new(input);
            read_capped(dec, max_output, initial, codec)
        }
        Compression::Snappy => snappy_decompress(input, max_output),
        Compression::Lz4 => {
            check_lz4_structure(input)?;
            let dec = lz4_flex::frame::FrameDecoder::new(input);
            read_capped(dec, max_output, initial, codec)
        }
        Compression::Zstd => {
            let mut dec = zstd::stream::read::Decoder::with_buffer(input).map_err(fail)?;
            dec.window_log_max(zstd_window_log_max(max_output))
                .map_err(fail)?;
            read_capped(dec, max_output, initial, codec)
        }
    }
}

/// Largest zstd window (as log2) we let a frame demand, given the output
/// cap. The streaming decoder allocates the frame's whole window up front,
/// so the window is a number from the wire that becomes an allocation.
/// We allow `ceil(log2(max_output))`, but never less than 2^23 (8 MiB): a
/// streaming encoder that does not know the input size (zstd-jni in the
/// Java producer) declares the window of its level (2 MiB at the default
/// level 3, 8 MiB around level 9-12) even for a tiny batch, and those must
/// decode. Never more than 2^27, zstd's own default decoding limit.
pub fn zstd_window_log_max(max_output: usize) -> u32 {
    let needed = usize::BITS - max_output.saturating_sub(1).leading_zeros();
    needed.clamp(23, 27)
}

/// Reads `reader` to the end into a buffer that grows with the output
/// (never past `limit + 1`), failing once more than `limit` bytes appear.
fn read_capped<R: Read>(
    mut reader: R,
    limit: usize,
    initial: usize,
    codec: Compression,
) -> Result<Vec<u8>> {
    let hard_cap = limit.saturating_add(1);
    let mut buf = vec![0u8; initial.min(hard_cap)];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if filled > limit {
                return Err(Error::DecompressedTooLarge { limit });
            }
            let grown = buf.len().saturating_mul(2).max(4096).min(hard_cap);
            buf.resize(grown, 0);
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Decompression {
                    codec,
                    message: e.to_string(),
                })
            }
        }
    }
    if filled > limit {
        return Err(Error::DecompressedTooLarge { limit });
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Walks the LZ4 frame structure (without decompressing) and refuses what
/// lz4_flex would accept too leniently or Kafka never writes:
///
/// * a stream cut at a block boundary (lz4_flex treats end of input where
///   a block header should be as a clean end; Java's
///   `Lz4BlockInputStream` says "Stream ended prematurely"), or bytes after
///   the last frame;
/// * block size ids outside 4..=7 (64 KiB..4 MiB; lz4_flex also knows an
///   8 MiB size, i.e. a larger allocation per hostile frame);
/// * legacy-format and skippable frames, dictionary ids.
///
/// Header checksum, block checksums and content checksum are verified by
/// lz4_flex while decoding.
fn check_lz4_structure(input: &[u8]) -> Result<()> {
    const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
    let bad = |message: &str| Error::Decompression {
        codec: Compression::Lz4,
        message: message.to_string(),
    };
    let mut pos = 0usize;
    loop {
        let Some(header) = input.get(pos..pos + 7) else {
            return Err(bad("LZ4 frame header truncated"));
        };
        if header[..4] != MAGIC {
            return Err(bad("not an LZ4 frame (bad magic)"));
        }
        let flg = header[4];
        let bd = header[5];
        if flg >> 6 != 1 {
            return Err(bad("unsupported LZ4 frame version"));
        }
        if flg & 0x01 != 0 {
            return Err(bad("LZ4 dictionary ids are not supported"));
        }
        let block_size_id = (bd >> 4) & 0x7;
        if !(4..=7).contains(&block_size_id) {
            return Err(bad("unsupported LZ4 block size id"));
        }
        let block_checksums = flg & 0x10 != 0;
        let content_size = flg & 0x08 != 0;
        let content_checksum = flg & 0x04 != 0;
        // magic + FLG + BD + [content size] + HC
        pos += 6 + if content_size { 8 } else { 0 } + 1;
        loop {
            let Some(b) = input.get(pos..pos + 4) else {
                return Err(bad("LZ4 stream ended before its end mark"));
            };
            let size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
            pos += 4;
            if size == 0 {
                break;
            }
            // Checked add: `size` is from the wire and `pos` may be near
            // usize::MAX only on 32-bit targets, but be exact anyway.
            pos = pos
                .checked_add(size as usize + if block_checksums { 4 } else { 0 })
                .ok_or_else(|| bad("LZ4 block size overflows"))?;
            if pos > input.len() {
                return Err(bad("LZ4 block truncated"));
            }
        }
        if content_checksum {
            pos += 4;
        }
        if pos > input.len() {
            return Err(bad("LZ4 content checksum truncated"));
        }
        if pos == input.len() {
            return Ok(());
        }
        // Another frame follows (concatenated frames are valid LZ4).
    }
}

/// Upper bound of snappy's expansion: the densest element is a 3-byte copy
/// producing 64 bytes. A declared length above this cannot be honest, so we
/// refuse it before allocating.
fn snappy_max_expansion(compressed_len: usize) -> usize {
    compressed_len.saturating_mul(22)
}

fn snappy_error(e: impl std::fmt::Display) -> Error {
    Error::Decompression {
        codec: Compression::Snappy,
        message: e.to_string(),
    }
}

/// Decodes raw snappy or a xerial stream (see the module docs).
pub fn snappy_decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if input.len() >= XERIAL_MAGIC.len() && input[..XERIAL_MAGIC.len()] == XERIAL_MAGIC {
        if input.len() < XERIAL_HEADER_LEN {
            return Err(snappy_error("xerial header truncated"));
        }
        // Versions are informational: every xerial writer uses 1/1 and the
        // block layout never changed, so we do not reject other values.
        let mut pos = XERIAL_HEADER_LEN;
        while pos < input.len() {
            let Some(len_bytes) = input.get(pos..pos + 4) else {
                return Err(snappy_error("xerial block length truncated"));
            };
            let block_len =
                i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
            pos += 4;
            let block_len = usize::try_from(block_len)
                .map_err(|_| snappy_error(format!("negative xerial block length {block_len}")))?;
            let Some(block) = input.get(pos..).and_then(|rest| rest.get(..block_len)) else {
                return Err(snappy_error("xerial block truncated"));
            };
            pos += block_len;
            raw_snappy_append(block, &mut out, max_output)?;
        }
    } else {
        raw_snappy_append(input, &mut out, max_output)?;
    }
    Ok(out)
}

/// Decompresses one raw snappy block onto the end of `out`.
fn raw_snappy_append(block: &[u8], out: &mut Vec<u8>, max_output: usize) -> Result<()> {
    let n = snap::raw::decompress_len(block).map_err(snappy_error)?;
    if n > snappy_max_expansion(block.len()) {
        return Err(snappy_error(format!(
            "declared length {n} impossible for {} compressed bytes",
            block.len()
        )));
    }
    let start = out.len();
    if n > max_output.saturating_sub(start) {
        return Err(Error::DecompressedTooLarge { limit: max_output });
    }
    out.resize(start + n, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(snappy_error)?;
    out.truncate(start + written);
    Ok(())
}

/// Writes the xerial framing Java's snappy-java produces.
pub fn xerial_compress(input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + input.len() / 2 + 64);
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    let mut scratch = vec![0u8; snap::raw::max_compress_len(XERIAL_BLOCK_SIZE)];
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        let n = enc
            .compress(chunk, &mut scratch)
            .map_err(|e| Error::CompressionFailed {
                codec: Compression::Snappy,
                message: e.to_string(),
            })?;
        // n <= max_compress_len(32 KiB), far below i32::MAX.
        out.extend_from_slice(&(n as i32).to_be_bytes());
        out.extend_from_slice(&scratch[..n]);
    }
    Ok(out)
}

/// Writes one raw snappy block (what librdkafka produces), for tests and
/// for callers that want librdkafka's framing.
pub fn raw_snappy_compress(input: &[u8]) -> Result<Vec<u8>> {
    snap::raw::Encoder::new()
        .compress_vec(input)
        .map_err(|e| Error::CompressionFailed {
            codec: Compression::Snappy,
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        // Compressible but not trivial: 200 KiB of repeating text with a
        // counter so several blocks of every codec are exercised.
        let mut v = Vec::new();
        let mut i = 0u32;
        while v.len() < 200 * 1024 {
            v.extend_from_slice(format!("record {i} of the vltava test payload; ").as_bytes());
            i += 1;
        }
        v
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for codec in Compression::ALL {
            let c = compress(codec, &data).unwrap();
            if codec != Compression::None {
                assert!(c.len() < data.len() / 2, "{codec:?} did not compress");
            }
            let d = decompress(codec, &c, DEFAULT_MAX_DECOMPRESSED).unwrap();
            assert_eq!(d, data, "{codec:?}");
        }
    }

    #[test]
    fn empty_input_round_trips() {
        for codec in Compression::ALL {
            let c = compress(codec, &[]).unwrap();
            assert_eq!(
                decompress(codec, &c, 1024).unwrap(),
                Vec::<u8>::new(),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn limit_is_enforced_for_every_codec() {
        let data = vec![0u8; 1 << 20];
        for codec in Compression::ALL {
            let c = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &c, (1 << 20) - 1),
                Err(Error::DecompressedTooLarge {
                    limit: (1 << 20) - 1
                }),
                "{codec:?}"
            );
            // Exactly at the limit is fine.
            assert_eq!(decompress(codec, &c, 1 << 20).unwrap().len(), 1 << 20);
        }
    }

    #[test]
    fn lz4_frame_header_is_what_kafka_expects() {
        let c = compress(Compression::Lz4, b"hello hello hello hello").unwrap();
        assert_eq!(&c[..4], &[0x04, 0x22, 0x4d, 0x18], "LZ4 frame magic");
        let flg = c[4];
        assert_eq!(flg >> 6, 1, "version 01");
        assert_eq!(flg & 0x20, 0x20, "independent blocks (Java requires it)");
        assert_eq!(flg & 0x10, 0, "no block checksum");
        assert_eq!(flg & 0x08, 0, "no content size");
        assert_eq!(c[5], 0x40, "BD: 64 KiB blocks");
    }

    #[test]
    fn snappy_writes_xerial_and_reads_raw() {
        let data = sample();
        let c = compress(Compression::Snappy, &data).unwrap();
        assert_eq!(&c[..8], &XERIAL_MAGIC);
        assert_eq!(&c[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let raw = raw_snappy_compress(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, usize::MAX).unwrap(),
            data
        );
    }

    #[test]
    fn hand_built_xerial_stream_decodes() {
        // Two blocks built byte by byte. Raw snappy block 1: varint length 5,
        // literal tag (len-1)<<2 = 0x10, "hello". Block 2: length 6, literal
        // " world" (tag 0x14).
        let mut s = Vec::new();
        s.extend_from_slice(b"\x82SNAPPY\0");
        s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        let b1 = [0x05, 0x10, b'h', b'e', b'l', b'l', b'o'];
        s.extend_from_slice(&(b1.len() as i32).to_be_bytes());
        s.extend_from_slice(&b1);
        // Block 2 uses a copy: "abcabcabc" = literal "abc" then copy-1
        // (offset 3, length 6): tag = ((6-4)<<2) | 0b01 = 0x09, offset 3.
        let b2 = [0x09, 0x08, b'a', b'b', b'c', 0x09, 0x03];
        s.extend_from_slice(&(b2.len() as i32).to_be_bytes());
        s.extend_from_slice(&b2);
        let out = decompress(Compression::Snappy, &s, 1024).unwrap();
        assert_eq!(out, b"helloabcabcabc");
    }

    #[test]
    fn hostile_snappy() {
        // Negative xerial block length.
        let mut s = XERIAL_MAGIC.to_vec();
        s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decompress(Compression::Snappy, &s, 1024),
            Err(Error::Decompression { .. })
        ));
        // Block length beyond the input.
        let mut s = XERIAL_MAGIC.to_vec();
        s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0x00]);
        assert!(decompress(Compression::Snappy, &s, 1024).is_err());
        // Truncated header.
        assert!(decompress(Compression::Snappy, &XERIAL_MAGIC[..], 1024).is_err());
        // Raw block declaring 4 GiB: refused before any allocation.
        let lying = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(decompress(Compression::Snappy, &lying, usize::MAX).is_err());
        // Declared length within the expansion bound but above the limit.
        let c = raw_snappy_compress(&[7u8; 4096]).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &c, 100),
            Err(Error::DecompressedTooLarge { limit: 100 })
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let garbage: Vec<u8> = (0..512u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for codec in Compression::ALL {
            for len in [0, 1, 4, 7, 16, 100, 512] {
                let _ = decompress(codec, &garbage[..len], 1 << 16);
            }
        }
        // Truncated valid streams must fail, not return a short result.
        let data = sample();
        for codec in [
            Compression::Gzip,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Snappy,
        ] {
            let c = compress(codec, &data).unwrap();
            let cut = &c[..c.len() - 3];
            assert!(
                decompress(codec, cut, DEFAULT_MAX_DECOMPRESSED).is_err(),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn zstd_frame_without_content_size_decodes() {
        // What zstd-jni's ZstdOutputStream (the Java producer) writes: a
        // streamed frame whose header has no content size.
        let data = sample();
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.write_all(&data).unwrap();
        let frame = enc.finish().unwrap();
        assert_eq!(&frame[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
        let fhd = frame[4];
        assert_eq!(fhd >> 6, 0, "Frame_Content_Size_flag 0");
        assert_eq!(
            fhd & 0x20,
            0,
            "not single-segment, so no content size at all"
        );
        assert_eq!(
            decompress(Compression::Zstd, &frame, data.len()).unwrap(),
            data
        );
    }

    #[test]
    fn gzip_concatenated_members_decode_as_one_stream() {
        let mut two = compress(Compression::Gzip, b"hello ").unwrap();
        two.extend(compress(Compression::Gzip, b"world").unwrap());
        assert_eq!(
            decompress(Compression::Gzip, &two, 100).unwrap(),
            b"hello world"
        );
    }

    #[test]
    fn zstd_window_bound() {
        assert_eq!(zstd_window_log_max(1), 23);
        assert_eq!(zstd_window_log_max(DEFAULT_MAX_DECOMPRESSED), 26);
        assert_eq!(zstd_window_log_max(usize::MAX), 27);
        // A frame made with a 16 MiB window is refused under a 1 MiB cap,
        // even though its content is small.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.window_log(24).unwrap();
        enc.write_all(&[1u8; 1000]).unwrap();
        let frame = enc.finish().unwrap();
        assert!(decompress(Compression::Zstd, &frame, 1 << 20).is_err());
        assert!(decompress(Compression::Zstd, &frame, 1 << 24).is_ok());
    }

    #[test]
    fn unknown_codec_ids() {
        for id in 5..=7 {
            assert_eq!(Compression::from_id(id), Err(Error::UnknownCompression(id)));
        }
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()).unwrap(), c);
        }
    }
}
