#!/usr/bin/env bash
# The polyglot end-to-end test: a Python grpcio client, generated from proto/funding/v1/*.proto,
# drives the real fundingd binary in sandbox mode (e2e.py); then a real browser opens Plaid Link
# with a link token from fundingd's CreateLinkToken and the bank link is made with what Link gave
# (browser_fundingd.py: headless Chromium from Debian over WebDriver, against the emulator inside
# fundingd, whose Plaid base URL fundingd's startup line names; chromium and chromium-driver are
# installed with apt-get when missing, and the browser test is skipped, loudly, only where apt-get
# cannot be used).
#
# It builds nothing: it runs the binary at $FUNDINGD_BIN (default: ${CARGO_TARGET_DIR:-target}/debug/fundingd,
# relative to the repository root), so `cargo build -p fundingd` first.
#
# The virtualenv lives at $FUNDING_PY_VENV (default ${TMPDIR:-/tmp}/funding-py-venv) and is reused when it
# was completely installed from the current requirements.txt. Everything else (stubs, the server's
# working directory with its SQLite database and key, its log) lives in a temporary directory that is
# removed on exit, with the server stopped first. The exit code is the test's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# shellcheck source=lib.sh
source "$here/lib.sh"
bin="$(resolve_binary fundingd "${FUNDINGD_BIN:-}")"
if [[ ! -x "$bin" ]]; then
    echo "run.sh: no fundingd binary at $bin; build it with 'cargo build -p fundingd' or set FUNDINGD_BIN" >&2
    exit 2
fi

log() { echo "run.sh: $*" >&2; }

# --- the virtualenv -------------------------------------------------------------------------------
ensure_venv "${FUNDING_PY_VENV:-${TMPDIR:-/tmp}/funding-py-venv}" "$here/requirements.txt"

# --- the browser ----------------------------------------------------------------------------------
ensure_chromium

# --- the temporary directory and the cleanup ------------------------------------------------------
with_work_dir funding-py-e2e

# --- the stubs ------------------------------------------------------------------------------------
gen="$work/gen"
mkdir -p "$gen"
(
    cd "$repo"
    "$py" -m grpc_tools.protoc -I proto \
        --python_out="$gen" --grpc_python_out="$gen" --pyi_out="$gen" \
        proto/funding/v1/*.proto
)

# --- the server -----------------------------------------------------------------------------------
# start_server ADDR: starts fundingd in its own working directory (its SQLite database and key land in
# ./var there); sets server_pid. A single subshell that execs, so $! is the server itself.
start_server() {
    rm -rf "$work/server"
    mkdir -p "$work/server"
    log "starting $bin on $1 in $work/server"
    (
        cd "$work/server"
        # Only our settings: no stray FUNDING_* variable (a config file, credentials) may leave sandbox mode.
        for name in $(compgen -e); do
            case "$name" in FUNDING_*) unset "$name" ;; esac
        done
        export FUNDING_SANDBOX__RELATIONSHIP_APPROVAL_DELAY_MS=200
        export NO_COLOR=1
        exec "$bin" --listen "$1"
    ) >"$work/server.log" 2>&1 &
    server_pid=$!
}

# The free port is probed, then released: another process may take it before fundingd binds it, so a
# start that failed on "Address already in use" is retried on another port.
addr=""
for attempt in 1 2 3; do
    candidate="127.0.0.1:$(free_port)"
    start_server "$candidate"
    if "$py" "$here/wait_serving.py" --address "$candidate" --pid "$server_pid" --timeout 60; then
        addr="$candidate"
        break
    fi
    if [[ $attempt -lt 3 ]] && grep -q "Address already in use" "$work/server.log"; then
        wait "$server_pid" 2>/dev/null || true
        log "$candidate was taken; retrying on another port"
        continue
    fi
    exit 1
done

# The in-process emulator's Plaid base URL, from the startup line fundingd prints once it is built
# ("… in SANDBOX mode (emulated Plaid at http://127.0.0.1:PORT, Alpaca at …)"): the browser loads
# Link from there. It may be printed just after the health check first answers.
plaid_url=""
for _ in $(seq 1 100); do
    plaid_url="$(sed -n 's/.*emulated Plaid at \(http:[^,]*\), Alpaca at .*/\1/p' "$work/server.log" | head -n 1)"
    [[ -n "$plaid_url" ]] && break
    sleep 0.1
done
if [[ -z "$plaid_url" ]]; then
    log "fundingd's log does not name the emulated Plaid's URL"
    exit 1
fi
log "fundingd's emulated Plaid is at $plaid_url"

# --- the tests ------------------------------------------------------------------------------------
# Every module runs (even after one failed); the exit code is the first failure's.
run_module() {
    log "running $1"
    FUNDINGD_ADDR="$addr" FUNDINGD_PLAID_URL="$plaid_url" \
        PYTHONPATH="$gen:$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
        "$py" -m unittest -v "$1"
}
test_status=0
set +e
for module in e2e browser_fundingd; do
    run_module "$module"
    module_status=$?
    if [[ $module_status -ne 0 && $test_status -eq 0 ]]; then
        test_status=$module_status
    fi
done
set -e
exit "$test_status"
