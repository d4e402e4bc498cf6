//! Compiles every `.proto` under `proto/` with protox (pure Rust, so nobody
//! installs `protoc`) and writes the descriptor set that the services serve
//! through gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let proto_files = [
        "roster/access/v1/access.proto",
        "roster/directory/v1/account.proto",
        "roster/directory/v1/user.proto",
        "roster/directory/v1/credential.proto",
        "roster/directory/v1/group.proto",
        "roster/directory/v1/store.proto",
        "roster/directory/v1/permission.proto",
        "roster/directory/v1/authorization.proto",
        "roster/directory/v1/audit.proto",
        "roster/directory/v1/invitation.proto",
        "roster/directory/v1/password.proto",
        "roster/session/v1/session.proto",
    ];
    let file_descriptors = protox::compile(proto_files, [&proto_root])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("roster_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&file_descriptors))?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(file_descriptors)?;
    Ok(())
}
