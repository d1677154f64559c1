//! What `wasio test` does inside each buffer switch: fill the output buffers (from a WAV file
//! or with silence), record them, and note the sample positions. OS-independent, so the
//! whole path is tested natively against fake buffers.
//!
//! A [`Playback`] is prepared before `start` with everything converted to the driver's sample
//! type and every buffer allocated; [`install`] makes the host callbacks (`crate::callbacks`)
//! call [`on_buffer_switch`]. Inside the switch it only copies bytes and stores atomics: no
//! allocation, lock or print.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use wasio_engine::convert::{device_to_host, host_to_device, HostSampleType};
use wasio_engine::format::{DeviceFormat, StreamFormat};

use crate::wav::Wav;

/// No position was read for this switch (the call failed or was not made).
pub const NO_POSITION: u64 = u64::MAX;

/// One output channel: the driver's two half-buffers, what to play, what was recorded.
struct OutputChannel {
    halves: [*mut u8; 2],
    /// `blocks × block bytes` of host samples, or `None` for silence.
    source: Option<Vec<u8>>,
    /// Written only by the switch callback, read after the stream stopped.
    record: UnsafeCell<Vec<u8>>,
}

/// Reads `getSamplePosition` from inside the switch; `None` when it fails.
pub type PositionProbe = Box<dyn Fn() -> Option<u64> + Send + Sync>;

/// Everything a `wasio test` stream does in its buffer switches.
pub struct Playback {
    host_type: HostSampleType,
    block_frames: usize,
    /// Blocks that carry file data (and are recorded).
    blocks: usize,
    /// Frames of the file (the last block may be partly silence).
    frames: usize,
    channels: Vec<OutputChannel>,
    next_block: AtomicUsize,
    /// `getSamplePosition` read inside switch k, for the first `positions.len()` switches.
    positions: Vec<AtomicU64>,
    /// `AsioTime::timeInfo.samplePosition` of switch k (`NO_POSITION` without time info).
    time_positions: Vec<AtomicU64>,
    probe: Option<PositionProbe>,
}

// SAFETY: the raw pointers are the driver's buffers, valid from createBuffers to
// disposeBuffers, which outlive the installation; `record` is written only by the switch
// callback (switches never overlap: the driver runs them on one thread) and read only after
// `uninstall`, when no switch runs.
unsafe impl Send for Playback {}
// SAFETY: see above.
unsafe impl Sync for Playback {}

/// A WAV file that cannot be played on this stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayError(pub String);

impl Playback {
    /// Prepares a stream of `outputs.len()` output channels (each `[half0, half1]` of
    /// `block_frames` samples of `host_type`). `wav` is played on the first channels, from
    /// block 0; without it, silence. Positions are kept for the first `switches` switches.
    ///
    /// # Safety
    /// Each pointer must point to `block_frames` writable samples of `host_type` and stay valid
    /// until the playback is uninstalled.
    pub unsafe fn new(
        host_type: HostSampleType,
        block_frames: usize,
        outputs: &[[*mut u8; 2]],
        wav: Option<&Wav>,
        driver_rate: f64,
        switches: usize,
    ) -> Result<Playback, PlayError> {
        let sample_bytes = host_type.bytes_per_sample();
        let block_bytes = block_frames * sample_bytes;
        let (blocks, frames) = match wav {
            Some(wav) => {
                if wav.format.sample_rate as f64 != driver_rate {
                    return Err(PlayError(format!(
                        "the file is {} Hz but the driver runs at {} Hz; this tool does not \
                         resample: convert the file, or pass --rate {}",
                        wav.format.sample_rate, driver_rate, wav.format.sample_rate
                    )));
                }
                if wav.format.channels as usize > outputs.len() {
                    return Err(PlayError(format!(
                        "the file has {} channels but the driver has {} outputs",
                        wav.format.channels,
                        outputs.len()
                    )));
                }
                (wav.frames().div_ceil(block_frames.max(1)), wav.frames())
            }
            None => (switches, switches * block_frames),
        };
        let channels = outputs
            .iter()
            .enumerate()
            .map(|(index, &halves)| {
                let source = wav
                    .filter(|w| index < w.format.channels as usize)
                    .map(|w| deinterleave(w, index, host_type, blocks * block_frames));
                OutputChannel {
                    halves,
                    source,
                    record: UnsafeCell::new(vec![0u8; blocks * block_bytes]),
                }
            })
            .collect();
        Ok(Playback {
            host_type,
            block_frames,
            blocks,
            frames,
            channels,
            next_block: AtomicUsize::new(0),
            positions: (0..switches).map(|_| AtomicU64::new(NO_POSITION)).collect(),
            time_positions: (0..switches).map(|_| AtomicU64::new(NO_POSITION)).collect(),
            probe: None,
        })
    }

    /// Makes each switch read `getSamplePosition` through `probe`, as hosts do.
    pub fn with_position_probe(mut self, probe: PositionProbe) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Blocks that carry file data: the switches a `--play` run needs.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// Switches run so far.
    pub fn switches(&self) -> usize {
        self.next_block.load(Ordering::Acquire)
    }

    /// The positions read in the first switches: `(getSamplePosition, AsioTime position)`,
    /// [`NO_POSITION`] where none was read.
    pub fn positions(&self) -> Vec<(u64, u64)> {
        let done = self.switches().min(self.positions.len());
        (0..done)
            .map(|k| {
                (
                    self.positions[k].load(Ordering::Relaxed),
                    self.time_positions[k].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// The buffer switch: block `k` goes into half `index` of every output.
    fn switch(&self, index: i32, time_position: Option<u64>) {
        let half = usize::from(index == 1);
        let block = self.next_block.load(Ordering::Relaxed);
        let block_bytes = self.block_frames * self.host_type.bytes_per_sample();
        for channel in &self.channels {
            let destination = channel.halves[half];
            if destination.is_null() {
                continue;
            }
            // SAFETY: the constructor's contract: `block_bytes` writable bytes.
            let destination = unsafe { std::slice::from_raw_parts_mut(destination, block_bytes) };
            let range = block * block_bytes..(block + 1) * block_bytes;
            match channel.source.as_ref().and_then(|s| s.get(range.clone())) {
                Some(samples) => destination.copy_from_slice(samples),
                None => destination.fill(0),
            }
            // SAFETY: only this callback touches `record` while installed; switches do not
            // overlap.
            let record = unsafe { &mut *channel.record.get() };
            if let Some(slot) = record.get_mut(range) {
                slot.copy_from_slice(destination);
            }
        }
        if let Some(slot) = self.positions.get(block) {
            let position = self.probe.as_ref().and_then(|probe| probe());
            slot.store(position.unwrap_or(NO_POSITION), Ordering::Relaxed);
        }
        if let Some(slot) = self.time_positions.get(block) {
            slot.store(time_position.unwrap_or(NO_POSITION), Ordering::Relaxed);
        }
        self.next_block.store(block + 1, Ordering::Release);
    }

    /// What the switches wrote into the output buffers, as a WAV file in `format`'s encoding
    /// (the file's frames only), of the first `format.channels` outputs. Call after the
    /// stream stopped.
    pub fn recording(&self, encoding: DeviceFormat, rate: u32, channels: u16) -> Wav {
        let channels = channels.min(self.channels.len() as u16);
        let format = StreamFormat {
            sample_rate: rate,
            channels,
            channel_mask: 0,
            encoding,
        };
        let recorded_blocks = self.switches().min(self.blocks);
        let frames = (recorded_blocks * self.block_frames).min(self.frames);
        let frame_bytes = format.frame_bytes();
        let mut data = vec![0u8; frames * frame_bytes];
        let convert = host_to_device(self.host_type, encoding);
        for (index, channel) in self.channels.iter().take(channels as usize).enumerate() {
            // SAFETY: the stream stopped (the caller's contract): nothing writes `record`.
            let record = unsafe { &*channel.record.get() };
            let offset = index * encoding.bytes_per_sample();
            if frames > 0 {
                convert(record, &mut data[offset..], frame_bytes, frames);
            }
        }
        Wav { format, data }
    }
}

/// Channel `index` of `wav` as contiguous host samples, padded with silence to `frames`.
fn deinterleave(wav: &Wav, index: usize, host_type: HostSampleType, frames: usize) -> Vec<u8> {
    let mut out = vec![0u8; frames * host_type.bytes_per_sample()];
    let encoding = wav.format.encoding;
    let stride = wav.format.frame_bytes();
    let offset = index * encoding.bytes_per_sample();
    let available = wav.frames().min(frames);
    if available > 0 {
        device_to_host(encoding, host_type)(&wav.data[offset..], stride, &mut out, available);
    }
    out
}

/// The WAV encoding that holds a host sample type without loss.
pub fn wav_encoding_for(host_type: HostSampleType) -> DeviceFormat {
    match host_type {
        HostSampleType::Int16Lsb => DeviceFormat::Int16,
        HostSampleType::Int24Lsb => DeviceFormat::Int24Packed,
        HostSampleType::Int32Lsb => DeviceFormat::Int32,
        HostSampleType::Float32Lsb | HostSampleType::Float64Lsb => DeviceFormat::Float32,
        HostSampleType::Int32Lsb16
        | HostSampleType::Int32Lsb18
        | HostSampleType::Int32Lsb20
        | HostSampleType::Int32Lsb24 => DeviceFormat::Int24In32,
    }
}

static ACTIVE: AtomicPtr<Playback> = AtomicPtr::new(std::ptr::null_mut());

/// Makes the host callbacks drive `playback`. Replaces (and drops) nothing: installing twice
/// without [`uninstall`] is refused.
pub fn install(playback: Arc<Playback>) -> Result<(), Arc<Playback>> {
    let raw = Arc::into_raw(playback) as *mut Playback;
    match ACTIVE.compare_exchange(
        std::ptr::null_mut(),
        raw,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => Ok(()),
        // SAFETY: `raw` came from Arc::into_raw just above and was not published.
        Err(_) => Err(unsafe { Arc::from_raw(raw) }),
    }
}

/// Stops the callbacks from touching the playback. Call only after the driver's `stop`
/// returned, so that no switch is running.
pub fn uninstall() -> Option<Arc<Playback>> {
    let raw = ACTIVE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: a non-null value was published by `install` from Arc::into_raw.
    (!raw.is_null()).then(|| unsafe { Arc::from_raw(raw) })
}

/// Called by the host's buffer-switch callbacks.
pub fn on_buffer_switch(index: i32, time_position: Option<u64>) {
    let raw = ACTIVE.load(Ordering::Acquire);
    if !raw.is_null() {
        // SAFETY: installed playbacks stay alive until `uninstall`, which callers make only
        // after the stream stopped.
        unsafe { &*raw }.switch(index, time_position);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(encoding: DeviceFormat, channels: u16, frames: usize) -> Wav {
        let format = StreamFormat {
            sample_rate: 48_000,
            channels,
            channel_mask: 0,
            encoding,
        };
        let mut data = Vec::new();
        for frame in 0..frames {
            for channel in 0..channels as usize {
                let value = ((frame as f64 * 0.05).sin() * 0.5 * (channel + 1) as f64 / 2.0) as f32;
                match encoding {
                    DeviceFormat::Int16 => {
                        data.extend_from_slice(&((value * 32767.0) as i16).to_le_bytes())
                    }
                    DeviceFormat::Int24Packed => {
                        data.extend_from_slice(&((value * 8_388_607.0) as i32).to_le_bytes()[..3])
                    }
                    DeviceFormat::Float32 => data.extend_from_slice(&value.to_le_bytes()),
                    _ => unreachable!("not used here"),
                }
            }
        }
        Wav { format, data }
    }

    /// Runs `switches` switches over fake driver buffers; returns the playback.
    fn run(
        host_type: HostSampleType,
        wav: Option<&Wav>,
        outputs: usize,
        switches: usize,
    ) -> Playback {
        let block = 64;
        let bytes = block * host_type.bytes_per_sample();
        let mut memory: Vec<Vec<u8>> = (0..outputs * 2).map(|_| vec![0xAA; bytes]).collect();
        let halves: Vec<[*mut u8; 2]> = memory
            .chunks_mut(2)
            .map(|pair| [pair[0].as_mut_ptr(), pair[1].as_mut_ptr()])
            .collect();
        let counter = Arc::new(AtomicU64::new(0));
        let probe_counter = counter.clone();
        // SAFETY: `memory` outlives the playback's use below.
        let playback = unsafe { Playback::new(host_type, block, &halves, wav, 48_000.0, switches) }
            .unwrap()
            .with_position_probe(Box::new(move || {
                Some(probe_counter.fetch_add(64, Ordering::Relaxed))
            }));
        for k in 0..switches {
            playback.switch((k % 2) as i32, Some(k as u64 * 64));
        }
        drop(memory);
        playback
    }

    #[test]
    fn plays_and_records_sample_exactly_through_every_host_type() {
        for host_type in [
            HostSampleType::Float32Lsb,
            HostSampleType::Int32Lsb,
            HostSampleType::Int24Lsb,
            HostSampleType::Float64Lsb,
            HostSampleType::Int32Lsb24,
        ] {
            for (encoding, channels) in [(DeviceFormat::Int16, 2), (DeviceFormat::Int24Packed, 1)] {
                let wav = tone(encoding, channels, 1000);
                let playback = run(host_type, Some(&wav), 4, 16);
                assert_eq!(playback.blocks(), 16, "1000 frames / 64");
                let recorded = playback.recording(encoding, 48_000, channels);
                assert_eq!(recorded.frames(), 1000);
                assert_eq!(recorded.data, wav.data, "{host_type:?} {encoding}");
            }
        }
        let wav = tone(DeviceFormat::Float32, 2, 300);
        let recorded = run(HostSampleType::Float32Lsb, Some(&wav), 2, 5).recording(
            DeviceFormat::Float32,
            48_000,
            2,
        );
        assert_eq!(recorded.data, wav.data);
    }

    #[test]
    fn a_stream_stopped_early_records_only_what_was_played() {
        let wav = tone(DeviceFormat::Int16, 2, 1000);
        let playback = run(HostSampleType::Float32Lsb, Some(&wav), 2, 3);
        let recorded = playback.recording(DeviceFormat::Int16, 48_000, 2);
        assert_eq!(recorded.frames(), 192);
        assert_eq!(recorded.data[..], wav.data[..192 * 4]);
    }

    #[test]
    fn silence_without_a_file_and_positions_per_switch() {
        let playback = run(HostSampleType::Int32Lsb, None, 2, 8);
        let recorded = playback.recording(DeviceFormat::Int32, 48_000, 2);
        assert_eq!(recorded.frames(), 8 * 64);
        assert!(
            recorded.data.iter().all(|&b| b == 0),
            "0xAA was overwritten"
        );
        let positions = playback.positions();
        assert_eq!(positions.len(), 8);
        for (k, (probed, timed)) in positions.into_iter().enumerate() {
            assert_eq!(probed, k as u64 * 64);
            assert_eq!(timed, k as u64 * 64);
        }
    }

    #[test]
    fn refuses_rate_and_channel_mismatches() {
        let mut wav = tone(DeviceFormat::Int16, 2, 10);
        let halves = [[std::ptr::null_mut(); 2]; 2];
        // SAFETY: construction fails before any pointer is used.
        let error = unsafe {
            Playback::new(
                HostSampleType::Float32Lsb,
                64,
                &halves,
                Some(&wav),
                44_100.0,
                4,
            )
        }
        .err()
        .unwrap();
        assert!(
            error.0.contains("48000 Hz") && error.0.contains("--rate 48000"),
            "{error:?}"
        );
        wav.format.channels = 1;
        wav.format.sample_rate = 44_100;
        // SAFETY: as above.
        let error = unsafe {
            Playback::new(
                HostSampleType::Float32Lsb,
                64,
                &halves[..0],
                Some(&wav),
                44_100.0,
                4,
            )
        }
        .err()
        .unwrap();
        assert!(error.0.contains("0 outputs"), "{error:?}");
    }

    #[test]
    fn install_is_exclusive_and_uninstall_returns_it() {
        let halves: [[*mut u8; 2]; 0] = [];
        let kind = HostSampleType::Int16Lsb;
        // SAFETY: no channels, so no pointer is used.
        let made = unsafe { Playback::new(kind, 32, &halves, None, 48_000.0, 4) };
        let playback = Arc::new(made.unwrap());
        assert!(install(playback.clone()).is_ok());
        assert!(install(playback.clone()).is_err());
        on_buffer_switch(0, None);
        on_buffer_switch(1, None);
        let back = uninstall().unwrap();
        // callbacks::tests may drive the global hook concurrently: at least our two.
        let driven = back.switches();
        assert!(driven >= 2);
        on_buffer_switch(0, None);
        assert_eq!(playback.switches(), driven, "no longer driven");
        assert!(uninstall().is_none());
    }

    #[test]
    fn wav_encodings_hold_host_types() {
        assert_eq!(
            wav_encoding_for(HostSampleType::Float64Lsb),
            DeviceFormat::Float32
        );
        assert_eq!(
            wav_encoding_for(HostSampleType::Int24Lsb),
            DeviceFormat::Int24Packed
        );
        assert_eq!(
            wav_encoding_for(HostSampleType::Int32Lsb24),
            DeviceFormat::Int24In32
        );
    }
}
