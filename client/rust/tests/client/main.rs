//! The Rust client and the `modelreg` tool against a live server on an
//! ephemeral port (one test binary for both).
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod cli;
mod wrapper;
