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

# The PostgreSQL suites: the store and the end-to-end flows on the local server (127.0.0.1:5432).
test-pg:
    cargo test -p funding-store --test store postgres
    cargo test -p funding-tests --test api postgres
    cargo test -p funding-tests --test crash postgres

# The seeded chaos run of issue 11, long form: N mixed operations (links, deposits, withdrawals, Plaid
# bank transfers) over DURATION seconds under random provider faults and SIGKILLs of fundingd, then the
# checks against the providers and the secret scan; it prints its figures and the command that replays
# it. Two replicas on PostgreSQL: append `--replicas 2 --postgres postgres://postgres@127.0.0.1:5432`.
chaos seed n="300" duration="180" *args="":
    cargo run -p funding-tests --bin chaos -- --seed {{seed}} --ops {{n}} --duration {{duration}} {{args}}

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

# The benchmark harness (docs/BENCHMARKS.md): fundingd against its ceilings in one run, e.g.
# `just bench --quick` (the CI smoke), `just bench --postgres postgres://postgres@127.0.0.1:5432`,
# `just bench --callers 16 --duration 10 --json bench.json`. (The domain's criterion benchmarks:
# `cargo bench -p funding-domain --bench parse`.)
bench *args:
    cargo run --release -p funding-bench -- {{args}}

# The soak: a fixed rate of mixed requests for 60 s against fundingd on PostgreSQL; fails on any
# error or on growing memory (docs/BENCHMARKS.md).
soak rate="100" postgres="postgres://postgres@127.0.0.1:5432":
    cargo run --release -p funding-bench -- soak --duration 60 --rate {{rate}} --postgres {{postgres}}

# The whole flow through fundingctl against a sandbox fundingd started for the occasion (port 50052):
# public token → link → APPROVED → deposit → watched live to COMPLETE; fundingd is stopped after.
demo:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build -p fundingd -p fundingctl
    bin="{{justfile_directory()}}/target/debug"
    dir=$(mktemp -d)
    (cd "$dir"; exec "$bin/fundingd" --listen 127.0.0.1:50052) > "$dir/fundingd.log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
    ctl() { "$bin/fundingctl" --addr http://127.0.0.1:50052 "$@"; }
    for _ in $(seq 100); do ctl sandbox public-token > "$dir/token" 2>/dev/null && break; sleep 0.1; done
    cat "$dir/token"
    token=$(awk '$1 == "public_token" {print $2}' "$dir/token")
    plaid_account=$(awk '$1 == "checking_account_id" {print $2}' "$dir/token")
    account=$(cat /proc/sys/kernel/random/uuid)
    ctl link --account-id "$account" --public-token "$token" --plaid-account-id "$plaid_account" --nickname Checking | tee "$dir/link"
    link=$(awk 'NR == 2 {print $1}' "$dir/link")
    for _ in $(seq 100); do ctl links --account-id "$account" | awk -v id="$link" '$1 == id && $2 == "APPROVED" {found=1} END {exit !found}' && break; sleep 0.1; done
    ctl links --account-id "$account"
    ctl deposit --account-id "$account" --bank-link-id "$link" --amount 100.00 | tee "$dir/deposit"
    transfer=$(awk 'NR == 2 {print $1}' "$dir/deposit")
    ctl watch --account-id "$account" --transfer-id "$transfer"
    ctl transfers --account-id "$account"

# The Python grpcio end-to-end test against the built server.
e2e-python:
    cargo build -p fundingd
    bash tests/python/run.sh

# docs/api.md's examples through the real grpcurl (installed from PyPI) against the built server.
e2e-grpcurl:
    cargo build -p fundingd
    bash tests/grpcurl/run.sh

# Fuzz the parsers and decoders (cargo-fuzz, nightly): TARGET is one of `tools/fuzz.sh`'s list
# (amount, metadata, bank_transfer_request, redact_tokens, alpaca_sse, alpaca_answers,
# plaid_answers, plaid_webhook_jwt) or `all`, each for SECONDS.
fuzz target="all" seconds="60":
    bash tools/fuzz.sh {{target}} {{seconds}}

# Everything CI runs.
ci:
    bash .ci/run
