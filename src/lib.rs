//! Wire types of the Model Registry API: the generated protobuf messages and
//! gRPC client and server stubs for package `modelregistry.v1`.
//!
//! This crate owns all generated code; modules mirror the protobuf package
//! path, so `modelregistry.v1.ModelVersion` is [`v1::ModelVersion`].

pub mod codec;
pub mod json;

/// Package `modelregistry.v1`: the registry service and its messages.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("modelregistry.v1");
}

/// The encoded `FileDescriptorSet` of every `.proto` file of the API, for
/// gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("modelregistry_descriptor");

/// The encoded `FileDescriptorSet` of `google/rpc/error_details.proto`: the
/// error details every error carries (`google.rpc.BadRequest`,
/// `RequestInfo` …), for reflection, so generic tools decode them.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("error_details_descriptor");

/// The fully qualified name of the registry service, as used by health checks.
pub const REGISTRY_SERVICE_NAME: &str = "modelregistry.v1.RegistryService";

pub use prost_types;
