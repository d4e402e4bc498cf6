//! gRPC server reflection over Roster's protos and `grpc.health.v1`, in both
//! protocol versions: `v1`, and `v1alpha`, which many generic clients still
//! speak (older grpcurl, Python's grpc-requests).

use tonic_reflection::server::{v1, v1alpha, Builder, Error};

fn builder() -> Builder<'static> {
    Builder::configure()
        .register_encoded_file_descriptor_set(roster_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// The `grpc.reflection.v1` service.
pub fn reflection_v1() -> Result<v1::ServerReflectionServer<impl v1::ServerReflection>, Error> {
    builder().build_v1()
}

/// The `grpc.reflection.v1alpha` service.
pub fn reflection_v1alpha() -> Result<v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>, Error> {
    builder().build_v1alpha()
}
