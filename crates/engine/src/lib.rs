//! Wasio engine.
pub mod channels;
pub mod convert;
