//! Integration tests of the broker's protocol layer: every advertised version
//! of every API round-trips, hostile frames are rejected without allocating
//! more than a little, the fuzz corpus replays, and random or mutated frames
//! never panic the decoder. The regression tests of the vendored
//! `kafka-protocol` patch live here too.

mod alloc;
mod corpus;
mod frames;
mod hostile;
mod mutate;
mod roundtrip;
mod vendor_patch;

#[global_allocator]
static ALLOCATOR: alloc::CountingAllocator = alloc::CountingAllocator;
