//! Wasio engine.
pub mod channels;
pub mod convert;
pub mod rt_guard;
