//! The integration tests: one binary (faster to build and link than one per file), one module
//! per area. Add a `mod` line for your file.

mod bad_input;
mod harness;
mod pgconn;
mod roundtrip;
mod tools;
mod zoo;
