//! The host's ASIO callbacks and what they record. OS-independent (atomics only), so the
//! callbacks can be exercised natively; `crate::host` passes [`HOST_CALLBACKS`] to
//! every `createBuffers`.
//!
//! The callbacks run on the driver's real-time thread: they only touch atomics, never
//! lock, allocate or print, and cannot panic.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use asio_abi::{message, AsioCallbacks, AsioSampleRate, AsioTime};

use crate::messages::answer_message;

/// Selectors up to and including `kAsioNumMessageSelectors`; slot 0 counts unknown ones.
const MESSAGE_SLOTS: usize = message::NUM_MESSAGE_SELECTORS as usize + 1;

/// What the host callbacks have seen. All atomics: the callbacks run on the driver's
/// real-time thread and must not lock or allocate.
pub struct HostState {
    buffer_switches: AtomicU64,
    time_info_switches: AtomicU64,
    null_time_info: AtomicU64,
    bad_index: AtomicU64,
    overlapping: AtomicU64,
    in_callback: AtomicBool,
    last_index: AtomicI32,
    last_sample_position: AtomicU64,
    /// The block size the positions must advance by (0: not checked).
    block_frames: AtomicU64,
    /// Switches whose sample position was not the previous one plus one block.
    position_breaks: AtomicU64,
    last_system_time: AtomicU64,
    last_time_flags: AtomicU32,
    sample_rate_changes: AtomicU64,
    last_sample_rate_bits: AtomicU64,
    messages: [AtomicU32; MESSAGE_SLOTS],
    offer_time_info: AtomicBool,
}

/// A copy of [`HostState`] at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostSnapshot {
    /// Buffer switches through either callback.
    pub buffer_switches: u64,
    /// Of those, through `bufferSwitchTimeInfo`.
    pub time_info_switches: u64,
    /// `bufferSwitchTimeInfo` calls with a null `params`.
    pub null_time_info: u64,
    /// Switches with an index other than 0 or 1.
    pub bad_index: u64,
    /// Switches that started while another was still running.
    pub overlapping: u64,
    /// Index of the last switch, -1 before the first.
    pub last_index: i32,
    /// Sample position from the last `AsioTime` (valid when its flag was set).
    pub last_sample_position: u64,
    /// Switches whose sample position was not the previous one plus the block set by
    /// [`HostState::set_block_frames`].
    pub position_breaks: u64,
    /// System time (ns) from the last `AsioTime`.
    pub last_system_time: u64,
    /// `AsioTimeInfo::flags` of the last `AsioTime`.
    pub last_time_flags: u32,
    pub sample_rate_changes: u64,
    pub last_sample_rate: f64,
    /// Count per message selector (index = selector; 0 = unknown selectors).
    pub messages: [u32; MESSAGE_SLOTS],
}

impl HostSnapshot {
    /// How often the driver sent `selector`.
    pub fn message_count(&self, selector: i32) -> u32 {
        usize::try_from(selector)
            .ok()
            .filter(|&s| s < MESSAGE_SLOTS)
            .map_or(self.messages[0], |s| self.messages[s])
    }
}

impl HostState {
    pub const fn new() -> Self {
        HostState {
            buffer_switches: AtomicU64::new(0),
            time_info_switches: AtomicU64::new(0),
            null_time_info: AtomicU64::new(0),
            bad_index: AtomicU64::new(0),
            overlapping: AtomicU64::new(0),
            in_callback: AtomicBool::new(false),
            last_index: AtomicI32::new(-1),
            last_sample_position: AtomicU64::new(0),
            block_frames: AtomicU64::new(0),
            position_breaks: AtomicU64::new(0),
            last_system_time: AtomicU64::new(0),
            last_time_flags: AtomicU32::new(0),
            sample_rate_changes: AtomicU64::new(0),
            last_sample_rate_bits: AtomicU64::new(0),
            messages: [const { AtomicU32::new(0) }; MESSAGE_SLOTS],
            offer_time_info: AtomicBool::new(true),
        }
    }

    /// Copies every counter.
    pub fn snapshot(&self) -> HostSnapshot {
        let mut messages = [0; MESSAGE_SLOTS];
        for (out, counter) in messages.iter_mut().zip(&self.messages) {
            *out = counter.load(Ordering::Relaxed);
        }
        HostSnapshot {
            buffer_switches: self.buffer_switches.load(Ordering::Acquire),
            time_info_switches: self.time_info_switches.load(Ordering::Relaxed),
            null_time_info: self.null_time_info.load(Ordering::Relaxed),
            bad_index: self.bad_index.load(Ordering::Relaxed),
            overlapping: self.overlapping.load(Ordering::Relaxed),
            last_index: self.last_index.load(Ordering::Relaxed),
            last_sample_position: self.last_sample_position.load(Ordering::Relaxed),
            position_breaks: self.position_breaks.load(Ordering::Relaxed),
            last_system_time: self.last_system_time.load(Ordering::Relaxed),
            last_time_flags: self.last_time_flags.load(Ordering::Relaxed),
            sample_rate_changes: self.sample_rate_changes.load(Ordering::Relaxed),
            last_sample_rate: f64::from_bits(self.last_sample_rate_bits.load(Ordering::Relaxed)),
            messages,
        }
    }

    /// Zeroes every counter (between test phases).
    pub fn reset(&self) {
        for counter in [
            &self.buffer_switches,
            &self.time_info_switches,
            &self.null_time_info,
            &self.bad_index,
            &self.overlapping,
            &self.last_sample_position,
            &self.block_frames,
            &self.position_breaks,
            &self.last_system_time,
            &self.sample_rate_changes,
            &self.last_sample_rate_bits,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        self.last_index.store(-1, Ordering::Relaxed);
        self.last_time_flags.store(0, Ordering::Relaxed);
        for counter in &self.messages {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Whether the host answers `kAsioSupportsTimeInfo` with 1 (default) or 0.
    /// Checks from now on that each switch's sample position is the previous one plus
    /// `frames` (a new stream may start again at 0).
    pub fn set_block_frames(&self, frames: u64) {
        self.block_frames.store(frames, Ordering::Relaxed);
    }

    pub fn set_offer_time_info(&self, offer: bool) {
        self.offer_time_info.store(offer, Ordering::Relaxed);
    }

    fn on_switch(&self, index: i32, time: Option<&AsioTime>) {
        if self.in_callback.swap(true, Ordering::Acquire) {
            self.overlapping.fetch_add(1, Ordering::Relaxed);
        }
        if index != 0 && index != 1 {
            self.bad_index.fetch_add(1, Ordering::Relaxed);
        }
        self.last_index.store(index, Ordering::Relaxed);
        if let Some(time) = time {
            let info = time.time_info;
            let position = info.sample_position.to_u64();
            let block = self.block_frames.load(Ordering::Relaxed);
            let previous = self.last_sample_position.load(Ordering::Relaxed);
            let seen_before = self.time_info_switches.load(Ordering::Relaxed) > 1;
            if block > 0 && seen_before && position != 0 && position != previous + block {
                self.position_breaks.fetch_add(1, Ordering::Relaxed);
            }
            self.last_sample_position.store(position, Ordering::Relaxed);
            self.last_system_time
                .store(info.system_time.to_u64(), Ordering::Relaxed);
            self.last_time_flags.store(info.flags, Ordering::Relaxed);
        }
        self.buffer_switches.fetch_add(1, Ordering::Release);
        self.in_callback.store(false, Ordering::Release);
    }
}

impl Default for HostState {
    fn default() -> Self {
        HostState::new()
    }
}

/// The host's callback state, shared by every driver this process opens.
pub static HOST: HostState = HostState::new();

unsafe extern "C" fn host_buffer_switch(double_buffer_index: i32, _direct_process: i32) {
    #[cfg(windows)]
    crate::latency::on_buffer_switch(double_buffer_index);
    crate::play::on_buffer_switch(double_buffer_index, None);
    HOST.on_switch(double_buffer_index, None);
}

unsafe extern "C" fn host_buffer_switch_time_info(
    params: *mut AsioTime,
    double_buffer_index: i32,
    _direct_process: i32,
) -> *mut AsioTime {
    HOST.time_info_switches.fetch_add(1, Ordering::Relaxed);
    #[cfg(windows)]
    crate::latency::on_buffer_switch(double_buffer_index);
    if params.is_null() {
        HOST.null_time_info.fetch_add(1, Ordering::Relaxed);
        crate::play::on_buffer_switch(double_buffer_index, None);
        HOST.on_switch(double_buffer_index, None);
    } else {
        // Read unaligned: the struct is packed to 4 bytes.
        // SAFETY: non-null `params` points to the driver's AsioTime for this call.
        let time = unsafe { params.read_unaligned() };
        let info = time.time_info;
        let position = (info.flags & asio_abi::time_flags::SAMPLE_POSITION_VALID != 0)
            .then(|| info.sample_position.to_u64());
        crate::play::on_buffer_switch(double_buffer_index, position);
        HOST.on_switch(double_buffer_index, Some(&time));
    }
    // The SDK's sample host returns null; the driver must not rely on the value.
    std::ptr::null_mut()
}

unsafe extern "C" fn host_sample_rate_did_change(rate: AsioSampleRate) {
    HOST.sample_rate_changes.fetch_add(1, Ordering::Relaxed);
    HOST.last_sample_rate_bits
        .store(rate.to_bits(), Ordering::Relaxed);
}

unsafe extern "C" fn host_asio_message(
    selector: i32,
    value: i32,
    _message: *mut c_void,
    _opt: *mut f64,
) -> i32 {
    let slot = usize::try_from(selector)
        .ok()
        .filter(|&s| s < MESSAGE_SLOTS)
        .unwrap_or(0);
    HOST.messages[slot].fetch_add(1, Ordering::Relaxed);
    answer_message(
        selector,
        value,
        HOST.offer_time_info.load(Ordering::Relaxed),
    )
}

/// The callbacks every `AsioDriver::create_buffers` passes.
pub static HOST_CALLBACKS: AsioCallbacks = AsioCallbacks {
    buffer_switch: Some(host_buffer_switch),
    sample_rate_did_change: Some(host_sample_rate_did_change),
    asio_message: Some(host_asio_message),
    buffer_switch_time_info: Some(host_buffer_switch_time_info),
};

#[cfg(test)]
mod tests {
    use super::*;
    use asio_abi::{time_flags, AsioSamples, AsioTimeStamp};

    #[test]
    fn switches_are_counted_and_checked() {
        let state = HostState::new();
        state.on_switch(0, None);
        state.on_switch(1, None);
        state.on_switch(2, None);
        let snapshot = state.snapshot();
        assert_eq!(snapshot.buffer_switches, 3);
        assert_eq!(snapshot.bad_index, 1);
        assert_eq!(snapshot.last_index, 2);
        assert_eq!(snapshot.overlapping, 0);
        state.reset();
        assert_eq!(
            state.snapshot(),
            HostSnapshot {
                last_index: -1,
                ..HostSnapshot::default()
            }
        );
    }

    #[test]
    fn overlapping_switches_are_detected() {
        let state = HostState::new();
        // A switch that has not returned yet.
        state.in_callback.store(true, Ordering::SeqCst);
        state.on_switch(0, None);
        assert_eq!(state.snapshot().overlapping, 1);
        assert!(!state.in_callback.load(Ordering::SeqCst));
    }

    #[test]
    fn time_info_is_recorded() {
        let state = HostState::new();
        let mut time = AsioTime::zeroed();
        time.time_info.sample_position = AsioSamples::from_u64(0x1_0000_0010);
        time.time_info.system_time = AsioTimeStamp::from_u64(123_456_789);
        time.time_info.flags = time_flags::SAMPLE_POSITION_VALID | time_flags::SYSTEM_TIME_VALID;
        state.on_switch(1, Some(&time));
        let snapshot = state.snapshot();
        assert_eq!(snapshot.last_sample_position, 0x1_0000_0010);
        assert_eq!(snapshot.last_system_time, 123_456_789);
        assert_eq!(snapshot.last_time_flags, 3);
    }

    #[test]
    fn a_sample_position_that_skips_a_block_is_a_break() {
        let state = HostState::new();
        state.set_block_frames(256);
        let mut time = AsioTime::zeroed();
        time.time_info.flags = time_flags::SAMPLE_POSITION_VALID;
        for position in [0u64, 256, 512, 1024, 1280, 0, 256] {
            state.time_info_switches.fetch_add(1, Ordering::Relaxed);
            time.time_info.sample_position = AsioSamples::from_u64(position);
            state.on_switch(0, Some(&time));
        }
        // 512 -> 1024 skipped a block; a restart at 0 is a new stream, not a break.
        assert_eq!(state.snapshot().position_breaks, 1);
    }

    /// The only test that touches the global HOST, through the C callbacks themselves.
    #[test]
    fn callbacks_record_into_host() {
        HOST.reset();
        let callbacks = HOST_CALLBACKS;
        let buffer_switch = callbacks.buffer_switch.expect("bufferSwitch");
        let time_info = callbacks
            .buffer_switch_time_info
            .expect("bufferSwitchTimeInfo");
        let rate_changed = callbacks
            .sample_rate_did_change
            .expect("sampleRateDidChange");
        let asio_message = callbacks.asio_message.expect("asioMessage");
        let mut time = AsioTime::zeroed();
        time.time_info.sample_position = AsioSamples::from_u64(4096);
        // Null params and null message pointers are allowed by this host.
        // SAFETY: the callbacks accept any index; `time` is a valid AsioTime.
        unsafe {
            buffer_switch(0, 1);
            assert!(time_info(&mut time, 1, 1).is_null());
            assert!(time_info(std::ptr::null_mut(), 0, 1).is_null());
            rate_changed(44100.0);
            assert_eq!(
                asio_message(
                    message::ENGINE_VERSION,
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                2
            );
            assert_eq!(
                asio_message(
                    message::RESET_REQUEST,
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                1
            );
            assert_eq!(
                asio_message(
                    message::SELECTOR_SUPPORTED,
                    message::SUPPORTS_TIME_INFO,
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                1
            );
            assert_eq!(
                asio_message(999, 0, std::ptr::null_mut(), std::ptr::null_mut()),
                0
            );
            HOST.set_offer_time_info(false);
            assert_eq!(
                asio_message(
                    message::SUPPORTS_TIME_INFO,
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                0
            );
            HOST.set_offer_time_info(true);
        }
        let snapshot = HOST.snapshot();
        assert_eq!(snapshot.buffer_switches, 3);
        assert_eq!(snapshot.time_info_switches, 2);
        assert_eq!(snapshot.null_time_info, 1);
        assert_eq!(snapshot.last_sample_position, 4096);
        assert_eq!(snapshot.last_index, 0);
        assert_eq!(snapshot.sample_rate_changes, 1);
        assert_eq!(snapshot.last_sample_rate, 44100.0);
        assert_eq!(snapshot.message_count(message::RESET_REQUEST), 1);
        assert_eq!(snapshot.message_count(message::ENGINE_VERSION), 1);
        assert_eq!(snapshot.message_count(message::SUPPORTS_TIME_INFO), 1);
        assert_eq!(
            snapshot.message_count(999),
            1,
            "unknown selectors share slot 0"
        );
    }
}
