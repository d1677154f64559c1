//! The plain values that cross the port: enumerations and flag words as WASAPI defines them.

/// `EDataFlow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    Render,
    Capture,
    /// `eAll`, only as a request.
    All,
}

impl Flow {
    /// `render`, `capture`, `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Render => "render",
            Flow::Capture => "capture",
            Flow::All => "all",
        }
    }
}

/// `ERole`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Console,
    Multimedia,
    Communications,
}

/// `DEVICE_STATE_*`: one state, or (in a mask) several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceState(pub u32);

impl DeviceState {
    pub const ACTIVE: DeviceState = DeviceState(0x1);
    pub const DISABLED: DeviceState = DeviceState(0x2);
    pub const NOTPRESENT: DeviceState = DeviceState(0x4);
    pub const UNPLUGGED: DeviceState = DeviceState(0x8);
    /// `DEVICE_STATEMASK_ALL`.
    pub const ALL: DeviceState = DeviceState(0xF);

    pub fn contains(self, state: DeviceState) -> bool {
        self.0 & state.0 != 0
    }
}

/// `AUDCLNT_SHAREMODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShareMode {
    Shared,
    Exclusive,
}

/// `AUDCLNT_STREAMFLAGS_*` (a `u32` word, as Initialize takes it).
pub mod stream_flags {
    pub const LOOPBACK: u32 = 0x0002_0000;
    pub const EVENTCALLBACK: u32 = 0x0004_0000;
    pub const NOPERSIST: u32 = 0x0008_0000;
    pub const SRC_DEFAULT_QUALITY: u32 = 0x0800_0000;
    pub const AUTOCONVERTPCM: u32 = 0x8000_0000;
}

/// `AUDCLNT_BUFFERFLAGS_*`: the flags of a capture packet, and ReleaseBuffer's flags.
pub mod buffer_flags {
    pub const DATA_DISCONTINUITY: u32 = 0x1;
    pub const SILENT: u32 = 0x2;
    pub const TIMESTAMP_ERROR: u32 = 0x4;
}

/// What `WaitForMultipleObjects` (wait for any) returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// `WAIT_OBJECT_0 + index`: the handle at this index (the lowest signalled one).
    Signaled(usize),
    /// `WAIT_TIMEOUT`.
    Timeout,
}

/// `IAudioClient3::GetSharedModeEnginePeriod`, in frames at the format's rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnginePeriods {
    pub default_frames: u32,
    pub fundamental_frames: u32,
    pub min_frames: u32,
    pub max_frames: u32,
}

/// `IAudioClient::IsFormatSupported`'s answer when it succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatSupport {
    /// `S_OK`.
    Supported,
    /// `S_FALSE` with the closest match (shared mode only).
    Closest(Vec<u8>),
}

/// One packet from `IAudioCaptureClient::GetBuffer`, valid until `ReleaseBuffer`.
#[derive(Debug)]
pub struct CapturePacket<'a> {
    /// `frames` whole frames (empty when the device handed no pointer).
    pub data: &'a [u8],
    pub frames: u32,
    /// [`buffer_flags`].
    pub flags: u32,
    /// The device position of the packet's first frame, in frames.
    pub device_position: u64,
    /// The QPC time the device recorded that position at, in 100 ns units.
    pub qpc_100ns: u64,
}

/// `AvSetMmThreadPriority`'s levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmPriority {
    Normal,
    High,
    Critical,
}

/// `SetThreadPriority`'s levels the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadPriority {
    Normal,
    TimeCritical,
}

/// What an `IMMNotificationClient` hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// `OnDefaultDeviceChanged` (`id`: empty when no endpoint is the default any more).
    DefaultDeviceChanged { flow: Flow, role: Role, id: String },
    /// `OnDeviceStateChanged`.
    DeviceStateChanged { id: String, state: DeviceState },
    /// `OnDeviceAdded`.
    DeviceAdded { id: String },
    /// `OnDeviceRemoved`.
    DeviceRemoved { id: String },
}

/// Where endpoint notifications go. Called on a system thread (Windows) or on whichever
/// thread caused the change (the simulator); it must return quickly and never block on the
/// device thread.
pub trait NotificationSink: Send + Sync {
    fn notify(&self, notification: &Notification);
}
