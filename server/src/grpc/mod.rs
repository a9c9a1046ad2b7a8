//! The gRPC layer: handlers, wire conversions, the request context and the
//! one mapping from domain errors to statuses.

pub mod context;
mod convert;
mod error_details;
mod governance;
mod layer;
mod pages;
mod request_fields;
mod requests;
mod service;
mod status;
mod stream_guard;
mod watch;
mod watch_reads;

pub use layer::{RequestLayer, Unanswered};
pub use service::RegistryService;
pub use watch::Watches;
