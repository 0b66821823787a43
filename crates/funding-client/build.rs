//! Compiles every `proto/funding/v1/*.proto` with protox (pure Rust, no system protoc) and generates
//! the prost messages and the tonic client and/or server, as the crate's features ask. The file
//! descriptor set is written to OUT_DIR for server reflection.
//!
//! `proto` here is a symbolic link to the repository's `proto/` (`../../proto`), the one source of
//! truth: editing a file there changes what this crate compiles. `cargo package` copies the files the
//! link points at, so the packaged crate builds alone.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let package = root.join("funding/v1");
    // A file added to the package is compiled too (the directory is watched for new files).
    println!("cargo:rerun-if-changed={}", package.display());
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(&package).map_err(|error| format!("{}: {error}", package.display()))?
    {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "proto")
        {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
    // The same order on every machine: the descriptor set served by reflection is stable.
    files.sort();
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
