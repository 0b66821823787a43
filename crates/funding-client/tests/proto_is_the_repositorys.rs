//! The crate compiles the repository's `proto/` itself, never a copy: `proto` in the crate is a
//! symbolic link to `../../proto` (`cargo package` copies the files it points at, so the packaged
//! crate still builds alone; `.ci/run` packages it). In the packaged crate, outside the repository,
//! there is nothing to check.

use std::path::Path;

#[test]
fn the_crates_proto_directory_is_the_repositorys() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repository = crate_dir.join("../../proto");
    if !repository.exists() {
        return;
    }
    let ours = crate_dir.join("proto");
    let link = std::fs::symlink_metadata(&ours).expect("crates/funding-client/proto");
    assert!(
        link.file_type().is_symlink(),
        "crates/funding-client/proto must be a symbolic link to ../../proto, not a copy"
    );
    assert_eq!(
        std::fs::canonicalize(&ours).expect("the link resolves"),
        std::fs::canonicalize(&repository).expect("the repository's proto/"),
        "crates/funding-client/proto must point at the repository's proto/"
    );
}
