//! Selector and flag constants.

/// Selectors of the host callback `asioMessage(selector, value, message, opt)`.
pub mod message {
    /// Does the host support the selector given in `value`? Returns 1 if so.
    pub const SELECTOR_SUPPORTED: i32 = 1;
    /// The host's ASIO engine version (2 for ASIO 2.x hosts).
    pub const ENGINE_VERSION: i32 = 2;
    /// The driver asks the host to dispose and re-create everything (stop, dispose, exit, init…).
    pub const RESET_REQUEST: i32 = 3;
    /// The driver's buffer size changed; `value` holds the new size.
    pub const BUFFER_SIZE_CHANGE: i32 = 4;
    /// The driver lost samples; the host should resynchronise.
    pub const RESYNC_REQUEST: i32 = 5;
    /// Input or output latencies changed; the host should call `getLatencies` again.
    pub const LATENCIES_CHANGED: i32 = 6;
    /// Does the host support `bufferSwitchTimeInfo`?
    pub const SUPPORTS_TIME_INFO: i32 = 7;
    /// Does the host read time code from `ASIOTime`?
    pub const SUPPORTS_TIME_CODE: i32 = 8;
    /// MMC command for the host; `value` holds the command.
    pub const MMC_COMMAND: i32 = 9;
    /// Does the host support input monitoring?
    pub const SUPPORTS_INPUT_MONITOR: i32 = 10;
    /// Does the host support input gain?
    pub const SUPPORTS_INPUT_GAIN: i32 = 11;
    /// Does the host support input metering?
    pub const SUPPORTS_INPUT_METER: i32 = 12;
    /// Does the host support output gain?
    pub const SUPPORTS_OUTPUT_GAIN: i32 = 13;
    /// Does the host support output metering?
    pub const SUPPORTS_OUTPUT_METER: i32 = 14;
    /// The driver reports a processing overload.
    pub const OVERLOAD: i32 = 15;
    /// One past the last selector.
    pub const NUM_MESSAGE_SELECTORS: i32 = 16;

    /// The SDK name of a message selector (`"kAsioResetRequest"`), or `"unknown"`.
    pub fn name(selector: i32) -> &'static str {
        match selector {
            SELECTOR_SUPPORTED => "kAsioSelectorSupported",
            ENGINE_VERSION => "kAsioEngineVersion",
            RESET_REQUEST => "kAsioResetRequest",
            BUFFER_SIZE_CHANGE => "kAsioBufferSizeChange",
            RESYNC_REQUEST => "kAsioResyncRequest",
            LATENCIES_CHANGED => "kAsioLatenciesChanged",
            SUPPORTS_TIME_INFO => "kAsioSupportsTimeInfo",
            SUPPORTS_TIME_CODE => "kAsioSupportsTimeCode",
            MMC_COMMAND => "kAsioMMCCommand",
            SUPPORTS_INPUT_MONITOR => "kAsioSupportsInputMonitor",
            SUPPORTS_INPUT_GAIN => "kAsioSupportsInputGain",
            SUPPORTS_INPUT_METER => "kAsioSupportsInputMeter",
            SUPPORTS_OUTPUT_GAIN => "kAsioSupportsOutputGain",
            SUPPORTS_OUTPUT_METER => "kAsioSupportsOutputMeter",
            OVERLOAD => "kAsioOverload",
            NUM_MESSAGE_SELECTORS => "kAsioNumMessageSelectors",
            _ => "unknown",
        }
    }
}

/// Selectors of the driver method `future(selector, opt)`. A supported selector returns
/// [`ASE_SUCCESS`](crate::ASE_SUCCESS); an unsupported one `ASE_InvalidParameter` or
/// `ASE_NotPresent`.
pub mod future {
    /// Start reading time code.
    pub const ENABLE_TIME_CODE_READ: i32 = 1;
    /// Stop reading time code.
    pub const DISABLE_TIME_CODE_READ: i32 = 2;
    /// Set input monitoring; `opt` points to an `AsioInputMonitor`.
    pub const SET_INPUT_MONITOR: i32 = 3;
    /// Transport command; `opt` points to an `AsioTransportParameters`.
    pub const TRANSPORT: i32 = 4;
    /// Set input gain; `opt` points to an `AsioChannelControls`.
    pub const SET_INPUT_GAIN: i32 = 5;
    /// Get input meter; `opt` points to an `AsioChannelControls`.
    pub const GET_INPUT_METER: i32 = 6;
    /// Set output gain; `opt` points to an `AsioChannelControls`.
    pub const SET_OUTPUT_GAIN: i32 = 7;
    /// Get output meter; `opt` points to an `AsioChannelControls`.
    pub const GET_OUTPUT_METER: i32 = 8;
    /// Can the driver do input monitoring?
    pub const CAN_INPUT_MONITOR: i32 = 9;
    /// Can the driver fill `ASIOTime` time info?
    pub const CAN_TIME_INFO: i32 = 10;
    /// Can the driver fill `ASIOTime` time code?
    pub const CAN_TIME_CODE: i32 = 11;
    /// Can the driver handle transport commands?
    pub const CAN_TRANSPORT: i32 = 12;
    /// Can the driver set input gain?
    pub const CAN_INPUT_GAIN: i32 = 13;
    /// Can the driver meter inputs?
    pub const CAN_INPUT_METER: i32 = 14;
    /// Can the driver set output gain?
    pub const CAN_OUTPUT_GAIN: i32 = 15;
    /// Can the driver meter outputs?
    pub const CAN_OUTPUT_METER: i32 = 16;
    /// Driver-specific optional selector.
    pub const OPTIONAL_ONE: i32 = 17;
    /// Set the I/O format; `opt` points to an `AsioIoFormat`.
    pub const SET_IO_FORMAT: i32 = 0x2311_1961;
    /// Get the I/O format; `opt` points to an `AsioIoFormat`.
    pub const GET_IO_FORMAT: i32 = 0x2311_1983;
    /// Can the driver use the I/O format in `opt` (`AsioIoFormat`)?
    pub const CAN_DO_IO_FORMAT: i32 = 0x2311_2004;
    /// Can the driver report overloads (`kAsioOverload`)?
    pub const CAN_REPORT_OVERLOAD: i32 = 0x2404_2012;
    /// Get the driver's internal buffering; `opt` points to an `AsioInternalBufferInfo`.
    pub const GET_INTERNAL_BUFFER_SAMPLES: i32 = 0x2504_2012;
    /// Does the driver resample its inputs?
    pub const SUPPORTS_INPUT_RESAMPLING: i32 = 0x2609_2017;

    /// The SDK name of a `future` selector (`"kAsioCanTimeInfo"`), or `"unknown"`.
    pub fn name(selector: i32) -> &'static str {
        match selector {
            ENABLE_TIME_CODE_READ => "kAsioEnableTimeCodeRead",
            DISABLE_TIME_CODE_READ => "kAsioDisableTimeCodeRead",
            SET_INPUT_MONITOR => "kAsioSetInputMonitor",
            TRANSPORT => "kAsioTransport",
            SET_INPUT_GAIN => "kAsioSetInputGain",
            GET_INPUT_METER => "kAsioGetInputMeter",
            SET_OUTPUT_GAIN => "kAsioSetOutputGain",
            GET_OUTPUT_METER => "kAsioGetOutputMeter",
            CAN_INPUT_MONITOR => "kAsioCanInputMonitor",
            CAN_TIME_INFO => "kAsioCanTimeInfo",
            CAN_TIME_CODE => "kAsioCanTimeCode",
            CAN_TRANSPORT => "kAsioCanTransport",
            CAN_INPUT_GAIN => "kAsioCanInputGain",
            CAN_INPUT_METER => "kAsioCanInputMeter",
            CAN_OUTPUT_GAIN => "kAsioCanOutputGain",
            CAN_OUTPUT_METER => "kAsioCanOutputMeter",
            OPTIONAL_ONE => "kAsioOptionalOne",
            SET_IO_FORMAT => "kAsioSetIoFormat",
            GET_IO_FORMAT => "kAsioGetIoFormat",
            CAN_DO_IO_FORMAT => "kAsioCanDoIoFormat",
            CAN_REPORT_OVERLOAD => "kAsioCanReportOverload",
            GET_INTERNAL_BUFFER_SAMPLES => "kAsioGetInternalBufferSamples",
            SUPPORTS_INPUT_RESAMPLING => "kAsioSupportsInputResampling",
            _ => "unknown",
        }
    }
}

/// Bits of `AsioTimeInfo::flags`.
pub mod time_flags {
    /// `system_time` is valid.
    pub const SYSTEM_TIME_VALID: u32 = 1;
    /// `sample_position` is valid.
    pub const SAMPLE_POSITION_VALID: u32 = 1 << 1;
    /// `sample_rate` is valid.
    pub const SAMPLE_RATE_VALID: u32 = 1 << 2;
    /// `speed` is valid.
    pub const SPEED_VALID: u32 = 1 << 3;
    /// The sample rate changed.
    pub const SAMPLE_RATE_CHANGED: u32 = 1 << 4;
    /// The clock source changed.
    pub const CLOCK_SOURCE_CHANGED: u32 = 1 << 5;
}

/// Bits of `AsioTimeCode::flags`.
pub mod time_code_flags {
    /// Time code is valid.
    pub const VALID: u32 = 1;
    /// Time code is running.
    pub const RUNNING: u32 = 1 << 1;
    /// Time code runs backwards.
    pub const REVERSE: u32 = 1 << 2;
    /// Time code runs at nominal speed.
    pub const ONSPEED: u32 = 1 << 3;
    /// Time code is still (not moving).
    pub const STILL: u32 = 1 << 4;
    /// `speed` is valid.
    pub const SPEED_VALID: u32 = 1 << 8;
}

/// Commands of `AsioTransportParameters::command` (`future(kAsioTransport)`).
pub mod transport {
    /// Start.
    pub const START: i32 = 1;
    /// Stop.
    pub const STOP: i32 = 2;
    /// Locate to `sample_position`.
    pub const LOCATE: i32 = 3;
    /// Punch in.
    pub const PUNCH_IN: i32 = 4;
    /// Punch out.
    pub const PUNCH_OUT: i32 = 5;
    /// Arm the track in `track` (-1: all).
    pub const ARM_ON: i32 = 6;
    /// Disarm the track in `track` (-1: all).
    pub const ARM_OFF: i32 = 7;
    /// Monitor the track in `track` (-1: all).
    pub const MONITOR_ON: i32 = 8;
    /// Stop monitoring the track in `track` (-1: all).
    pub const MONITOR_OFF: i32 = 9;
    /// Arm the tracks set in `track_switches`.
    pub const ARM: i32 = 10;
    /// Monitor the tracks set in `track_switches`.
    pub const MONITOR: i32 = 11;
}

/// Values of `AsioIoFormat::format_type`.
pub mod io_format {
    /// No valid format.
    pub const INVALID: i32 = -1;
    /// PCM.
    pub const PCM: i32 = 0;
    /// DSD.
    pub const DSD: i32 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_selectors_are_consecutive_and_named() {
        let all = [
            message::SELECTOR_SUPPORTED,
            message::ENGINE_VERSION,
            message::RESET_REQUEST,
            message::BUFFER_SIZE_CHANGE,
            message::RESYNC_REQUEST,
            message::LATENCIES_CHANGED,
            message::SUPPORTS_TIME_INFO,
            message::SUPPORTS_TIME_CODE,
            message::MMC_COMMAND,
            message::SUPPORTS_INPUT_MONITOR,
            message::SUPPORTS_INPUT_GAIN,
            message::SUPPORTS_INPUT_METER,
            message::SUPPORTS_OUTPUT_GAIN,
            message::SUPPORTS_OUTPUT_METER,
            message::OVERLOAD,
            message::NUM_MESSAGE_SELECTORS,
        ];
        for (i, selector) in all.iter().enumerate() {
            assert_eq!(*selector, i as i32 + 1);
            assert_ne!(message::name(*selector), "unknown");
        }
        assert_eq!(message::name(0), "unknown");
        assert_eq!(message::name(3), "kAsioResetRequest");
    }

    #[test]
    fn future_selectors_are_named() {
        for selector in 1..=17 {
            assert_ne!(future::name(selector), "unknown", "selector {selector}");
        }
        assert_eq!(future::name(18), "unknown");
        assert_eq!(future::name(future::CAN_TIME_INFO), "kAsioCanTimeInfo");
        assert_eq!(future::SET_IO_FORMAT, 0x23111961);
        assert_eq!(future::GET_INTERNAL_BUFFER_SAMPLES, 0x25042012);
        assert_eq!(
            future::name(future::SUPPORTS_INPUT_RESAMPLING),
            "kAsioSupportsInputResampling"
        );
    }

    #[test]
    fn flags_are_distinct_bits() {
        let time = [
            time_flags::SYSTEM_TIME_VALID,
            time_flags::SAMPLE_POSITION_VALID,
            time_flags::SAMPLE_RATE_VALID,
            time_flags::SPEED_VALID,
            time_flags::SAMPLE_RATE_CHANGED,
            time_flags::CLOCK_SOURCE_CHANGED,
        ];
        assert_eq!(time.iter().fold(0, |acc, bit| acc | bit), 0x3f);
        assert_eq!(time_code_flags::SPEED_VALID, 0x100);
        assert_eq!(time_code_flags::STILL, 16);
        assert_eq!(transport::MONITOR, 11);
        assert_eq!(io_format::INVALID, -1);
    }
}
