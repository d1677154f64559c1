//! WAV files: reading what `wasio test --play` plays, writing what `--record` records.
//!
//! Hand-written rather than `hound`: a WAV file is a RIFF header, a `fmt ` chunk that is a
//! WAVEFORMATEX(TENSIBLE) — which `wasio_engine::format::StreamFormat` already parses and
//! builds for WASAPI — and a `data` chunk. Sample conversion uses the engine's kernels, so
//! `wasio test` exercises the same conversions the driver uses, and the cross-built tool
//! gains no dependency.

use std::fmt;
use std::path::Path;

use wasio_engine::format::{DeviceFormat, StreamFormat};

/// A whole WAV file in memory: its format and its interleaved sample bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Wav {
    /// Rate, channels, mask and sample encoding (16/24/32-bit PCM, 24-in-32, float32).
    pub format: StreamFormat,
    /// Interleaved samples in `format.encoding`, a whole number of frames.
    pub data: Vec<u8>,
}

/// A file that is not a WAV file this tool can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WavError(pub String);

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WavError {}

fn error(text: impl Into<String>) -> WavError {
    WavError(text.into())
}

impl Wav {
    /// Frames in the file.
    pub fn frames(&self) -> usize {
        self.data.len() / self.format.frame_bytes().max(1)
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Wav, WavError> {
        let bytes = std::fs::read(path)
            .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
        Wav::parse(&bytes).map_err(|e| error(format!("{}: {e}", path.display())))
    }

    /// Parses a RIFF/WAVE file: the `fmt ` and `data` chunks; other chunks are skipped.
    pub fn parse(bytes: &[u8]) -> Result<Wav, WavError> {
        if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(error("not a WAV file (no RIFF/WAVE header)"));
        }
        let mut format = None;
        let mut data = None;
        let mut at = 12;
        while at + 8 <= bytes.len() {
            let id = &bytes[at..at + 4];
            let size =
                u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
                    as usize;
            let body_start = at + 8;
            // Files written while recording may have a data size that runs past the end.
            let body_end = body_start.saturating_add(size).min(bytes.len());
            let body = &bytes[body_start..body_end];
            match id {
                b"fmt " => {
                    // A PCM `fmt ` chunk may stop before cbSize (16 bytes); WAVEFORMATEX has 18.
                    let mut fmt = body.to_vec();
                    if fmt.len() < 18 {
                        fmt.resize(18, 0);
                    }
                    format = Some(
                        StreamFormat::parse(&fmt)
                            .map_err(|e| error(format!("unsupported fmt chunk: {e}")))?,
                    );
                }
                b"data" => data = Some(body),
                _ => {}
            }
            // Chunks are padded to an even size.
            at = body_start.saturating_add(size).saturating_add(size & 1);
        }
        let format = format.ok_or_else(|| error("no fmt chunk"))?;
        let data = data.ok_or_else(|| error("no data chunk"))?;
        let frame_bytes = format.frame_bytes();
        let whole = data.len() / frame_bytes * frame_bytes;
        Ok(Wav {
            format,
            data: data[..whole].to_vec(),
        })
    }

    /// The file's bytes. A plain WAVEFORMATEX for mono and stereo (what every reader
    /// understands), WAVEFORMATEXTENSIBLE for more channels, a channel mask or 24-in-32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let plain = if self.format.channels <= 2 && self.format.channel_mask == 0 {
            self.format.to_plain().map(|b| b.to_vec())
        } else {
            None
        };
        let fmt = plain.unwrap_or_else(|| self.format.to_extensible().to_vec());
        let data_len = self.data.len();
        let mut out = Vec::with_capacity(12 + 8 + fmt.len() + 8 + data_len + 1);
        out.extend_from_slice(b"RIFF");
        let riff_len = 4 + (8 + fmt.len()) + (8 + data_len + (data_len & 1));
        out.extend_from_slice(&(riff_len as u32).to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(b"fmt ");
        out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        out.extend_from_slice(&fmt);
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data_len as u32).to_le_bytes());
        out.extend_from_slice(&self.data);
        if data_len & 1 == 1 {
            out.push(0);
        }
        out
    }

    /// Writes the file to `path`.
    pub fn write(&self, path: &Path) -> Result<(), WavError> {
        std::fs::write(path, self.to_bytes())
            .map_err(|e| error(format!("cannot write {}: {e}", path.display())))
    }
}

/// `16-bit PCM`, `24-bit PCM`, `32-bit float`…, for messages.
pub fn encoding_words(encoding: DeviceFormat) -> &'static str {
    match encoding {
        DeviceFormat::Int16 => "16-bit PCM",
        DeviceFormat::Int24Packed => "24-bit PCM",
        DeviceFormat::Int24In32 => "24-bit PCM in 32-bit words",
        DeviceFormat::Int32 => "32-bit PCM",
        DeviceFormat::Float32 => "32-bit float",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(channels: u16, encoding: DeviceFormat) -> StreamFormat {
        StreamFormat {
            sample_rate: 48_000,
            channels,
            channel_mask: 0,
            encoding,
        }
    }

    #[test]
    fn every_encoding_round_trips() {
        for encoding in DeviceFormat::ALL {
            for channels in [1u16, 2, 6] {
                let f = format(channels, encoding);
                let data: Vec<u8> = (0..f.frame_bytes() * 7).map(|i| (i * 37) as u8).collect();
                let wav = Wav { format: f, data };
                let parsed = Wav::parse(&wav.to_bytes()).unwrap();
                assert_eq!(parsed, wav, "{encoding} × {channels}");
                assert_eq!(parsed.frames(), 7);
            }
        }
    }

    #[test]
    fn plain_pcm_header_is_the_classic_44_bytes() {
        let wav = Wav {
            format: format(2, DeviceFormat::Int16),
            data: vec![1, 0, 2, 0],
        };
        let bytes = wav.to_bytes();
        // RIFF(12) + fmt header(8) + WAVEFORMATEX(18) + data header(8) + 4 bytes.
        assert_eq!(bytes.len(), 12 + 8 + 18 + 8 + 4);
        assert_eq!(&bytes[20..22], &[1, 0], "WAVE_FORMAT_PCM");
        assert_eq!(
            u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize,
            bytes.len() - 8
        );
    }

    #[test]
    fn reads_16_byte_fmt_chunks_skips_other_chunks_and_odd_padding() {
        let mut file = Vec::new();
        file.extend_from_slice(b"RIFF\0\0\0\0WAVE");
        file.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // odd size, padded
        file.extend_from_slice(b"fmt \x10\0\0\0");
        file.extend_from_slice(&[1, 0, 1, 0]); // PCM, mono
        file.extend_from_slice(&44_100u32.to_le_bytes());
        file.extend_from_slice(&88_200u32.to_le_bytes());
        file.extend_from_slice(&[2, 0, 16, 0]);
        file.extend_from_slice(b"data\x05\0\0\0\x01\x02\x03\x04\x05"); // half a frame extra
        let wav = Wav::parse(&file).unwrap();
        assert_eq!(wav.format.sample_rate, 44_100);
        assert_eq!(wav.format.channels, 1);
        assert_eq!(wav.format.encoding, DeviceFormat::Int16);
        assert_eq!(wav.data, [1, 2, 3, 4]);
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(Wav::parse(b"").unwrap_err().0.contains("not a WAV"));
        assert!(Wav::parse(b"RIFF\0\0\0\0WAVEdata\0\0\0\0")
            .unwrap_err()
            .0
            .contains("no fmt"));
        let mut no_data = Wav {
            format: format(1, DeviceFormat::Int16),
            data: vec![],
        }
        .to_bytes();
        no_data.truncate(12 + 8 + 18);
        assert!(Wav::parse(&no_data).unwrap_err().0.contains("no data"));
        let mut alaw = Wav {
            format: format(1, DeviceFormat::Int16),
            data: vec![0, 0],
        }
        .to_bytes();
        alaw[20] = 6; // WAVE_FORMAT_ALAW
        assert!(Wav::parse(&alaw).unwrap_err().0.contains("unsupported fmt"));
    }
}
