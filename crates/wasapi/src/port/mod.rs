//! [`WasapiPort`]: the engine's port ([`wasio_engine::port`]) over WASAPI and Win32, one call
//! per method and the HRESULT as the error. No loops, no retries, no decisions: those are
//! the engine's ([`wasio_engine::stream`]), where `cargo test` runs them.

mod client;
mod device;

pub use client::{WasapiCapture, WasapiClient, WasapiClient3, WasapiClock, WasapiRender};
pub use device::{WasapiCollection, WasapiDevice, WasapiEnumerator, WasapiRegistration};

use wasio_engine::port::{
    AudioPort, Hr, MmPriority, PortResult, ThreadPriority, Wait, E_UNEXPECTED,
};
use windows::core::{HSTRING, PCWSTR};
use windows::Win32::Foundation::{CloseHandle, HANDLE, WAIT_FAILED, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows::Win32::System::Com::{CoInitializeEx, CoUninitialize, COINIT_MULTITHREADED};
use windows::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows::Win32::System::Threading::{
    AvRevertMmThreadCharacteristics, AvSetMmThreadCharacteristicsW, AvSetMmThreadPriority,
    CreateEventW, CreateWaitableTimerExW, GetCurrentThread, ResetEvent, SetEvent,
    SetThreadPriority, SetWaitableTimer, WaitForMultipleObjects, AVRT_PRIORITY_CRITICAL,
    AVRT_PRIORITY_HIGH, AVRT_PRIORITY_NORMAL, CREATE_WAITABLE_TIMER_HIGH_RESOLUTION,
    THREAD_PRIORITY_NORMAL, THREAD_PRIORITY_TIME_CRITICAL, TIMER_ALL_ACCESS,
};

/// The HRESULT of a failed `windows` call.
pub(crate) fn hr(error: windows::core::Error) -> Hr {
    Hr(error.code().0)
}

/// Windows audio through WASAPI. A unit value: every object it makes belongs to the thread
/// that made it (the engine's device thread), except handles.
#[derive(Clone, Copy, Debug, Default)]
pub struct WasapiPort;

/// This thread's membership in the multithreaded apartment.
pub struct MtaGuard(());

impl Drop for MtaGuard {
    fn drop(&mut self) {
        // SAFETY: balances the successful CoInitializeEx of `enter_mta` on the same thread
        // (the guard is not Send: it stays on that thread).
        unsafe { CoUninitialize() };
    }
}

/// A Win32 event or waitable timer handle, closed when dropped.
pub struct OwnedHandle(pub(crate) HANDLE);

// SAFETY: a handle is a reference to a kernel object, usable from any thread.
unsafe impl Send for OwnedHandle {}
// SAFETY: SetEvent and the waits on one handle from several threads is how events are used.
unsafe impl Sync for OwnedHandle {}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: we own the handle; the engine joins every thread that waits on it first.
        let _ = unsafe { CloseHandle(self.0) };
    }
}

/// An MMCSS registration (`AvSetMmThreadCharacteristicsW`'s task handle).
pub struct MmTask(HANDLE);

impl AudioPort for WasapiPort {
    type Apartment = MtaGuard;
    type Handle = OwnedHandle;
    type MmTask = MmTask;
    type Enumerator = WasapiEnumerator;
    type Collection = WasapiCollection;
    type Device = WasapiDevice;
    type Client = WasapiClient;
    type Client3 = WasapiClient3;
    type Render = WasapiRender;
    type Capture = WasapiCapture;
    type Clock = WasapiClock;
    type Registration = WasapiRegistration;

    fn enter_mta(&self) -> PortResult<MtaGuard> {
        // SAFETY: joins this thread to the MTA; balanced by the guard's drop.
        let result = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
        if result.is_err() {
            return Err(Hr(result.0));
        }
        Ok(MtaGuard(()))
    }

    fn create_enumerator(&self) -> PortResult<WasapiEnumerator> {
        WasapiEnumerator::create()
    }

    fn create_event(&self) -> PortResult<OwnedHandle> {
        // SAFETY: an unnamed auto-reset event with default security.
        unsafe { CreateEventW(None, false, false, None) }
            .map(OwnedHandle)
            .map_err(hr)
    }

    fn set_event(&self, event: &OwnedHandle) -> PortResult<()> {
        // SAFETY: the handle is open for as long as the borrow.
        unsafe { SetEvent(event.0) }.map_err(hr)
    }

    fn reset_event(&self, event: &OwnedHandle) -> PortResult<()> {
        // SAFETY: as above.
        unsafe { ResetEvent(event.0) }.map_err(hr)
    }

    fn create_waitable_timer(&self, high_resolution: bool) -> PortResult<OwnedHandle> {
        let flags = if high_resolution {
            CREATE_WAITABLE_TIMER_HIGH_RESOLUTION
        } else {
            0
        };
        // SAFETY: an unnamed timer with default security.
        unsafe { CreateWaitableTimerExW(None, PCWSTR::null(), flags, TIMER_ALL_ACCESS.0) }
            .map(OwnedHandle)
            .map_err(hr)
    }

    fn set_waitable_timer(
        &self,
        timer: &OwnedHandle,
        due_hns: i64,
        period_ms: u32,
    ) -> PortResult<()> {
        let period = i32::try_from(period_ms).map_err(|_| wasio_engine::port::E_INVALIDARG)?;
        // SAFETY: a timer we own; no completion routine.
        unsafe { SetWaitableTimer(timer.0, &due_hns, period, None, None, false) }.map_err(hr)
    }

    fn wait_for_multiple(&self, handles: &[&OwnedHandle], timeout_ms: u32) -> PortResult<Wait> {
        // At most four, on the stack: the real-time loop calls this.
        let mut raw = [HANDLE::default(); 4];
        let count = handles.len().min(raw.len());
        for (slot, handle) in raw.iter_mut().zip(handles) {
            *slot = handle.0;
        }
        // SAFETY: every handle is open for as long as the borrows.
        let woke = unsafe { WaitForMultipleObjects(&raw[..count], false, timeout_ms) };
        if woke == WAIT_TIMEOUT {
            return Ok(Wait::Timeout);
        }
        if woke == WAIT_FAILED {
            return Err(hr(windows::core::Error::from_thread()));
        }
        let index = woke.0.wrapping_sub(WAIT_OBJECT_0.0) as usize;
        if index < count {
            Ok(Wait::Signaled(index))
        } else {
            // WAIT_ABANDONED_* (mutexes only) or an unknown answer.
            Err(E_UNEXPECTED)
        }
    }

    fn qpc_ns(&self) -> u64 {
        let (mut count, mut frequency) = (0i64, 0i64);
        // SAFETY: both calls only write the given integers; they cannot fail on XP and later.
        unsafe {
            let _ = QueryPerformanceCounter(&mut count);
            let _ = QueryPerformanceFrequency(&mut frequency);
        }
        (count as i128 * 1_000_000_000 / frequency.max(1) as i128) as u64
    }

    fn av_set_mm_thread_characteristics(&self, task: &str) -> PortResult<MmTask> {
        let name = HSTRING::from(task);
        let mut index = 0u32;
        // SAFETY: a NUL-terminated name that outlives the call; registers this thread.
        unsafe { AvSetMmThreadCharacteristicsW(&name, &mut index) }
            .map(MmTask)
            .map_err(hr)
    }

    fn av_set_mm_thread_priority(&self, task: &MmTask, priority: MmPriority) -> PortResult<()> {
        let priority = match priority {
            MmPriority::Normal => AVRT_PRIORITY_NORMAL,
            MmPriority::High => AVRT_PRIORITY_HIGH,
            MmPriority::Critical => AVRT_PRIORITY_CRITICAL,
        };
        // SAFETY: a task handle returned for this thread.
        unsafe { AvSetMmThreadPriority(task.0, priority) }.map_err(hr)
    }

    fn av_revert_mm_thread_characteristics(&self, task: MmTask) -> PortResult<()> {
        // SAFETY: reverts the registration made on this thread.
        unsafe { AvRevertMmThreadCharacteristics(task.0) }.map_err(hr)
    }

    fn set_thread_priority(&self, priority: ThreadPriority) -> PortResult<()> {
        let priority = match priority {
            ThreadPriority::Normal => THREAD_PRIORITY_NORMAL,
            ThreadPriority::TimeCritical => THREAD_PRIORITY_TIME_CRITICAL,
        };
        // SAFETY: changes the priority of the calling thread only.
        unsafe { SetThreadPriority(GetCurrentThread(), priority) }.map_err(hr)
    }

    fn is_wine(&self) -> bool {
        // SAFETY: ntdll is loaded in every process; both calls only look names up.
        unsafe {
            GetModuleHandleW(windows::core::w!("ntdll.dll"))
                .ok()
                .and_then(|ntdll| GetProcAddress(ntdll, windows::core::s!("wine_get_version")))
                .is_some()
        }
    }
}
