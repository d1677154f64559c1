//! ASIO ABI.
