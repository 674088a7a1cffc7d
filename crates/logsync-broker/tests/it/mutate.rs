//! Random bytes, random bodies behind a valid header prefix, and random
//! mutations of valid frames never panic the decoder nor make it allocate
//! past the bound for the frame's size.

use std::sync::LazyLock;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use logsync_broker::{codec, versions};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::alloc::measure;
use crate::frames::allocation_bound;
use crate::roundtrip::default_request_frames;

/// Decodes `frame`, asserting only what holds for any input.
fn decode_any(frame: Vec<u8>) -> Result<(), TestCaseError> {
    let frame_len = frame.len();
    let (result, allocated) = measure(|| codec::decode_request(Bytes::from(frame)));
    prop_assert!(
        allocated.largest_bytes <= allocation_bound(frame_len),
        "{frame_len}-byte frame: {allocated:?}"
    );
    if let Ok(request) = result {
        prop_assert!(versions::is_supported(
            request.api_key(),
            request.api_version()
        ));
    }
    Ok(())
}

/// Every advertised (API, version).
fn advertised() -> Vec<(ApiKey, i16)> {
    versions::supported_apis()
        .flat_map(|(api_key, range)| (range.min..=range.max).map(move |version| (api_key, version)))
        .collect()
}

/// Valid frames to mutate: a default request of every advertised version, and
/// the corpus's valid seeds.
static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut seeds: Vec<Vec<u8>> = default_request_frames()
        .into_iter()
        .map(|(_, _, frame)| frame.to_vec())
        .collect();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus");
    for entry in std::fs::read_dir(corpus).expect("fuzz-corpus exists") {
        let path = entry.expect("readable entry").path();
        let is_valid = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("valid-"));
        if is_valid {
            seeds.push(std::fs::read(path).expect("readable file"));
        }
    }
    seeds
});

#[derive(Debug, Clone)]
enum Mutation {
    Set(Index, u8),
    /// Sets a byte to one of the values that make lengths and counts extreme.
    SetExtreme(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        (
            any::<Index>(),
            prop::sample::select(vec![0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff])
        )
            .prop_map(|(at, byte)| Mutation::SetExtreme(at, byte)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(frame: &mut Vec<u8>, mutation: &Mutation) {
    if frame.is_empty() {
        return;
    }
    match mutation {
        Mutation::Set(at, byte) | Mutation::SetExtreme(at, byte) => {
            let at = at.index(frame.len());
            frame[at] = *byte;
        }
        Mutation::Insert(at, bytes) => {
            let at = at.index(frame.len() + 1);
            frame.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove(at) => {
            frame.remove(at.index(frame.len()));
        }
        Mutation::Truncate(at) => frame.truncate(at.index(frame.len())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_never_panic(frame in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_any(frame)?;
    }

    #[test]
    fn random_bodies_behind_a_supported_header_prefix_never_panic(
        (api_key, api_version) in prop::sample::select(advertised()),
        correlation_id in any::<i32>(),
        body in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let mut frame = BytesMut::new();
        frame.put_i16(api_key as i16);
        frame.put_i16(api_version);
        frame.put_i32(correlation_id);
        frame.put_slice(&body);
        decode_any(frame.to_vec())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn mutated_valid_frames_never_panic(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut frame = seed.get(&SEEDS).clone();
        for mutation in &mutations {
            apply(&mut frame, mutation);
        }
        decode_any(frame)?;
    }
}
