//! Rust client for the Model Registry.
//!
//! [`RegistryClient`] has a method for every RPC of
//! `modelregistry.v1.RegistryService`. A call with options returns a
//! builder that is sent by awaiting it (`.send().await` also works);
//! [`RegisterModel`] builds registrations (computing an artifact's checksum
//! and size). Results are this crate's documented types ([`ModelVersion`],
//! [`Model`], [`Event`], [`ModelStatus`] …), each wrapping the generated
//! message it came from (`raw()` / `into_raw()`). Errors keep the server's
//! gRPC code, message, request id and field violations
//! ([`Error::is_not_found`] and friends). The generated messages are
//! re-exported as [`proto`], and the raw tonic client as [`RawClient`].
//!
//! ```no_run
//! # async fn example() -> Result<(), model_registry_client::Error> {
//! use model_registry_client::{RegisterModel, RegistryClient};
//!
//! let client = RegistryClient::connect("http://127.0.0.1:50051").await?;
//! let version = client
//!     .register_model(
//!         RegisterModel::new("churn")
//!             .algorithm("XGBoost")
//!             .artifact_uri("s3://models/churn/xgb.pkl")
//!             .metric("auc", 0.91),
//!     )
//!     .await?;
//! client
//!     .set_production_model("churn", version.version())
//!     .reason("best AUC so far")
//!     .await?;
//! let production = client.get_production_model("churn").await?;
//! assert_eq!(production.version(), version.version());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod aliases;
mod calls;
mod client;
mod consistency;
mod error;
mod governance;
mod register;
mod retry;
mod signatures;
mod token_file;
mod token_provider;
mod types;
mod watch;
mod webhooks;

pub use aliases::{DeleteAlias, RollbackAlias, SetAlias, UpdateModel};
pub use calls::{
    AliasedVersion, GetBestVersion, ListEvents, ListModels, ListVersions, SetStatus, UpdateVersion,
};
pub use client::{BearerToken, ClientOptions, RawClient, RegistryClient, TlsOptions};
pub use error::{Error, FieldViolation, Result, code_name};
pub use governance::{
    AliasPolicy, DecideChangeRequest, DeleteAliasPolicy, Freeze, ListChangeRequests,
    RequestAliasChange, SetAliasPolicy,
};
/// The canonical protobuf JSON mapping of the API's messages, and
/// `google.protobuf.Struct` to and from JSON.
pub use model_registry_api::json;
pub use register::{RegisterModel, file_uri};
pub use retry::RetryPolicy;
pub use token_provider::TokenProvider;
pub use types::{
    AliasMove, AliasRollback, AliasUpdate, BestVersion, ChangeRequest, ChangeRequestState, Event,
    EventType, Model, ModelStatus, ModelVersion, Page, Training,
};
pub use watch::AliasWatch;
pub use webhooks::{CreateWebhook, CreatedWebhook, ReplayFrom};

/// Well-known protobuf types (timestamps, structs) used by [`proto`].
pub use model_registry_api::prost_types;
/// The generated protobuf messages and gRPC stubs (`modelregistry.v1`).
pub use model_registry_api::v1 as proto;

/// The README's Rust example, compiled by `cargo test` so it stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
