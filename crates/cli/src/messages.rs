//! How the host answers a driver's `asioMessage` calls.

use asio_abi::message;

/// The host's answer to `asioMessage(selector, value)`: 1 for every selector it handles
/// when asked `kAsioSelectorSupported`, engine version 2, 1 (acknowledged) for reset,
/// resync, latency and buffer-size notifications, and `offer_time_info` for
/// `kAsioSupportsTimeInfo`. Everything else: 0.
pub fn answer_message(selector: i32, value: i32, offer_time_info: bool) -> i32 {
    match selector {
        message::SELECTOR_SUPPORTED => i32::from(matches!(
            value,
            message::ENGINE_VERSION
                | message::RESET_REQUEST
                | message::RESYNC_REQUEST
                | message::LATENCIES_CHANGED
                | message::SUPPORTS_TIME_INFO
                | message::BUFFER_SIZE_CHANGE
        )),
        message::ENGINE_VERSION => 2,
        // Recorded by the caller; the command in control acts on it at its own pace.
        message::RESET_REQUEST | message::RESYNC_REQUEST | message::LATENCIES_CHANGED => 1,
        message::BUFFER_SIZE_CHANGE => 1,
        message::SUPPORTS_TIME_INFO => i32::from(offer_time_info),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asio_abi::message::*;

    #[test]
    fn selector_supported_lists_exactly_the_handled_selectors() {
        let supported: Vec<i32> = (0..=NUM_MESSAGE_SELECTORS + 1)
            .filter(|&s| answer_message(SELECTOR_SUPPORTED, s, true) == 1)
            .collect();
        assert_eq!(
            supported,
            vec![
                ENGINE_VERSION,
                RESET_REQUEST,
                BUFFER_SIZE_CHANGE,
                RESYNC_REQUEST,
                LATENCIES_CHANGED,
                SUPPORTS_TIME_INFO
            ]
        );
    }

    #[test]
    fn answers() {
        assert_eq!(answer_message(ENGINE_VERSION, 0, true), 2);
        assert_eq!(answer_message(RESET_REQUEST, 0, true), 1);
        assert_eq!(answer_message(LATENCIES_CHANGED, 0, true), 1);
        assert_eq!(answer_message(SUPPORTS_TIME_INFO, 0, true), 1);
        assert_eq!(answer_message(SUPPORTS_TIME_INFO, 0, false), 0);
        assert_eq!(answer_message(SUPPORTS_TIME_CODE, 0, true), 0);
        assert_eq!(answer_message(OVERLOAD, 0, true), 0);
        assert_eq!(answer_message(-5, 0, true), 0);
    }
}
