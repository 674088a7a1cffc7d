//! Response frames made of chunks: the encoded parts of a response and, by
//! reference, the stored record batches it carries, so that a Fetch response
//! goes to the socket without the records being copied into it (one
//! vectored write sends the parts in order).

use std::io::IoSlice;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

use crate::codec::FRAME_SIZE_BYTES;

/// Shared buffers at least this long are referenced, shorter ones copied
/// (a chunk costs an `iovec` and a reference count; a copy of a few hundred
/// bytes is cheaper).
const SHARE_FROM_BYTES: usize = 1024;

/// One response frame, size prefix included, as the chunks to write in order.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Frame {
    /// Bytes in the frame, its size prefix included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a frame with no bytes (never produced by the encoder).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order.
    #[must_use]
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The whole frame in one buffer (a copy; for tests and small frames).
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.as_slice() {
            [one] => one.clone(),
            chunks => {
                let mut out = BytesMut::with_capacity(self.len);
                for chunk in chunks {
                    out.put_slice(chunk);
                }
                out.freeze()
            }
        }
    }

    /// `IoSlice`s for the bytes from `written` on (at most `max` slices),
    /// for a vectored write that resumes after a short one.
    #[must_use]
    pub fn io_slices(&self, mut written: usize, max: usize) -> Vec<IoSlice<'_>> {
        let mut out = Vec::with_capacity(self.chunks.len().min(max));
        for chunk in &self.chunks {
            if out.len() == max {
                break;
            }
            if written >= chunk.len() {
                written -= chunk.len();
                continue;
            }
            out.push(IoSlice::new(chunk.get(written..).unwrap_or_default()));
            written = 0;
        }
        out
    }
}

/// The buffer a response is encoded into: bytes written by the encoder go
/// into an open chunk; a long shared buffer (a `bytes` field, i.e. record
/// batches) closes it and is kept by reference.
#[derive(Debug, Default)]
pub struct ResponseBuf {
    chunks: Vec<Bytes>,
    closed_len: usize,
    open: BytesMut,
}

impl ResponseBuf {
    /// An empty buffer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn close_open_chunk(&mut self) {
        if !self.open.is_empty() {
            let chunk = self.open.split().freeze();
            self.closed_len += chunk.len();
            self.chunks.push(chunk);
        }
    }

    /// The frame: a size prefix for everything written, then the chunks.
    /// `None` when the body is too large for a frame's `i32` size.
    #[must_use]
    pub fn finish(mut self) -> Option<Frame> {
        self.close_open_chunk();
        let size = i32::try_from(self.closed_len).ok()?;
        let mut chunks = Vec::with_capacity(self.chunks.len() + 1);
        chunks.push(Bytes::copy_from_slice(&size.to_be_bytes()));
        chunks.append(&mut self.chunks);
        Some(Frame {
            len: self.closed_len + FRAME_SIZE_BYTES,
            chunks,
        })
    }
}

// SAFETY: every method delegates to the open chunk, a `BytesMut`, whose own
// `BufMut` implementation upholds the trait's contract; nothing else is
// touched between `chunk_mut` and `advance_mut`.
#[allow(unsafe_code)]
unsafe impl BufMut for ResponseBuf {
    fn remaining_mut(&self) -> usize {
        self.open.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialized `cnt` bytes of the open chunk's
        // `chunk_mut`, as `BytesMut::advance_mut` requires.
        unsafe { self.open.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.open.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        self.open.put_slice(src);
    }
}

impl ByteBufMut for ResponseBuf {
    fn offset(&self) -> usize {
        self.closed_len + self.open.len()
    }

    /// Moves within the open chunk (the message encoders never seek; the
    /// record-batch encoders that do write into their own buffers).
    fn seek(&mut self, offset: usize) {
        let within = offset
            .checked_sub(self.closed_len)
            .expect("ResponseBuf::seek before the open chunk");
        self.open.resize(within, 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        let start = r
            .start
            .checked_sub(self.closed_len)
            .expect("ResponseBuf::range before the open chunk");
        let end = r.end - self.closed_len;
        self.open
            .get_mut(start..end)
            .expect("ResponseBuf::range past the open chunk")
    }

    fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() < SHARE_FROM_BYTES {
            self.open.put_slice(bytes);
        } else {
            self.close_open_chunk();
            self.closed_len += bytes.len();
            self.chunks.push(bytes.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_shared_buffers_are_referenced_and_short_ones_copied() {
        let big = Bytes::from(vec![7u8; 5000]);
        let small = Bytes::from_static(b"abc");
        let mut buf = ResponseBuf::new();
        buf.put_i32(1);
        buf.put_shared(&small);
        buf.put_shared(&big);
        buf.put_u8(9);
        assert_eq!(buf.offset(), 4 + 3 + 5000 + 1);
        let frame = buf.finish().expect("fits");
        assert_eq!(frame.len(), 4 + 4 + 3 + 5000 + 1);
        // prefix, [i32 + "abc"], big (shared: same memory), [9]
        assert_eq!(frame.chunks().len(), 4);
        assert_eq!(frame.chunks()[2].as_ptr(), big.as_ptr());
        let all = frame.to_bytes();
        assert_eq!(&all[..4], &5008i32.to_be_bytes());
        assert_eq!(&all[4..11], &[0, 0, 0, 1, b'a', b'b', b'c']);
        assert!(all[11..5011].iter().all(|&b| b == 7));
        assert_eq!(all[5011], 9);
    }

    #[test]
    fn io_slices_resume_after_a_short_write() {
        let mut buf = ResponseBuf::new();
        buf.put_u8(1);
        buf.put_shared(&Bytes::from(vec![2u8; 2000]));
        buf.put_u8(3);
        let frame = buf.finish().expect("fits");
        let whole = frame.to_bytes();
        for written in [0, 3, 4, 5, 100, 2004, 2005, 2006] {
            let rest: Vec<u8> = frame
                .io_slices(written, 64)
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            assert_eq!(rest, whole[written..], "after {written}");
        }
        assert_eq!(frame.io_slices(0, 2).len(), 2);
    }

    #[test]
    fn seek_and_range_work_within_the_open_chunk() {
        let mut buf = ResponseBuf::new();
        buf.put_shared(&Bytes::from(vec![0u8; 1500]));
        let at = buf.offset();
        buf.put_i32(0);
        buf.range(at..at + 4).copy_from_slice(&[1, 2, 3, 4]);
        buf.seek(at + 6);
        assert_eq!(buf.offset(), 1506);
        let all = buf.finish().expect("fits").to_bytes();
        assert_eq!(&all[4 + 1500..], &[1, 2, 3, 4, 0, 0]);
    }
}
