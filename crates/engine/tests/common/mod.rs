//! A test host for the driver core against the simulated device: static callbacks as C
//! hosts have, a temporary %USERPROFILE% and %TEMP%\Wasio, and helpers.
#![allow(dead_code)]

use asio_abi::*;
use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasio_engine::backend::Backend;
use wasio_engine::driver::DriverCore;
use wasio_engine::env::DriverEnv;
use wasio_engine::sim::{SimDeviceSpec, SimulatedBackend};

static SERIAL: Mutex<()> = Mutex::new(());
pub static SWITCHES: AtomicU64 = AtomicU64::new(0);
pub static RESET_REQUESTS: AtomicU64 = AtomicU64::new(0);
/// Every message the host received (selector), kAsioSelectorSupported excluded.
pub static MESSAGES: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Bytes copied into every half of every buffer at each switch.
pub static FILL: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static BUFFER_POINTERS: Mutex<Vec<[usize; 2]>> = Mutex::new(Vec::new());

unsafe extern "C" fn buffer_switch(half: i32, _direct: AsioBool) {
    if let (Ok(fill), Ok(pointers)) = (FILL.try_lock(), BUFFER_POINTERS.try_lock()) {
        for p in pointers.iter() {
            // SAFETY: the driver gave us at least `fill.len()` bytes per half (the tests
            // size FILL to one half).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    fill.as_ptr(),
                    p[half as usize] as *mut u8,
                    fill.len(),
                )
            };
        }
    }
    SWITCHES.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn asio_message(selector: i32, value: i32, _m: *mut c_void, _o: *mut f64) -> i32 {
    if selector == message::SELECTOR_SUPPORTED {
        return matches!(value, message::RESET_REQUEST) as i32;
    }
    MESSAGES.lock().unwrap().push(selector);
    if selector == message::RESET_REQUEST {
        RESET_REQUESTS.fetch_add(1, Ordering::SeqCst);
        return 1;
    }
    0
}

pub fn callbacks() -> AsioCallbacks {
    AsioCallbacks {
        buffer_switch: Some(buffer_switch),
        sample_rate_did_change: None,
        asio_message: Some(asio_message),
        buffer_switch_time_info: None,
    }
}

pub struct Host {
    _serial: MutexGuard<'static, ()>,
    pub driver: Arc<DriverCore>,
    pub backend: Arc<SimulatedBackend>,
    pub profile: PathBuf,
}

impl Host {
    pub fn config_path(&self) -> PathBuf {
        self.profile.join("Wasio.toml")
    }
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }
}

/// A host with `config` as Wasio.toml (`None`: no file) in `profile`.
pub fn host_in(profile: &Path, spec: SimDeviceSpec, config: Option<&str>) -> Host {
    host_with_env(profile, spec, config, |_| {})
}

pub fn host_with_env(
    profile: &Path,
    spec: SimDeviceSpec,
    config: Option<&str>,
    adjust: impl FnOnce(&mut DriverEnv),
) -> Host {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    SWITCHES.store(0, Ordering::SeqCst);
    RESET_REQUESTS.store(0, Ordering::SeqCst);
    MESSAGES.lock().unwrap().clear();
    FILL.lock().unwrap().clear();
    BUFFER_POINTERS.lock().unwrap().clear();
    let config_path = profile.join("Wasio.toml");
    match config {
        Some(text) => std::fs::write(&config_path, text).unwrap(),
        None => {
            let _ = std::fs::remove_file(&config_path);
        }
    }
    let backend = Arc::new(SimulatedBackend::new(spec));
    let shared = backend.clone();
    let mut env = DriverEnv::detached("host.exe");
    env.user_profile_dir = Some(profile.to_path_buf());
    env.status_dir = Some(profile.join("Temp").join("Wasio"));
    adjust(&mut env);
    let driver = Arc::new(DriverCore::new(
        Box::new(move || Ok(shared.clone() as Arc<dyn Backend>)),
        env,
    ));
    Host {
        _serial: serial,
        driver,
        backend,
        profile: profile.to_path_buf(),
    }
}

pub fn error_text(d: &DriverCore) -> String {
    let mut buf = [0 as c_char; 124];
    // SAFETY: 124 writable bytes, as the interface requires.
    unsafe { d.get_error_message(buf.as_mut_ptr()) };
    // SAFETY: the driver wrote a NUL-terminated string into `buf`.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

pub fn create(d: &DriverCore, channels: &[i32], size: i32) -> AsioError {
    let mut infos: Vec<AsioBufferInfo> = channels
        .iter()
        .map(|&c| {
            let mut i = AsioBufferInfo::zeroed();
            i.channel_num = c;
            i
        })
        .collect();
    let cb = callbacks();
    // SAFETY: `infos` holds `channels.len()` entries; the callbacks are 'static.
    let code = unsafe { d.create_buffers(infos.as_mut_ptr(), infos.len() as i32, size, &cb) };
    if code == ASE_OK {
        *BUFFER_POINTERS.lock().unwrap() = infos
            .iter()
            .map(|i| {
                let b = i.buffers;
                [b[0] as usize, b[1] as usize]
            })
            .collect();
    }
    code
}

/// Waits (up to 20 s, never asserting on time otherwise) until `done` holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn wait_for_switches(n: u64) {
    wait_until("buffer switches", || SWITCHES.load(Ordering::SeqCst) >= n);
}

pub fn channel_info(d: &DriverCore, channel: i32) -> (AsioError, String, i32) {
    let mut info = AsioChannelInfo::zeroed();
    info.channel = channel;
    info.is_input = ASIO_FALSE;
    // SAFETY: a valid, writable struct.
    let code = unsafe { d.get_channel_info(&mut info) };
    let name = info.name;
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    let text: String = name[..end].iter().map(|&c| c as u8 as char).collect();
    (code, text, info.sample_type)
}

pub fn outputs(d: &DriverCore) -> i32 {
    let (mut ins, mut outs) = (-1, -1);
    // SAFETY: valid, writable locals.
    assert_eq!(unsafe { d.get_channels(&mut ins, &mut outs) }, ASE_OK);
    outs
}

pub fn buffer_sizes(d: &DriverCore) -> (i32, i32, i32, i32) {
    let (mut min, mut max, mut pref, mut gran) = (0, 0, 0, 0);
    // SAFETY: valid, writable locals.
    assert_eq!(
        unsafe { d.get_buffer_size(&mut min, &mut max, &mut pref, &mut gran) },
        ASE_OK
    );
    (min, max, pref, gran)
}

pub fn two_endpoints() -> SimDeviceSpec {
    SimDeviceSpec {
        endpoints: vec![
            ("wasio_a".into(), "{0.0.0.00000000}.{aaaa}".into()),
            ("wasio_b".into(), "{0.0.0.00000000}.{bbbb}".into()),
        ],
        ..SimDeviceSpec::default()
    }
}
