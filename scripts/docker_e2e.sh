#!/usr/bin/env bash
# End-to-end test of the connector image against the fake Iterable server of this repository.
#
#   bash scripts/docker_e2e.sh                 # builds the image first (scripts/docker_build.sh)
#   SKIP_BUILD=1 bash scripts/docker_e2e.sh    # uses the image sourceiterable/source-iterable:dev as it is
#
# It starts integration_tests.fake_iterable on 127.0.0.1, writes a config and a configured catalog of
# every discovered stream (incremental where the stream supports it, else full refresh; E2E_FULL_REFRESH=1
# for full refresh everywhere) into a temporary directory mounted at /secrets, and runs the image with
# --network host: spec, check, discover, read. The same read runs with the host's .venv/bin/source-iterable,
# and the RECORD data per stream must be equal (scripts/compare_reads.py). Exits non-zero on any failure.
#
# Environment: SKIP_BUILD=1, E2E_IMAGE (default <metadata.yaml dockerRepository>:dev), E2E_FULL_REFRESH=1,
# E2E_KEEP=1 (keep the temporary directory with every output), E2E_EXPECTED_STREAMS (default 68).
set -Eeuo pipefail
umask 022

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPOSITORY="$(sed -n -E 's/^[[:space:]]*dockerRepository:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' "$ROOT/metadata.yaml")"
IMAGE="${E2E_IMAGE:-$REPOSITORY:dev}"
EXPECTED_STREAMS="${E2E_EXPECTED_STREAMS:-68}"
PY="$ROOT/.venv/bin/python"
HOST_CLI="$ROOT/.venv/bin/source-iterable"
COMPARE=("$PY" "$ROOT/scripts/compare_reads.py")
RPM=600
export ITERABLE_EXPORT_REQUESTS_PER_MINUTE="$RPM" ITERABLE_GETUSERS_REQUESTS_PER_MINUTE="$RPM"
# Export jobs (the default path of a backfill): the fake's and the connector's pace raised together,
# and the fake's jobs done in a fraction of a second.
export ITERABLE_METRICS_REQUESTS_PER_MINUTE="$RPM" ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND=200
export ITERABLE_EXPORT_JOB_POLL_SECONDS=0.05
FAST_JOBS=(--export-job-rps 200 --export-delete-rps 200 --job-queue-seconds 0.02 --job-base-latency 0.1
    --job-row-seconds 0 --job-cancel-seconds 0.05)

log() { printf '%s [docker_e2e] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }
fmt_ms() { printf '%d.%01d s' $(($1 / 1000)) $((($1 % 1000) / 100)); }

[[ -x "$PY" && -x "$HOST_CLI" ]] || die "needs the project venv: $PY and $HOST_CLI (pip install -e '.[dev]')"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/si-docker-e2e.XXXXXX")"
chmod 755 "$WORK" # the image runs as user airbyte (uid 1000): /secrets must be readable
SERVER_PID=""
FAILURES=()
SUMMARY=()

cleanup() {
    local status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2> /dev/null; then
        kill -TERM "$SERVER_PID" 2> /dev/null || true
        wait "$SERVER_PID" 2> /dev/null || true
        log "fake server (pid $SERVER_PID) stopped"
    fi
    if [[ "${E2E_KEEP:-0}" == 1 || $status -ne 0 ]]; then
        log "outputs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

timed() { # timed NAME COMMAND...: run, print and remember the duration; the status is returned
    local name="$1" t0 ms status=0 suffix=""
    shift
    t0="$(now_ms)"
    "$@" || status=$?
    ms=$(($(now_ms) - t0))
    ((status == 0)) || suffix=" (exit $status)"
    log "$name: $(fmt_ms "$ms")$suffix"
    SUMMARY+=("$(printf '%-14s %10s  exit %s' "$name" "$(fmt_ms "$ms")" "$status")")
    return "$status"
}

# expect NAME COMMAND...: a check that records a failure instead of stopping the run.
expect() {
    local name="$1"
    shift
    if ! "$@"; then
        FAILURES+=("$name")
    fi
}

show_errors() { # show_errors FILE: the tail of a stderr capture, for a command that failed
    if [[ -s "$1" ]]; then
        log "--- last lines of $1:"
        tail -n 25 "$1" >&2
    fi
}

# ---------------------------------------------------------------------------------------------------
T_START="$(now_ms)"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    timed build bash "$ROOT/scripts/docker_build.sh" || die "image build failed"
fi
# A Docker daemon (the private one of docker_build.sh, started again if it is gone).
DOCKER_HOST_VALUE="$(bash "$ROOT/scripts/docker_build.sh" --daemon-only)" || die "no Docker daemon"
if [[ -n "$DOCKER_HOST_VALUE" ]]; then export DOCKER_HOST="$DOCKER_HOST_VALUE"; fi
docker image inspect "$IMAGE" > /dev/null 2>&1 || die "no image $IMAGE (run without SKIP_BUILD=1)"
log "image $IMAGE ($(docker image inspect -f '{{index .Config.Labels "io.airbyte.version"}}' "$IMAGE")), work dir $WORK"

# ---------------------------------------------------------------------------------------------------
# The fake Iterable server.
# Two keys: the server limits export and getUsers calls per key and rolling minute, so the host read,
# which follows the image read at once, would otherwise wait out 429s caused by the first one. Both keys
# see the same data.
API_KEY="e2e-image-$RANDOM$RANDOM"
HOST_API_KEY="e2e-host-$RANDOM$RANDOM"
log "starting the fake Iterable server (export/getUsers limits $RPM a minute per key)"
(cd "$ROOT" && exec "$PY" -m integration_tests.fake_iterable --host 127.0.0.1 --port 0 \
    --port-file "$WORK/port" --api-key "$API_KEY" --api-key "$HOST_API_KEY" "${FAST_JOBS[@]}") \
    > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 150); do
    [[ -s "$WORK/port" ]] && grep -q 'fake-iterable listening on' "$WORK/server.out" && break
    kill -0 "$SERVER_PID" 2> /dev/null || { show_errors "$WORK/server.err"; die "the fake server exited"; }
    sleep 0.2
done
[[ -s "$WORK/port" ]] || { show_errors "$WORK/server.err"; die "the fake server did not start within 30 s"; }
PORT="$(tr -d '[:space:]' < "$WORK/port")"
log "$(cat "$WORK/server.out")"

write_config() { # write_config FILE KEY
    cat > "$1" << EOF
{
  "api_key": "$2",
  "start_date": "2024-01-01T00:00:00Z",
  "window_in_days": 30,
  "base_url": "http://127.0.0.1:$PORT",
  "export_lag_minutes": 0
}
EOF
}
write_config "$WORK/config.json" "$API_KEY"
write_config "$WORK/config-host.json" "$HOST_API_KEY"

DOCKER_RUN=(docker run --rm --network host
    -e "ITERABLE_EXPORT_REQUESTS_PER_MINUTE=$RPM" -e "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE=$RPM"
    -e "ITERABLE_METRICS_REQUESTS_PER_MINUTE=$RPM" -e "ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND=200"
    -e "ITERABLE_EXPORT_JOB_POLL_SECONDS=0.05"
    -v "$WORK:/secrets" "$IMAGE")

# ---------------------------------------------------------------------------------------------------
# The image: spec, check, discover.
if timed spec "${DOCKER_RUN[@]}" spec > "$WORK/spec.jsonl" 2> "$WORK/spec.err"; then
    expect spec "${COMPARE[@]}" expect-spec "$WORK/spec.jsonl"
else
    show_errors "$WORK/spec.err"
    FAILURES+=("spec exit status")
fi

if timed check "${DOCKER_RUN[@]}" check --config /secrets/config.json > "$WORK/check.jsonl" 2> "$WORK/check.err"; then
    expect check "${COMPARE[@]}" expect-check "$WORK/check.jsonl"
else
    show_errors "$WORK/check.err"
    FAILURES+=("check exit status")
fi

timed discover "${DOCKER_RUN[@]}" discover --config /secrets/config.json \
    > "$WORK/discover.jsonl" 2> "$WORK/discover.err" || { show_errors "$WORK/discover.err"; die "discover failed"; }
expect discover "${COMPARE[@]}" expect-streams "$WORK/discover.jsonl" "$EXPECTED_STREAMS"
CATALOG_ARGS=()
if [[ "${E2E_FULL_REFRESH:-0}" == 1 ]]; then CATALOG_ARGS+=(--full-refresh); fi
"${COMPARE[@]}" catalog "$WORK/discover.jsonl" "${CATALOG_ARGS[@]}" > "$WORK/catalog.json" ||
    die "could not build a configured catalog from discover"
log "configured catalog: $("$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))["streams"]
print(", ".join(s["stream"]["name"] + ":" + s["sync_mode"] for s in c))' "$WORK/catalog.json")"

# ---------------------------------------------------------------------------------------------------
# The same read in the image and on the host.
if ! timed read-image "${DOCKER_RUN[@]}" read --config /secrets/config.json --catalog /secrets/catalog.json \
    > "$WORK/read-image.jsonl" 2> "$WORK/read-image.err"; then
    show_errors "$WORK/read-image.err"
    grep '"type": *"TRACE"' "$WORK/read-image.jsonl" | tail -n 5 >&2 || true
    FAILURES+=("image read exit status")
fi
if ! timed read-host "$HOST_CLI" read --config "$WORK/config-host.json" --catalog "$WORK/catalog.json" \
    > "$WORK/read-host.jsonl" 2> "$WORK/read-host.err"; then
    show_errors "$WORK/read-host.err"
    grep '"type": *"TRACE"' "$WORK/read-host.jsonl" | tail -n 5 >&2 || true
    FAILURES+=("host read exit status")
fi

log "records per stream (image vs host):"
expect compare "${COMPARE[@]}" compare "$WORK/read-image.jsonl" "$WORK/read-host.jsonl" --catalog "$WORK/catalog.json"

# ---------------------------------------------------------------------------------------------------
log "durations:"
for line in "${SUMMARY[@]}"; do log "  $line"; done
log "  total          $(fmt_ms $(($(now_ms) - T_START)))"
if ((${#FAILURES[@]})); then
    log "FAILED: ${FAILURES[*]}"
    exit 1
fi
log "PASSED: spec, check, discover ($EXPECTED_STREAMS streams), image read == host read"
