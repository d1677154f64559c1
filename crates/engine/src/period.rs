//! The exclusive event-driven path: the ASIO buffer is one WASAPI period. Each device event
//! runs exactly one buffer switch and converts the host's half straight into the device
//! buffer, with no ring in between, so the output latency is the device buffer (plus one
//! block for hosts that do not call `outputReady`) and nothing more.

use crate::buffers::HostBuffers;
use crate::clock::{ClockReading, PositionCell};
use crate::render::{RenderConfig, RenderRoute, RenderStats, SwitchHandler, SwitchTiming};
use std::sync::Arc;

/// One buffer switch per device period, written directly into the device buffer.
pub struct PeriodRenderer {
    config: RenderConfig,
    routes: Vec<RenderRoute>,
    buffers: Arc<HostBuffers>,
    positions: Arc<PositionCell>,
    frame_bytes: usize,
    /// Some device channels get no host buffer and must be written as silence.
    partial_routes: bool,
    stats: RenderStats,
}

impl PeriodRenderer {
    /// `config.block_frames` is the device period; `config.device_buffer_frames` the
    /// device buffer (one period in exclusive event mode).
    pub fn new(
        config: RenderConfig,
        routes: Vec<RenderRoute>,
        buffers: Arc<HostBuffers>,
        positions: Arc<PositionCell>,
    ) -> Self {
        let partial_routes = routes.len() < config.device_channels;
        Self {
            frame_bytes: config.device_channels * config.device_bytes_per_sample,
            config,
            routes,
            buffers,
            positions,
            partial_routes,
            stats: RenderStats::default(),
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

    /// Bytes of one period in the device format.
    pub fn period_bytes(&self) -> usize {
        self.config.block_frames * self.frame_bytes
    }

    /// Writes the silent period WASAPI wants before `Start`.
    pub fn prefill_silence(&mut self, dst: &mut [u8]) {
        dst.fill(0);
        self.stats.frames_to_device += (dst.len() / self.frame_bytes.max(1)) as u64;
    }

    /// Fills one device period (`dst` is exactly [`Self::period_bytes`] long) with one
    /// buffer switch. A `dst` of another length is written as silence and counted as an
    /// underrun: the device asked for what this mode cannot give.
    ///
    /// Real-time safe: no allocation, no lock, no system call of its own.
    pub fn render<H: SwitchHandler + ?Sized>(
        &mut self,
        dst: &mut [u8],
        clock: &ClockReading,
        host: &mut H,
    ) {
        let frames = self.config.block_frames;
        if dst.len() != frames * self.frame_bytes {
            dst.fill(0);
            self.stats.underruns += 1;
            self.stats.frames_to_device += (dst.len() / self.frame_bytes.max(1)) as u64;
            return;
        }
        let block = self.stats.switches;
        let half = (block % 2) as usize;
        let deferred = self.config.deferred_output;
        if self.partial_routes {
            dst.fill(0);
        }
        if deferred {
            // The host filled the other half one switch ago (silence before the first).
            if block == 0 {
                dst.fill(0);
            } else {
                self.write_half(1 - half, dst);
            }
        }
        // Without outputReady, the block filled now is played one period later.
        let first_frame = self.stats.frames_to_device + if deferred { frames as u64 } else { 0 };
        let audible_ns = clock.time_of_frame_ns(first_frame, self.config.sample_rate);
        let latency_ns =
            (self.config.output_latency_frames as f64 * 1e9 / self.config.sample_rate) as u64;
        let timing = SwitchTiming {
            half,
            sample_position: block * frames as u64,
            system_time_ns: audible_ns.saturating_sub(latency_ns),
        };
        self.positions
            .publish(timing.sample_position, timing.system_time_ns);
        host.buffer_switch(&timing);
        if !deferred {
            self.write_half(half, dst);
        }
        self.stats.switches += 1;
        self.stats.frames_to_device += frames as u64;
    }

    fn write_half(&self, half: usize, dst: &mut [u8]) {
        let frames = self.config.block_frames;
        let device_bps = self.config.device_bytes_per_sample;
        for route in &self.routes {
            // SAFETY: by the ASIO protocol the host is not writing this half now.
            let src = unsafe { self.buffers.half(route.host_buffer, half) };
            (route.convert)(
                src,
                &mut dst[route.device_channel * device_bps..],
                self.frame_bytes,
                frames,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{host_to_device, DeviceFormat, HostSampleType};
    use crate::render::output_latency_frames;

    /// Writes `switch × 1000 + frame` as int16 into every buffer and records timings.
    struct CounterHost {
        buffers: Arc<HostBuffers>,
        switches: u16,
        timings: Vec<SwitchTiming>,
    }

    impl SwitchHandler for CounterHost {
        fn buffer_switch(&mut self, timing: &SwitchTiming) {
            for b in 0..self.buffers.channels() {
                // SAFETY: test host, single thread.
                let half = unsafe { self.buffers.half_mut(b, timing.half) };
                for (i, s) in half.chunks_exact_mut(2).enumerate() {
                    let v = self.switches * 1000 + i as u16 + b as u16 * 500;
                    s.copy_from_slice(&v.to_le_bytes());
                }
            }
            self.switches += 1;
            self.timings.push(*timing);
        }
    }

    fn renderer(deferred: bool, routes: &[(usize, usize)]) -> (PeriodRenderer, CounterHost) {
        let period = 64;
        let buffers = Arc::new(HostBuffers::new(routes.len(), period, 2).unwrap());
        let convert = host_to_device(HostSampleType::Int16Lsb, DeviceFormat::Int16);
        let config = RenderConfig {
            block_frames: period,
            device_channels: 2,
            device_bytes_per_sample: 2,
            device_buffer_frames: period,
            sample_rate: 48_000.0,
            deferred_output: deferred,
            output_latency_frames: output_latency_frames(period, 0, period, deferred),
        };
        let routes = routes
            .iter()
            .map(|&(host_buffer, device_channel)| RenderRoute {
                host_buffer,
                device_channel,
                convert,
            })
            .collect();
        let r = PeriodRenderer::new(
            config,
            routes,
            buffers.clone(),
            Arc::new(PositionCell::new()),
        );
        (
            r,
            CounterHost {
                buffers,
                switches: 0,
                timings: Vec::new(),
            },
        )
    }

    fn sample(dst: &[u8], frame: usize, channel: usize) -> u16 {
        let at = frame * 4 + channel * 2;
        u16::from_le_bytes([dst[at], dst[at + 1]])
    }

    #[test]
    fn each_period_is_one_switch_written_directly() {
        let (mut r, mut host) = renderer(false, &[(0, 0), (1, 1)]);
        let mut dst = vec![0xAAu8; r.period_bytes()];
        let mut pre = vec![0xAAu8; r.period_bytes()];
        r.prefill_silence(&mut pre);
        for n in 0..4u16 {
            let clock = ClockReading {
                position_frames: n as f64 * 64.0,
                qpc_ns: 1_000_000_000 + n as u64 * 64 * 1_000_000_000 / 48_000,
            };
            r.render(&mut dst, &clock, &mut host);
            assert_eq!(host.switches, n + 1, "exactly one switch per period");
            assert_eq!(
                sample(&dst, 0, 0),
                n * 1000,
                "this switch's block, no delay"
            );
            assert_eq!(sample(&dst, 63, 1), n * 1000 + 63 + 500);
        }
        let t = &host.timings;
        assert_eq!(t[1].sample_position - t[0].sample_position, 64);
        // Switch n's first frame is played at device frame 64 (prefill) + 64 n; minus the
        // latency of one period that is the clock time of frame 64 n.
        let frame_ns = |f: u64| 1_000_000_000 + f * 1_000_000_000 / 48_000;
        assert_eq!(t[2].system_time_ns, frame_ns(128));
        assert_eq!(r.stats().frames_to_device, 5 * 64);
        assert_eq!(r.stats().underruns, 0);
    }

    #[test]
    fn without_output_ready_the_previous_block_plays() {
        let (mut r, mut host) = renderer(true, &[(0, 1)]);
        let mut dst = vec![0xAAu8; r.period_bytes()];
        let clock = ClockReading {
            position_frames: 0.0,
            qpc_ns: 0,
        };
        r.render(&mut dst, &clock, &mut host);
        assert!(
            dst.iter().all(|&b| b == 0),
            "silence before the first block"
        );
        r.render(&mut dst, &clock, &mut host);
        assert_eq!(sample(&dst, 5, 1), 5, "block 0 plays at the second period");
        assert_eq!(sample(&dst, 5, 0), 0, "an unrouted channel is silent");
    }

    #[test]
    fn a_wrong_sized_request_is_silence_not_a_crash() {
        let (mut r, mut host) = renderer(false, &[(0, 0), (1, 1)]);
        let mut dst = vec![0xAAu8; 32 * 4];
        let clock = ClockReading {
            position_frames: 0.0,
            qpc_ns: 0,
        };
        r.render(&mut dst, &clock, &mut host);
        assert!(dst.iter().all(|&b| b == 0));
        assert_eq!((host.switches, r.stats().underruns), (0, 1));
    }
}
