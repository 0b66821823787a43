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

# The crash tests: real fundingd processes SIGKILLed and SIGSTOPped (FUNDING_CHAOS_SEED=N replays a run).
crash:
    cargo test -p funding-tests --test crash -- --nocapture

# Lint: clippy with warnings as errors, and the format check.
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all --check

# Format the code.
fmt:
    cargo fmt --all

# Benchmarks of the domain's request-path checks (criterion).
bench:
    cargo bench -p funding-domain --bench parse

# The link flow from a Rust caller against a sandbox server started for the occasion.
demo:
    cargo build -p fundingd -p funding-client --example link_demo
    bash -c 'dir=$(mktemp -d); (cd "$dir"; exec "{{justfile_directory()}}/target/debug/fundingd" --listen 127.0.0.1:50052) > "$dir/fundingd.log" 2>&1 & pid=$!; trap "kill $pid; rm -rf $dir" EXIT; sleep 2; "{{justfile_directory()}}/target/debug/examples/link_demo" http://127.0.0.1:50052'

# The Python grpcio end-to-end test against the built server.
e2e-python:
    cargo build -p fundingd
    bash tests/python/run.sh

# Everything CI runs.
ci:
    bash .ci/run
