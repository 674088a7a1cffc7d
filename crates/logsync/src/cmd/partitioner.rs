//! Kafka's default partitioner for keyed records, so that a key lands on the
//! partition a Java producer would pick for it.

/// Kafka's `Utils.murmur2`: MurmurHash2 (32-bit) with seed `0x9747b28c`,
/// little-endian 4-byte blocks, returned as Java's signed `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    const SEED: u32 = 0x9747_b28c;
    // Java's `seed ^ length` on an int: the length wraps like Kafka's does.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes(<[u8; 4]>::try_from(block).unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // The tail, as Java's fall-through `switch (length % 4)`.
    match *blocks.remainder() {
        [a, b, c] => {
            h ^= u32::from(c) << 16;
            h ^= u32::from(b) << 8;
            h ^= u32::from(a);
            h = h.wrapping_mul(M);
        }
        [a, b] => {
            h ^= u32::from(b) << 8;
            h ^= u32::from(a);
            h = h.wrapping_mul(M);
        }
        [a] => {
            h ^= u32::from(a);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a key:
/// `toPositive(murmur2(key)) % partitions`, where `toPositive` clears the
/// sign bit (it does not negate).
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    positive % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // Kafka's UtilsTest.testMurmur2, plus a binary key (Sarama's test,
        // computed with the Java client).
        let cases: [(&[u8], i32); 7] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
            (&[12, 42, 56, 24, 109, 111], 274_204_207),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "{key:?}");
        }
    }

    #[test]
    fn partitions_clear_the_sign_bit_and_stay_in_range() {
        // "21" hashes negative: the sign bit is masked, not negated.
        assert_eq!(
            partition_for_key(b"21", u32::MAX),
            (-973_932_308i32 & 0x7fff_ffff) as u32
        );
        for n in 1..20 {
            for key in [&b""[..], b"a", b"key-17", b"\xff\xfe"] {
                let p = partition_for_key(key, n);
                assert!(p < n);
                assert_eq!(p, partition_for_key(key, n), "deterministic");
            }
        }
    }
}
