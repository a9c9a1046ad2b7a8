//! The Rust client against a live server on an ephemeral port.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod consistency;
mod readme;
mod token_file;
mod token_provider;
mod wrapper;
