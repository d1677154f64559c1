//! Wasio driver DLL.
