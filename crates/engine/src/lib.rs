//! Wasio engine.

pub mod drift;
