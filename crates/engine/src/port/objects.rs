//! The port's objects, one trait per COM interface (or per group of Win32 calls), one
//! method per call.

use super::{
    CapturePacket, DeviceState, EnginePeriods, Flow, FormatSupport, MmPriority, NotificationSink,
    PortResult, Role, ShareMode, ThreadPriority, Wait,
};
use std::sync::Arc;

/// Windows audio as the engine sees it. Shared by the device thread and the host threads
/// (which only ever call [`AudioPort::set_event`] on the wake event); every object it makes
/// is created, used and dropped on the device thread, except handles.
pub trait AudioPort: Send + Sync + Sized + 'static {
    /// This thread's membership in the multithreaded COM apartment; left when dropped.
    type Apartment;
    /// A Win32 event or waitable timer; closed when dropped. Sendable: host threads set the
    /// wake event.
    type Handle: Send + Sync + 'static;
    /// An MMCSS registration of the current thread.
    type MmTask;
    type Enumerator: DeviceEnumerator<Port = Self>;
    type Collection: DeviceCollection<Port = Self>;
    type Device: Device<Port = Self>;
    type Client: AudioClient<Port = Self>;
    type Client3: AudioClient3;
    type Render: RenderClient;
    type Capture: CaptureClient;
    type Clock: AudioClock;
    /// A registered notification client; unregistered when dropped.
    type Registration;

    /// `CoInitializeEx(COINIT_MULTITHREADED)`.
    fn enter_mta(&self) -> PortResult<Self::Apartment>;
    /// `CoCreateInstance(MMDeviceEnumerator)`.
    fn create_enumerator(&self) -> PortResult<Self::Enumerator>;

    /// `CreateEventW`: an unnamed auto-reset event, not signalled.
    fn create_event(&self) -> PortResult<Self::Handle>;
    /// `SetEvent`. Callable from any thread.
    fn set_event(&self, event: &Self::Handle) -> PortResult<()>;
    /// `ResetEvent`.
    fn reset_event(&self, event: &Self::Handle) -> PortResult<()>;
    /// `CreateWaitableTimerExW`, with `CREATE_WAITABLE_TIMER_HIGH_RESOLUTION` when asked.
    fn create_waitable_timer(&self, high_resolution: bool) -> PortResult<Self::Handle>;
    /// `SetWaitableTimer`: first due `due_hns` (negative: relative, 100 ns units), then every
    /// `period_ms` milliseconds (0: once).
    fn set_waitable_timer(
        &self,
        timer: &Self::Handle,
        due_hns: i64,
        period_ms: u32,
    ) -> PortResult<()>;
    /// `WaitForMultipleObjects(wait all = FALSE)`. At most 4 handles.
    fn wait_for_multiple(&self, handles: &[&Self::Handle], timeout_ms: u32) -> PortResult<Wait>;
    /// `QueryPerformanceCounter` over `QueryPerformanceFrequency`, in nanoseconds.
    fn qpc_ns(&self) -> u64;

    /// `AvSetMmThreadCharacteristicsW(task)` for the current thread.
    fn av_set_mm_thread_characteristics(&self, task: &str) -> PortResult<Self::MmTask>;
    /// `AvSetMmThreadPriority`.
    fn av_set_mm_thread_priority(
        &self,
        task: &Self::MmTask,
        priority: MmPriority,
    ) -> PortResult<()>;
    /// `AvRevertMmThreadCharacteristics`.
    fn av_revert_mm_thread_characteristics(&self, task: Self::MmTask) -> PortResult<()>;
    /// `SetThreadPriority(GetCurrentThread(), …)`.
    fn set_thread_priority(&self, priority: ThreadPriority) -> PortResult<()>;

    /// Whether this is Wine (ntdll exports `wine_get_version`).
    fn is_wine(&self) -> bool;
}

/// `IMMDeviceEnumerator`.
pub trait DeviceEnumerator {
    type Port: AudioPort;
    /// `GetDefaultAudioEndpoint(flow, role)`.
    fn default_audio_endpoint(
        &self,
        flow: Flow,
        role: Role,
    ) -> PortResult<<Self::Port as AudioPort>::Device>;
    /// `GetDevice(id)`.
    fn device(&self, id: &str) -> PortResult<<Self::Port as AudioPort>::Device>;
    /// `EnumAudioEndpoints(flow, state mask)`.
    fn enum_audio_endpoints(
        &self,
        flow: Flow,
        states: DeviceState,
    ) -> PortResult<<Self::Port as AudioPort>::Collection>;
    /// `RegisterEndpointNotificationCallback`; the registration unregisters when dropped.
    fn register_endpoint_notification_callback(
        &self,
        sink: Arc<dyn NotificationSink>,
    ) -> PortResult<<Self::Port as AudioPort>::Registration>;
}

/// `IMMDeviceCollection`.
pub trait DeviceCollection {
    type Port: AudioPort;
    /// `GetCount`.
    fn count(&self) -> PortResult<u32>;
    /// `Item(index)`.
    fn item(&self, index: u32) -> PortResult<<Self::Port as AudioPort>::Device>;
}

/// `IMMDevice` and what the engine reads through it.
pub trait Device {
    type Port: AudioPort;
    /// `GetId`.
    fn id(&self) -> PortResult<String>;
    /// `GetState`.
    fn state(&self) -> PortResult<DeviceState>;
    /// `IMMEndpoint::GetDataFlow`.
    fn data_flow(&self) -> PortResult<Flow>;
    /// `OpenPropertyStore(STGM_READ)` → `GetValue(PKEY_Device_FriendlyName)`.
    fn friendly_name(&self) -> PortResult<String>;
    /// `OpenPropertyStore(STGM_READ)` → `GetValue(PKEY_Device_ContainerId)`; `None` when the
    /// property is empty.
    fn container_id(&self) -> PortResult<Option<u128>>;
    /// `Activate(IAudioClient)`.
    fn activate_audio_client(&self) -> PortResult<<Self::Port as AudioPort>::Client>;
}

/// `IAudioClient`.
pub trait AudioClient {
    type Port: AudioPort;
    /// `Initialize(share, flags, buffer duration, periodicity, format, no session)`.
    fn initialize(
        &self,
        share: ShareMode,
        flags: u32,
        buffer_hns: i64,
        period_hns: i64,
        format: &[u8],
    ) -> PortResult<()>;
    /// `GetBufferSize`, in frames.
    fn buffer_size(&self) -> PortResult<u32>;
    /// `GetStreamLatency`, in 100 ns units.
    fn stream_latency(&self) -> PortResult<i64>;
    /// `GetCurrentPadding`, in frames.
    fn current_padding(&self) -> PortResult<u32>;
    /// `IsFormatSupported(share, format)`; a refusal is the `Err`.
    fn is_format_supported(&self, share: ShareMode, format: &[u8]) -> PortResult<FormatSupport>;
    /// `GetMixFormat`: the bytes of the WAVEFORMATEX(TENSIBLE).
    fn mix_format(&self) -> PortResult<Vec<u8>>;
    /// `GetDevicePeriod`: (default, minimum) in 100 ns units.
    fn device_period(&self) -> PortResult<(i64, i64)>;
    /// `Start`.
    fn start(&self) -> PortResult<()>;
    /// `Stop`.
    fn stop(&self) -> PortResult<()>;
    /// `Reset`.
    fn reset(&self) -> PortResult<()>;
    /// `SetEventHandle`.
    fn set_event_handle(&self, event: &<Self::Port as AudioPort>::Handle) -> PortResult<()>;
    /// `GetService(IAudioRenderClient)`.
    fn render_client(&self) -> PortResult<<Self::Port as AudioPort>::Render>;
    /// `GetService(IAudioCaptureClient)`.
    fn capture_client(&self) -> PortResult<<Self::Port as AudioPort>::Capture>;
    /// `GetService(IAudioClock)`.
    fn clock(&self) -> PortResult<<Self::Port as AudioPort>::Clock>;
    /// `QueryInterface(IAudioClient3)`: the same object's IAudioClient3 face.
    fn client3(&self) -> PortResult<<Self::Port as AudioPort>::Client3>;
}

/// `IAudioClient3` (the same object as the [`AudioClient`] it came from).
pub trait AudioClient3 {
    /// `GetSharedModeEnginePeriod(format)`.
    fn shared_mode_engine_period(&self, format: &[u8]) -> PortResult<EnginePeriods>;
    /// `GetCurrentSharedModeEnginePeriod`: the engine's format and its period now, in frames.
    fn current_shared_mode_engine_period(&self) -> PortResult<(Vec<u8>, u32)>;
    /// `InitializeSharedAudioStream(flags, period in frames, format, no session)`.
    fn initialize_shared_audio_stream(
        &self,
        flags: u32,
        period_frames: u32,
        format: &[u8],
    ) -> PortResult<()>;
}

/// `IAudioRenderClient`.
pub trait RenderClient {
    /// `GetBuffer(frames)`: `frames` whole frames of device memory, valid until
    /// [`RenderClient::release_buffer`] (the borrow keeps it from being called before).
    fn get_buffer(&mut self, frames: u32) -> PortResult<&mut [u8]>;
    /// `ReleaseBuffer(frames, flags)` ([`super::buffer_flags`]).
    fn release_buffer(&mut self, frames: u32, flags: u32) -> PortResult<()>;
}

/// `IAudioCaptureClient`.
pub trait CaptureClient {
    /// `GetNextPacketSize`, in frames (0: none queued).
    fn next_packet_size(&mut self) -> PortResult<u32>;
    /// `GetBuffer` with the device position and QPC time of the packet's first frame.
    /// `AUDCLNT_S_BUFFER_EMPTY` is a packet of 0 frames.
    fn get_buffer(&mut self) -> PortResult<CapturePacket<'_>>;
    /// `ReleaseBuffer(frames)`.
    fn release_buffer(&mut self, frames: u32) -> PortResult<()>;
}

/// `IAudioClock`.
pub trait AudioClock {
    /// `GetFrequency`: position units per second.
    fn frequency(&self) -> PortResult<u64>;
    /// `GetPosition`: (position in frequency units, QPC time of the reading in 100 ns).
    fn position(&self) -> PortResult<(u64, u64)>;
}
