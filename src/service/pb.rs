//! The generated wire types of `proto/fraudhotzone/v1/hotzone.proto` (tonic + prost, built by
//! `build.rs`), and the encoded descriptor set that server reflection serves.
//!
//! Nothing else lives here: conversions between these types and the domain are in the
//! handlers ([`super::check`], [`super::ingest`]).

#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

tonic::include_proto!("fraudhotzone.v1");

/// Encoded `FileDescriptorSet` of the `fraudhotzone.v1` package (for server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hotzone_descriptor.bin"));

/// The fully qualified gRPC service name (what health and reflection report).
pub const SERVICE_NAME: &str = "fraudhotzone.v1.FraudHotzone";
