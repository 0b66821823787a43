# Shared by run.sh and run_sdk.sh (sourced, not run): where a built binary is, a virtualenv made
# from a pinned requirements file and reused while it matches, free ports, and stopping a process.

# resolve_binary NAME [OVERRIDE]: the absolute path of OVERRIDE, or of NAME in
# ${CARGO_TARGET_DIR:-target}/debug (relative paths are taken from the repository root, $repo).
resolve_binary() {
    local name="$1" override="${2:-}"
    local target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in
        /*) ;;
        *) target_dir="$repo/$target_dir" ;;
    esac
    local bin="${override:-$target_dir/debug/$name}"
    case "$bin" in
        /*) ;;
        *) bin="$repo/$bin" ;;
    esac
    echo "$bin"
}

# ensure_venv VENV REQUIREMENTS: makes VENV from REQUIREMENTS unless it was completely installed
# from that very file (a stamp written last says so), and sets $py to its python.
ensure_venv() {
    local venv="$1" requirements="$2"
    local stamp="$venv/.funding-requirements.sha256"
    local want_stamp
    want_stamp="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
        log "reusing the virtualenv at $venv"
    else
        log "creating the virtualenv at $venv"
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
        "$venv/bin/python" -m pip check >/dev/null
        echo "$want_stamp" >"$stamp"
    fi
    py="$venv/bin/python"
}

# free_port: a port free on 127.0.0.1 right now (probed, then released: another process may take it).
free_port() {
    "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# stop_process PID: SIGTERM, a bounded wait to drain, then SIGKILL; reaps it.
stop_process() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# ensure_chromium: Debian's chromium and chromium-driver for the browser test, installed with apt-get
# when missing. Exports SANDBOX_CHROMIUM and SANDBOX_CHROMEDRIVER; or, only when apt-get cannot be used
# here (no apt-get, or not root), SANDBOX_BROWSER_SKIP with the reason, said loudly (the browser
# tests then skip with that reason). An apt-get that runs and fails is an error (returns 1).
ensure_chromium() {
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        local why=""
        if ! command -v apt-get >/dev/null 2>&1; then
            why="apt-get is not available on this machine"
        elif [[ "$(id -u)" -ne 0 ]]; then
            why="not root, so apt-get cannot install chromium and chromium-driver"
        fi
        if [[ -n "$why" ]]; then
            {
                echo "################################################################################"
                echo "## THE BROWSER TEST OF THE LINK PAGE IS SKIPPED: $why."
                echo "## Install Debian's chromium and chromium-driver to run it."
                echo "################################################################################"
            } >&2
            export SANDBOX_BROWSER_SKIP="$why"
            return 0
        fi
        log "installing chromium and chromium-driver with apt-get (for the browser test)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
            >"${TMPDIR:-/tmp}/funding-apt-chromium.log" 2>&1; then
            cat "${TMPDIR:-/tmp}/funding-apt-chromium.log" >&2
            log "apt-get could not install chromium and chromium-driver"
            return 1
        fi
    fi
    SANDBOX_CHROMIUM="$(command -v chromium)"
    SANDBOX_CHROMEDRIVER="$(command -v chromedriver)"
    export SANDBOX_CHROMIUM SANDBOX_CHROMEDRIVER
    unset SANDBOX_BROWSER_SKIP
}

# with_work_dir PREFIX: a new temporary directory in $work, removed when the script exits; the
# fundingd whose pid is in $server_pid is stopped then, and when the script failed its log
# ($work/server.log) is shown first.
with_work_dir() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    server_pid=""
    trap cleanup_work_dir EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cleanup_work_dir() {
    local status=$?
    stop_process "$server_pid"
    if [[ $status -ne 0 && -f "$work/server.log" ]]; then
        echo "----- fundingd log ($work/server.log) -----" >&2
        cat "$work/server.log" >&2
        echo "----- end of fundingd log -----" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
