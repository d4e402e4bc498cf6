//! Generated protobuf and gRPC code for Roster's public contracts.
//!
//! This is the only crate that runs code generation; services and tests use
//! these modules, and serve [`FILE_DESCRIPTOR_SET`] through reflection.

/// The encoded `FileDescriptorSet` of every Roster proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/roster_descriptor.bin"));

/// `roster.access.v1`: permissions per scope and data filters, shared by
/// both services.
pub mod access {
    pub mod v1 {
        tonic::include_proto!("roster.access.v1");
    }
}

/// `roster.directory.v1`: accounts, users, credentials.
pub mod directory {
    pub mod v1 {
        tonic::include_proto!("roster.directory.v1");
    }
}

/// `roster.session.v1`: login, validation, logout, revocation.
pub mod session {
    pub mod v1 {
        tonic::include_proto!("roster.session.v1");
    }
}
