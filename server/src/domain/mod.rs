//! Domain rules of the registry: names, the status machine, alias rules,
//! input limits and the commands the store executes. Nothing here knows
//! about gRPC or SQL.

pub mod access;
pub mod alias;
pub mod commands;
pub mod error;
pub mod event;
pub mod freezes;
pub mod governance;
pub mod idempotency;
pub mod page;
pub mod pattern;
pub mod secret;
pub mod session;
pub mod signature;
pub mod status;
pub mod time;
pub mod types;
pub mod validate;
pub mod webhook;

pub use alias::AliasName;
pub use error::{DomainError, DomainResult, FieldViolation, Violations};
pub use event::{ConsistencyToken, EventKind, FeedPosition};
pub use status::VersionStatus;
pub use types::{
    Artifact, ChangeQueue, Event, Model, ModelName, ModelPrefix, ModelVersion, NewVersion,
    Training, VersionRef,
};
