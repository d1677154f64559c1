//! Sample conversion between the ASIO host side and the WASAPI device side.
//!
//! The host side is planar: one buffer per channel, samples contiguous. The device side is
//! interleaved: each frame holds one sample per channel, frames are `stride` bytes apart. A kernel
//! converts one channel: `frames` contiguous host samples to/from the device samples at
//! `offset + n * stride`. Callers pass the device slice starting at the channel's byte offset.
//!
//! # Numeric rules (no dither)
//!
//! Every integer format is read as a signed value `v` with `bits` significant bits and means
//! `v / 2^(bits-1)`, so full scale is `[-1.0, 1.0)`.
//!
//! * Integer widening is an exact left shift.
//! * Integer narrowing rounds to nearest, **ties away from zero**, then saturates to the target
//!   range (only the positive end can overflow: `i32::MAX` to 16 bits gives `i16::MAX`).
//! * Float to integer multiplies by `2^(bits-1)`, clips to `[-2^(bits-1), 2^(bits-1)-1]`, rounds
//!   to nearest with ties away from zero. NaN becomes 0; ±infinity and |x| > 1.0 clip; -0.0 is 0.
//! * Integer to float divides by `2^(bits-1)` (exact in `f64`, a single rounding to `f32` only
//!   for more than 24 significant bits): int16 -32768 is exactly -1.0, int16 32767 is
//!   32767/32768; the top 64 int32 values (from 2^31 - 64) round to exactly 1.0 in `f32`.
//! * Float to float is not clipped: `f32` to `f64` is exact, `f64` to `f32` rounds to nearest even
//!   (out-of-range magnitudes become ±infinity, NaN stays NaN).
//! * Identical representations (Int16Lsb/Int16, Int24Lsb/Int24Packed, Int32Lsb/Int32,
//!   Float32Lsb/Float32) are byte copies: the bit-perfect path, NaN payloads included.
//! * `Int32Lsb16/18/20/24` hold the sample in the low 16/18/20/24 bits of a 32-bit container,
//!   sign-extended (ASIO's definition); container values out of that range are clipped on read.
//! * [`DeviceFormat::Int24In32`] holds 24 valid bits in the top of a 32-bit container; its low
//!   byte is written as zero and ignored on read.
//!
//! Kernels never allocate and never panic. Lengths are checked with `debug_assert!`; in release a
//! too-short buffer shortens the run to the frames that fit, and a stride smaller than one
//! device sample converts nothing.

use asio_abi::SampleType;

/// Defines [`HostSampleType`] from a list of [`SampleType`] variant names: its values, `ALL` and
/// both conversions come from the ABI enum, so nothing is restated here.
macro_rules! host_sample_types {
    ($($name:ident),* $(,)?) => {
        /// ASIO host sample types Wasio supports (little-endian PCM): the LSB PCM subset of
        /// ASIO's [`SampleType`], with the same values and names.
        #[repr(i32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HostSampleType {
            $($name = SampleType::$name as i32,)*
        }

        impl HostSampleType {
            /// Every supported host type, in ASIO value order.
            pub const ALL: [HostSampleType; [$(HostSampleType::$name),*].len()] =
                [$(HostSampleType::$name),*];
        }

        impl From<HostSampleType> for SampleType {
            fn from(value: HostSampleType) -> SampleType {
                match value {
                    $(HostSampleType::$name => SampleType::$name,)*
                }
            }
        }

        impl TryFrom<SampleType> for HostSampleType {
            type Error = UnsupportedSampleType;

            fn try_from(value: SampleType) -> Result<Self, Self::Error> {
                match value {
                    $(SampleType::$name => Ok(HostSampleType::$name),)*
                    #[allow(unreachable_patterns)]
                    other => Err(UnsupportedSampleType(other)),
                }
            }
        }
    };
}

host_sample_types!(
    Int16Lsb, Int24Lsb, Int32Lsb, Float32Lsb, Float64Lsb, Int32Lsb16, Int32Lsb18, Int32Lsb20,
    Int32Lsb24,
);

/// An ASIO sample type outside [`HostSampleType`] (big-endian or DSD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedSampleType(pub SampleType);

impl std::fmt::Display for UnsupportedSampleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not supported (only little-endian PCM is)", self.0)
    }
}

impl HostSampleType {
    /// The type for an `ASIOSampleType` value, `None` for MSB, DSD and unknown types.
    pub fn from_asio(value: i32) -> Option<Self> {
        SampleType::try_from(value)
            .ok()
            .and_then(|t| Self::try_from(t).ok())
    }

    /// The `ASIOSampleType` value.
    pub fn asio_value(self) -> i32 {
        self as i32
    }

    /// The SDK-style name, e.g. `"ASIOSTFloat32LSB"`.
    pub fn name(self) -> &'static str {
        SampleType::from(self).name()
    }

    /// Size of one sample in the host buffer.
    pub fn bytes_per_sample(self) -> usize {
        SampleType::from(self).bytes_per_sample()
    }

    /// Significant bits of an integer type; `None` for floats.
    pub fn int_bits(self) -> Option<u32> {
        match self {
            HostSampleType::Int16Lsb | HostSampleType::Int32Lsb16 => Some(16),
            HostSampleType::Int32Lsb18 => Some(18),
            HostSampleType::Int32Lsb20 => Some(20),
            HostSampleType::Int24Lsb | HostSampleType::Int32Lsb24 => Some(24),
            HostSampleType::Int32Lsb => Some(32),
            HostSampleType::Float32Lsb | HostSampleType::Float64Lsb => None,
        }
    }

    pub fn is_float(self) -> bool {
        self.int_bits().is_none()
    }
}

/// Sample formats of the interleaved WASAPI buffer (all little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceFormat {
    Int16,
    /// 24-bit samples in 3 bytes.
    Int24Packed,
    /// 24 valid bits in the top of a 32-bit container (`wBitsPerSample` 32,
    /// `wValidBitsPerSample` 24).
    Int24In32,
    Int32,
    Float32,
}

impl DeviceFormat {
    pub const ALL: [DeviceFormat; 5] = [
        DeviceFormat::Int16,
        DeviceFormat::Int24Packed,
        DeviceFormat::Int24In32,
        DeviceFormat::Int32,
        DeviceFormat::Float32,
    ];

    /// Container size (`nBlockAlign / nChannels`).
    pub fn bytes_per_sample(self) -> usize {
        match self {
            DeviceFormat::Int16 => 2,
            DeviceFormat::Int24Packed => 3,
            DeviceFormat::Int24In32 | DeviceFormat::Int32 | DeviceFormat::Float32 => 4,
        }
    }

    /// Container bits (`wBitsPerSample`).
    pub fn bits(self) -> u32 {
        self.bytes_per_sample() as u32 * 8
    }

    /// Valid bits (`wValidBitsPerSample`).
    pub fn valid_bits(self) -> u32 {
        match self {
            DeviceFormat::Int24In32 => 24,
            other => other.bits(),
        }
    }

    pub fn is_float(self) -> bool {
        self == DeviceFormat::Float32
    }

    /// The format described by a WAVEFORMAT(EXTENSIBLE): container bits, valid bits (equal to
    /// the container bits for plain WAVEFORMATEX) and whether it is IEEE float.
    pub fn from_wave_format(bits: u16, valid_bits: u16, is_float: bool) -> Option<Self> {
        match (is_float, bits, valid_bits) {
            (false, 16, 16) => Some(DeviceFormat::Int16),
            (false, 24, 24) => Some(DeviceFormat::Int24Packed),
            (false, 32, 24) => Some(DeviceFormat::Int24In32),
            (false, 32, 32) => Some(DeviceFormat::Int32),
            (true, 32, 32) => Some(DeviceFormat::Float32),
            _ => None,
        }
    }

    /// The host type with the same numeric range, so that the device's samples pass unchanged:
    /// a byte copy except for Int24In32, which maps to Int32Lsb (low byte zero both ways).
    pub fn native_host_type(self) -> HostSampleType {
        match self {
            DeviceFormat::Int16 => HostSampleType::Int16Lsb,
            DeviceFormat::Int24Packed => HostSampleType::Int24Lsb,
            DeviceFormat::Int24In32 | DeviceFormat::Int32 => HostSampleType::Int32Lsb,
            DeviceFormat::Float32 => HostSampleType::Float32Lsb,
        }
    }
}

/// Converts `frames` contiguous host samples of `src` into `dst`, whose first sample is at
/// `dst[0]` and whose following samples are `dst_stride` bytes apart.
pub type HostToDevice = fn(src: &[u8], dst: &mut [u8], dst_stride: usize, frames: usize);

/// Converts `frames` device samples, the first at `src[0]` and `src_stride` bytes apart, into
/// contiguous host samples in `dst`.
pub type DeviceToHost = fn(src: &[u8], src_stride: usize, dst: &mut [u8], frames: usize);

/// The kernel converting `host` samples to `device` samples.
pub fn host_to_device(host: HostSampleType, device: DeviceFormat) -> HostToDevice {
    use DeviceFormat as D;
    use HostSampleType as H;
    match (host, device) {
        (H::Int16Lsb, D::Int16) => h2d::<ByteCopy<2>>,
        (H::Int16Lsb, D::Int24Packed) => h2d::<IntToInt<I16, I24Packed>>,
        (H::Int16Lsb, D::Int24In32) => h2d::<IntToInt<I16, I24In32>>,
        (H::Int16Lsb, D::Int32) => h2d::<IntToInt<I16, I32>>,
        (H::Int16Lsb, D::Float32) => h2d::<IntToFloat<I16, F32>>,

        (H::Int24Lsb, D::Int16) => h2d::<IntToInt<I24Packed, I16>>,
        (H::Int24Lsb, D::Int24Packed) => h2d::<ByteCopy<3>>,
        (H::Int24Lsb, D::Int24In32) => h2d::<IntToInt<I24Packed, I24In32>>,
        (H::Int24Lsb, D::Int32) => h2d::<IntToInt<I24Packed, I32>>,
        (H::Int24Lsb, D::Float32) => h2d::<IntToFloat<I24Packed, F32>>,

        (H::Int32Lsb, D::Int16) => h2d::<IntToInt<I32, I16>>,
        (H::Int32Lsb, D::Int24Packed) => h2d::<IntToInt<I32, I24Packed>>,
        (H::Int32Lsb, D::Int24In32) => h2d::<IntToInt<I32, I24In32>>,
        (H::Int32Lsb, D::Int32) => h2d::<ByteCopy<4>>,
        (H::Int32Lsb, D::Float32) => h2d::<IntToFloat<I32, F32>>,

        (H::Float32Lsb, D::Int16) => h2d::<FloatToInt<F32, I16>>,
        (H::Float32Lsb, D::Int24Packed) => h2d::<FloatToInt<F32, I24Packed>>,
        (H::Float32Lsb, D::Int24In32) => h2d::<FloatToInt<F32, I24In32>>,
        (H::Float32Lsb, D::Int32) => h2d::<FloatToInt<F32, I32>>,
        (H::Float32Lsb, D::Float32) => h2d::<ByteCopy<4>>,

        (H::Float64Lsb, D::Int16) => h2d::<FloatToInt<F64, I16>>,
        (H::Float64Lsb, D::Int24Packed) => h2d::<FloatToInt<F64, I24Packed>>,
        (H::Float64Lsb, D::Int24In32) => h2d::<FloatToInt<F64, I24In32>>,
        (H::Float64Lsb, D::Int32) => h2d::<FloatToInt<F64, I32>>,
        (H::Float64Lsb, D::Float32) => h2d::<FloatToFloat<F64, F32>>,

        (H::Int32Lsb16, d) => host_low_aligned_to_device::<16>(d),
        (H::Int32Lsb18, d) => host_low_aligned_to_device::<18>(d),
        (H::Int32Lsb20, d) => host_low_aligned_to_device::<20>(d),
        (H::Int32Lsb24, d) => host_low_aligned_to_device::<24>(d),
    }
}

fn host_low_aligned_to_device<const BITS: u32>(device: DeviceFormat) -> HostToDevice {
    match device {
        DeviceFormat::Int16 => h2d::<IntToInt<I32Low<BITS>, I16>>,
        DeviceFormat::Int24Packed => h2d::<IntToInt<I32Low<BITS>, I24Packed>>,
        DeviceFormat::Int24In32 => h2d::<IntToInt<I32Low<BITS>, I24In32>>,
        DeviceFormat::Int32 => h2d::<IntToInt<I32Low<BITS>, I32>>,
        DeviceFormat::Float32 => h2d::<IntToFloat<I32Low<BITS>, F32>>,
    }
}

/// The kernel converting `device` samples to `host` samples.
pub fn device_to_host(device: DeviceFormat, host: HostSampleType) -> DeviceToHost {
    use DeviceFormat as D;
    use HostSampleType as H;
    match (device, host) {
        (D::Int16, H::Int16Lsb) => d2h::<ByteCopy<2>>,
        (D::Int16, H::Int24Lsb) => d2h::<IntToInt<I16, I24Packed>>,
        (D::Int16, H::Int32Lsb) => d2h::<IntToInt<I16, I32>>,
        (D::Int16, H::Float32Lsb) => d2h::<IntToFloat<I16, F32>>,
        (D::Int16, H::Float64Lsb) => d2h::<IntToFloat<I16, F64>>,

        (D::Int24Packed, H::Int16Lsb) => d2h::<IntToInt<I24Packed, I16>>,
        (D::Int24Packed, H::Int24Lsb) => d2h::<ByteCopy<3>>,
        (D::Int24Packed, H::Int32Lsb) => d2h::<IntToInt<I24Packed, I32>>,
        (D::Int24Packed, H::Float32Lsb) => d2h::<IntToFloat<I24Packed, F32>>,
        (D::Int24Packed, H::Float64Lsb) => d2h::<IntToFloat<I24Packed, F64>>,

        (D::Int24In32, H::Int16Lsb) => d2h::<IntToInt<I24In32, I16>>,
        (D::Int24In32, H::Int24Lsb) => d2h::<IntToInt<I24In32, I24Packed>>,
        (D::Int24In32, H::Int32Lsb) => d2h::<IntToInt<I24In32, I32>>,
        (D::Int24In32, H::Float32Lsb) => d2h::<IntToFloat<I24In32, F32>>,
        (D::Int24In32, H::Float64Lsb) => d2h::<IntToFloat<I24In32, F64>>,

        (D::Int32, H::Int16Lsb) => d2h::<IntToInt<I32, I16>>,
        (D::Int32, H::Int24Lsb) => d2h::<IntToInt<I32, I24Packed>>,
        (D::Int32, H::Int32Lsb) => d2h::<ByteCopy<4>>,
        (D::Int32, H::Float32Lsb) => d2h::<IntToFloat<I32, F32>>,
        (D::Int32, H::Float64Lsb) => d2h::<IntToFloat<I32, F64>>,

        (D::Float32, H::Int16Lsb) => d2h::<FloatToInt<F32, I16>>,
        (D::Float32, H::Int24Lsb) => d2h::<FloatToInt<F32, I24Packed>>,
        (D::Float32, H::Int32Lsb) => d2h::<FloatToInt<F32, I32>>,
        (D::Float32, H::Float32Lsb) => d2h::<ByteCopy<4>>,
        (D::Float32, H::Float64Lsb) => d2h::<FloatToFloat<F32, F64>>,

        (d, H::Int32Lsb16) => device_to_host_low_aligned::<16>(d),
        (d, H::Int32Lsb18) => device_to_host_low_aligned::<18>(d),
        (d, H::Int32Lsb20) => device_to_host_low_aligned::<20>(d),
        (d, H::Int32Lsb24) => device_to_host_low_aligned::<24>(d),
    }
}

fn device_to_host_low_aligned<const BITS: u32>(device: DeviceFormat) -> DeviceToHost {
    match device {
        DeviceFormat::Int16 => d2h::<IntToInt<I16, I32Low<BITS>>>,
        DeviceFormat::Int24Packed => d2h::<IntToInt<I24Packed, I32Low<BITS>>>,
        DeviceFormat::Int24In32 => d2h::<IntToInt<I24In32, I32Low<BITS>>>,
        DeviceFormat::Int32 => d2h::<IntToInt<I32, I32Low<BITS>>>,
        DeviceFormat::Float32 => d2h::<FloatToInt<F32, I32Low<BITS>>>,
    }
}

/// Writes silence (all-zero bytes, which is 0 in every supported format) into `frames` samples of
/// `sample_bytes` bytes each, `stride` bytes apart, starting at `dst[0]`. Stops at the end of
/// `dst`.
pub fn fill_silence(dst: &mut [u8], stride: usize, sample_bytes: usize, frames: usize) {
    debug_assert!(stride >= sample_bytes && sample_bytes > 0);
    debug_assert!(frames == 0 || dst.len() >= (frames - 1) * stride + sample_bytes);
    if stride == sample_bytes {
        let end = dst.len().min(frames.saturating_mul(stride));
        dst[..end].fill(0);
        return;
    }
    if stride < sample_bytes || sample_bytes == 0 {
        return;
    }
    for frame in dst.chunks_mut(stride).take(frames) {
        let end = frame.len().min(sample_bytes);
        frame[..end].fill(0);
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel drivers. Host buffers are contiguous (`chunks_exact`), device buffers strided.

/// Converts one sample. `src` and `dst` are at least `SRC_BYTES` / `DST_BYTES` long.
trait Conversion {
    const SRC_BYTES: usize;
    const DST_BYTES: usize;
    fn convert(src: &[u8], dst: &mut [u8]);
}

/// Frames of `sample_bytes`-byte samples `stride` bytes apart that fit into `len` bytes.
#[inline(always)]
fn strided_frames(len: usize, stride: usize, sample_bytes: usize) -> usize {
    if len < sample_bytes {
        0
    } else {
        (len - sample_bytes) / stride + 1
    }
}

fn h2d<C: Conversion>(src: &[u8], dst: &mut [u8], dst_stride: usize, frames: usize) {
    debug_assert!(src.len() >= frames * C::SRC_BYTES, "host buffer too short");
    debug_assert!(
        dst_stride >= C::DST_BYTES,
        "device stride smaller than a sample"
    );
    debug_assert!(
        frames == 0 || dst.len() >= (frames - 1) * dst_stride + C::DST_BYTES,
        "device buffer too short"
    );
    // Constant strides for mono and stereo let the compiler unroll and vectorize.
    if dst_stride == C::DST_BYTES {
        h2d_run::<C>(src, dst, C::DST_BYTES, frames);
    } else if dst_stride == 2 * C::DST_BYTES {
        h2d_run::<C>(src, dst, 2 * C::DST_BYTES, frames);
    } else {
        h2d_run::<C>(src, dst, dst_stride, frames);
    }
}

#[inline(always)]
fn h2d_run<C: Conversion>(src: &[u8], dst: &mut [u8], dst_stride: usize, frames: usize) {
    if dst_stride < C::DST_BYTES {
        return;
    }
    let frames = frames.min(src.len() / C::SRC_BYTES).min(strided_frames(
        dst.len(),
        dst_stride,
        C::DST_BYTES,
    ));
    if frames == 0 {
        return;
    }
    // All frames but the last occupy a whole stride; the last only needs one sample.
    let (dst_body, dst_last) = dst.split_at_mut((frames - 1) * dst_stride);
    let (src_body, src_rest) = src.split_at((frames - 1) * C::SRC_BYTES);
    for (s, d) in src_body
        .chunks_exact(C::SRC_BYTES)
        .zip(dst_body.chunks_exact_mut(dst_stride))
    {
        C::convert(s, d);
    }
    C::convert(src_rest, dst_last);
}

fn d2h<C: Conversion>(src: &[u8], src_stride: usize, dst: &mut [u8], frames: usize) {
    debug_assert!(dst.len() >= frames * C::DST_BYTES, "host buffer too short");
    debug_assert!(
        src_stride >= C::SRC_BYTES,
        "device stride smaller than a sample"
    );
    debug_assert!(
        frames == 0 || src.len() >= (frames - 1) * src_stride + C::SRC_BYTES,
        "device buffer too short"
    );
    if src_stride == C::SRC_BYTES {
        d2h_run::<C>(src, C::SRC_BYTES, dst, frames);
    } else if src_stride == 2 * C::SRC_BYTES {
        d2h_run::<C>(src, 2 * C::SRC_BYTES, dst, frames);
    } else {
        d2h_run::<C>(src, src_stride, dst, frames);
    }
}

#[inline(always)]
fn d2h_run<C: Conversion>(src: &[u8], src_stride: usize, dst: &mut [u8], frames: usize) {
    if src_stride < C::SRC_BYTES {
        return;
    }
    let frames = frames.min(dst.len() / C::DST_BYTES).min(strided_frames(
        src.len(),
        src_stride,
        C::SRC_BYTES,
    ));
    if frames == 0 {
        return;
    }
    let (src_body, src_last) = src.split_at((frames - 1) * src_stride);
    let (dst_body, dst_rest) = dst.split_at_mut((frames - 1) * C::DST_BYTES);
    for (s, d) in src_body
        .chunks_exact(src_stride)
        .zip(dst_body.chunks_exact_mut(C::DST_BYTES))
    {
        C::convert(s, d);
    }
    C::convert(src_last, dst_rest);
}

// ---------------------------------------------------------------------------------------------
// Codecs: how one sample is stored. Integer codecs load a value within their `BITS` range.
// A slice shorter than `BYTES` loads 0 and stores nothing (the drivers never pass one).

trait IntCodec {
    const BYTES: usize;
    const BITS: u32;
    fn load(bytes: &[u8]) -> i32;
    fn store(bytes: &mut [u8], value: i32);
}

trait FloatCodec {
    const BYTES: usize;
    fn load(bytes: &[u8]) -> f64;
    fn store(bytes: &mut [u8], value: f64);
}

#[inline(always)]
fn load_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.first_chunk::<N>().copied().unwrap_or([0; N])
}

#[inline(always)]
fn store_array<const N: usize>(bytes: &mut [u8], value: [u8; N]) {
    if let Some(target) = bytes.first_chunk_mut::<N>() {
        *target = value;
    }
}

/// 16-bit integer in 2 bytes.
struct I16;
impl IntCodec for I16 {
    const BYTES: usize = 2;
    const BITS: u32 = 16;
    #[inline(always)]
    fn load(bytes: &[u8]) -> i32 {
        i16::from_le_bytes(load_array(bytes)) as i32
    }
    #[inline(always)]
    fn store(bytes: &mut [u8], value: i32) {
        store_array(bytes, (value as i16).to_le_bytes());
    }
}

/// 24-bit integer in 3 bytes.
struct I24Packed;
impl IntCodec for I24Packed {
    const BYTES: usize = 3;
    const BITS: u32 = 24;
    #[inline(always)]
    fn load(bytes: &[u8]) -> i32 {
        let [b0, b1, b2] = load_array(bytes);
        i32::from_le_bytes([0, b0, b1, b2]) >> 8
    }
    #[inline(always)]
    fn store(bytes: &mut [u8], value: i32) {
        let [b0, b1, b2, _] = value.to_le_bytes();
        store_array(bytes, [b0, b1, b2]);
    }
}

/// 24-bit integer in the top of 4 bytes; the low byte is ignored on load and zero on store.
struct I24In32;
impl IntCodec for I24In32 {
    const BYTES: usize = 4;
    const BITS: u32 = 24;
    #[inline(always)]
    fn load(bytes: &[u8]) -> i32 {
        i32::from_le_bytes(load_array(bytes)) >> 8
    }
    #[inline(always)]
    fn store(bytes: &mut [u8], value: i32) {
        store_array(bytes, (value << 8).to_le_bytes());
    }
}

/// 32-bit integer.
struct I32;
impl IntCodec for I32 {
    const BYTES: usize = 4;
    const BITS: u32 = 32;
    #[inline(always)]
    fn load(bytes: &[u8]) -> i32 {
        i32::from_le_bytes(load_array(bytes))
    }
    #[inline(always)]
    fn store(bytes: &mut [u8], value: i32) {
        store_array(bytes, value.to_le_bytes());
    }
}

/// `BITS`-bit integer in the low bits of 4 bytes, sign-extended (ASIO's Int32LsbNN). Loads clip
/// container values outside the `BITS` range.
struct I32Low<const BITS: u32>;
impl<const BITS: u32> IntCodec for I32Low<BITS> {
    const BYTES: usize = 4;
    const BITS: u32 = BITS;
    #[inline(always)]
    fn load(bytes: &[u8]) -> i32 {
        i32::from_le_bytes(load_array(bytes)).clamp(int_min(BITS) as i32, int_max(BITS) as i32)
    }
    #[inline(always)]
    fn store(bytes: &mut [u8], value: i32) {
        store_array(bytes, value.to_le_bytes());
    }
}

struct F32;
impl FloatCodec for F32 {
    const BYTES: usize = 4;
    #[inline(always)]
    fn load(bytes: &[u8]) -> f64 {
        f32::from_le_bytes(load_array(bytes)) as f64
    }
    #[inline(always)]
    fn store(bytes: &mut [u8], value: f64) {
        store_array(bytes, (value as f32).to_le_bytes());
    }
}

struct F64;
impl FloatCodec for F64 {
    const BYTES: usize = 8;
    #[inline(always)]
    fn load(bytes: &[u8]) -> f64 {
        f64::from_le_bytes(load_array(bytes))
    }
    #[inline(always)]
    fn store(bytes: &mut [u8], value: f64) {
        store_array(bytes, value.to_le_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Value rules.

#[inline(always)]
const fn int_min(bits: u32) -> i64 {
    -(1i64 << (bits - 1))
}

#[inline(always)]
const fn int_max(bits: u32) -> i64 {
    (1i64 << (bits - 1)) - 1
}

/// Re-expresses a `from`-bit value with `to` bits: exact shift when widening; when narrowing,
/// rounds to nearest (ties away from zero) and saturates.
#[inline(always)]
fn requantize(value: i32, from: u32, to: u32) -> i32 {
    if to >= from {
        return value << (to - from);
    }
    let shift = to.abs_diff(from);
    let half = 1i32 << (shift - 1);
    // Floor division of (v + half) rounds ties up; subtracting 1 for negatives makes ties
    // round down there, i.e. away from zero, without changing non-ties. Only positive values
    // near i32::MAX can overflow the sum; saturating there still lands on the target maximum.
    let biased = value.saturating_add(half - i32::from(value < 0));
    (biased >> shift).min(int_max(to) as i32)
}

/// The largest `f64` below 0.5. Adding it (with the value's sign) and truncating rounds to
/// nearest with ties away from zero for every |x| < 2^52: a tie still reaches the next integer
/// (the sum rounds up to it), while the largest value below a tie, whose sum with 0.5 itself would
/// round up, stays below it.
const JUST_BELOW_HALF: f64 = 0.499_999_999_999_999_94;

/// Maps a float (full scale ±1.0) to a `bits`-bit integer: scale, round to nearest with ties
/// away from zero, clip. NaN gives 0.
#[inline(always)]
fn quantize(value: f64, bits: u32) -> i32 {
    // Multiplying by a power of two is exact.
    let scaled = value * (1u64 << (bits - 1)) as f64;
    // `as` truncates toward zero and saturates to the i32 range (NaN gives 0); clipping to a
    // narrower range after rounding gives the same result as before, the bounds being integers.
    let rounded = (scaled + JUST_BELOW_HALF.copysign(scaled)) as i32;
    rounded.clamp(int_min(bits) as i32, int_max(bits) as i32)
}

/// Maps a `bits`-bit integer to a float with full scale ±1.0 (exact in `f64`).
#[inline(always)]
fn dequantize(value: i32, bits: u32) -> f64 {
    // Multiplying by 2^-(bits-1) is exact and equals the division.
    value as f64 * (1.0 / (1u64 << (bits - 1)) as f64)
}

// ---------------------------------------------------------------------------------------------
// Conversions.

/// Byte copy of an identical representation.
struct ByteCopy<const N: usize>;
impl<const N: usize> Conversion for ByteCopy<N> {
    const SRC_BYTES: usize = N;
    const DST_BYTES: usize = N;
    #[inline(always)]
    fn convert(src: &[u8], dst: &mut [u8]) {
        store_array::<N>(dst, load_array(src));
    }
}

struct IntToInt<S, D>(core::marker::PhantomData<(S, D)>);
impl<S: IntCodec, D: IntCodec> Conversion for IntToInt<S, D> {
    const SRC_BYTES: usize = S::BYTES;
    const DST_BYTES: usize = D::BYTES;
    #[inline(always)]
    fn convert(src: &[u8], dst: &mut [u8]) {
        D::store(dst, requantize(S::load(src), S::BITS, D::BITS));
    }
}

struct IntToFloat<S, D>(core::marker::PhantomData<(S, D)>);
impl<S: IntCodec, D: FloatCodec> Conversion for IntToFloat<S, D> {
    const SRC_BYTES: usize = S::BYTES;
    const DST_BYTES: usize = D::BYTES;
    #[inline(always)]
    fn convert(src: &[u8], dst: &mut [u8]) {
        D::store(dst, dequantize(S::load(src), S::BITS));
    }
}

struct FloatToInt<S, D>(core::marker::PhantomData<(S, D)>);
impl<S: FloatCodec, D: IntCodec> Conversion for FloatToInt<S, D> {
    const SRC_BYTES: usize = S::BYTES;
    const DST_BYTES: usize = D::BYTES;
    #[inline(always)]
    fn convert(src: &[u8], dst: &mut [u8]) {
        D::store(dst, quantize(S::load(src), D::BITS));
    }
}

struct FloatToFloat<S, D>(core::marker::PhantomData<(S, D)>);
impl<S: FloatCodec, D: FloatCodec> Conversion for FloatToFloat<S, D> {
    const SRC_BYTES: usize = S::BYTES;
    const DST_BYTES: usize = D::BYTES;
    #[inline(always)]
    fn convert(src: &[u8], dst: &mut [u8]) {
        D::store(dst, S::load(src));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantize_rounds_ties_away_from_zero_and_saturates() {
        // 32 -> 16 bits: one 16-bit step is 65536.
        assert_eq!(requantize(0x8000, 32, 16), 1);
        assert_eq!(requantize(0x7fff, 32, 16), 0);
        assert_eq!(requantize(-0x8000, 32, 16), -1);
        assert_eq!(requantize(-0x7fff, 32, 16), 0);
        assert_eq!(requantize(-0x8001, 32, 16), -1);
        assert_eq!(requantize(i32::MAX, 32, 16), i16::MAX as i32);
        assert_eq!(requantize(i32::MIN, 32, 16), i16::MIN as i32);
        assert_eq!(requantize(-1, 16, 32), -65536);
    }

    #[test]
    fn just_below_half_is_the_predecessor_of_one_half() {
        assert_eq!(JUST_BELOW_HALF, 0.5 - f64::EPSILON / 4.0);
        assert_eq!(JUST_BELOW_HALF.to_bits() + 1, 0.5f64.to_bits());
    }

    #[test]
    fn quantize_handles_ties_and_specials() {
        assert_eq!(quantize(0.5 / 32768.0, 16), 1);
        assert_eq!(quantize(-0.5 / 32768.0, 16), -1);
        assert_eq!(quantize(0.499_999_999 / 32768.0, 16), 0);
        // The largest f64 below 0.5 must not round up (a naive x + 0.5 would).
        let below_half = 0.5 - f64::EPSILON / 4.0;
        assert!(below_half < 0.5);
        assert_eq!(quantize(below_half / 2147483648.0, 32), 0);
        assert_eq!(quantize(f64::NAN, 24), 0);
        assert_eq!(quantize(f64::INFINITY, 32), i32::MAX);
        assert_eq!(quantize(f64::NEG_INFINITY, 32), i32::MIN);
        assert_eq!(quantize(-0.0, 16), 0);
    }

    #[test]
    fn short_buffers_are_a_debug_assertion_and_a_shortened_run_in_release() {
        let src = [1u8; 8];
        let mut dst = [0u8; 7];
        // Four frames at stride 4 need 14 bytes; only two frames fit into 7.
        let outcome = std::panic::catch_unwind(move || {
            h2d::<ByteCopy<2>>(&src, &mut dst, 4, 4);
            dst
        });
        if cfg!(debug_assertions) {
            assert!(outcome.is_err(), "debug builds must flag the short buffer");
        } else {
            assert_eq!(outcome.ok(), Some([1, 1, 0, 0, 1, 1, 0]));
        }
        // A stride smaller than a sample converts nothing.
        let outcome = std::panic::catch_unwind(move || {
            let mut dst = [0u8; 8];
            d2h::<ByteCopy<2>>(&src, 1, &mut dst, 4);
            dst
        });
        if cfg!(debug_assertions) {
            assert!(outcome.is_err(), "debug builds must flag the stride");
        } else {
            assert_eq!(outcome.ok(), Some([0; 8]));
        }
    }
}
