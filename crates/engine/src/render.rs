//! The output path: ASIO blocks of the host's size in, device periods of the device's size out.
//!
//! The host's buffer size and the WASAPI period are independent. Converted host blocks go
//! into a lock-free byte ring in the device's format; each device event takes exactly what
//! the device can accept. Buffer switches are run on demand, so a late wake-up is caught up
//! at once (the device buffer is filled completely at every event).

use crate::buffers::HostBuffers;
use crate::clock::{ClockReading, PositionCell};
use crate::convert::{host_to_device, HostSampleType};
use crate::fault::Fault;
use crate::format::StreamFormat;
use std::sync::Arc;

pub use crate::convert::HostToDevice;

/// One active host output channel and where it goes on the device.
#[derive(Clone, Copy)]
pub struct RenderRoute {
    /// Index of the channel inside [`HostBuffers`].
    pub host_buffer: usize,
    /// Device channel (0-based, in the device's interleaving order).
    pub device_channel: usize,
    pub convert: HostToDevice,
}

/// What a buffer switch tells the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchTiming {
    /// The half (0 or 1) the host processes now.
    pub half: usize,
    /// Sample position of the first frame of this block (block index × block size).
    pub sample_position: u64,
    /// QPC time in ns of this switch on the device clock: the time at which the block's
    /// first frame becomes audible, minus the reported output latency.
    pub system_time_ns: u64,
}

/// The host side of a buffer switch (the driver calls the host's bufferSwitch here).
pub trait SwitchHandler {
    fn buffer_switch(&mut self, timing: &SwitchTiming);
}

#[derive(Clone, Copy, Debug)]
pub struct RenderConfig {
    /// The host's ASIO buffer size.
    pub block_frames: usize,
    pub device_channels: usize,
    pub device_bytes_per_sample: usize,
    /// The device buffer size (IAudioClient::GetBufferSize).
    pub device_buffer_frames: usize,
    pub sample_rate: f64,
    /// The host does not call outputReady: a half is read one switch after it was handed
    /// out, so a host that fills it late still makes it (one more block of latency).
    pub deferred_output: bool,
    /// The output latency reported to the host; switch times are derived from it.
    pub output_latency_frames: usize,
}

impl RenderConfig {
    /// Host blocks of `block_frames` into a device stream of `format` with a buffer of
    /// `device_buffer_frames`; output is read at once (a start may switch to deferred).
    pub fn for_device(
        block_frames: usize,
        format: &StreamFormat,
        sample_rate: u32,
        device_buffer_frames: usize,
        output_latency_frames: usize,
    ) -> Self {
        Self {
            block_frames,
            device_channels: format.channels as usize,
            device_bytes_per_sample: format.encoding.bytes_per_sample(),
            device_buffer_frames,
            sample_rate: sample_rate as f64,
            deferred_output: false,
            output_latency_frames,
        }
    }
}

/// The routes for `(host buffer, device channel)` pairs, all converting `host` samples into
/// the device's encoding.
pub fn routes_for(
    pairs: &[(usize, usize)],
    host: HostSampleType,
    format: &StreamFormat,
) -> Vec<RenderRoute> {
    let convert = host_to_device(host, format.encoding);
    pairs
        .iter()
        .map(|&(host_buffer, device_channel)| RenderRoute {
            host_buffer,
            device_channel,
            convert,
        })
        .collect()
}

/// The output latency the host is told, in frames: the most a block can wait between its
/// buffer switch and the speaker. Frames wait in the ring and the device buffer (together
/// less than one device buffer, because each event fills exactly the free space), then for
/// the stream latency; a deferred half waits one more block.
pub fn output_latency_frames(
    device_buffer_frames: usize,
    stream_latency_frames: usize,
    block_frames: usize,
    deferred_output: bool,
) -> usize {
    device_buffer_frames + stream_latency_frames + if deferred_output { block_frames } else { 0 }
}

/// Counters the status line and the log read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenderStats {
    pub switches: u64,
    pub frames_to_device: u64,
    /// Device events that found the device buffer empty: the device played silence.
    pub underruns: u64,
    /// Who caused them, from the device thread's own times (filled in when it stops).
    pub deadlines: crate::deadline::DeadlineCounts,
}

pub struct RenderPipeline {
    config: RenderConfig,
    frame_bytes: usize,
    routes: Vec<RenderRoute>,
    buffers: Arc<HostBuffers>,
    positions: Arc<PositionCell>,
    ring_in: rtrb::Producer<u8>,
    ring_out: rtrb::Consumer<u8>,
    stats: RenderStats,
    /// `None` except in a fault-injection build told to misbehave (see [`crate::fault`]).
    fault: Option<Fault>,
}

impl RenderPipeline {
    pub fn new(
        config: RenderConfig,
        routes: Vec<RenderRoute>,
        buffers: Arc<HostBuffers>,
        positions: Arc<PositionCell>,
    ) -> Self {
        let frame_bytes = config.device_channels * config.device_bytes_per_sample;
        // The ring never holds more than one device buffer plus one block (see render()).
        let capacity_frames = config.device_buffer_frames + config.block_frames + 1;
        let (ring_in, ring_out) = rtrb::RingBuffer::new(capacity_frames * frame_bytes);
        Self {
            config,
            frame_bytes,
            routes,
            buffers,
            positions,
            ring_in,
            ring_out,
            stats: RenderStats::default(),
            fault: crate::fault::active(),
        }
    }

    pub fn config(&self) -> &RenderConfig {
        &self.config
    }
    pub fn stats(&self) -> RenderStats {
        self.stats
    }
    pub fn frame_bytes(&self) -> usize {
        self.frame_bytes
    }

    fn ring_frames(&self) -> usize {
        self.ring_out.slots() / self.frame_bytes
    }

    /// Writes silence before the stream starts (WASAPI recommends a pre-filled buffer).
    pub fn prefill_silence(&mut self, dst: &mut [u8]) {
        dst.fill(0);
        self.stats.frames_to_device += (dst.len() / self.frame_bytes) as u64;
    }

    /// Fills `dst` (whole device frames) from the ring, running as many buffer switches as
    /// it takes. `device_padding` is the frames still queued in the device before this write;
    /// `clock` a device clock reading taken at this event.
    ///
    /// Real-time safe: no allocation, no lock, no system call of its own.
    pub fn render<H: SwitchHandler + ?Sized>(
        &mut self,
        dst: &mut [u8],
        device_padding: usize,
        clock: &ClockReading,
        host: &mut H,
    ) {
        debug_assert_eq!(dst.len() % self.frame_bytes, 0);
        let frames = dst.len() / self.frame_bytes;
        if device_padding == 0 && self.stats.switches > 0 {
            self.stats.underruns += 1;
        }
        while self.ring_frames() < frames {
            self.run_switch(clock, host);
        }
        let Ok(chunk) = self.ring_out.read_chunk(dst.len()) else {
            // Unreachable: the loop above guarantees enough frames.
            dst.fill(0);
            return;
        };
        let (first, second) = chunk.as_slices();
        dst[..first.len()].copy_from_slice(first);
        dst[first.len()..].copy_from_slice(second);
        chunk.commit_all();
        self.stats.frames_to_device += frames as u64;
    }

    fn run_switch<H: SwitchHandler + ?Sized>(&mut self, clock: &ClockReading, host: &mut H) {
        let block = self.stats.switches;
        if self.fault.is_some() && self.inject_fault(block) {
            return;
        }
        let half = (block % 2) as usize;
        if self.config.deferred_output {
            // The other half was handed out one switch ago.
            self.push_half(1 - half);
        }
        // Stream frame at which this block's first frame will reach the device.
        let first_frame = self.stats.frames_to_device + self.ring_frames() as u64;
        let audible_ns = clock.time_of_frame_ns(first_frame, self.config.sample_rate);
        let latency_ns =
            (self.config.output_latency_frames as f64 * 1e9 / self.config.sample_rate) as u64;
        let timing = SwitchTiming {
            half,
            sample_position: block * self.config.block_frames as u64,
            system_time_ns: audible_ns.saturating_sub(latency_ns),
        };
        self.positions
            .publish(timing.sample_position, timing.system_time_ns);
        host.buffer_switch(&timing);
        if !self.config.deferred_output {
            self.push_half(half);
        }
        self.stats.switches += 1;
    }

    /// A fault-injection build's misbehaviour at `block`; true when the switch is skipped.
    #[cold]
    fn inject_fault(&mut self, block: u64) -> bool {
        match self.fault {
            Some(Fault::SkipBlock { at }) if at == block => {
                // The block's frames go to the device as silence; the host never sees it.
                let bytes = self.config.block_frames * self.frame_bytes;
                if let Ok(mut chunk) = self.ring_in.write_chunk(bytes) {
                    let (first, second) = chunk.as_mut_slices();
                    first.fill(0);
                    second.fill(0);
                    chunk.commit_all();
                }
                self.stats.switches += 1;
                true
            }
            Some(Fault::LateBlock { at }) if at == block => {
                let buffer_seconds =
                    self.config.device_buffer_frames as f64 / self.config.sample_rate;
                std::thread::sleep(std::time::Duration::from_secs_f64(3.0 * buffer_seconds));
                false
            }
            _ => false,
        }
    }

    fn push_half(&mut self, half: usize) {
        let frames = self.config.block_frames;
        let bytes = frames * self.frame_bytes;
        let Ok(mut chunk) = self.ring_in.write_chunk(bytes) else {
            // Unreachable by the capacity bound; never block or allocate here.
            return;
        };
        let (first, second) = chunk.as_mut_slices();
        let first_frames = first.len() / self.frame_bytes;
        let host_bps = self.buffers.bytes_per_sample();
        let device_bps = self.config.device_bytes_per_sample;
        for route in &self.routes {
            // SAFETY: by the ASIO protocol the host is not writing this half now.
            let src = unsafe { self.buffers.half(route.host_buffer, half) };
            let offset = route.device_channel * device_bps;
            if first_frames > 0 {
                (route.convert)(
                    &src[..first_frames * host_bps],
                    &mut first[offset..],
                    self.frame_bytes,
                    first_frames,
                );
            }
            if first_frames < frames {
                (route.convert)(
                    &src[first_frames * host_bps..],
                    &mut second[offset..],
                    self.frame_bytes,
                    frames - first_frames,
                );
            }
        }
        chunk.commit_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_f32(src: &[u8], dst: &mut [u8], stride: usize, frames: usize) {
        for i in 0..frames {
            dst[i * stride..i * stride + 4].copy_from_slice(&src[i * 4..i * 4 + 4]);
        }
    }

    /// A host that writes a running ramp (sample index as f32) into every channel, offset
    /// per channel, and records the timings it was given.
    struct RampHost {
        buffers: Arc<HostBuffers>,
        next_value: u64,
        timings: Vec<SwitchTiming>,
    }

    impl SwitchHandler for RampHost {
        fn buffer_switch(&mut self, timing: &SwitchTiming) {
            let frames = self.buffers.frames();
            for ch in 0..self.buffers.channels() {
                // SAFETY: the host owns this half during its buffer switch.
                let half = unsafe { self.buffers.half_mut(ch, timing.half) };
                for i in 0..frames {
                    let v = (self.next_value + i as u64) as f32 + ch as f32 * 0.25;
                    half[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            self.next_value += frames as u64;
            self.timings.push(*timing);
        }
    }

    struct Bench {
        pipeline: RenderPipeline,
        host: RampHost,
        positions: Arc<PositionCell>,
    }

    fn bench(
        block: usize,
        device_buffer: usize,
        deferred: bool,
        routes: &[(usize, usize)],
    ) -> Bench {
        let host_channels = routes.len();
        let buffers = Arc::new(HostBuffers::new(host_channels, block, 4).unwrap());
        let positions = Arc::new(PositionCell::new());
        let config = RenderConfig {
            block_frames: block,
            device_channels: 2,
            device_bytes_per_sample: 4,
            device_buffer_frames: device_buffer,
            sample_rate: 48_000.0,
            deferred_output: deferred,
            output_latency_frames: output_latency_frames(device_buffer, 0, block, deferred),
        };
        let routes = routes
            .iter()
            .map(|&(host_buffer, device_channel)| RenderRoute {
                host_buffer,
                device_channel,
                convert: copy_f32,
            })
            .collect();
        Bench {
            pipeline: RenderPipeline::new(config, routes, buffers.clone(), positions.clone()),
            host: RampHost {
                buffers,
                next_value: 0,
                timings: Vec::new(),
            },
            positions,
        }
    }

    /// Simulates an event-driven shared-mode device: every `period` frames it plays a period
    /// and the pipeline fills the free space. Returns the device stream and the clock readings.
    fn run_device(b: &mut Bench, period: usize, device_buffer: usize, events: usize) -> Vec<u8> {
        let frame_bytes = b.pipeline.frame_bytes();
        let mut played: Vec<u8> = Vec::new();
        let mut queued: std::collections::VecDeque<u8> = Default::default();
        let mut prefill = vec![0u8; device_buffer * frame_bytes];
        b.pipeline.prefill_silence(&mut prefill);
        queued.extend(prefill);
        let mut position = 0u64;
        for event in 0..events {
            // The device plays one period (ragged: every 7th event is a late wake-up that
            // finds two periods played, as a busy machine does).
            let consumed = if event % 7 == 6 { 2 * period } else { period };
            let consumed = consumed.min(queued.len() / frame_bytes);
            played.extend(queued.drain(..consumed * frame_bytes));
            position += consumed as u64;
            let padding = queued.len() / frame_bytes;
            let clock = ClockReading {
                position_frames: position as f64,
                qpc_ns: 1_000_000_000 + position * 1_000_000_000 / 48_000,
            };
            let mut dst = vec![0u8; (device_buffer - padding) * frame_bytes];
            b.pipeline.render(&mut dst, padding, &clock, &mut b.host);
            // Latency bound: every block handed out this event plays within the reported latency.
            queued.extend(dst);
        }
        played
    }

    fn samples(stream: &[u8], channel: usize) -> Vec<f32> {
        stream
            .chunks_exact(8)
            .map(|f| f32::from_le_bytes(f[channel * 4..channel * 4 + 4].try_into().unwrap()))
            .collect()
    }

    fn check_continuous_ramp(stream: &[u8], channel: usize, offset: f32) -> usize {
        let s = samples(stream, channel);
        let start = s.iter().position(|&v| v != 0.0).expect("no signal") - 1; // ramp starts at 0
        for (i, &v) in s[start..].iter().enumerate() {
            assert_eq!(
                v,
                i as f32 + offset,
                "discontinuity at device frame {}",
                start + i
            );
        }
        start
    }

    #[test]
    fn odd_block_sizes_stream_continuously_through_a_different_period() {
        for &(block, period) in &[
            (441, 480),
            (256, 480),
            (32, 480),
            (1000, 480),
            (480, 480),
            (64, 441),
        ] {
            let device_buffer = 3 * period;
            let mut b = bench(block, device_buffer, false, &[(0, 0), (1, 1)]);
            let played = run_device(&mut b, period, device_buffer, 400);
            let start_left = check_continuous_ramp(&played, 0, 0.0);
            // The first block sits right behind the silent pre-fill.
            assert_eq!(start_left, device_buffer, "block {block}");
            let s = samples(&played, 1);
            assert_eq!(s[start_left + 10], 10.25);
            assert_eq!(b.pipeline.stats().underruns, 0);
        }
    }

    #[test]
    fn deferred_output_adds_exactly_one_silent_block() {
        let (block, period) = (441, 480);
        let mut b = bench(block, 3 * period, true, &[(0, 0), (1, 1)]);
        let played = run_device(&mut b, period, 3 * period, 200);
        let start = check_continuous_ramp(&played, 0, 0.0);
        assert_eq!(start, 3 * period + block);
    }

    #[test]
    fn unrouted_device_channels_are_silent_and_routes_can_cross() {
        let mut b = bench(128, 1440, false, &[(0, 1)]);
        let played = run_device(&mut b, 480, 1440, 100);
        assert!(samples(&played, 0).iter().all(|&v| v == 0.0));
        check_continuous_ramp(&played, 1, 0.0);
    }

    #[test]
    fn switch_times_follow_the_device_clock_and_bound_the_latency() {
        let (block, period, device_buffer) = (441, 480, 1440);
        let mut b = bench(block, device_buffer, false, &[(0, 0), (1, 1)]);
        run_device(&mut b, period, device_buffer, 300);
        let timings = &b.host.timings;
        let latency = b.pipeline.config().output_latency_frames as f64;
        for (n, t) in timings.iter().enumerate() {
            assert_eq!(t.sample_position, (n * block) as u64);
            assert_eq!(t.half, n % 2);
            // The block's first frame is audible at system time + reported latency; it is the
            // frame after the pre-fill plus all earlier blocks.
            let audible_frame = (device_buffer + n * block) as f64;
            let expected_ns = 1e9 + (audible_frame - latency) * 1e9 / 48_000.0;
            assert!(
                (t.system_time_ns as f64 - expected_ns).abs() < 2.0,
                "switch {n}"
            );
        }
        // Consecutive switches are exactly one block apart on the device clock.
        for w in timings.windows(2) {
            let dt = w[1].system_time_ns as f64 - w[0].system_time_ns as f64;
            assert!((dt - block as f64 * 1e9 / 48_000.0).abs() < 2.0);
        }
        let (pos, time) = b.positions.read().unwrap();
        let last = timings.last().unwrap();
        assert_eq!((pos, time), (last.sample_position, last.system_time_ns));
    }

    #[test]
    fn blocks_wait_no_longer_than_the_reported_latency() {
        // At each switch, compare the block's device frame with the device position of the
        // clock reading the switch was computed from.
        let (block, period, device_buffer) = (256, 480, 1440);
        let mut b = bench(block, device_buffer, false, &[(0, 0), (1, 1)]);
        let frame_bytes = b.pipeline.frame_bytes();
        let mut queued_frames = device_buffer;
        let mut prefill = vec![0u8; device_buffer * frame_bytes];
        b.pipeline.prefill_silence(&mut prefill);
        let mut position = 0u64;
        let latency = b.pipeline.config().output_latency_frames as u64;
        for event in 0..500 {
            let consumed = if event % 5 == 4 { 2 * period } else { period }.min(queued_frames);
            position += consumed as u64;
            queued_frames -= consumed;
            let clock = ClockReading {
                position_frames: position as f64,
                qpc_ns: position * 1_000_000_000 / 48_000,
            };
            let before = b.host.timings.len();
            let mut dst = vec![0u8; (device_buffer - queued_frames) * frame_bytes];
            b.pipeline
                .render(&mut dst, queued_frames, &clock, &mut b.host);
            for t in &b.host.timings[before..] {
                let audible_frame = device_buffer as u64 + t.sample_position;
                assert!(audible_frame - position <= latency, "event {event}");
            }
            queued_frames = device_buffer;
        }
    }

    #[test]
    fn an_empty_device_counts_as_an_underrun() {
        let mut b = bench(256, 1440, false, &[(0, 0)]);
        let clock = ClockReading {
            position_frames: 0.0,
            qpc_ns: 0,
        };
        let mut dst = vec![0u8; 1440 * 8];
        b.pipeline.render(&mut dst, 0, &clock, &mut b.host);
        assert_eq!(
            b.pipeline.stats().underruns,
            0,
            "the first fill is not an underrun"
        );
        b.pipeline.render(&mut dst, 0, &clock, &mut b.host);
        assert_eq!(b.pipeline.stats().underruns, 1);
    }

    #[test]
    fn reported_latency_adds_the_deferred_block() {
        assert_eq!(output_latency_frames(1440, 100, 256, false), 1540);
        assert_eq!(output_latency_frames(1440, 100, 256, true), 1796);
    }

    #[test]
    fn an_injected_skipped_block_is_silence_and_a_jump_in_the_sample_position() {
        let mut b = bench(256, 1440, false, &[(0, 0), (1, 1)]);
        b.pipeline.fault = Some(Fault::SkipBlock { at: 5 });
        run_device(&mut b, 480, 1440, 20);
        let positions: Vec<u64> = b.host.timings.iter().map(|t| t.sample_position).collect();
        let jumps: Vec<u64> = positions
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&delta| delta != 256)
            .collect();
        assert_eq!(jumps, vec![512], "positions {positions:?}");
        // The host filled one block less than the stream played.
        assert_eq!(b.host.next_value, (positions.len() * 256) as u64);
    }

    #[test]
    fn without_an_injected_fault_the_positions_tile_the_stream() {
        let mut b = bench(256, 1440, false, &[(0, 0), (1, 1)]);
        assert_eq!(b.pipeline.fault, None, "a shipped build injects nothing");
        run_device(&mut b, 480, 1440, 20);
        let positions: Vec<u64> = b.host.timings.iter().map(|t| t.sample_position).collect();
        assert!(positions.windows(2).all(|w| w[1] - w[0] == 256));
    }
}
