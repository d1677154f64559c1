//! An ASIO host, done the way real hosts do it (see docs in `/work/shared` field notes):
//! walk `HKLM\SOFTWARE\ASIO`, resolve the CLSID's `InprocServer32`, initialise COM as an
//! STA on the calling thread, `CoCreateInstance(clsid, …, CLSCTX_INPROC_SERVER, clsid)`
//! (the CLSID doubles as the IID), and call the IASIO vtable directly.
//!
//! [`AsioDriver`] wraps the interface pointer: safe methods for the 21 IASIO calls (errors
//! carry the driver's `getErrorMessage`), raw access for misuse tests, `Release` on drop.
//! The host callbacks are static `extern "C"` functions that only touch atomics in
//! [`HOST`], so they are safe on the driver's real-time thread.

use std::ffi::{c_char, c_void};
use std::fmt;
use std::path::Path;

use asio_abi::{
    c_chars_bytes, AsioBufferInfo, AsioChannelInfo, AsioClockSource, AsioError, AsioSamples,
    AsioTimeStamp, Guid, IasioObject, IasioVtbl, StartFn, ASE_NOT_PRESENT, ASE_OK, ASE_SUCCESS,
    ASIO_FALSE,
};
use windows::core::{HRESULT, HSTRING, PCWSTR, PWSTR};
use windows::Win32::Foundation::{ERROR_MORE_DATA, ERROR_SUCCESS};
use windows::Win32::System::Com::{
    CoInitializeEx, CoUninitialize, CLSCTX, CLSCTX_INPROC_SERVER, COINIT_APARTMENTTHREADED,
};
use windows::Win32::System::Registry::{
    RegCloseKey, RegEnumKeyExW, RegGetValueW, RegOpenKeyExW, HKEY, HKEY_CLASSES_ROOT,
    HKEY_LOCAL_MACHINE, KEY_READ, RRF_RT_REG_SZ,
};

pub use crate::callbacks::{HostSnapshot, HostState, HOST, HOST_CALLBACKS};
pub use crate::drivers::DriverEntry;
pub use crate::error::AsioErrorWithMessage;
use crate::info::BufferSizes;

/// Registry key holding one subkey per ASIO driver.
pub const ASIO_REGISTRY_KEY: &str = "SOFTWARE\\ASIO";

/// `RPC_E_CHANGED_MODE`: COM already initialised on this thread with another model.
const RPC_E_CHANGED_MODE: HRESULT = HRESULT(0x8001_0106_u32 as i32);

// ---------------------------------------------------------------------------------------
// Registry

struct RegKey(HKEY);

impl RegKey {
    fn open(root: HKEY, path: &str) -> Option<RegKey> {
        let path = HSTRING::from(path);
        let mut key = HKEY::default();
        // SAFETY: `path` is a live NUL-terminated wide string; `key` is a valid out pointer.
        let status = unsafe { RegOpenKeyExW(root, &path, None, KEY_READ, &mut key) };
        (status == ERROR_SUCCESS).then_some(RegKey(key))
    }

    fn subkey_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut index = 0;
        loop {
            // Key names are at most 255 characters.
            let mut buffer = [0u16; 256];
            let mut len = buffer.len() as u32;
            // SAFETY: `buffer` has room for `len` characters; other outputs are not asked for.
            let status = unsafe {
                RegEnumKeyExW(
                    self.0,
                    index,
                    Some(PWSTR(buffer.as_mut_ptr())),
                    &mut len,
                    None,
                    None,
                    None,
                    None,
                )
            };
            if status == ERROR_SUCCESS {
                let len = (len as usize).min(buffer.len());
                names.push(String::from_utf16_lossy(&buffer[..len]));
            } else if status != ERROR_MORE_DATA {
                // ERROR_NO_MORE_ITEMS ends the walk; so does any other error.
                break;
            }
            index += 1;
        }
        names
    }
}

impl Drop for RegKey {
    fn drop(&mut self) {
        // SAFETY: the key was opened by RegOpenKeyExW and is closed once.
        let _ = unsafe { RegCloseKey(self.0) };
    }
}

/// Reads a string value (`value` `None` = the default value) of `root\subkey`.
/// `REG_EXPAND_SZ` values come back expanded.
fn read_registry_string(root: HKEY, subkey: &str, value: Option<&str>) -> Option<String> {
    let subkey = HSTRING::from(subkey);
    let value = value.map(HSTRING::from);
    let value_ptr = value
        .as_ref()
        .map_or(PCWSTR::null(), |v| PCWSTR(v.as_ptr()));
    // Retried: the value may grow between the size query and the read.
    let mut bytes: u32 = 0;
    for _ in 0..3 {
        let mut buffer = vec![0u16; bytes as usize / 2 + 1];
        let mut size = (buffer.len() * 2) as u32;
        // SAFETY: `buffer` holds `size` bytes; the strings are NUL-terminated and alive.
        let status = unsafe {
            RegGetValueW(
                root,
                &subkey,
                value_ptr,
                RRF_RT_REG_SZ,
                None,
                Some(buffer.as_mut_ptr().cast()),
                Some(&mut size),
            )
        };
        if status == ERROR_SUCCESS {
            let chars = (size as usize / 2).min(buffer.len());
            let text = &buffer[..chars];
            let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
            return Some(String::from_utf16_lossy(&text[..end]));
        }
        if status != ERROR_MORE_DATA {
            return None;
        }
        bytes = size;
    }
    None
}

/// Every subkey of `HKLM\SOFTWARE\ASIO` with its CLSID, description and server DLL.
/// A 32-bit build sees the WOW6432Node view, as 32-bit hosts do.
pub fn list_drivers() -> Vec<DriverEntry> {
    let Some(asio) = RegKey::open(HKEY_LOCAL_MACHINE, ASIO_REGISTRY_KEY) else {
        return Vec::new();
    };
    asio.subkey_names()
        .into_iter()
        .map(|name| {
            let key = format!("{ASIO_REGISTRY_KEY}\\{name}");
            let clsid_text = read_registry_string(HKEY_LOCAL_MACHINE, &key, Some("CLSID"));
            let clsid = clsid_text.as_deref().and_then(Guid::parse);
            let description = read_registry_string(HKEY_LOCAL_MACHINE, &key, Some("Description"))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.clone());
            let dll_path = clsid.and_then(|clsid| {
                read_registry_string(
                    HKEY_CLASSES_ROOT,
                    &format!("CLSID\\{clsid}\\InprocServer32"),
                    None,
                )
                .filter(|p| !p.is_empty())
            });
            let dll_exists = dll_path.as_deref().is_some_and(|p| Path::new(p).is_file());
            let problem = crate::drivers::entry_problem(clsid, dll_path.as_deref(), dll_exists);
            DriverEntry {
                name,
                clsid: clsid.unwrap_or(Guid::NULL),
                description,
                dll_path,
                dll_exists,
                problem,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Errors

/// Why a driver could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// No registry entry matches.
    DriverNotFound {
        name: String,
        available: Vec<String>,
    },
    /// The entry exists but a host would not load it.
    NotLoadable { name: String, problem: String },
    /// `CoInitializeEx` failed.
    ComInit(i32),
    /// `CoCreateInstance` failed (or returned null).
    CreateInstance { clsid: Guid, hresult: i32 },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::DriverNotFound { name, available } if available.is_empty() => {
                write!(f, "no ASIO driver named '{name}': none is registered")
            }
            HostError::DriverNotFound { name, available } => write!(
                f,
                "no ASIO driver named '{name}'; registered: {}",
                available.join(", ")
            ),
            HostError::NotLoadable { name, problem } => {
                write!(f, "ASIO driver '{name}' cannot be loaded: {problem}")
            }
            HostError::ComInit(hr) => write!(f, "CoInitializeEx failed: HRESULT 0x{hr:08X}"),
            HostError::CreateInstance { clsid, hresult } => write!(
                f,
                "CoCreateInstance({clsid}) failed: HRESULT 0x{hresult:08X}{}",
                hresult_hint(*hresult)
            ),
        }
    }
}

impl std::error::Error for HostError {}

/// A short explanation of common COM creation failures.
pub fn hresult_hint(hresult: i32) -> &'static str {
    match hresult as u32 {
        0x8004_0154 => " (REGDB_E_CLASSNOTREG: class not registered)",
        0x8007_007E => " (module not found: the DLL or one of its dependencies)",
        0x8007_00C1 => " (bad image: wrong architecture, 32/64-bit mismatch?)",
        0x8000_4002 => " (E_NOINTERFACE: QueryInterface refused the CLSID as IID)",
        0x8004_01F8 => " (CO_E_ERRORINDLL: the DLL has no usable DllGetClassObject)",
        0x8004_0111 => " (CLASS_E_CLASSNOTAVAILABLE: DllGetClassObject refused the CLSID)",
        0x8000_4005 => " (E_FAIL)",
        0x8007_000E => " (E_OUTOFMEMORY)",
        _ => "",
    }
}

// ---------------------------------------------------------------------------------------
// COM and the driver object

/// COM initialised on this thread by us; uninitialised on drop.
struct ComApartment {
    uninitialize: bool,
}

impl ComApartment {
    fn enter() -> Result<ComApartment, HostError> {
        // SAFETY: plain COM initialisation of the calling thread.
        let hr = unsafe { CoInitializeEx(None, COINIT_APARTMENTTHREADED) };
        if hr.is_ok() {
            // S_OK or S_FALSE: either way it must be balanced.
            Ok(ComApartment { uninitialize: true })
        } else if hr == RPC_E_CHANGED_MODE {
            // Already an MTA thread: usable, not ours to uninitialise.
            Ok(ComApartment {
                uninitialize: false,
            })
        } else {
            Err(HostError::ComInit(hr.0))
        }
    }
}

impl Drop for ComApartment {
    fn drop(&mut self) {
        if self.uninitialize {
            // The owner is !Send, so this is the thread that initialised COM.
            // SAFETY: balances the successful CoInitializeEx on this same thread.
            unsafe { CoUninitialize() };
        }
    }
}

/// Creates a COM object, passing the CLSID as the IID as ASIO hosts do.
fn co_create_instance(clsid: &Guid) -> Result<*mut IasioObject, HostError> {
    windows_core::link!("ole32.dll" "system" fn CoCreateInstance(rclsid: *const Guid, outer: *mut c_void, context: CLSCTX, riid: *const Guid, out: *mut *mut c_void) -> HRESULT);
    let mut object: *mut c_void = std::ptr::null_mut();
    // Guid has the layout of GUID.
    // SAFETY: `clsid` outlives the call; `object` is a valid out pointer.
    let hr = unsafe {
        CoCreateInstance(
            clsid,
            std::ptr::null_mut(),
            CLSCTX_INPROC_SERVER,
            clsid,
            &mut object,
        )
    };
    if hr.is_err() || object.is_null() {
        return Err(HostError::CreateInstance {
            clsid: *clsid,
            hresult: if hr.is_err() {
                hr.0
            } else {
                0x8000_4003_u32 as i32
            },
        });
    }
    Ok(object.cast())
}

/// A loaded ASIO driver. Not `Send`: COM STA objects stay on the thread that made them.
pub struct AsioDriver {
    object: *mut IasioObject,
    entry: DriverEntry,
    // Dropped after `object` is released (fields drop after `Drop::drop`).
    _com: ComApartment,
}

impl AsioDriver {
    /// Finds `name` among the registered drivers (key name or description, any case) and
    /// loads it.
    pub fn open(name: &str) -> Result<AsioDriver, HostError> {
        let entries = list_drivers();
        match crate::drivers::find(&entries, name) {
            Some(entry) => AsioDriver::load(entry),
            None => Err(HostError::DriverNotFound {
                name: name.to_string(),
                available: entries.iter().map(|e| e.name.clone()).collect(),
            }),
        }
    }

    /// Loads a driver from its registry entry: COM STA on this thread, then
    /// `CoCreateInstance`. Does not call `init`.
    pub fn load(entry: &DriverEntry) -> Result<AsioDriver, HostError> {
        if let Some(problem) = &entry.problem {
            return Err(HostError::NotLoadable {
                name: entry.name.clone(),
                problem: problem.clone(),
            });
        }
        let com = ComApartment::enter()?;
        let object = co_create_instance(&entry.clsid)?;
        Ok(AsioDriver {
            object,
            entry: entry.clone(),
            _com: com,
        })
    }

    /// The registry entry this driver was loaded from.
    pub fn entry(&self) -> &DriverEntry {
        &self.entry
    }

    /// The raw interface pointer (the `this` of every call).
    pub fn this(&self) -> *mut c_void {
        self.object.cast()
    }

    /// The driver's vtable, for raw calls (misuse tests). Calling through it is unsafe.
    pub fn vtbl(&self) -> &IasioVtbl {
        // A COM object's first field points to its vtable, which outlives the object.
        // SAFETY: `object` is live for as long as `self` holds its reference.
        unsafe { &*(*self.object).vtbl }
    }

    fn fail(&self, call: &'static str, code: AsioError) -> AsioErrorWithMessage {
        AsioErrorWithMessage {
            call,
            code,
            message: self.error_message(),
        }
    }

    /// Calls one of the methods that take no argument and return an `ASIOError` (all share
    /// one signature), as `check` reports it.
    fn call_without_arguments(
        &self,
        call: &'static str,
        method: StartFn,
    ) -> Result<(), AsioErrorWithMessage> {
        // SAFETY: `method` comes from this interface's vtable and `this` is the live interface.
        let code = unsafe { method(self.this()) };
        self.check(call, code)
    }

    fn check(&self, call: &'static str, code: AsioError) -> Result<(), AsioErrorWithMessage> {
        if code == ASE_OK {
            Ok(())
        } else {
            Err(self.fail(call, code))
        }
    }

    /// `init(NULL)`: hosts pass their main window; a driver without UI needs none.
    pub fn init(&mut self) -> Result<(), AsioErrorWithMessage> {
        // SAFETY: a null handle is the documented "no window" value.
        unsafe { self.init_with_handle(std::ptr::null_mut()) }
    }

    /// `init(sysHandle)`.
    ///
    /// # Safety
    /// `sys_handle` must be null or a window handle of this process.
    pub unsafe fn init_with_handle(
        &mut self,
        sys_handle: *mut c_void,
    ) -> Result<(), AsioErrorWithMessage> {
        // SAFETY: `this` is the live interface; the caller vouches for `sys_handle`.
        let ok = unsafe { (self.vtbl().init)(self.this(), sys_handle) };
        if ok == ASIO_FALSE {
            Err(self.fail("init", ASE_NOT_PRESENT))
        } else {
            Ok(())
        }
    }

    /// `getDriverName` (32 bytes by contract; a larger buffer guards against overruns).
    pub fn driver_name(&self) -> String {
        let mut name = [0 as c_char; 128];
        // SAFETY: `name` is writable and larger than the 32 bytes the driver may write.
        unsafe { (self.vtbl().get_driver_name)(self.this(), name.as_mut_ptr()) };
        String::from_utf8_lossy(c_chars_bytes(&name)).into_owned()
    }

    /// `getDriverVersion`.
    pub fn driver_version(&self) -> i32 {
        // SAFETY: `this` is the live interface.
        unsafe { (self.vtbl().get_driver_version)(self.this()) }
    }

    /// `getErrorMessage` (124 bytes by contract; a larger buffer guards against overruns).
    pub fn error_message(&self) -> String {
        let mut text = [0 as c_char; 512];
        // SAFETY: `text` is writable and larger than the 124 bytes the driver may write.
        unsafe { (self.vtbl().get_error_message)(self.this(), text.as_mut_ptr()) };
        String::from_utf8_lossy(c_chars_bytes(&text)).into_owned()
    }

    /// `start`.
    pub fn start(&mut self) -> Result<(), AsioErrorWithMessage> {
        self.call_without_arguments("start", self.vtbl().start)
    }

    /// `stop`.
    pub fn stop(&mut self) -> Result<(), AsioErrorWithMessage> {
        self.call_without_arguments("stop", self.vtbl().stop)
    }

    /// `getChannels`: `(inputs, outputs)`.
    pub fn channels(&self) -> Result<(i32, i32), AsioErrorWithMessage> {
        let (mut inputs, mut outputs) = (0, 0);
        // SAFETY: both out pointers are valid locals.
        let code = unsafe { (self.vtbl().get_channels)(self.this(), &mut inputs, &mut outputs) };
        self.check("getChannels", code).map(|()| (inputs, outputs))
    }

    /// `getLatencies`: `(input, output)` in samples.
    pub fn latencies(&self) -> Result<(i32, i32), AsioErrorWithMessage> {
        let (mut input, mut output) = (0, 0);
        // SAFETY: both out pointers are valid locals.
        let code = unsafe { (self.vtbl().get_latencies)(self.this(), &mut input, &mut output) };
        self.check("getLatencies", code).map(|()| (input, output))
    }

    /// `getBufferSize`.
    pub fn buffer_size(&self) -> Result<BufferSizes, AsioErrorWithMessage> {
        let mut s = BufferSizes {
            min: 0,
            max: 0,
            preferred: 0,
            granularity: 0,
        };
        // SAFETY: all four out pointers are fields of a local.
        let code = unsafe {
            (self.vtbl().get_buffer_size)(
                self.this(),
                &mut s.min,
                &mut s.max,
                &mut s.preferred,
                &mut s.granularity,
            )
        };
        self.check("getBufferSize", code).map(|()| s)
    }

    /// `canSampleRate`.
    pub fn can_sample_rate(&self, rate: f64) -> Result<(), AsioErrorWithMessage> {
        // SAFETY: `this` is the live interface.
        let code = unsafe { (self.vtbl().can_sample_rate)(self.this(), rate) };
        self.check("canSampleRate", code)
    }

    /// `getSampleRate`.
    pub fn sample_rate(&self) -> Result<f64, AsioErrorWithMessage> {
        let mut rate = 0.0;
        // SAFETY: the out pointer is a valid local.
        let code = unsafe { (self.vtbl().get_sample_rate)(self.this(), &mut rate) };
        self.check("getSampleRate", code).map(|()| rate)
    }

    /// `setSampleRate`.
    pub fn set_sample_rate(&mut self, rate: f64) -> Result<(), AsioErrorWithMessage> {
        // SAFETY: `this` is the live interface.
        let code = unsafe { (self.vtbl().set_sample_rate)(self.this(), rate) };
        self.check("setSampleRate", code)
    }

    /// `getClockSources`, asking for up to 64.
    pub fn clock_sources(&self) -> Result<Vec<AsioClockSource>, AsioErrorWithMessage> {
        let mut clocks = [AsioClockSource::zeroed(); 64];
        let mut count = clocks.len() as i32;
        // SAFETY: `clocks` has room for `count` entries; `count` is a valid local.
        let code = unsafe {
            (self.vtbl().get_clock_sources)(self.this(), clocks.as_mut_ptr(), &mut count)
        };
        self.check("getClockSources", code)?;
        let count = usize::try_from(count).unwrap_or(0).min(clocks.len());
        Ok(clocks[..count].to_vec())
    }

    /// `setClockSource`.
    pub fn set_clock_source(&mut self, reference: i32) -> Result<(), AsioErrorWithMessage> {
        // SAFETY: `this` is the live interface.
        let code = unsafe { (self.vtbl().set_clock_source)(self.this(), reference) };
        self.check("setClockSource", code)
    }

    /// `getSamplePosition`: `(samples, system time in ns)`.
    pub fn sample_position(&self) -> Result<(u64, u64), AsioErrorWithMessage> {
        let mut position = AsioSamples::default();
        let mut stamp = AsioTimeStamp::default();
        let get_sample_position = self.vtbl().get_sample_position;
        // SAFETY: both out pointers are valid locals.
        let code = unsafe { get_sample_position(self.this(), &mut position, &mut stamp) };
        self.check("getSamplePosition", code)
            .map(|()| (position.to_u64(), stamp.to_u64()))
    }

    /// `getChannelInfo` for one channel.
    pub fn channel_info(
        &self,
        channel: i32,
        is_input: bool,
    ) -> Result<AsioChannelInfo, AsioErrorWithMessage> {
        let mut info = AsioChannelInfo::request(channel, is_input);
        // SAFETY: `info` is a valid local of the expected type.
        let code = unsafe { (self.vtbl().get_channel_info)(self.this(), &mut info) };
        self.check("getChannelInfo", code).map(|()| info)
    }

    /// `createBuffers` for `infos` (their `is_input`/`channel_num` set), with the host
    /// callbacks of this module. Fills each info's `buffers`.
    pub fn create_buffers(
        &mut self,
        infos: &mut [AsioBufferInfo],
        buffer_size: i32,
    ) -> Result<(), AsioErrorWithMessage> {
        let count = i32::try_from(infos.len()).unwrap_or(i32::MAX);
        // SAFETY: `infos` holds `count` entries; the callbacks are 'static.
        let code = unsafe {
            (self.vtbl().create_buffers)(
                self.this(),
                infos.as_mut_ptr(),
                count,
                buffer_size,
                &HOST_CALLBACKS,
            )
        };
        self.check("createBuffers", code)
    }

    /// `disposeBuffers`.
    pub fn dispose_buffers(&mut self) -> Result<(), AsioErrorWithMessage> {
        self.call_without_arguments("disposeBuffers", self.vtbl().dispose_buffers)
    }

    /// `controlPanel` (may open a window).
    pub fn control_panel(&mut self) -> Result<(), AsioErrorWithMessage> {
        self.call_without_arguments("controlPanel", self.vtbl().control_panel)
    }

    /// `future(selector, opt)`. Success is `ASE_SUCCESS` (or `ASE_OK` from lax drivers).
    ///
    /// # Safety
    /// `opt` must be what `selector` expects (null or a pointer to the right struct).
    pub unsafe fn future(
        &mut self,
        selector: i32,
        opt: *mut c_void,
    ) -> Result<(), AsioErrorWithMessage> {
        // SAFETY: the caller guarantees `opt` matches `selector`.
        let code = unsafe { self.future_code(selector, opt) };
        if code == ASE_SUCCESS || code == ASE_OK {
            Ok(())
        } else {
            Err(self.fail("future", code))
        }
    }

    /// `future(selector, opt)`, returning the raw code (`ASE_SUCCESS` is kept as is).
    ///
    /// # Safety
    /// `opt` must be what `selector` expects (null or a pointer to the right struct).
    pub unsafe fn future_code(&mut self, selector: i32, opt: *mut c_void) -> AsioError {
        // SAFETY: `this` is the live interface; the caller guarantees `opt`.
        unsafe { (self.vtbl().future)(self.this(), selector, opt) }
    }

    /// `outputReady`.
    pub fn output_ready(&mut self) -> Result<(), AsioErrorWithMessage> {
        self.call_without_arguments("outputReady", self.vtbl().output_ready)
    }

    /// `outputReady` for the buffer-switch callback, which has no `&AsioDriver`.
    pub fn output_ready_caller(&self) -> OutputReadyCaller {
        OutputReadyCaller {
            this: self.this() as usize,
            method: self.vtbl().output_ready,
        }
    }
}

/// Calls a driver's `outputReady` from its buffer-switch callback. Valid while the
/// [`AsioDriver`] it came from is alive: hosts stop the stream before they release it.
#[derive(Clone, Copy)]
pub struct OutputReadyCaller {
    this: usize,
    method: StartFn,
}

impl OutputReadyCaller {
    pub fn call(&self) -> AsioError {
        // SAFETY: `method` is the live driver's own vtable entry and `this` its interface;
        // the caller keeps the driver alive while its stream runs.
        unsafe { (self.method)(self.this as *mut c_void) }
    }
}

impl Drop for AsioDriver {
    fn drop(&mut self) {
        // SAFETY: we own one reference, from CoCreateInstance; released exactly once.
        unsafe { (self.vtbl().release)(self.this()) };
    }
}

/// The code of a call's result: `ASE_OK` or the error's code.
pub fn code_of<T>(result: &Result<T, AsioErrorWithMessage>) -> AsioError {
    match result {
        Ok(_) => ASE_OK,
        Err(e) => e.code,
    }
}
