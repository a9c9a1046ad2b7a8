//! The Model Registry server as a library: configuration, the gRPC service,
//! domain rules and storage. `main.rs` only parses the configuration and
//! calls [`server::run`]; tests start the same server in-process with
//! [`server::serve`].

pub mod auth;
pub mod changes;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod health;
pub mod listener;
pub mod probe;
pub mod prometheus;
pub mod registry;
pub mod server;
pub mod shutdown;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhooks;

/// The package version and the commit it was built from.
pub const BUILD_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MODEL_REGISTRY_GIT_SHA"),
    ")"
);
