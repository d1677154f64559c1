//! The CLI's reports are [`Json`] values, pretty-printed by the workspace's shared writer.

pub use json_lite::Json;
