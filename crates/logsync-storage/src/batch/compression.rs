//! Compression codecs of record batches: the records part (after the 61-byte
//! header) is compressed as a whole. Stored batches stay compressed; these
//! functions serve iteration (and producers that build compressed batches).

use std::io::{Read, Write};

use super::header::Compression;
use crate::error::CorruptKind;

/// Header of xerial-framed snappy (what Kafka's Java client writes).
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";

fn fail(e: impl std::fmt::Display) -> CorruptKind {
    CorruptKind::Decompress(e.to_string())
}

/// Reads `r` to its end, failing if it produces more than `max` bytes.
fn read_capped(r: impl Read, max: usize) -> Result<Vec<u8>, CorruptKind> {
    let mut out = Vec::new();
    r.take(max as u64 + 1).read_to_end(&mut out).map_err(fail)?;
    if out.len() > max {
        return Err(CorruptKind::Decompress(format!(
            "output exceeds the cap of {max} bytes"
        )));
    }
    Ok(out)
}

/// Decompresses `input`, refusing to produce more than `max` bytes.
///
/// # Errors
/// [`CorruptKind::Decompress`] on bad input or when the cap is exceeded.
pub fn decompress(codec: Compression, input: &[u8], max: usize) -> Result<Vec<u8>, CorruptKind> {
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => read_capped(flate2::read::GzDecoder::new(input), max),
        Compression::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(input), max),
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::new(input).map_err(fail)?;
            read_capped(dec, max)
        }
        Compression::Snappy => snappy_decompress(input, max),
    }
}

fn snappy_raw(input: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), CorruptKind> {
    let len = snap::raw::decompress_len(input).map_err(fail)?;
    if out.len() + len > max {
        return Err(CorruptKind::Decompress(format!(
            "output exceeds the cap of {max} bytes"
        )));
    }
    let start = out.len();
    out.resize(start + len, 0);
    let dst = out.get_mut(start..).unwrap_or_default();
    snap::raw::Decoder::new()
        .decompress(input, dst)
        .map_err(fail)?;
    Ok(())
}

fn snappy_decompress(input: &[u8], max: usize) -> Result<Vec<u8>, CorruptKind> {
    let mut out = Vec::new();
    let Some(mut rest) = input.strip_prefix(XERIAL_MAGIC.as_slice()) else {
        snappy_raw(input, max, &mut out)?;
        return Ok(out);
    };
    // xerial: magic, version (4), compatible version (4), then blocks of
    // a 4-byte big-endian length and a raw snappy block.
    rest = rest
        .get(8..)
        .ok_or(CorruptKind::Decompress("short xerial header".into()))?;
    while !rest.is_empty() {
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(CorruptKind::Decompress("short xerial block length".into()))?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let block = rest
            .get(4..4 + len)
            .ok_or(CorruptKind::Decompress("short xerial block".into()))?;
        snappy_raw(block, max, &mut out)?;
        rest = rest.get(4 + len..).unwrap_or_default();
    }
    Ok(out)
}

/// Compresses `input` the way Kafka clients do (gzip, xerial snappy, LZ4 frame, zstd).
///
/// # Errors
/// [`CorruptKind::Decompress`] if the codec reports a failure (it should not).
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, CorruptKind> {
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(input).map_err(fail)?;
            enc.finish().map_err(fail)
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(input).map_err(fail)?;
            enc.finish().map_err(fail)
        }
        Compression::Zstd => zstd::bulk::compress(input, 3).map_err(fail),
        Compression::Snappy => {
            let mut out = Vec::with_capacity(input.len() / 2 + 32);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(&1u32.to_be_bytes());
            for chunk in input.chunks(32 * 1024) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .map_err(fail)?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_and_respects_the_cap() {
        let input: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let c = compress(codec, &input).expect("compress");
            assert_eq!(
                decompress(codec, &c, input.len()).expect("decompress"),
                input,
                "{codec:?}"
            );
            if codec != Compression::None {
                assert!(
                    decompress(codec, &c, input.len() - 1).is_err(),
                    "{codec:?} cap"
                );
            }
        }
    }

    #[test]
    fn raw_snappy_is_read_too() {
        let block = snap::raw::Encoder::new()
            .compress_vec(b"hello hello hello")
            .expect("snappy");
        assert_eq!(
            decompress(Compression::Snappy, &block, 100).expect("raw"),
            b"hello hello hello"
        );
    }

    #[test]
    fn garbage_never_panics() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            for input in [
                &b""[..],
                b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\xff\xff\xff\xff",
                b"garbage!",
            ] {
                let _ = decompress(codec, input, 1 << 20);
            }
        }
    }
}
