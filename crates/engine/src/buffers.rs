//! The ASIO double buffers the host reads and writes: two halves per channel.

use crate::error::{DriverError, DriverResult};
use std::ffi::c_void;

/// Each half starts on its own cache line.
const HALF_ALIGN_BYTES: usize = 64;

/// Two halves of `frames` samples for each of `channels` host channels, in one allocation
/// that never moves: the host keeps raw pointers to it until `disposeBuffers`.
///
/// After construction the memory is only touched through raw pointers, because the host
/// writes into it too, from its own code.
pub struct HostBuffers {
    // Owns the memory; u64 elements give 8-byte alignment for every sample type.
    _storage: Box<[u64]>,
    base: *mut u8,
    half_stride_bytes: usize,
    channels: usize,
    frames: usize,
    bytes_per_sample: usize,
}

// SAFETY: the buffer is plain memory; the ASIO protocol (double buffering) decides who
// touches which half when, and all access goes through raw pointers.
unsafe impl Send for HostBuffers {}
// SAFETY: as above; no interior references are ever handed out across threads.
unsafe impl Sync for HostBuffers {}

impl HostBuffers {
    pub fn new(channels: usize, frames: usize, bytes_per_sample: usize) -> DriverResult<Self> {
        let half_bytes = frames
            .checked_mul(bytes_per_sample)
            .ok_or_else(|| DriverError::invalid_parameter("buffer size overflows"))?;
        let half_stride_bytes = half_bytes.div_ceil(HALF_ALIGN_BYTES) * HALF_ALIGN_BYTES;
        let total_bytes = half_stride_bytes
            .checked_mul(2)
            .and_then(|b| b.checked_mul(channels.max(1)))
            .ok_or_else(|| DriverError::invalid_parameter("buffers too large"))?;
        let mut storage: Vec<u64> = Vec::new();
        storage
            .try_reserve_exact(total_bytes / 8 + HALF_ALIGN_BYTES / 8)
            .map_err(|_| {
                DriverError::no_memory(format!(
                    "cannot allocate {total_bytes} bytes of ASIO buffers"
                ))
            })?;
        storage.resize(total_bytes / 8 + HALF_ALIGN_BYTES / 8, 0);
        let mut storage = storage.into_boxed_slice();
        let raw = storage.as_mut_ptr() as *mut u8;
        let misalignment = raw.align_offset(HALF_ALIGN_BYTES);
        // SAFETY: we reserved HALF_ALIGN_BYTES of slack, so the aligned base stays inside.
        let base = unsafe { raw.add(misalignment) };
        Ok(Self {
            _storage: storage,
            base,
            half_stride_bytes,
            channels,
            frames,
            bytes_per_sample,
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }
    pub fn frames(&self) -> usize {
        self.frames
    }
    pub fn bytes_per_sample(&self) -> usize {
        self.bytes_per_sample
    }
    fn half_bytes(&self) -> usize {
        self.frames * self.bytes_per_sample
    }

    /// The pointer handed to the host for `channel`'s `half` (0 or 1).
    pub fn pointer(&self, channel: usize, half: usize) -> *mut c_void {
        assert!(channel < self.channels && half < 2);
        // SAFETY: index checked above; the offset stays inside the allocation.
        unsafe { self.base.add((channel * 2 + half) * self.half_stride_bytes) as *mut c_void }
    }

    /// The bytes of one half.
    ///
    /// # Safety
    /// The caller must own that half by the ASIO protocol: the host is not writing it now.
    pub unsafe fn half(&self, channel: usize, half: usize) -> &[u8] {
        // SAFETY: pointer() checks bounds; the caller guarantees no concurrent writer.
        unsafe {
            std::slice::from_raw_parts(self.pointer(channel, half) as *const u8, self.half_bytes())
        }
    }

    /// Mutable bytes of one half (input direction, and tests acting as the host).
    ///
    /// # Safety
    /// The caller must own that half by the ASIO protocol and hold no other slice of it.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn half_mut(&self, channel: usize, half: usize) -> &mut [u8] {
        // SAFETY: pointer() checks bounds; the caller guarantees exclusive access.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.pointer(channel, half) as *mut u8,
                self.half_bytes(),
            )
        }
    }

    /// Silences every half (before a start, so the first deferred block is silence).
    pub fn clear(&self) {
        for channel in 0..self.channels {
            for half in 0..2 {
                // SAFETY: the host does not touch buffers while the stream is stopped.
                unsafe {
                    std::ptr::write_bytes(
                        self.pointer(channel, half) as *mut u8,
                        0,
                        self.half_bytes(),
                    )
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_aligned_disjoint_and_zeroed() {
        let b = HostBuffers::new(3, 441, 4).unwrap();
        let mut pointers = Vec::new();
        for ch in 0..3 {
            for half in 0..2 {
                let p = b.pointer(ch, half) as usize;
                assert_eq!(p % 64, 0);
                pointers.push(p);
                // SAFETY: the test is the only user of these buffers.
                assert!(unsafe { b.half(ch, half) }.iter().all(|&x| x == 0));
            }
        }
        pointers.sort();
        for pair in pointers.windows(2) {
            assert!(pair[1] - pair[0] >= 441 * 4);
        }
    }

    #[test]
    fn absurd_sizes_are_refused_not_allocated() {
        assert!(HostBuffers::new(2, usize::MAX / 2, 4).is_err());
        assert!(HostBuffers::new(usize::MAX / 4, 1 << 20, 8).is_err());
    }

    #[test]
    fn clear_silences_what_the_host_wrote() {
        let b = HostBuffers::new(1, 16, 4).unwrap();
        // SAFETY: the test is the only user of these buffers.
        unsafe { b.half_mut(0, 1) }.fill(0x55);
        b.clear();
        // SAFETY: the test is the only user of these buffers.
        assert!(unsafe { b.half(0, 1) }.iter().all(|&x| x == 0));
    }
}
