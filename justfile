# The everyday commands. `just --list` shows them.

# Run the whole test suite (the same command as README and CI).
test:
    cargo test --workspace

# Lint: clippy with warnings as errors, and the format check.
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all --check

# Format the code.
fmt:
    cargo fmt --all

# Everything CI runs.
ci:
    bash .ci/run
