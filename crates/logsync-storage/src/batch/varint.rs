//! Kafka's zig-zag varints (protobuf style), as used inside records.

/// Longest encoding of a 64-bit varint.
pub const MAX_VARLONG_BYTES: usize = 10;

/// Appends `v` zig-zag encoded.
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// Appends a 32-bit value zig-zag encoded.
pub fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_varlong(out, i64::from(v));
}

/// Bytes that `put_varlong(v)` writes.
#[must_use]
pub fn varlong_len(v: i64) -> usize {
    let u = ((v << 1) ^ (v >> 63)) as u64;
    let bits = 64 - u.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Reads a zig-zag varlong from the front of `buf`, returning it and its length.
/// `None` if the bytes end first or the encoding is longer than 10 bytes.
#[must_use]
#[inline]
pub fn get_varlong(buf: &[u8]) -> Option<(i64, usize)> {
    let unzig = |u: u64| ((u >> 1) as i64) ^ -((u & 1) as i64);
    // One and two bytes without the loop: every length under 8 KiB, every
    // offset delta under 8,192, every small timestamp delta.
    match *buf {
        [b0, ..] if b0 < 0x80 => return Some((unzig(u64::from(b0)), 1)),
        [b0, b1, ..] if b1 < 0x80 => {
            return Some((unzig(u64::from(b0 & 0x7f) | (u64::from(b1) << 7)), 2));
        }
        _ => {}
    }
    let mut u: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(MAX_VARLONG_BYTES) {
        u |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let v = ((u >> 1) as i64) ^ -((u & 1) as i64);
            return Some((v, i + 1));
        }
    }
    None
}

/// Reads a zig-zag varint that must fit in 32 bits.
#[must_use]
#[inline]
pub fn get_varint(buf: &[u8]) -> Option<(i32, usize)> {
    let (v, n) = get_varlong(buf)?;
    Some((i32::try_from(v).ok()?, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varlong_round_trips_at_the_edges() {
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v), "{v}");
            assert_eq!(get_varlong(&out), Some((v, out.len())), "{v}");
        }
    }

    #[test]
    fn the_short_paths_agree_with_the_loop_on_every_two_byte_prefix() {
        // The loop the fast paths stand in for.
        let slow = |buf: &[u8]| -> Option<(i64, usize)> {
            let mut u: u64 = 0;
            for (i, &b) in buf.iter().enumerate().take(MAX_VARLONG_BYTES) {
                u |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    return Some((((u >> 1) as i64) ^ -((u & 1) as i64), i + 1));
                }
            }
            None
        };
        for b0 in 0..=255u8 {
            assert_eq!(get_varlong(&[b0]), slow(&[b0]), "{b0}");
            for b1 in 0..=255u8 {
                for tail in [&[][..], &[0x01], &[0x81, 0x02]] {
                    let buf = [&[b0, b1][..], tail].concat();
                    assert_eq!(get_varlong(&buf), slow(&buf), "{buf:?}");
                }
            }
        }
    }

    #[test]
    fn varint_rejects_overlong_and_truncated_input() {
        assert_eq!(get_varlong(&[0x80; 11]), None);
        assert_eq!(get_varlong(&[0x80, 0x80]), None);
        assert_eq!(get_varlong(&[]), None);
        let mut out = Vec::new();
        put_varlong(&mut out, i64::from(i32::MAX) + 1);
        assert_eq!(get_varint(&out), None);
    }
}
