//! Wasio engine.

pub mod config;
pub mod hresult;
pub mod log;
