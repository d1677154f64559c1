//! Each report is one JSON object on one line, written with the workspace's shared writer.

pub use json_lite::JsonObject;
