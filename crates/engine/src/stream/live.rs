//! A stream going live: the services of an initialized render client and the signal that
//! paces it, the polling timer, the silent pre-fill, and the thread's audio priority.

use super::ctx::Ctx;
use super::modes_exec::OpenedClient;
use crate::backend::BackendError;
use crate::format::frames_to_hns;
use crate::port::{
    buffer_flags, AudioClient, AudioClock, AudioPort, MmPriority, RenderClient, ThreadPriority,
};

/// The objects of a running render stream, held only while it runs: `stop` releases them
/// so that other applications get the device back at once. Fields drop in order: the
/// client before the signal it was given.
pub(crate) struct LiveClient<P: AudioPort> {
    pub client: P::Client,
    pub render: P::Render,
    pub clock: P::Clock,
    pub clock_frequency: u64,
    /// The audio event (event-driven modes) or a periodic waitable timer (polling).
    pub signal: P::Handle,
}

/// Takes the services of an initialized client and the signal that paces it: the audio
/// event in event-driven modes, a periodic waitable timer when polling.
pub(crate) fn go_live<P: AudioPort>(
    port: &P,
    opened: OpenedClient<P::Client>,
) -> Result<LiveClient<P>, BackendError> {
    let client = opened.client;
    let signal = if opened.mode.is_event_driven() {
        let event = port.create_event().ctx("CreateEventW")?;
        client
            .set_event_handle(&event)
            .ctx("IAudioClient::SetEventHandle")?;
        event
    } else {
        // High resolution where the system has it (Windows 10 1803+), else a plain timer.
        port.create_waitable_timer(true)
            .or_else(|_| port.create_waitable_timer(false))
            .ctx("CreateWaitableTimerExW")?
    };
    let render = client
        .render_client()
        .ctx("IAudioClient::GetService(IAudioRenderClient)")?;
    let clock = client
        .clock()
        .ctx("IAudioClient::GetService(IAudioClock)")?;
    let clock_frequency = clock.frequency().ctx("IAudioClock::GetFrequency")?;
    Ok(LiveClient {
        client,
        render,
        clock,
        clock_frequency,
        signal,
    })
}

/// Hands the device `frames` frames of silence before `Start`, as WASAPI recommends.
pub(crate) fn prefill_silence<P: AudioPort>(
    live: &mut LiveClient<P>,
    frames: usize,
) -> Result<(), BackendError> {
    let data = live
        .render
        .get_buffer(frames as u32)
        .ctx("IAudioRenderClient::GetBuffer (pre-fill)")?;
    data.fill(0);
    live.render
        .release_buffer(frames as u32, buffer_flags::SILENT)
        .ctx("IAudioRenderClient::ReleaseBuffer (pre-fill)")
}

/// Arms the polling timer: every half period (at least 1 ms), first tick half a period
/// from now.
pub(crate) fn start_poll_timer<P: AudioPort>(
    port: &P,
    timer: &P::Handle,
    period_frames: usize,
    rate: f64,
) -> Result<(), BackendError> {
    let half_period_hns = frames_to_hns(period_frames, rate as u32) / 2;
    let due = -half_period_hns.max(10_000);
    let period_ms = (half_period_hns / 10_000).max(1) as u32;
    port.set_waitable_timer(timer, due, period_ms)
        .ctx("SetWaitableTimer")
}

/// Raises this thread for audio: MMCSS "Pro Audio" at critical priority, and
/// THREAD_PRIORITY_TIME_CRITICAL as well, which is what counts where MMCSS is only a stub
/// (Wine maps thread priorities to Unix nice levels). Returns the MMCSS task to revert.
pub(crate) fn enter_pro_audio<P: AudioPort>(port: &P) -> Option<P::MmTask> {
    let task = port.av_set_mm_thread_characteristics("Pro Audio").ok();
    if let Some(task) = &task {
        let _ = port.av_set_mm_thread_priority(task, MmPriority::Critical);
    }
    let _ = port.set_thread_priority(ThreadPriority::TimeCritical);
    task
}

/// Back to normal for the idle command loop.
pub(crate) fn leave_pro_audio<P: AudioPort>(port: &P, task: Option<P::MmTask>) {
    if let Some(task) = task {
        let _ = port.av_revert_mm_thread_characteristics(task);
    }
    let _ = port.set_thread_priority(ThreadPriority::Normal);
}
