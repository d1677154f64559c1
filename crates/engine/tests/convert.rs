//! Conversion kernels checked against an independent reference model.
//!
//! The model decodes a sample to the exact real value it denotes (an `f64`: every supported
//! integer divided by a power of two is exact there) and encodes a real value by truncating,
//! comparing the exact remainder with 0.5 (ties away from zero) and clamping. The kernels use
//! different arithmetic (integer shifts, an add-and-truncate rounding), so agreement is a real
//! check.

use wasio_engine::convert::{
    device_to_host, fill_silence, host_to_device, DeviceFormat, HostSampleType,
};

/// How a format stores a sample, as seen by the model.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// `bits`-bit integer in `bytes` bytes, shifted left by `shift` inside the container.
    /// `clip` = container values outside the `bits` range are clipped on read (Int32LsbNN).
    Int {
        bytes: usize,
        bits: u32,
        shift: u32,
        clip: bool,
    },
    F32,
    F64,
}

impl Layout {
    fn bytes(self) -> usize {
        match self {
            Layout::Int { bytes, .. } => bytes,
            Layout::F32 => 4,
            Layout::F64 => 8,
        }
    }
}

fn host_layout(host: HostSampleType) -> Layout {
    let int = |bytes, bits| Layout::Int {
        bytes,
        bits,
        shift: 0,
        clip: bytes * 8 != bits as usize,
    };
    match host {
        HostSampleType::Int16Lsb => int(2, 16),
        HostSampleType::Int24Lsb => int(3, 24),
        HostSampleType::Int32Lsb => int(4, 32),
        HostSampleType::Float32Lsb => Layout::F32,
        HostSampleType::Float64Lsb => Layout::F64,
        HostSampleType::Int32Lsb16 => int(4, 16),
        HostSampleType::Int32Lsb18 => int(4, 18),
        HostSampleType::Int32Lsb20 => int(4, 20),
        HostSampleType::Int32Lsb24 => int(4, 24),
    }
}

fn device_layout(device: DeviceFormat) -> Layout {
    let int = |bytes, bits, shift| Layout::Int {
        bytes,
        bits,
        shift,
        clip: false,
    };
    match device {
        DeviceFormat::Int16 => int(2, 16, 0),
        DeviceFormat::Int24Packed => int(3, 24, 0),
        DeviceFormat::Int24In32 => int(4, 24, 8),
        DeviceFormat::Int32 => int(4, 32, 0),
        DeviceFormat::Float32 => Layout::F32,
    }
}

fn read_container(bytes: &[u8]) -> i64 {
    let mut raw = [0u8; 8];
    raw[8 - bytes.len()..].copy_from_slice(bytes);
    // Sign-extend from the container width.
    i64::from_le_bytes(raw) >> (64 - 8 * bytes.len())
}

/// The real value a stored sample denotes (full scale ±1.0).
fn decode(layout: Layout, bytes: &[u8]) -> f64 {
    match layout {
        Layout::Int {
            bits, shift, clip, ..
        } => {
            let mut value = read_container(bytes) >> shift;
            if clip {
                value = value.clamp(-(1 << (bits - 1)), (1 << (bits - 1)) - 1);
            }
            value as f64 / 2f64.powi(bits as i32 - 1)
        }
        Layout::F32 => f32::from_le_bytes(bytes.try_into().unwrap()) as f64,
        Layout::F64 => f64::from_le_bytes(bytes.try_into().unwrap()),
    }
}

/// Stores an integer value (already in range) in an integer layout.
fn encode_int(layout: Layout, value: i64) -> Vec<u8> {
    let Layout::Int { bytes, shift, .. } = layout else {
        panic!("not an integer layout")
    };
    (value << shift).to_le_bytes()[..bytes].to_vec()
}

/// Rounds to nearest, ties away from zero. Not `f64::round`: mingw's C runtime, which it calls on
/// windows-gnu, computes floor(x + 0.5) and rounds 0.49999999999999994 up to 1.
fn round_half_away(x: f64) -> f64 {
    let whole = x.trunc();
    if (x - whole).abs() >= 0.5 {
        whole + x.signum()
    } else {
        whole
    }
}

/// Expected output for a source sample in `from` converted to `to`.
fn expected(from: Layout, src: &[u8], to: Layout) -> Vec<u8> {
    let identical = match (from, to) {
        (Layout::F32, Layout::F32) => true,
        (
            Layout::Int {
                bytes: a,
                bits: b,
                shift: 0,
                ..
            },
            Layout::Int {
                bytes: c,
                bits: d,
                shift: 0,
                ..
            },
        ) => a == c && b == d && a * 8 == b as usize,
        _ => false,
    };
    if identical {
        return src.to_vec();
    }
    let x = decode(from, src);
    match to {
        Layout::Int { bits, .. } => {
            let scaled = x * 2f64.powi(bits as i32 - 1);
            let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            let value = if x.is_nan() {
                0
            } else {
                (round_half_away(scaled).clamp(min as f64, max as f64)) as i64
            };
            encode_int(to, value)
        }
        Layout::F32 => (x as f32).to_le_bytes().to_vec(),
        Layout::F64 => x.to_le_bytes().to_vec(),
    }
}

fn same_sample(to: Layout, actual: &[u8], expected: &[u8]) -> bool {
    let nan = |b: &[u8]| match to {
        Layout::F32 => f32::from_le_bytes(b.try_into().unwrap()).is_nan(),
        Layout::F64 => f64::from_le_bytes(b.try_into().unwrap()).is_nan(),
        Layout::Int { .. } => false,
    };
    actual == expected || (nan(actual) && nan(expected))
}

/// Runs `src` (contiguous samples of `from`) through the host→device kernel into an interleaved
/// buffer with `channels` channels at channel `channel`, then checks every sample against the
/// model and that the other channels' bytes were left alone.
fn check_host_to_device(
    host: HostSampleType,
    device: DeviceFormat,
    src: &[u8],
    channels: usize,
    channel: usize,
) {
    let (from, to) = (host_layout(host), device_layout(device));
    let frames = src.len() / from.bytes();
    let width = to.bytes();
    let stride = channels * width;
    let mut dst = vec![0xA5u8; frames * stride];
    host_to_device(host, device)(src, &mut dst[channel * width..], stride, frames);
    for frame in 0..frames {
        let input = &src[frame * from.bytes()..][..from.bytes()];
        let want = expected(from, input, to);
        for ch in 0..channels {
            let got = &dst[frame * stride + ch * width..][..width];
            if ch == channel {
                assert!(
                    same_sample(to, got, &want),
                    "{host:?} -> {device:?}: input {input:02x?} gave {got:02x?}, expected {want:02x?}"
                );
            } else {
                assert!(got.iter().all(|&b| b == 0xA5), "channel {ch} was touched");
            }
        }
    }
}

/// Like [`check_host_to_device`] the other way: `src` holds contiguous device samples, which are
/// spread into channel `channel` of an interleaved buffer whose other channels hold noise.
fn check_device_to_host(
    device: DeviceFormat,
    host: HostSampleType,
    src: &[u8],
    channels: usize,
    channel: usize,
) {
    let (from, to) = (device_layout(device), host_layout(host));
    let width = from.bytes();
    let frames = src.len() / width;
    let stride = channels * width;
    let mut interleaved = vec![0x5Au8; frames * stride];
    for frame in 0..frames {
        interleaved[frame * stride + channel * width..][..width]
            .copy_from_slice(&src[frame * width..][..width]);
    }
    let mut dst = vec![0xA5u8; frames * to.bytes() + 16];
    device_to_host(device, host)(&interleaved[channel * width..], stride, &mut dst, frames);
    for frame in 0..frames {
        let input = &src[frame * width..][..width];
        let want = expected(from, input, to);
        let got = &dst[frame * to.bytes()..][..to.bytes()];
        assert!(
            same_sample(to, got, &want),
            "{device:?} -> {host:?}: input {input:02x?} gave {got:02x?}, expected {want:02x?}"
        );
    }
    assert!(
        dst[frames * to.bytes()..].iter().all(|&b| b == 0xA5),
        "wrote past the frames"
    );
}

fn all_int16() -> impl Iterator<Item = i16> {
    i16::MIN..=i16::MAX
}

/// Every int16 value expressed in `layout`, plus the points half a 16-bit step above and just
/// around it (the rounding ties and their neighbours) where the layout can express them.
fn int16_grid(layout: Layout) -> Vec<u8> {
    let mut out = Vec::new();
    for v in all_int16() {
        match layout {
            Layout::Int { bits, clip, .. } => {
                let up = bits - 16;
                let base = (v as i64) << up;
                let mut values = vec![base];
                if up > 0 {
                    let half = 1i64 << (up - 1);
                    values.extend([base + half, base + half - 1, base - half, base - half + 1]);
                }
                if clip {
                    // Container values beyond the valid bits must clip.
                    values.push(base * 2);
                }
                for value in values {
                    let Layout::Int { bytes, shift, .. } = layout else {
                        unreachable!()
                    };
                    let value = if clip {
                        value.clamp(i32::MIN as i64, i32::MAX as i64)
                    } else {
                        value.clamp(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
                    };
                    out.extend_from_slice(&(value << shift).to_le_bytes()[..bytes]);
                }
            }
            Layout::F32 | Layout::F64 => {
                let x = v as f64 / 32768.0;
                let step = 1.0 / 32768.0;
                for value in [x, x + step / 2.0, x - step / 2.0, x + step * 0.4999] {
                    match layout {
                        Layout::F32 => out.extend_from_slice(&(value as f32).to_le_bytes()),
                        _ => out.extend_from_slice(&value.to_le_bytes()),
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_int16_value_through_every_path_starting_at_int16() {
    let src: Vec<u8> = all_int16().flat_map(i16::to_le_bytes).collect();
    for device in DeviceFormat::ALL {
        check_host_to_device(HostSampleType::Int16Lsb, device, &src, 1, 0);
    }
    for host in HostSampleType::ALL {
        check_device_to_host(DeviceFormat::Int16, host, &src, 1, 0);
    }
    let in_low_32: Vec<u8> = all_int16().flat_map(|v| (v as i32).to_le_bytes()).collect();
    for device in DeviceFormat::ALL {
        check_host_to_device(HostSampleType::Int32Lsb16, device, &in_low_32, 1, 0);
    }
}

#[test]
fn every_int16_value_and_its_rounding_ties_through_every_path_ending_at_int16() {
    for host in HostSampleType::ALL {
        let src = int16_grid(host_layout(host));
        check_host_to_device(host, DeviceFormat::Int16, &src, 1, 0);
        check_host_to_device(host, DeviceFormat::Int16, &src, 2, 1);
    }
    for device in DeviceFormat::ALL {
        let src = int16_grid(device_layout(device));
        check_device_to_host(device, HostSampleType::Int16Lsb, &src, 1, 0);
        check_device_to_host(device, HostSampleType::Int32Lsb16, &src, 1, 0);
    }
}

#[test]
fn int16_round_trips_through_every_format_are_lossless() {
    let src: Vec<u8> = all_int16().flat_map(i16::to_le_bytes).collect();
    let frames = src.len() / 2;
    for device in DeviceFormat::ALL {
        let mut mid = vec![0u8; frames * device.bytes_per_sample()];
        host_to_device(HostSampleType::Int16Lsb, device)(
            &src,
            &mut mid,
            device.bytes_per_sample(),
            frames,
        );
        let mut back = vec![0u8; src.len()];
        device_to_host(device, HostSampleType::Int16Lsb)(
            &mid,
            device.bytes_per_sample(),
            &mut back,
            frames,
        );
        assert_eq!(back, src, "Int16Lsb -> {device:?} -> Int16Lsb");
    }
    for host in HostSampleType::ALL {
        let mut mid = vec![0u8; frames * host.bytes_per_sample()];
        device_to_host(DeviceFormat::Int16, host)(&src, 2, &mut mid, frames);
        let mut back = vec![0u8; src.len()];
        host_to_device(host, DeviceFormat::Int16)(&mid, &mut back, 2, frames);
        assert_eq!(back, src, "Int16 -> {host:?} -> Int16");
    }
}

#[test]
fn int16_to_float_is_exact_division() {
    let src: Vec<u8> = [i16::MIN, -1, 0, 1, 16384, i16::MAX]
        .into_iter()
        .flat_map(i16::to_le_bytes)
        .collect();
    let mut dst = vec![0u8; 6 * 4];
    device_to_host(DeviceFormat::Int16, HostSampleType::Float32Lsb)(&src, 2, &mut dst, 6);
    let floats: Vec<f32> = dst
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(
        floats,
        [
            -1.0,
            -1.0 / 32768.0,
            0.0,
            1.0 / 32768.0,
            0.5,
            32767.0 / 32768.0
        ]
    );
}

#[test]
fn float_edge_values_to_int16_are_defined() {
    let inputs = [
        (1.0f32, i16::MAX),
        (-1.0, i16::MIN),
        (2.5, i16::MAX),
        (-7.0, i16::MIN),
        (f32::INFINITY, i16::MAX),
        (f32::NEG_INFINITY, i16::MIN),
        (f32::NAN, 0),
        (-0.0, 0),
        (0.5 / 32768.0, 1),
        (-0.5 / 32768.0, -1),
        (1.5 / 32768.0, 2),
        (0.49 / 32768.0, 0),
    ];
    let src: Vec<u8> = inputs.iter().flat_map(|(f, _)| f.to_le_bytes()).collect();
    let mut dst = vec![0u8; inputs.len() * 2];
    host_to_device(HostSampleType::Float32Lsb, DeviceFormat::Int16)(
        &src,
        &mut dst,
        2,
        inputs.len(),
    );
    for ((input, want), got) in inputs.iter().zip(dst.chunks_exact(2)) {
        assert_eq!(
            i16::from_le_bytes(got.try_into().unwrap()),
            *want,
            "input {input}"
        );
    }
}

fn edge_samples(layout: Layout) -> Vec<u8> {
    let mut out = Vec::new();
    match layout {
        Layout::Int {
            bytes, bits, clip, ..
        } => {
            let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            let mut values = vec![min, min + 1, -1, 0, 1, max - 1, max];
            if clip {
                values.extend([max + 1, min - 1, i32::MAX as i64, i32::MIN as i64]);
            }
            let Layout::Int { shift, .. } = layout else {
                unreachable!()
            };
            for value in values {
                out.extend_from_slice(&(value << shift).to_le_bytes()[..bytes]);
            }
            if shift > 0 {
                // Int24In32 with garbage in the ignored low byte.
                out.extend_from_slice(&0x7FFF_FFFFi32.to_le_bytes());
                out.extend_from_slice(&(-1i32).to_le_bytes());
            }
        }
        Layout::F32 | Layout::F64 => {
            let values = [
                0.0,
                -0.0,
                1.0,
                -1.0,
                0.999_999_9,
                -0.999_999_9,
                1.5,
                -1.5,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                f64::MIN_POSITIVE,
                -f64::MIN_POSITIVE,
                1e-300,
                1e300,
                0.5 / 8388608.0,
                -0.5 / 8388608.0,
                0.5 / 2147483648.0,
                -1.5 / 2147483648.0,
                (0.5 - f64::EPSILON / 4.0) / 2147483648.0,
            ];
            for value in values {
                match layout {
                    Layout::F32 => out.extend_from_slice(&(value as f32).to_le_bytes()),
                    _ => out.extend_from_slice(&value.to_le_bytes()),
                }
            }
            if let Layout::F32 = layout {
                // A NaN with a payload and a subnormal: the bit-perfect path must keep them.
                out.extend_from_slice(&0x7FC1_2345u32.to_le_bytes());
                out.extend_from_slice(&1u32.to_le_bytes());
            }
        }
    }
    out
}

#[test]
fn edge_values_through_every_path() {
    for host in HostSampleType::ALL {
        for device in DeviceFormat::ALL {
            check_host_to_device(host, device, &edge_samples(host_layout(host)), 1, 0);
            check_device_to_host(device, host, &edge_samples(device_layout(device)), 1, 0);
        }
    }
}

/// xorshift64*: a tiny seeded generator, enough for test vectors.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn random_samples(layout: Layout, rng: &mut Rng, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let bits = rng.next();
        match layout {
            Layout::Int { bytes, .. } => out.extend_from_slice(&bits.to_le_bytes()[..bytes]),
            // Alternate in-range values and raw bit patterns (NaN, infinities, huge, tiny).
            Layout::F32 if i % 2 == 0 => {
                let x = (bits >> 11) as f64 / (1u64 << 53) as f64 * 3.0 - 1.5;
                out.extend_from_slice(&(x as f32).to_le_bytes());
            }
            Layout::F32 => out.extend_from_slice(&(bits as u32).to_le_bytes()),
            Layout::F64 if i % 2 == 0 => {
                let x = (bits >> 11) as f64 / (1u64 << 53) as f64 * 3.0 - 1.5;
                out.extend_from_slice(&x.to_le_bytes());
            }
            Layout::F64 => out.extend_from_slice(&bits.to_le_bytes()),
        }
    }
    out
}

#[test]
fn seeded_random_values_through_every_path() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for host in HostSampleType::ALL {
        for device in DeviceFormat::ALL {
            let src = random_samples(host_layout(host), &mut rng, 20_000);
            check_host_to_device(host, device, &src, 1, 0);
            let src = random_samples(device_layout(device), &mut rng, 20_000);
            check_device_to_host(device, host, &src, 1, 0);
        }
    }
}

#[test]
fn identical_representations_are_byte_copies() {
    let pairs = [
        (HostSampleType::Int16Lsb, DeviceFormat::Int16),
        (HostSampleType::Int24Lsb, DeviceFormat::Int24Packed),
        (HostSampleType::Int32Lsb, DeviceFormat::Int32),
        (HostSampleType::Float32Lsb, DeviceFormat::Float32),
    ];
    let mut rng = Rng(42);
    let bytes: Vec<u8> = (0..4800).map(|_| rng.next() as u8).collect();
    for (host, device) in pairs {
        let width = device.bytes_per_sample();
        let frames = bytes.len() / width;
        let mut out = vec![0u8; bytes.len()];
        host_to_device(host, device)(&bytes, &mut out, width, frames);
        assert_eq!(out, bytes, "{host:?} -> {device:?}");
        device_to_host(device, host)(&bytes, width, &mut out, frames);
        assert_eq!(out, bytes, "{device:?} -> {host:?}");
    }
}

#[test]
fn interleaved_stride_and_offset_for_stereo_and_eight_channels() {
    let mut rng = Rng(7);
    for channels in [2, 8] {
        for host in HostSampleType::ALL {
            for device in DeviceFormat::ALL {
                for channel in [0, channels - 1, channels / 2] {
                    let src = random_samples(host_layout(host), &mut rng, 97);
                    check_host_to_device(host, device, &src, channels, channel);
                    let src = random_samples(device_layout(device), &mut rng, 97);
                    check_device_to_host(device, host, &src, channels, channel);
                }
            }
        }
    }
}

#[test]
fn all_channels_of_an_interleaved_buffer_round_trip() {
    // Eight host channels of different types into one Int32 device buffer and back.
    let device = DeviceFormat::Int32;
    let frames = 64;
    let stride = 8 * 4;
    let mut rng = Rng(99);
    let types = [
        HostSampleType::Int16Lsb,
        HostSampleType::Int24Lsb,
        HostSampleType::Int32Lsb,
        HostSampleType::Float32Lsb,
        HostSampleType::Int32Lsb16,
        HostSampleType::Int32Lsb18,
        HostSampleType::Int32Lsb20,
        HostSampleType::Int32Lsb24,
    ];
    let inputs: Vec<Vec<u8>> = types
        .iter()
        .map(|&t| match t {
            // Values the int32 device represents exactly, so the trip is lossless.
            HostSampleType::Float32Lsb => (0..frames)
                .flat_map(|_| (((rng.next() as i32) >> 8) as f32 / 8388608.0).to_le_bytes())
                .collect(),
            t => {
                let bits = t.int_bits().unwrap();
                (0..frames)
                    .flat_map(|_| {
                        let v = (rng.next() as i32) >> (32 - bits);
                        let bytes = v.to_le_bytes();
                        bytes[..t.bytes_per_sample()].to_vec()
                    })
                    .collect()
            }
        })
        .collect();
    let mut interleaved = vec![0u8; frames * stride];
    for (ch, (&t, src)) in types.iter().zip(&inputs).enumerate() {
        host_to_device(t, device)(src, &mut interleaved[ch * 4..], stride, frames);
    }
    for (ch, (&t, src)) in types.iter().zip(&inputs).enumerate() {
        let mut back = vec![0u8; src.len()];
        device_to_host(device, t)(&interleaved[ch * 4..], stride, &mut back, frames);
        assert_eq!(&back, src, "channel {ch} ({t:?})");
    }
}

#[test]
fn fill_silence_zeroes_only_its_channel() {
    let mut buf = [0xFFu8; 10 * 6];
    fill_silence(&mut buf[3..], 6, 3, 10);
    for (i, b) in buf.iter().enumerate() {
        assert_eq!(*b == 0, i % 6 >= 3, "byte {i}");
    }
    let mut mono = [0xFFu8; 12];
    fill_silence(&mut mono, 4, 4, 2);
    assert_eq!(mono, [0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
}

#[test]
fn type_tables() {
    for t in HostSampleType::ALL {
        assert_eq!(HostSampleType::from_asio(t.asio_value()), Some(t));
        assert_eq!(t.bytes_per_sample(), host_layout(t).bytes());
    }
    assert_eq!(HostSampleType::Int32Lsb24.asio_value(), 27);
    assert_eq!(
        HostSampleType::from_asio(18),
        Some(HostSampleType::Int32Lsb)
    );
    for msb_or_dsd in [0, 1, 2, 3, 4, 8, 11, 21, 32, 33, 40, -1] {
        assert_eq!(HostSampleType::from_asio(msb_or_dsd), None);
    }
    // The supported subset is exactly the little-endian PCM ASIO types, under the ABI's names.
    for t in asio_abi::SampleType::ALL {
        let host = HostSampleType::try_from(t);
        assert_eq!(host.is_ok(), t.is_little_endian(), "{t}");
        if let Ok(host) = host {
            assert_eq!(asio_abi::SampleType::from(host), t);
            assert_eq!(host.name(), t.name());
            assert_eq!(host.asio_value(), t.as_i32());
        } else {
            assert_eq!(
                host.unwrap_err().to_string(),
                format!("{t} is not supported (only little-endian PCM is)")
            );
        }
    }
    assert_eq!(HostSampleType::ALL.len(), 9);
    for d in DeviceFormat::ALL {
        assert_eq!(d.bytes_per_sample(), device_layout(d).bytes());
        assert_eq!(
            DeviceFormat::from_wave_format(d.bits() as u16, d.valid_bits() as u16, d.is_float()),
            Some(d)
        );
    }
    assert_eq!(DeviceFormat::Int24In32.valid_bits(), 24);
    assert_eq!(DeviceFormat::Int24In32.bits(), 32);
    assert_eq!(DeviceFormat::from_wave_format(32, 20, false), None);
    assert_eq!(DeviceFormat::from_wave_format(64, 64, true), None);
}

#[test]
fn int32_near_full_scale_rounds_to_one_in_float32() {
    let src: Vec<u8> = [i32::MAX, i32::MAX - 63, i32::MAX - 64, i32::MIN]
        .into_iter()
        .flat_map(i32::to_le_bytes)
        .collect();
    let mut dst = vec![0u8; 16];
    device_to_host(DeviceFormat::Int32, HostSampleType::Float32Lsb)(&src, 4, &mut dst, 4);
    let floats: Vec<f32> = dst
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [1.0, 1.0, 1.0 - f32::EPSILON / 2.0, -1.0]);
}
