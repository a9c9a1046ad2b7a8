//! The gRPC layer: handlers, wire conversions, the request context and the
//! one mapping from domain errors to statuses.

mod alias_reads;
pub mod context;
mod convert;
mod error_details;
mod governance;
mod layer;
mod pages;
mod request_fields;
mod requests;
mod service;
mod signatures;
mod status;
mod stream_guard;
mod watch;
mod watch_reads;
mod webhooks;

/// The event as the API writes it: webhook payloads carry it too.
pub use convert::event_to_wire;
pub use layer::{RequestLayer, Unanswered};
pub use service::RegistryService;
pub use watch::Watches;
