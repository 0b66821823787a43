# The everyday commands. `just --list` shows them.

# Run the service in sandbox mode (emulated Plaid and Alpaca, SQLite in ./var).
run:
    cargo run -p fundingd

# Run the Plaid + Alpaca emulator alone (Plaid on :8701, Alpaca on :8702).
sandbox:
    cargo run -p funding-sandbox

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

# The Python grpcio end-to-end test against the built server.
e2e-python:
    cargo build -p fundingd
    bash tests/python/run.sh

# Everything CI runs.
ci:
    bash .ci/run
