#!/usr/bin/env bash
# End-to-end test of the connector under PyAirbyte, against the fake Iterable server.
#
#   bash scripts/run_pyairbyte_e2e.sh [PYTEST ARGS...]
#
# Creates .venv-pyairbyte if needed (scripts/pyairbyte_venv.sh: about 140 s and 800 MB the first
# time), starts the fake server with the project's .venv in its own process, and runs
# pyairbyte_tests/ with the PyAirbyte venv's pytest. PyAirbyte runs the project's console script
# .venv/bin/source-iterable (install it first: pip install -e '.[dev]'), offline (no registry), and
# writes to a DuckDB cache in a temporary folder. Exits with pytest's status.
#
# Environment: PYAIRBYTE_VENV (default <repo>/.venv-pyairbyte), E2E_KEEP=1 keeps the work folder.
set -Eeuo pipefail
umask 022

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PYAIRBYTE_VENV:-$ROOT/.venv-pyairbyte}"
PY="$ROOT/.venv/bin/python"
CONNECTOR="$ROOT/.venv/bin/source-iterable"
RPM=6000
SEED=7

log() { printf '%s [pyairbyte_e2e] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -x "$PY" && -x "$CONNECTOR" ]] || die "needs the project venv: $PY and $CONNECTOR (pip install -e '.[dev]')"
PYAIRBYTE_VENV="$VENV" bash "$ROOT/scripts/pyairbyte_venv.sh"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/si-pyairbyte-e2e.XXXXXX")"
SERVER_PID=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2> /dev/null; then
        kill -TERM "$SERVER_PID" 2> /dev/null || true
        wait "$SERVER_PID" 2> /dev/null || true
    fi
    if [[ "${E2E_KEEP:-0}" == 1 || $status -ne 0 ]]; then
        log "outputs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

API_KEY="pyairbyte-e2e-$RANDOM$RANDOM$RANDOM"
# Export jobs (the default path of a backfill) done in a fraction of a second, at a raised pace.
export ITERABLE_METRICS_REQUESTS_PER_MINUTE="$RPM"
(cd "$ROOT" && exec "$PY" -m integration_tests.fake_iterable --host 127.0.0.1 --port 0 \
    --port-file "$WORK/port" --api-key "$API_KEY" --export-rpm "$RPM" --getusers-rpm "$RPM" --seed "$SEED" \
    --export-job-rps 200 --export-delete-rps 200 --job-queue-seconds 0.02 --job-base-latency 0.1 \
    --job-row-seconds 0 --job-cancel-seconds 0.05) \
    > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 150); do
    [[ -s "$WORK/port" ]] && break
    kill -0 "$SERVER_PID" 2> /dev/null || { tail -n 25 "$WORK/server.err" >&2; die "the fake server exited"; }
    sleep 0.2
done
[[ -s "$WORK/port" ]] || { tail -n 25 "$WORK/server.err" >&2; die "the fake server did not start within 30 s"; }
BASE_URL="http://127.0.0.1:$(tr -d '[:space:]' < "$WORK/port")"
log "fake Iterable at $BASE_URL (pid $SERVER_PID)"

export PYAIRBYTE_E2E_BASE_URL="$BASE_URL" PYAIRBYTE_E2E_API_KEY="$API_KEY" PYAIRBYTE_E2E_SEED="$SEED"
export PYAIRBYTE_E2E_EXECUTABLE="$CONNECTOR" PYAIRBYTE_E2E_REPORT="$WORK/report.json"
export AIRBYTE_OFFLINE_MODE=1 DO_NOT_TRACK=1
export ITERABLE_EXPORT_REQUESTS_PER_MINUTE="$RPM" ITERABLE_GETUSERS_REQUESTS_PER_MINUTE="$RPM"
export ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND=200 ITERABLE_EXPORT_JOB_POLL_SECONDS=0.05
# PyAirbyte's default folders are relative to the working directory; keep them out of the repo.
export AIRBYTE_CACHE_ROOT="$WORK/cache" AIRBYTE_PROJECT_DIR="$WORK/project" AIRBYTE_LOGGING_ROOT="$WORK/logs" AIRBYTE_TEMP_DIR="$WORK/tmp"

mkdir -p "$WORK/cache" "$WORK/project" "$WORK/logs" "$WORK/tmp"
status=0
(cd "$ROOT" && "$VENV/bin/python" -m pytest pyairbyte_tests -p no:cacheprovider -q "$@") || status=$?
if [[ -s "$WORK/report.json" ]]; then
    log "counts and timings:"
    cat "$WORK/report.json" >&2
fi
exit "$status"
