//! Wasio engine.
