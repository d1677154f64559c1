//! JSON from `wasio-pa-host`, `wasio` and the panel, read with the workspace's shared reader
//! (std only, so xtask stays dependency-light).

pub use json_lite::{parse, parse_lines, Json};
