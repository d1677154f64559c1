//! The IASIO COM interface: vtable, object layout and calling-convention macros.
//!
//! An IASIO object is a pointer to a pointer to [`IasioVtbl`]: the three IUnknown slots
//! (stdcall, `extern "system"`) followed by the 21 ASIO methods. Those are MSVC
//! `__thiscall` on 32-bit x86 (`this` in ECX, callee pops) and the Win64 convention on
//! x86_64. Rust rejects `extern "thiscall"` on x86_64, so the ABI string has to be chosen
//! per `target_arch`; [`iasio_fn_type!`] and [`asio_method!`] do that.

use core::ffi::{c_char, c_void};

use crate::{
    AsioBool, AsioBufferInfo, AsioCallbacks, AsioChannelInfo, AsioClockSource, AsioError,
    AsioSampleRate, AsioSamples, AsioTimeStamp, Guid,
};

/// The type of an IASIO method pointer, with the calling convention of the target:
/// `unsafe extern "thiscall" fn(...)` on x86, `unsafe extern "system" fn(...)` elsewhere.
///
/// ```
/// use core::ffi::c_void;
/// use asio_abi::{iasio_fn_type, AsioBool};
/// type Init = iasio_fn_type!(fn(this: *mut c_void, sys_handle: *mut c_void) -> AsioBool);
/// let _: Option<Init> = None;
/// ```
#[cfg(target_arch = "x86")]
#[macro_export]
macro_rules! iasio_fn_type {
    (fn($($args:tt)*) $(-> $ret:ty)?) => {
        unsafe extern "thiscall" fn($($args)*) $(-> $ret)?
    };
}

/// The type of an IASIO method pointer, with the calling convention of the target:
/// `unsafe extern "thiscall" fn(...)` on x86, `unsafe extern "system" fn(...)` elsewhere.
///
/// ```
/// use core::ffi::c_void;
/// use asio_abi::{iasio_fn_type, AsioBool};
/// type Init = iasio_fn_type!(fn(this: *mut c_void, sys_handle: *mut c_void) -> AsioBool);
/// let _: Option<Init> = None;
/// ```
#[cfg(not(target_arch = "x86"))]
#[macro_export]
macro_rules! iasio_fn_type {
    (fn($($args:tt)*) $(-> $ret:ty)?) => {
        unsafe extern "system" fn($($args)*) $(-> $ret)?
    };
}

/// Defines one or more functions with the IASIO method calling convention:
/// `extern "thiscall"` on x86, `extern "system"` elsewhere. Works at module level and
/// inside `impl` blocks; attributes and doc comments are kept. Parameters are
/// `name: Type` (or `_: Type`).
///
/// ```
/// use core::ffi::c_void;
/// use asio_abi::{asio_method, AsioBool, ASIO_TRUE};
///
/// asio_method! {
///     /// IASIO::init
///     pub unsafe fn init(_this: *mut c_void, _sys: *mut c_void) -> AsioBool {
///         ASIO_TRUE
///     }
/// }
///
/// let f: asio_abi::InitFn = init;
/// // SAFETY: `init` ignores its pointers.
/// assert_eq!(unsafe { f(core::ptr::null_mut(), core::ptr::null_mut()) }, ASIO_TRUE);
/// ```
#[macro_export]
macro_rules! asio_method {
    ($(
        $(#[$meta:meta])*
        $vis:vis unsafe fn $name:ident($($arg:tt : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    )*) => {$(
        $(#[$meta])*
        #[cfg(target_arch = "x86")]
        $vis unsafe extern "thiscall" fn $name($($arg: $ty),*) $(-> $ret)? $body

        $(#[$meta])*
        #[cfg(not(target_arch = "x86"))]
        $vis unsafe extern "system" fn $name($($arg: $ty),*) $(-> $ret)? $body
    )*};
}

/// `IUnknown::QueryInterface` (stdcall). Returns an HRESULT.
pub type QueryInterfaceFn =
    unsafe extern "system" fn(this: *mut c_void, riid: *const Guid, out: *mut *mut c_void) -> i32;
/// `IUnknown::AddRef` (stdcall). Returns the new reference count.
pub type AddRefFn = unsafe extern "system" fn(this: *mut c_void) -> u32;
/// `IUnknown::Release` (stdcall). Returns the new reference count.
pub type ReleaseFn = unsafe extern "system" fn(this: *mut c_void) -> u32;

/// `IASIO::init(sysHandle)`: `ASIO_TRUE` on success.
pub type InitFn = iasio_fn_type!(fn(this: *mut c_void, sys_handle: *mut c_void) -> AsioBool);
/// `IASIO::getDriverName(name)`: writes at most 32 bytes including the NUL.
pub type GetDriverNameFn = iasio_fn_type!(fn(this: *mut c_void, name: *mut c_char));
/// `IASIO::getDriverVersion()`.
pub type GetDriverVersionFn = iasio_fn_type!(fn(this: *mut c_void) -> i32);
/// `IASIO::getErrorMessage(string)`: writes at most 124 bytes including the NUL.
pub type GetErrorMessageFn = iasio_fn_type!(fn(this: *mut c_void, string: *mut c_char));
/// `IASIO::start()`.
pub type StartFn = iasio_fn_type!(fn(this: *mut c_void) -> AsioError);
/// `IASIO::stop()`.
pub type StopFn = iasio_fn_type!(fn(this: *mut c_void) -> AsioError);
/// `IASIO::getChannels(numInputChannels, numOutputChannels)`.
pub type GetChannelsFn =
    iasio_fn_type!(fn(this: *mut c_void, num_in: *mut i32, num_out: *mut i32) -> AsioError);
/// `IASIO::getLatencies(inputLatency, outputLatency)`.
pub type GetLatenciesFn =
    iasio_fn_type!(fn(this: *mut c_void, input: *mut i32, output: *mut i32) -> AsioError);
/// `IASIO::getBufferSize(minSize, maxSize, preferredSize, granularity)`.
pub type GetBufferSizeFn = iasio_fn_type!(
    fn(
        this: *mut c_void,
        min: *mut i32,
        max: *mut i32,
        preferred: *mut i32,
        granularity: *mut i32,
    ) -> AsioError
);
/// `IASIO::canSampleRate(sampleRate)`.
pub type CanSampleRateFn = iasio_fn_type!(fn(this: *mut c_void, rate: AsioSampleRate) -> AsioError);
/// `IASIO::getSampleRate(sampleRate)`.
pub type GetSampleRateFn =
    iasio_fn_type!(fn(this: *mut c_void, rate: *mut AsioSampleRate) -> AsioError);
/// `IASIO::setSampleRate(sampleRate)`.
pub type SetSampleRateFn = iasio_fn_type!(fn(this: *mut c_void, rate: AsioSampleRate) -> AsioError);
/// `IASIO::getClockSources(clocks, numSources)`: `num` is the capacity in, the count out.
pub type GetClockSourcesFn =
    iasio_fn_type!(fn(this: *mut c_void, clocks: *mut AsioClockSource, num: *mut i32) -> AsioError);
/// `IASIO::setClockSource(reference)`.
pub type SetClockSourceFn = iasio_fn_type!(fn(this: *mut c_void, reference: i32) -> AsioError);
/// `IASIO::getSamplePosition(sPos, tStamp)`.
pub type GetSamplePositionFn = iasio_fn_type!(
    fn(this: *mut c_void, pos: *mut AsioSamples, stamp: *mut AsioTimeStamp) -> AsioError
);
/// `IASIO::getChannelInfo(info)`.
pub type GetChannelInfoFn =
    iasio_fn_type!(fn(this: *mut c_void, info: *mut AsioChannelInfo) -> AsioError);
/// `IASIO::createBuffers(bufferInfos, numChannels, bufferSize, callbacks)`.
pub type CreateBuffersFn = iasio_fn_type!(
    fn(
        this: *mut c_void,
        infos: *mut AsioBufferInfo,
        num_channels: i32,
        buffer_size: i32,
        callbacks: *const AsioCallbacks,
    ) -> AsioError
);
/// `IASIO::disposeBuffers()`.
pub type DisposeBuffersFn = iasio_fn_type!(fn(this: *mut c_void) -> AsioError);
/// `IASIO::controlPanel()`.
pub type ControlPanelFn = iasio_fn_type!(fn(this: *mut c_void) -> AsioError);
/// `IASIO::future(selector, opt)`.
pub type FutureFn =
    iasio_fn_type!(fn(this: *mut c_void, selector: i32, opt: *mut c_void) -> AsioError);
/// `IASIO::outputReady()`.
pub type OutputReadyFn = iasio_fn_type!(fn(this: *mut c_void) -> AsioError);

/// The IASIO vtable: IUnknown's 3 slots, then the 21 ASIO methods in interface order.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IasioVtbl {
    pub query_interface: QueryInterfaceFn,
    pub add_ref: AddRefFn,
    pub release: ReleaseFn,
    pub init: InitFn,
    pub get_driver_name: GetDriverNameFn,
    pub get_driver_version: GetDriverVersionFn,
    pub get_error_message: GetErrorMessageFn,
    pub start: StartFn,
    pub stop: StopFn,
    pub get_channels: GetChannelsFn,
    pub get_latencies: GetLatenciesFn,
    pub get_buffer_size: GetBufferSizeFn,
    pub can_sample_rate: CanSampleRateFn,
    pub get_sample_rate: GetSampleRateFn,
    pub set_sample_rate: SetSampleRateFn,
    pub get_clock_sources: GetClockSourcesFn,
    pub set_clock_source: SetClockSourceFn,
    pub get_sample_position: GetSamplePositionFn,
    pub get_channel_info: GetChannelInfoFn,
    pub create_buffers: CreateBuffersFn,
    pub dispose_buffers: DisposeBuffersFn,
    pub control_panel: ControlPanelFn,
    pub future: FutureFn,
    pub output_ready: OutputReadyFn,
}

/// Number of pointer-sized slots in [`IasioVtbl`].
pub const IASIO_VTBL_SLOTS: usize = 24;

/// The memory layout of an IASIO object as seen through an interface pointer: its first
/// field points to the vtable. A driver may put its own state after this field.
#[repr(C)]
#[derive(Debug)]
pub struct IasioObject {
    pub vtbl: *const IasioVtbl,
}

#[cfg(test)]
mod tests {
    //! A fake driver built with `asio_method!`, called through the vtable: checks that
    //! arguments arrive in the right slots with the target's calling convention.
    use super::*;
    use crate::*;
    use core::ptr;
    use core::sync::atomic::{AtomicI32, Ordering};

    #[repr(C)]
    struct Fake {
        object: IasioObject,
        last_rate_bits: core::sync::atomic::AtomicU64,
        refs: AtomicI32,
    }

    fn fake(this: *mut c_void) -> &'static Fake {
        // SAFETY: every test passes a pointer to a live `Fake` whose first field is the object.
        unsafe { &*(this as *const Fake) }
    }

    unsafe extern "system" fn query_interface(
        this: *mut c_void,
        _riid: *const Guid,
        out: *mut *mut c_void,
    ) -> i32 {
        // SAFETY: the caller passes a valid out pointer.
        unsafe { *out = this };
        0
    }
    unsafe extern "system" fn add_ref(this: *mut c_void) -> u32 {
        (fake(this).refs.fetch_add(1, Ordering::SeqCst) + 1) as u32
    }
    unsafe extern "system" fn release(this: *mut c_void) -> u32 {
        (fake(this).refs.fetch_sub(1, Ordering::SeqCst) - 1) as u32
    }

    asio_method! {
        unsafe fn init(_this: *mut c_void, sys: *mut c_void) -> AsioBool {
            asio_bool(sys as usize == 0x1234)
        }
        unsafe fn get_driver_name(_this: *mut c_void, name: *mut c_char) {
            // SAFETY: the interface guarantees 32 writable bytes.
            let dst = unsafe { core::slice::from_raw_parts_mut(name, 32) };
            write_c_chars(dst, "Fake");
        }
        unsafe fn get_driver_version(_this: *mut c_void) -> i32 { 7 }
        unsafe fn get_error_message(_this: *mut c_void, string: *mut c_char) {
            // SAFETY: the interface guarantees 124 writable bytes.
            let dst = unsafe { core::slice::from_raw_parts_mut(string, 124) };
            write_c_chars(dst, "no error");
        }
        unsafe fn start(_this: *mut c_void) -> AsioError { ASE_OK }
        unsafe fn stop(_this: *mut c_void) -> AsioError { ASE_INVALID_MODE }
        unsafe fn get_channels(_this: *mut c_void, num_in: *mut i32, num_out: *mut i32) -> AsioError {
            if num_in.is_null() || num_out.is_null() {
                return ASE_INVALID_PARAMETER;
            }
            // SAFETY: checked non-null above; the caller owns both.
            unsafe { *num_in = 2; *num_out = 8; }
            ASE_OK
        }
        unsafe fn get_latencies(_this: *mut c_void, input: *mut i32, output: *mut i32) -> AsioError {
            // SAFETY: tests pass valid pointers.
            unsafe { *input = 11; *output = 22; }
            ASE_OK
        }
        unsafe fn get_buffer_size(_this: *mut c_void, min: *mut i32, max: *mut i32, preferred: *mut i32, granularity: *mut i32) -> AsioError {
            // SAFETY: tests pass valid pointers.
            unsafe { *min = 32; *max = 2048; *preferred = 256; *granularity = -1; }
            ASE_OK
        }
        unsafe fn can_sample_rate(this: *mut c_void, rate: AsioSampleRate) -> AsioError {
            fake(this).last_rate_bits.store(rate.to_bits(), Ordering::SeqCst);
            if rate == 48000.0 { ASE_OK } else { ASE_NO_CLOCK }
        }
        unsafe fn get_sample_rate(_this: *mut c_void, rate: *mut AsioSampleRate) -> AsioError {
            // SAFETY: tests pass a valid pointer.
            unsafe { *rate = 48000.0 };
            ASE_OK
        }
        unsafe fn set_sample_rate(this: *mut c_void, rate: AsioSampleRate) -> AsioError {
            fake(this).last_rate_bits.store(rate.to_bits(), Ordering::SeqCst);
            ASE_OK
        }
        unsafe fn get_clock_sources(_this: *mut c_void, clocks: *mut AsioClockSource, num: *mut i32) -> AsioError {
            // SAFETY: tests pass room for at least one clock source.
            unsafe {
                let mut clock = AsioClockSource::zeroed();
                clock.is_current_source = ASIO_TRUE;
                write_c_chars(&mut clock.name, "Internal");
                clocks.write_unaligned(clock);
                *num = 1;
            }
            ASE_OK
        }
        unsafe fn set_clock_source(_this: *mut c_void, reference: i32) -> AsioError {
            if reference == 0 { ASE_OK } else { ASE_INVALID_PARAMETER }
        }
        unsafe fn get_sample_position(_this: *mut c_void, pos: *mut AsioSamples, stamp: *mut AsioTimeStamp) -> AsioError {
            // SAFETY: tests pass valid pointers.
            unsafe {
                *pos = AsioSamples::from_u64(0x1_0000_0005);
                *stamp = AsioTimeStamp::from_u64(99);
            }
            ASE_OK
        }
        unsafe fn get_channel_info(_this: *mut c_void, info: *mut AsioChannelInfo) -> AsioError {
            // SAFETY: tests pass a valid pointer.
            let info = unsafe { &mut *info };
            info.sample_type = SampleType::Float32Lsb as i32;
            info.channel_group = info.channel + 100;
            ASE_OK
        }
        unsafe fn create_buffers(_this: *mut c_void, infos: *mut AsioBufferInfo, num_channels: i32, buffer_size: i32, callbacks: *const AsioCallbacks) -> AsioError {
            if num_channels != 1 || buffer_size != 64 || callbacks.is_null() {
                return ASE_INVALID_PARAMETER;
            }
            // SAFETY: checked non-null; the caller owns both.
            unsafe {
                let info = &mut *infos;
                info.buffers = [0x10 as *mut c_void, 0x20 as *mut c_void];
                if let Some(switch) = (*callbacks).buffer_switch {
                    switch(1, ASIO_TRUE);
                }
            }
            ASE_OK
        }
        unsafe fn dispose_buffers(_this: *mut c_void) -> AsioError { ASE_OK }
        unsafe fn control_panel(_this: *mut c_void) -> AsioError { ASE_NOT_PRESENT }
        unsafe fn future(_this: *mut c_void, selector: i32, opt: *mut c_void) -> AsioError {
            if selector == future::CAN_TIME_INFO && opt.is_null() { ASE_SUCCESS } else { ASE_INVALID_PARAMETER }
        }
        unsafe fn output_ready(_this: *mut c_void) -> AsioError { ASE_OK }
    }

    static VTBL: IasioVtbl = IasioVtbl {
        query_interface,
        add_ref,
        release,
        init,
        get_driver_name,
        get_driver_version,
        get_error_message,
        start,
        stop,
        get_channels,
        get_latencies,
        get_buffer_size,
        can_sample_rate,
        get_sample_rate,
        set_sample_rate,
        get_clock_sources,
        set_clock_source,
        get_sample_position,
        get_channel_info,
        create_buffers,
        dispose_buffers,
        control_panel,
        future,
        output_ready,
    };

    static SWITCH_INDEX: AtomicI32 = AtomicI32::new(-1);
    unsafe extern "C" fn on_buffer_switch(index: i32, _direct: AsioBool) {
        SWITCH_INDEX.store(index, Ordering::SeqCst);
    }

    #[test]
    #[allow(clippy::float_cmp)]
    fn every_slot_is_reached_with_its_arguments() {
        let mut object = Fake {
            object: IasioObject { vtbl: &VTBL },
            last_rate_bits: core::sync::atomic::AtomicU64::new(0),
            refs: AtomicI32::new(1),
        };
        let this = ptr::addr_of_mut!(object).cast::<c_void>();
        // The object stays alive for the whole block, and every out pointer is a local.
        // SAFETY: `this` points to a live Fake; out pointers have the types the slots expect.
        unsafe {
            let v = &*(*(this as *const IasioObject)).vtbl;
            let mut out = ptr::null_mut();
            assert_eq!((v.query_interface)(this, &IID_IUNKNOWN, &mut out), 0);
            assert_eq!(out, this);
            assert_eq!((v.add_ref)(this), 2);
            assert_eq!((v.release)(this), 1);
            assert_eq!((v.init)(this, 0x1234 as *mut c_void), ASIO_TRUE);
            assert_eq!((v.init)(this, ptr::null_mut()), ASIO_FALSE);
            let mut name = [0 as c_char; 32];
            (v.get_driver_name)(this, name.as_mut_ptr());
            assert_eq!(c_chars_bytes(&name), b"Fake");
            assert_eq!((v.get_driver_version)(this), 7);
            let mut message = [0 as c_char; 124];
            (v.get_error_message)(this, message.as_mut_ptr());
            assert_eq!(c_chars_bytes(&message), b"no error");
            assert_eq!((v.start)(this), ASE_OK);
            assert_eq!((v.stop)(this), ASE_INVALID_MODE);
            let (mut inputs, mut outputs) = (0, 0);
            assert_eq!((v.get_channels)(this, &mut inputs, &mut outputs), ASE_OK);
            assert_eq!((inputs, outputs), (2, 8));
            assert_eq!(
                (v.get_channels)(this, ptr::null_mut(), &mut outputs),
                ASE_INVALID_PARAMETER
            );
            let (mut li, mut lo) = (0, 0);
            assert_eq!((v.get_latencies)(this, &mut li, &mut lo), ASE_OK);
            assert_eq!((li, lo), (11, 22));
            let (mut min, mut max, mut pref, mut gran) = (0, 0, 0, 0);
            assert_eq!(
                (v.get_buffer_size)(this, &mut min, &mut max, &mut pref, &mut gran),
                ASE_OK
            );
            assert_eq!((min, max, pref, gran), (32, 2048, 256, -1));
            assert_eq!((v.can_sample_rate)(this, 48000.0), ASE_OK);
            assert_eq!((v.can_sample_rate)(this, 44100.0), ASE_NO_CLOCK);
            assert_eq!(
                f64::from_bits(fake(this).last_rate_bits.load(Ordering::SeqCst)),
                44100.0
            );
            let mut rate = 0.0;
            assert_eq!((v.get_sample_rate)(this, &mut rate), ASE_OK);
            assert_eq!(rate, 48000.0);
            assert_eq!((v.set_sample_rate)(this, 96000.5), ASE_OK);
            assert_eq!(
                f64::from_bits(fake(this).last_rate_bits.load(Ordering::SeqCst)),
                96000.5
            );
            let mut clocks = [AsioClockSource::zeroed(); 2];
            let mut count = 2;
            assert_eq!(
                (v.get_clock_sources)(this, clocks.as_mut_ptr(), &mut count),
                ASE_OK
            );
            assert_eq!(count, 1);
            assert_eq!({ clocks[0].is_current_source }, ASIO_TRUE);
            assert_eq!(c_chars_bytes(&clocks[0].name), b"Internal");
            assert_eq!((v.set_clock_source)(this, 0), ASE_OK);
            assert_eq!((v.set_clock_source)(this, 3), ASE_INVALID_PARAMETER);
            let mut pos = AsioSamples::default();
            let mut stamp = AsioTimeStamp::default();
            assert_eq!((v.get_sample_position)(this, &mut pos, &mut stamp), ASE_OK);
            assert_eq!((pos.to_u64(), stamp.to_u64()), (0x1_0000_0005, 99));
            let mut info = AsioChannelInfo::request(5, true);
            assert_eq!((v.get_channel_info)(this, &mut info), ASE_OK);
            assert_eq!({ info.channel_group }, 105);
            assert_eq!(
                SampleType::try_from(info.sample_type),
                Ok(SampleType::Float32Lsb)
            );
            let mut buffers = [AsioBufferInfo::request(0, false)];
            let callbacks = AsioCallbacks {
                buffer_switch: Some(on_buffer_switch),
                ..AsioCallbacks::default()
            };
            assert_eq!(
                (v.create_buffers)(this, buffers.as_mut_ptr(), 1, 64, &callbacks),
                ASE_OK
            );
            assert_eq!({ buffers[0].buffers }[1] as usize, 0x20);
            assert_eq!(SWITCH_INDEX.load(Ordering::SeqCst), 1);
            assert_eq!(
                (v.create_buffers)(this, buffers.as_mut_ptr(), 1, 63, &callbacks),
                ASE_INVALID_PARAMETER
            );
            assert_eq!((v.dispose_buffers)(this), ASE_OK);
            assert_eq!((v.control_panel)(this), ASE_NOT_PRESENT);
            assert_eq!(
                (v.future)(this, future::CAN_TIME_INFO, ptr::null_mut()),
                ASE_SUCCESS
            );
            assert_eq!(
                (v.future)(this, future::CAN_TIME_CODE, ptr::null_mut()),
                ASE_INVALID_PARAMETER
            );
            assert_eq!((v.output_ready)(this), ASE_OK);
        }
    }
}
