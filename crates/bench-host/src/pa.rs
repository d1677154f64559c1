//! The part of PortAudio's public C API (portaudio.h, pa_asio.h) this host uses, declared here
//! and resolved at run time from the DLL with LoadLibraryW/GetProcAddress.
//!
//! On Windows `long`/`unsigned long` are 32-bit on both x86 and x64.

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CStr};
use std::path::Path;
use windows::core::{HSTRING, PCSTR};
use windows::Win32::Foundation::HMODULE;
use windows::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};

pub type PaError = c_int;
pub type PaDeviceIndex = c_int;
pub type PaHostApiIndex = c_int;
pub type PaHostApiTypeId = c_int;
pub type PaTime = f64;
pub type PaSampleFormat = c_ulong;
pub type PaStreamFlags = c_ulong;
pub type PaStreamCallbackFlags = c_ulong;
pub type PaStream = c_void;

pub const PA_NO_ERROR: PaError = 0;
pub const PA_UNANTICIPATED_HOST_ERROR: PaError = -9999;
pub const PA_ASIO: PaHostApiTypeId = 3;

pub const PA_FLOAT32: PaSampleFormat = 0x0000_0001;
pub const PA_NON_INTERLEAVED: PaSampleFormat = 0x8000_0000;
pub const PA_CLIP_OFF: PaStreamFlags = 0x0000_0001;
pub const PA_DITHER_OFF: PaStreamFlags = 0x0000_0002;

pub const PA_CONTINUE: c_int = 0;
pub const PA_ABORT: c_int = 2;

/// PaStreamCallbackFlags bits, with the names used in reports.
pub const STATUS_FLAGS: [(PaStreamCallbackFlags, &str); 5] = [
    (0x01, "input_underflow"),
    (0x02, "input_overflow"),
    (0x04, "output_underflow"),
    (0x08, "output_overflow"),
    (0x10, "priming_output"),
];

#[repr(C)]
pub struct PaHostApiInfo {
    pub struct_version: c_int,
    pub type_id: PaHostApiTypeId,
    pub name: *const c_char,
    pub device_count: c_int,
    pub default_input_device: PaDeviceIndex,
    pub default_output_device: PaDeviceIndex,
}

#[repr(C)]
pub struct PaDeviceInfo {
    pub struct_version: c_int,
    pub name: *const c_char,
    pub host_api: PaHostApiIndex,
    pub max_input_channels: c_int,
    pub max_output_channels: c_int,
    pub default_low_input_latency: PaTime,
    pub default_low_output_latency: PaTime,
    pub default_high_input_latency: PaTime,
    pub default_high_output_latency: PaTime,
    pub default_sample_rate: f64,
}

#[repr(C)]
pub struct PaStreamParameters {
    pub device: PaDeviceIndex,
    pub channel_count: c_int,
    pub sample_format: PaSampleFormat,
    pub suggested_latency: PaTime,
    pub host_api_specific_stream_info: *mut c_void,
}

#[repr(C)]
pub struct PaStreamCallbackTimeInfo {
    pub input_buffer_adc_time: PaTime,
    pub current_time: PaTime,
    pub output_buffer_dac_time: PaTime,
}

#[repr(C)]
pub struct PaStreamInfo {
    pub struct_version: c_int,
    pub input_latency: PaTime,
    pub output_latency: PaTime,
    pub sample_rate: f64,
}

#[repr(C)]
pub struct PaHostErrorInfo {
    pub host_api_type: PaHostApiTypeId,
    pub error_code: c_long,
    pub error_text: *const c_char,
}

pub type PaStreamCallback = unsafe extern "C" fn(
    input: *const c_void,
    output: *mut c_void,
    frame_count: c_ulong,
    time_info: *const PaStreamCallbackTimeInfo,
    status_flags: PaStreamCallbackFlags,
    user_data: *mut c_void,
) -> c_int;

type NoArgFn = unsafe extern "C" fn() -> PaError;
type TextFn = unsafe extern "C" fn() -> *const c_char;
type ErrorTextFn = unsafe extern "C" fn(PaError) -> *const c_char;
type HostErrorInfoFn = unsafe extern "C" fn() -> *const PaHostErrorInfo;
type HostApiInfoFn = unsafe extern "C" fn(PaHostApiIndex) -> *const PaHostApiInfo;
type DeviceInfoFn = unsafe extern "C" fn(PaDeviceIndex) -> *const PaDeviceInfo;
type OpenStreamFn = unsafe extern "C" fn(
    *mut *mut PaStream,
    *const PaStreamParameters,
    *const PaStreamParameters,
    f64,
    c_ulong,
    PaStreamFlags,
    Option<PaStreamCallback>,
    *mut c_void,
) -> PaError;
type StreamFn = unsafe extern "C" fn(*mut PaStream) -> PaError;
type StreamInfoFn = unsafe extern "C" fn(*mut PaStream) -> *const PaStreamInfo;
type AsioBufferSizesFn = unsafe extern "C" fn(
    PaDeviceIndex,
    *mut c_long,
    *mut c_long,
    *mut c_long,
    *mut c_long,
) -> PaError;

/// The resolved entry points. Function pointers stay valid: the DLL is never unloaded.
pub struct PortAudio {
    pub initialize: NoArgFn,
    pub terminate: NoArgFn,
    pub get_version_text: TextFn,
    pub get_error_text: ErrorTextFn,
    pub get_last_host_error_info: HostErrorInfoFn,
    pub get_host_api_count: NoArgFn,
    pub get_host_api_info: HostApiInfoFn,
    pub get_device_count: NoArgFn,
    pub get_device_info: DeviceInfoFn,
    pub open_stream: OpenStreamFn,
    pub start_stream: StreamFn,
    pub stop_stream: StreamFn,
    pub close_stream: StreamFn,
    pub is_stream_active: StreamFn,
    pub get_stream_info: StreamInfoFn,
    pub asio_get_available_buffer_sizes: AsioBufferSizesFn,
}

/// Resolves one export as a function pointer of type `$ty`.
macro_rules! resolve {
    ($module:expr, $name:literal, $ty:ty) => {{
        // SAFETY: the name is a NUL-terminated literal and the module handle is valid.
        let address = unsafe { GetProcAddress($module, PCSTR(concat!($name, "\0").as_ptr())) }
            .ok_or_else(|| format!("{} is missing from the PortAudio DLL", $name))?;
        // SAFETY: the declared signature matches portaudio.h / pa_asio.h for this export.
        unsafe { std::mem::transmute::<unsafe extern "system" fn() -> isize, $ty>(address) }
    }};
}

impl PortAudio {
    /// Loads the DLL (never unloaded) and resolves the entry points.
    pub fn load(path: &Path) -> Result<PortAudio, String> {
        let wide = HSTRING::from(path.as_os_str());
        // SAFETY: `wide` is a valid NUL-terminated wide string that outlives the call.
        let module: HMODULE = unsafe { LoadLibraryW(&wide) }
            .map_err(|error| format!("cannot load {}: {error}", path.display()))?;
        Ok(PortAudio {
            initialize: resolve!(module, "Pa_Initialize", NoArgFn),
            terminate: resolve!(module, "Pa_Terminate", NoArgFn),
            get_version_text: resolve!(module, "Pa_GetVersionText", TextFn),
            get_error_text: resolve!(module, "Pa_GetErrorText", ErrorTextFn),
            get_last_host_error_info: resolve!(module, "Pa_GetLastHostErrorInfo", HostErrorInfoFn),
            get_host_api_count: resolve!(module, "Pa_GetHostApiCount", NoArgFn),
            get_host_api_info: resolve!(module, "Pa_GetHostApiInfo", HostApiInfoFn),
            get_device_count: resolve!(module, "Pa_GetDeviceCount", NoArgFn),
            get_device_info: resolve!(module, "Pa_GetDeviceInfo", DeviceInfoFn),
            open_stream: resolve!(module, "Pa_OpenStream", OpenStreamFn),
            start_stream: resolve!(module, "Pa_StartStream", StreamFn),
            stop_stream: resolve!(module, "Pa_StopStream", StreamFn),
            close_stream: resolve!(module, "Pa_CloseStream", StreamFn),
            is_stream_active: resolve!(module, "Pa_IsStreamActive", StreamFn),
            get_stream_info: resolve!(module, "Pa_GetStreamInfo", StreamInfoFn),
            asio_get_available_buffer_sizes: resolve!(
                module,
                "PaAsio_GetAvailableBufferSizes",
                AsioBufferSizesFn
            ),
        })
    }

    /// Pa_GetErrorText, plus the host error text for `paUnanticipatedHostError`.
    pub fn error_text(&self, error: PaError) -> String {
        // SAFETY: Pa_GetErrorText accepts any code and returns a static string.
        let mut text = unsafe { c_text((self.get_error_text)(error)) };
        if error == PA_UNANTICIPATED_HOST_ERROR {
            // SAFETY: valid after an error; returns a pointer to static storage in the DLL.
            let info = unsafe { (self.get_last_host_error_info)() };
            if !info.is_null() {
                // SAFETY: non-null pointer to a PaHostErrorInfo owned by PortAudio.
                let info = unsafe { &*info };
                // SAFETY: error_text is NULL or a NUL-terminated string.
                let host_text = unsafe { c_text(info.error_text) };
                text = format!(
                    "{text} (host API {}: code {}: {host_text})",
                    info.host_api_type, info.error_code
                );
            }
        }
        format!("{text} [{error}]")
    }

    pub fn version_text(&self) -> String {
        // SAFETY: returns a static string.
        unsafe { c_text((self.get_version_text)()) }
    }

    pub fn host_api(&self, index: PaHostApiIndex) -> Option<&PaHostApiInfo> {
        // SAFETY: returns NULL for a bad index, else a pointer valid until Pa_Terminate.
        unsafe { (self.get_host_api_info)(index).as_ref() }
    }

    pub fn device(&self, index: PaDeviceIndex) -> Option<&PaDeviceInfo> {
        // SAFETY: returns NULL for a bad index, else a pointer valid until Pa_Terminate.
        unsafe { (self.get_device_info)(index).as_ref() }
    }

    /// (min, max, preferred, granularity) or the error text.
    pub fn asio_buffer_sizes(&self, device: PaDeviceIndex) -> Result<[i32; 4], String> {
        let mut sizes: [c_long; 4] = [0; 4];
        let [min, max, preferred, granularity] = &mut sizes;
        // SAFETY: four valid out-pointers to c_long.
        let error = unsafe {
            (self.asio_get_available_buffer_sizes)(device, min, max, preferred, granularity)
        };
        if error == PA_NO_ERROR {
            Ok(sizes)
        } else {
            Err(self.error_text(error))
        }
    }
}

/// Copies a C string (NULL gives "").
///
/// # Safety
/// `text` is NULL or points to a NUL-terminated string.
pub unsafe fn c_text(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}
