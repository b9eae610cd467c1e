//! Choosing a partition for a record, compatible with the Java client.
//!
//! A keyed record goes to `toPositive(murmur2(key)) % numPartitions`, the
//! rule of Kafka's default partitioner (and librdkafka's
//! `murmur2_random`), so the same key lands on the same partition whichever
//! of these clients wrote it. Unkeyed records go round-robin.

/// Kafka's `Utils.murmur2`: MurmurHash2 (32-bit) with seed `0x9747b28c`,
/// reading the input as little-endian 4-byte words.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java mixes in the int length; keys beyond 4 GiB do not exist.
    let mut h = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let mut k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which
/// overflows on `i32::MIN`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition of a keyed record among `num_partitions` (which must be
/// positive).
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    assert!(num_partitions > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) % num_partitions
}

/// Keyed records by hash, unkeyed round-robin.
#[derive(Debug, Clone, Default)]
pub struct Partitioner {
    next: u32,
}

impl Partitioner {
    pub fn new() -> Self {
        Partitioner::default()
    }

    /// The partition for a record with `key` among `num_partitions`.
    pub fn partition(&mut self, key: Option<&[u8]>, num_partitions: i32) -> i32 {
        assert!(num_partitions > 0, "a topic has at least one partition");
        match key {
            Some(key) => partition_for_key(key, num_partitions),
            None => {
                let p = self.next % num_partitions as u32;
                self.next = self.next.wrapping_add(1);
                p as i32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        // Kafka's clients/src/test/.../utils/UtilsTest.java, testMurmur2.
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), *want, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn murmur2_matches_librdkafka_unit_test() {
        // librdkafka src/rdmurmur2.c unittest_murmur2: every tail length,
        // the empty key, words at every alignment.
        let cases: &[(&[u8], u32)] = &[
            (b"kafka", 0xd067cf64),
            (b"giberish123456789", 0x8f552b0c),
            (b"1234", 0x9fc97b14),
            (b"234", 0xe7c009ca),
            (b"34", 0x873930da),
            (b"4", 0x5a4b5ca1),
            (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c),
            (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62b377),
            (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4e09e),
            (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43f),
            (b"", 0x106e08d9),
        ];
        for (key, want) in cases {
            assert_eq!(
                murmur2(key),
                *want as i32,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn murmur2_matches_other_java_compatible_ports() {
        // Values computed with Kafka's Utils.murmur2 quoted by Akka's
        // Murmur2Spec.
        let cases: &[(&[u8], i32)] = &[
            (b"1", -1993445489),
            (b"12", 126087238),
            (b"123", -267702483),
            (b"1234", -1614185708),
            (b"12345", -1188365604),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), *want);
        }
    }

    #[test]
    fn to_positive_clears_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        // librdkafka's older test compared masked hashes: "kafka" -> 1348980580.
        assert_eq!(to_positive(murmur2(b"kafka")), 1348980580);
        assert_eq!(to_positive(murmur2(b"giberish123456789")), 257239820);
    }

    #[test]
    fn keyed_records_hash_and_unkeyed_rotate() {
        assert_eq!(partition_for_key(b"kafka", 10), 1348980580 % 10);
        assert_eq!(
            partition_for_key(b"21", 7),
            (-973932308i32 & 0x7fffffff) % 7
        );
        let mut p = Partitioner::new();
        assert_eq!(p.partition(Some(b"kafka"), 10), 0);
        assert_eq!(p.partition(Some(b"kafka"), 10), 0);
        let rr: Vec<i32> = (0..7).map(|_| p.partition(None, 3)).collect();
        assert_eq!(rr, [0, 1, 2, 0, 1, 2, 0]);
        // An empty key is a key, not a null one.
        assert_eq!(p.partition(Some(b""), 1000), to_positive(0x106e08d9) % 1000);
        assert_eq!(p.partition(None, 1), 0);
    }
}
