//! The COM plumbing: DllGetClassObject, the class factory, DllCanUnloadNow.
//!
//! Hand-written rather than windows-rs `#[implement]`: IASIO's methods are thiscall on x86,
//! which `#[implement]` cannot express, so both objects share one small explicit pattern.

use crate::iasio;
use crate::CLSID_WASIO;
use asio_abi::{Guid, IID_IUNKNOWN};
use std::ffi::c_void;
use std::os::windows::io::AsRawHandle;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::thread::JoinHandle;
use wasio_engine::threads;
use windows::Win32::Foundation::{HANDLE, WAIT_OBJECT_0};
use windows::Win32::System::Threading::WaitForSingleObject;

pub const S_OK: i32 = 0;
pub const S_FALSE: i32 = 1;
pub const E_NOINTERFACE: i32 = 0x8000_4002_u32 as i32;
pub const E_POINTER: i32 = 0x8000_4003_u32 as i32;
pub const E_UNEXPECTED: i32 = 0x8000_FFFF_u32 as i32;
const CLASS_E_NOAGGREGATION: i32 = 0x8004_0110_u32 as i32;
const CLASS_E_CLASSNOTAVAILABLE: i32 = 0x8004_0111_u32 as i32;
const IID_ICLASSFACTORY: Guid = Guid::from_u128(0x00000001_0000_0000_c000_000000000046);

/// Live driver objects and class factories plus LockServer locks: DllCanUnloadNow's answer.
pub static LIVE_OBJECTS: AtomicI64 = AtomicI64::new(0);

/// Runs an HRESULT-returning entry point; a panic becomes E_UNEXPECTED.
pub fn guard_hresult(f: impl FnOnce() -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(E_UNEXPECTED)
}

#[repr(C)]
struct ClassFactoryVtbl {
    query_interface: unsafe extern "system" fn(*mut c_void, *const Guid, *mut *mut c_void) -> i32,
    add_ref: unsafe extern "system" fn(*mut c_void) -> u32,
    release: unsafe extern "system" fn(*mut c_void) -> u32,
    create_instance:
        unsafe extern "system" fn(*mut c_void, *mut c_void, *const Guid, *mut *mut c_void) -> i32,
    lock_server: unsafe extern "system" fn(*mut c_void, i32) -> i32,
}

#[repr(C)]
struct ClassFactory {
    vtbl: *const ClassFactoryVtbl,
    refs: AtomicU32,
}

static CLASS_FACTORY_VTBL: ClassFactoryVtbl = ClassFactoryVtbl {
    query_interface: factory_query_interface,
    add_ref: factory_add_ref,
    release: factory_release,
    create_instance: factory_create_instance,
    lock_server: factory_lock_server,
};

/// The body of `IUnknown::QueryInterface` for an object that implements exactly `interfaces`:
/// on a match, `add_ref(this)` and `*out = this`; otherwise `*out = null` and E_NOINTERFACE.
/// Null pointers give E_POINTER, a panic E_UNEXPECTED.
///
/// # Safety
/// `this` is a live COM object whose reference count `add_ref` increments; `riid` and `out` are
/// null or valid as COM defines them.
pub unsafe fn query_interface_for(
    this: *mut c_void,
    riid: *const Guid,
    out: *mut *mut c_void,
    interfaces: &[Guid],
    add_ref: unsafe extern "system" fn(*mut c_void) -> u32,
) -> i32 {
    guard_hresult(|| {
        if out.is_null() || riid.is_null() {
            return E_POINTER;
        }
        // SAFETY: checked non-null; COM passes a valid IID.
        let iid = unsafe { *riid };
        if interfaces.contains(&iid) {
            // SAFETY: `this` is live (our caller's contract); `out` checked non-null.
            unsafe {
                add_ref(this);
                *out = this;
            }
            S_OK
        } else {
            // SAFETY: checked non-null.
            unsafe { *out = std::ptr::null_mut() };
            E_NOINTERFACE
        }
    })
}

unsafe extern "system" fn factory_query_interface(
    this: *mut c_void,
    riid: *const Guid,
    out: *mut *mut c_void,
) -> i32 {
    // SAFETY: COM only calls this on a live factory, with its own pointers.
    unsafe {
        query_interface_for(
            this,
            riid,
            out,
            &[IID_IUNKNOWN, IID_ICLASSFACTORY],
            factory_add_ref,
        )
    }
}

unsafe extern "system" fn factory_add_ref(this: *mut c_void) -> u32 {
    // SAFETY: COM only calls this on a live factory.
    unsafe { &*(this as *const ClassFactory) }
        .refs
        .fetch_add(1, Ordering::AcqRel)
        + 1
}

unsafe extern "system" fn factory_release(this: *mut c_void) -> u32 {
    // SAFETY: COM only calls this on a live factory.
    let left = unsafe { &*(this as *const ClassFactory) }
        .refs
        .fetch_sub(1, Ordering::AcqRel)
        - 1;
    if left == 0 {
        // SAFETY: the last reference is gone; the factory was made by Box::into_raw.
        drop(unsafe { Box::from_raw(this as *mut ClassFactory) });
        LIVE_OBJECTS.fetch_sub(1, Ordering::AcqRel);
    }
    left
}

unsafe extern "system" fn factory_create_instance(
    _this: *mut c_void,
    outer: *mut c_void,
    riid: *const Guid,
    out: *mut *mut c_void,
) -> i32 {
    guard_hresult(|| {
        if out.is_null() || riid.is_null() {
            return E_POINTER;
        }
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        if !outer.is_null() {
            return CLASS_E_NOAGGREGATION;
        }
        let object = iasio::create();
        // SAFETY: `object` is live with one reference, which we drop after the query.
        unsafe {
            let hr = iasio::query_interface(object, riid, out);
            iasio::release(object);
            hr
        }
    })
}

unsafe extern "system" fn factory_lock_server(_this: *mut c_void, lock: i32) -> i32 {
    if lock != 0 {
        LIVE_OBJECTS.fetch_add(1, Ordering::AcqRel);
    } else {
        LIVE_OBJECTS.fetch_sub(1, Ordering::AcqRel);
    }
    S_OK
}

/// COM asks for the class factory of `clsid`.
///
/// # Safety
/// Called by COM with valid pointers (null ones are refused).
#[no_mangle]
pub unsafe extern "system" fn DllGetClassObject(
    clsid: *const Guid,
    riid: *const Guid,
    out: *mut *mut c_void,
) -> i32 {
    guard_hresult(|| {
        if clsid.is_null() || riid.is_null() || out.is_null() {
            return E_POINTER;
        }
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: checked non-null.
        if unsafe { *clsid } != CLSID_WASIO {
            return CLASS_E_CLASSNOTAVAILABLE;
        }
        LIVE_OBJECTS.fetch_add(1, Ordering::AcqRel);
        let factory = Box::into_raw(Box::new(ClassFactory {
            vtbl: &CLASS_FACTORY_VTBL,
            refs: AtomicU32::new(1),
        })) as *mut c_void;
        // SAFETY: the factory is live with one reference, dropped after the query.
        unsafe {
            let hr = factory_query_interface(factory, riid, out);
            factory_release(factory);
            hr
        }
    })
}

/// Whether an adopted driver thread has ended at the OS level (its handle is signalled), so
/// joining it does not wait and no instruction of it runs in the DLL any more.
fn thread_gone(handle: &JoinHandle<()>) -> bool {
    // SAFETY: the JoinHandle owns this thread handle and keeps it open while borrowed; a
    // zero-timeout wait only polls it.
    unsafe { WaitForSingleObject(HANDLE(handle.as_raw_handle()), 0) == WAIT_OBJECT_0 }
}

/// Whether COM may unload the DLL: no object, factory or lock is alive, and no thread the
/// driver started runs (see `wasio_engine::threads`). The threads of a released instance
/// are joined by its release (the device, monitor, latency and log threads), except reset
/// threads, which may sit in the host's message handler: they are waited for here (S_FALSE)
/// rather than at release, where the host could be waiting for them. Never blocks: COM
/// calls this holding its apartment lock.
#[no_mangle]
pub extern "system" fn DllCanUnloadNow() -> i32 {
    let unloadable = catch_unwind(|| {
        LIVE_OBJECTS.load(Ordering::Acquire) <= 0 && threads::all_ended(thread_gone)
    });
    if unloadable.unwrap_or(false) {
        S_OK
    } else {
        S_FALSE
    }
}
