//! Wasio engine.
pub mod convert;
