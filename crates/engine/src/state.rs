//! The driver's life cycle as ASIO defines it: loaded → initialized → prepared → running.
//!
//! Every IASIO call states which states it is valid in; a call in any other state is refused
//! with `ASE_InvalidMode` and a sentence saying what the host should have done first.

use crate::error::{DriverError, DriverResult};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverState {
    /// Created by `CoCreateInstance`; `init` not called yet, or it failed.
    Loaded,
    /// `init` succeeded: the device is known, channels and rates can be queried.
    Initialized,
    /// `createBuffers` succeeded: buffers exist and the stream is opened but stopped.
    Prepared,
    /// `start` succeeded: buffer switches are being delivered.
    Running,
}

impl fmt::Display for DriverState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverState::Loaded => "loaded (not initialized)",
            DriverState::Initialized => "initialized",
            DriverState::Prepared => "prepared (buffers created)",
            DriverState::Running => "running",
        })
    }
}

/// The IASIO calls whose validity depends on the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsioCall {
    Init,
    GetChannels,
    GetLatencies,
    GetBufferSize,
    CanSampleRate,
    GetSampleRate,
    SetSampleRate,
    GetClockSources,
    SetClockSource,
    GetSamplePosition,
    GetChannelInfo,
    CreateBuffers,
    DisposeBuffers,
    Start,
    Stop,
    OutputReady,
    Future,
}

impl AsioCall {
    pub fn name(self) -> &'static str {
        match self {
            AsioCall::Init => "init",
            AsioCall::GetChannels => "getChannels",
            AsioCall::GetLatencies => "getLatencies",
            AsioCall::GetBufferSize => "getBufferSize",
            AsioCall::CanSampleRate => "canSampleRate",
            AsioCall::GetSampleRate => "getSampleRate",
            AsioCall::SetSampleRate => "setSampleRate",
            AsioCall::GetClockSources => "getClockSources",
            AsioCall::SetClockSource => "setClockSource",
            AsioCall::GetSamplePosition => "getSamplePosition",
            AsioCall::GetChannelInfo => "getChannelInfo",
            AsioCall::CreateBuffers => "createBuffers",
            AsioCall::DisposeBuffers => "disposeBuffers",
            AsioCall::Start => "start",
            AsioCall::Stop => "stop",
            AsioCall::OutputReady => "outputReady",
            AsioCall::Future => "future",
        }
    }

    /// The states in which this call is valid.
    pub fn valid_in(self) -> &'static [DriverState] {
        use DriverState::*;
        match self {
            // Hosts re-init a loaded or already initialized driver; refusing that breaks them.
            AsioCall::Init => &[Loaded, Initialized],
            AsioCall::GetChannels
            | AsioCall::GetLatencies
            | AsioCall::GetBufferSize
            | AsioCall::CanSampleRate
            | AsioCall::GetSampleRate
            | AsioCall::SetSampleRate
            | AsioCall::GetClockSources
            | AsioCall::SetClockSource
            | AsioCall::GetChannelInfo
            | AsioCall::Future => &[Initialized, Prepared, Running],
            AsioCall::CreateBuffers => &[Initialized],
            // outputReady is probed by hosts (PortAudio) right after createBuffers.
            AsioCall::DisposeBuffers | AsioCall::OutputReady => &[Prepared, Running],
            AsioCall::Start => &[Prepared],
            AsioCall::Stop => &[Prepared, Running],
            AsioCall::GetSamplePosition => &[Prepared, Running],
        }
    }
}

/// Checks `call` against `state`, explaining a refusal in words.
pub fn check_call(state: DriverState, call: AsioCall) -> DriverResult<()> {
    if call.valid_in().contains(&state) {
        return Ok(());
    }
    let advice = match (call, state) {
        (_, DriverState::Loaded) => "call init first",
        (AsioCall::CreateBuffers, DriverState::Prepared | DriverState::Running) => {
            "buffers already exist; call disposeBuffers first"
        }
        (AsioCall::Start, DriverState::Initialized) => "call createBuffers first",
        (AsioCall::Start, DriverState::Running) => "the stream is already running",
        (AsioCall::Init, _) => "dispose the buffers before re-initializing",
        (AsioCall::GetSamplePosition, _) => "no stream exists; call createBuffers and start",
        (_, DriverState::Initialized) => "no buffers exist; call createBuffers first",
        _ => "not valid now",
    };
    Err(DriverError::invalid_mode(format!(
        "{} is not valid while the driver is {}: {}",
        call.name(),
        state,
        advice
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use asio_abi::ASE_INVALID_MODE;
    use DriverState::*;

    #[test]
    fn start_before_create_buffers_is_refused_with_advice() {
        let err = check_call(Initialized, AsioCall::Start).unwrap_err();
        assert_eq!(err.code, ASE_INVALID_MODE);
        assert!(
            err.message.contains("createBuffers first"),
            "{}",
            err.message
        );
    }

    #[test]
    fn create_buffers_twice_is_refused() {
        let err = check_call(Prepared, AsioCall::CreateBuffers).unwrap_err();
        assert!(err.message.contains("disposeBuffers first"));
        assert!(check_call(Running, AsioCall::CreateBuffers).is_err());
    }

    #[test]
    fn everything_but_init_needs_init() {
        for call in [
            AsioCall::GetChannels,
            AsioCall::GetLatencies,
            AsioCall::GetBufferSize,
            AsioCall::CanSampleRate,
            AsioCall::SetSampleRate,
            AsioCall::CreateBuffers,
            AsioCall::Start,
            AsioCall::Stop,
            AsioCall::DisposeBuffers,
            AsioCall::GetSamplePosition,
            AsioCall::OutputReady,
        ] {
            let err = check_call(Loaded, call).unwrap_err();
            assert!(err.message.contains("init first"), "{:?}", call);
        }
        assert!(check_call(Loaded, AsioCall::Init).is_ok());
    }

    #[test]
    fn queries_work_in_every_initialized_state() {
        for state in [Initialized, Prepared, Running] {
            for call in [
                AsioCall::GetChannels,
                AsioCall::GetLatencies,
                AsioCall::CanSampleRate,
            ] {
                assert!(check_call(state, call).is_ok());
            }
        }
    }

    #[test]
    fn stream_calls_follow_the_life_cycle() {
        assert!(check_call(Prepared, AsioCall::Start).is_ok());
        assert!(check_call(Running, AsioCall::Start).is_err());
        assert!(check_call(Running, AsioCall::Stop).is_ok());
        assert!(check_call(Running, AsioCall::DisposeBuffers).is_ok());
        assert!(check_call(Initialized, AsioCall::DisposeBuffers).is_err());
        assert!(check_call(Initialized, AsioCall::GetSamplePosition).is_err());
        assert!(check_call(Running, AsioCall::Init).is_err());
    }
}
