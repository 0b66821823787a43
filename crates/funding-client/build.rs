//! Compiles the crate's own copy of proto/funding/v1 (so the packaged crate builds alone; a test
//! keeps the copy identical to the repository's proto/) with protox (pure Rust, no system protoc) and generates the prost messages
//! and the tonic client and/or server, as the crate's features ask. The file descriptor set is written
//! to OUT_DIR for server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let files = [
        "waiting",
        "bank_link",
        "transfer",
        "bank_transfer",
        "sandbox",
    ]
    .map(|name| root.join(format!("funding/v1/{name}.proto")));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("funding_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(std::env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(std::env::var_os("CARGO_FEATURE_SERVER").is_some())
        .compile_fds(descriptors)?;
    Ok(())
}
