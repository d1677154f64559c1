//! WASAPI backend.
