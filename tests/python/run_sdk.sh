#!/usr/bin/env bash
# The official SDKs against the emulator, both against one standalone funding-sandbox binary (pinned in
# sdk-requirements.txt): alpaca-py drives its Alpaca side (sdk_alpaca.py, after a processor token was
# made on its Plaid side with plain HTTP), then plaid-python drives its Plaid side (sdk_plaid.py: bank
# transfers, events, balance, webhook keys and signed webhooks, which it receives on a local port), then
# both read the switchable provider behaviours (sdk_behaviours.py: ACH fee, SETTLED, gross
# cash_withdrawable, page cap, late effects, faults with the provider's own error body, wrong credentials),
# then plaid-python drives Link tokens and Item health (sdk_link.py: /link/token/create, reset_login,
# /item/get's error, fire_webhook, the Item webhooks parsed with its own webhook models), then both
# read what the risk checks read (sdk_risk.py: balances, an unavailable balance, identities and
# identity matches with plaid-python, the account's owner with alpaca-py), and last a
# real browser clicks through the emulator's Link page (browser_link.py: headless Chromium from Debian
# over WebDriver; chromium and chromium-driver are installed with apt-get when missing, and the test is
# skipped, loudly, only where apt-get cannot be used).
# The binary is started with the credentials every module uses (sdk-test-client/sdk-test-secret for
# Plaid, sdk-test-key/sdk-test-secret for Alpaca), so that wrong ones are refused.
# DESIGN.md §7: an official SDK pointed at the emulator must not notice.
#
# It builds nothing: it runs the binary at $FUNDING_SANDBOX_BIN (default:
# ${CARGO_TARGET_DIR:-target}/debug/funding-sandbox, relative to the repository root), so
# `cargo build -p funding-sandbox` first.
#
# The virtualenv lives at $FUNDING_SDK_VENV (default ${TMPDIR:-/tmp}/funding-sdk-venv) and is reused when
# it was completely installed from the current sdk-requirements.txt. The emulator's log lives in a
# temporary directory that is removed on exit, with the emulator stopped first. The exit code is the
# test's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# shellcheck source=lib.sh
source "$here/lib.sh"
bin="$(resolve_binary funding-sandbox "${FUNDING_SANDBOX_BIN:-}")"
if [[ ! -x "$bin" ]]; then
    echo "run_sdk.sh: no funding-sandbox binary at $bin; build it with 'cargo build -p funding-sandbox' or set FUNDING_SANDBOX_BIN" >&2
    exit 2
fi

log() { echo "run_sdk.sh: $*" >&2; }

# --- the virtualenv -------------------------------------------------------------------------------
ensure_venv "${FUNDING_SDK_VENV:-${TMPDIR:-/tmp}/funding-sdk-venv}" "$here/sdk-requirements.txt"

# --- the temporary directory and the cleanup ------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/funding-sdk.XXXXXX")"
sandbox_pid=""
stop_sandbox() {
    stop_process "$sandbox_pid"
    sandbox_pid=""
}
cleanup() {
    local status=$?
    stop_sandbox
    if [[ $status -ne 0 && -f "$work/sandbox.log" ]]; then
        echo "----- funding-sandbox log ($work/sandbox.log) -----" >&2
        cat "$work/sandbox.log" >&2
        echo "----- end of funding-sandbox log -----" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the emulator ---------------------------------------------------------------------------------
# start_sandbox PLAID_ADDR ALPACA_ADDR: sets sandbox_pid. A single subshell that execs, so $! is the
# emulator itself. Delays are short (the test polls), but long enough to see QUEUED first.
start_sandbox() {
    log "starting $bin (Plaid on $1, Alpaca on $2)"
    (
        for name in $(compgen -e); do
            case "$name" in FUNDING_SANDBOX_*) unset "$name" ;; esac
        done
        export NO_COLOR=1
        exec "$bin" --plaid-listen "$1" --alpaca-listen "$2" \
            --relationship-approval-delay-ms 300 --transfer-step-delay-ms 200 \
            --plaid-client-id sdk-test-client --plaid-secret sdk-test-secret \
            --alpaca-key-id sdk-test-key --alpaca-secret sdk-test-secret
    ) >"$work/sandbox.log" 2>&1 &
    sandbox_pid=$!
}

# wait_ready PLAID_URL ALPACA_URL: both answer the control API, or the emulator died, or 30 s passed.
wait_ready() {
    "$py" - "$1" "$2" "$sandbox_pid" <<'PY'
import os, sys, time, urllib.request
urls, pid = sys.argv[1:3], int(sys.argv[3])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        for url in urls:
            with urllib.request.urlopen(url + "/_sandbox/clock", timeout=2) as answer:
                if answer.status != 200:
                    raise OSError(answer.status)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# Free ports are probed, then released: another process may take one first, so a start that failed on
# "Address already in use" is retried on other ports.
plaid_url=""
alpaca_url=""
for attempt in 1 2 3; do
    plaid_addr="127.0.0.1:$(free_port)"
    alpaca_addr="127.0.0.1:$(free_port)"
    start_sandbox "$plaid_addr" "$alpaca_addr"
    if wait_ready "http://$plaid_addr" "http://$alpaca_addr"; then
        plaid_url="http://$plaid_addr"
        alpaca_url="http://$alpaca_addr"
        break
    fi
    if [[ $attempt -lt 3 ]] && grep -qi "address already in use" "$work/sandbox.log"; then
        stop_sandbox
        log "a port was taken; retrying on others"
        continue
    fi
    log "the emulator did not come up"
    exit 1
done

# --- the browser ----------------------------------------------------------------------------------
ensure_chromium

# --- the tests ------------------------------------------------------------------------------------
# Every module runs (even after one failed); the exit code is the first failure's.
run_module() {
    log "running $1"
    SANDBOX_PLAID_URL="$plaid_url" SANDBOX_ALPACA_URL="$alpaca_url" \
        PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
        "$py" -m unittest -v "$1"
}
test_status=0
set +e
for module in sdk_alpaca sdk_plaid sdk_behaviours sdk_link sdk_risk browser_link; do
    run_module "$module"
    module_status=$?
    if [[ $module_status -ne 0 && $test_status -eq 0 ]]; then
        test_status=$module_status
    fi
done
set -e
exit "$test_status"
