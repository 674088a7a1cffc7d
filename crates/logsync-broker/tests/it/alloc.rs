//! A global allocator that counts, per thread, what a piece of code asks for,
//! so that a test can assert that decoding a hostile frame allocates little.
//!
//! Counting is per thread because the test harness runs tests in parallel.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// What the current thread allocated while measuring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocated {
    /// Bytes of every allocation and reallocation added up.
    pub total_bytes: usize,
    /// The largest single allocation or reallocation.
    pub largest_bytes: usize,
}

#[derive(Clone, Copy)]
struct State {
    measuring: bool,
    allocated: Allocated,
}

thread_local! {
    static STATE: Cell<State> = const {
        Cell::new(State {
            measuring: false,
            allocated: Allocated { total_bytes: 0, largest_bytes: 0 },
        })
    };
}

fn record(size: usize) {
    // `try_with`: the allocator may run while the thread's locals are torn down.
    let _ = STATE.try_with(|state| {
        let mut current = state.get();
        if current.measuring {
            current.allocated.total_bytes = current.allocated.total_bytes.saturating_add(size);
            current.allocated.largest_bytes = current.allocated.largest_bytes.max(size);
            state.set(current);
        }
    });
}

/// Runs `f` and returns its result with what this thread allocated meanwhile.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Allocated) {
    STATE.with(|state| {
        state.set(State {
            measuring: true,
            allocated: Allocated::default(),
        })
    });
    let result = f();
    let allocated = STATE.with(|state| {
        let current = state.get();
        state.set(State {
            measuring: false,
            allocated: Allocated::default(),
        });
        current.allocated
    });
    (result, allocated)
}

/// The system allocator, with [`measure`] counting the current thread's requests.
#[derive(Debug)]
pub struct CountingAllocator;

#[expect(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one only forwards to System"
)]
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds
// the `GlobalAlloc` contract; counting touches only a thread-local `Cell` of plain
// integers, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[test]
fn measure_counts_what_the_closure_allocates() {
    let (vec, allocated) = measure(|| Vec::<u8>::with_capacity(1000));
    assert_eq!(vec.capacity(), 1000);
    assert_eq!(allocated.largest_bytes, 1000);
    assert!(allocated.total_bytes >= 1000);
    let ((), nothing) = measure(|| ());
    assert_eq!(nothing, Allocated::default());
}
