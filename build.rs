//! Generates the Rust types and gRPC stubs from `proto/` with a pure-Rust
//! protobuf compiler (protox), so no system `protoc` is needed.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &["proto/modelregistry/v1/registry.proto"];
/// googleapis' `google/rpc/error_details.proto`, as tonic-types ships it.
const ERROR_DETAILS_FILE: &str = "proto/google/rpc/error_details.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    // `compile_fds` ignores `file_descriptor_set_path`, so the set that
    // server reflection serves is written out here.
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("modelregistry_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    // The error details the server attaches (google.rpc.BadRequest …),
    // served by reflection so grpcurl decodes them; the types themselves
    // come from tonic-types.
    let details = protox::compile([ERROR_DETAILS_FILE], [PROTO_ROOT])?;
    fs::write(
        out_dir.join("error_details_descriptor.bin"),
        details.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .codec_path("crate::codec::RegistryCodec")
        .build_client(true)
        .build_server(true)
        // Servers that implement a few methods (the benchmark's no-op
        // baseline) answer UNIMPLEMENTED for the rest.
        .generate_default_stubs(true)
        // `prost::Name` on every message: the JSON mapping finds a
        // message's descriptor by its full name.
        .compile_fds_with_config(descriptors, {
            let mut config = prost_build::Config::new();
            config.enable_type_names();
            config
        })?;
    Ok(())
}
