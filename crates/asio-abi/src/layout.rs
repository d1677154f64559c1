//! Compile-time layout checks against the C header (`#pragma pack(4)`), for whichever
//! target is being compiled: `cargo check -p wasio-asio-abi --target i686-pc-windows-gnu`
//! checks x86, a native or x86_64-pc-windows-gnu build checks x86_64.
//!
//! The tests (including a fake driver called through the vtable with `thiscall`) also run
//! on 32-bit x86 Linux:
//! `rustup target add i686-unknown-linux-gnu && apt-get install gcc-multilib`, then
//! `cargo test -p wasio-asio-abi --target i686-unknown-linux-gnu`.

use core::mem::{align_of, offset_of, size_of};

use crate::*;

/// Pointer size of the target.
const P: usize = size_of::<usize>();

macro_rules! assert_layout {
    ($ty:ty, size $size:expr, align $align:expr, { $($field:ident @ $offset:expr),* $(,)? }) => {
        const _: () = assert!(size_of::<$ty>() == $size, concat!("size of ", stringify!($ty)));
        const _: () = assert!(align_of::<$ty>() == $align, concat!("align of ", stringify!($ty)));
        $(const _: () = assert!(
            offset_of!($ty, $field) == $offset,
            concat!("offset of ", stringify!($ty), "::", stringify!($field))
        );)*
    };
}

// Align of the packed structs: min(4, natural); pointers/doubles are capped at 4.
const PACKED_PTR_ALIGN: usize = if P < 4 { P } else { 4 };

assert_layout!(AsioSamples, size 8, align 4, { hi @ 0, lo @ 4 });
assert_layout!(AsioTimeStamp, size 8, align 4, { hi @ 0, lo @ 4 });
assert_layout!(AsioClockSource, size 48, align 4, {
    index @ 0, associated_channel @ 4, associated_group @ 8, is_current_source @ 12, name @ 16,
});
assert_layout!(AsioChannelInfo, size 52, align 4, {
    channel @ 0, is_input @ 4, is_active @ 8, channel_group @ 12, sample_type @ 16, name @ 20,
});
assert_layout!(AsioBufferInfo, size 8 + 2 * P, align PACKED_PTR_ALIGN, {
    is_input @ 0, channel_num @ 4, buffers @ 8,
});
assert_layout!(AsioCallbacks, size 4 * P, align PACKED_PTR_ALIGN, {
    buffer_switch @ 0, sample_rate_did_change @ P, asio_message @ 2 * P,
    buffer_switch_time_info @ 3 * P,
});
assert_layout!(AsioTimeInfo, size 48, align 4, {
    speed @ 0, system_time @ 8, sample_position @ 16, sample_rate @ 24, flags @ 32,
    reserved @ 36,
});
assert_layout!(AsioTimeCode, size 84, align 4, {
    speed @ 0, time_code_samples @ 8, flags @ 16, future @ 20,
});
assert_layout!(AsioTime, size 148, align 4, { reserved @ 0, time_info @ 16, time_code @ 64 });
assert_layout!(AsioDriverInfo, size 164 + P, align PACKED_PTR_ALIGN, {
    asio_version @ 0, driver_version @ 4, name @ 8, error_message @ 40, sys_ref @ 164,
});
assert_layout!(AsioInputMonitor, size 20, align 4, {
    input @ 0, output @ 4, gain @ 8, state @ 12, pan @ 16,
});
assert_layout!(AsioChannelControls, size 48, align 4, {
    channel @ 0, is_input @ 4, gain @ 8, meter @ 12, future @ 16,
});
assert_layout!(AsioTransportParameters, size 144, align 4, {
    command @ 0, sample_position @ 4, track @ 12, track_switches @ 16, future @ 80,
});
assert_layout!(AsioIoFormat, size 512, align 4, { format_type @ 0, future @ 4 });
assert_layout!(AsioInternalBufferInfo, size 8, align 4, { input_samples @ 0, output_samples @ 4 });
assert_layout!(Guid, size 16, align 4, { data1 @ 0, data2 @ 4, data3 @ 6, data4 @ 8 });
assert_layout!(IasioObject, size P, align P, { vtbl @ 0 });
assert_layout!(IasioVtbl, size IASIO_VTBL_SLOTS * P, align P, {
    query_interface @ 0, add_ref @ P, release @ 2 * P,
    init @ 3 * P, get_driver_name @ 4 * P, get_driver_version @ 5 * P,
    get_error_message @ 6 * P, start @ 7 * P, stop @ 8 * P, get_channels @ 9 * P,
    get_latencies @ 10 * P, get_buffer_size @ 11 * P, can_sample_rate @ 12 * P,
    get_sample_rate @ 13 * P, set_sample_rate @ 14 * P, get_clock_sources @ 15 * P,
    set_clock_source @ 16 * P, get_sample_position @ 17 * P, get_channel_info @ 18 * P,
    create_buffers @ 19 * P, dispose_buffers @ 20 * P, control_panel @ 21 * P,
    future @ 22 * P, output_ready @ 23 * P,
});
const _: () = assert!(size_of::<SampleType>() == 4);
const _: () = assert!(size_of::<Option<BufferSwitchFn>>() == P);

#[cfg(test)]
mod tests {
    use super::*;

    /// The same figures as the const assertions, spelled per pointer width, so that a
    /// test run shows which layout was checked.
    #[test]
    fn sizes_match_the_header_for_this_target() {
        assert_eq!(size_of::<AsioChannelInfo>(), 52);
        assert_eq!(size_of::<AsioClockSource>(), 48);
        assert_eq!(size_of::<AsioTimeInfo>(), 48);
        assert_eq!(size_of::<AsioTimeCode>(), 84);
        assert_eq!(size_of::<AsioTime>(), 148);
        assert_eq!(size_of::<AsioIoFormat>(), 512);
        assert_eq!(size_of::<AsioTransportParameters>(), 144);
        #[cfg(target_pointer_width = "32")]
        {
            assert_eq!(size_of::<AsioBufferInfo>(), 16);
            assert_eq!(size_of::<AsioCallbacks>(), 16);
            assert_eq!(size_of::<AsioDriverInfo>(), 168);
            assert_eq!(size_of::<IasioVtbl>(), 96);
        }
        #[cfg(target_pointer_width = "64")]
        {
            assert_eq!(size_of::<AsioBufferInfo>(), 24);
            assert_eq!(size_of::<AsioCallbacks>(), 32);
            assert_eq!(size_of::<AsioDriverInfo>(), 172);
            assert_eq!(size_of::<IasioVtbl>(), 192);
        }
    }

    /// Arrays of packed structs have no padding between elements (hosts pass arrays of
    /// AsioBufferInfo and AsioClockSource).
    #[test]
    fn arrays_are_dense() {
        assert_eq!(size_of::<[AsioBufferInfo; 3]>(), 3 * (8 + 2 * P));
        assert_eq!(size_of::<[AsioTimeCode; 2]>(), 168);
        assert_eq!(size_of::<[AsioDriverInfo; 2]>(), 2 * (164 + P));
    }
}
