//! Replays every file of `fuzz-corpus/` (raw request frames, without the
//! 4-byte size prefix, as a fuzz target for request decoding takes them):
//! `valid-*` files must decode, `hostile-*` files must be rejected, and none
//! may panic or allocate past the bound for its size.

use std::fs;
use std::path::PathBuf;

use bytes::Bytes;
use logsync_broker::codec;

use crate::alloc::measure;
use crate::frames::allocation_bound;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus")
}

#[test]
fn every_corpus_file_replays_as_its_name_says() {
    let mut entries: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .expect("fuzz-corpus exists")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    entries.sort();
    let (mut valid, mut hostile) = (0, 0);
    for path in &entries {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("utf-8 file name")
            .to_owned();
        let frame = Bytes::from(fs::read(path).expect("readable file"));
        let frame_len = frame.len();
        let (result, allocated) = measure(|| codec::decode_request(frame));
        assert!(
            allocated.largest_bytes <= allocation_bound(frame_len),
            "{name}: {allocated:?}"
        );
        if name.starts_with("valid-") {
            let request = result.unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(request.api_key(), request.body.api_key(), "{name}");
            valid += 1;
        } else if name.starts_with("hostile-") {
            assert!(result.is_err(), "{name} decoded: {result:?}");
            hostile += 1;
        } else {
            panic!("{name}: corpus files are named valid-* or hostile-*");
        }
    }
    assert!(valid >= 5, "{valid} valid seeds");
    assert!(hostile >= 15, "{hostile} hostile frames");
}

/// Replays what the `request` fuzz target kept (`fuzz/corpus/request/`, files
/// named by their hash): each frame decodes or is refused, without a panic
/// and within the allocation bound for its size.
#[test]
fn every_saved_fuzz_input_decodes_or_is_refused_within_bounds() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/request");
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    entries.sort();
    let mut decoded = 0;
    for path in &entries {
        let frame = Bytes::from(fs::read(path).expect("readable file"));
        let frame_len = frame.len();
        let (result, allocated) = measure(|| codec::decode_request(frame));
        assert!(
            allocated.largest_bytes <= allocation_bound(frame_len),
            "{}: {allocated:?}",
            path.display()
        );
        decoded += usize::from(result.is_ok());
    }
    assert!(entries.len() >= 100, "{} saved inputs", entries.len());
    assert!(decoded > 0, "some saved inputs are valid requests");
}
