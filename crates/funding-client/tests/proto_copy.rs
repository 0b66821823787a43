//! The crate builds from its own copy of the proto files (so `cargo package` needs nothing outside
//! the crate); the copy must be the repository's proto/ byte for byte.

use std::path::Path;

#[test]
fn the_crates_proto_files_are_the_repositorys() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = crate_dir.join("proto/funding/v1");
    let repository = crate_dir.join("../../proto/funding/v1");
    let mut names: Vec<_> = std::fs::read_dir(&repository)
        .expect("the repository's proto/funding/v1")
        .map(|entry| entry.expect("an entry").file_name())
        .filter(|name| name.to_string_lossy().ends_with(".proto"))
        .collect();
    names.sort();
    let mut copied: Vec<_> = std::fs::read_dir(&ours)
        .expect("the crate's proto/funding/v1")
        .map(|entry| entry.expect("an entry").file_name())
        .collect();
    copied.sort();
    assert_eq!(
        names, copied,
        "the same files (copy proto/funding/v1/*.proto into crates/funding-client/proto/funding/v1)"
    );
    for name in names {
        assert_eq!(
            std::fs::read(repository.join(&name)).expect("readable"),
            std::fs::read(ours.join(&name)).expect("readable"),
            "{} differs: copy proto/funding/v1/*.proto into crates/funding-client/proto/funding/v1",
            name.to_string_lossy()
        );
    }
}
