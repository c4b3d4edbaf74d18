#!/usr/bin/env bash
# The whole test suite, from nothing: venv, lint and types, unit + integration + the CDK's standard
# acceptance tests (fake Iterable started by the tests), then the Docker image and PyAirbyte checks.
#   scripts/test.sh            everything (about 20 minutes on 2 cores; Docker and PyAirbyte need root + apt)
#   scripts/test.sh --python   only the Python suites (no Docker image, no PyAirbyte)
set -euo pipefail
cd "$(dirname "$0")/.."
only_python=0
[ "${1:-}" = "--python" ] && only_python=1

step() { printf '\n==> %s\n' "$*"; }

# scripts/docker_build.sh may start a private dockerd (pid file /run/<socket name>.pid) that outlives it,
# so later builds can reuse it. This run stops the one it started, and only that one, when it ends; a
# daemon that was already running before stays.
DOCKER_SOCK="${SI_DOCKER_SOCK:-/run/si-docker.sock}"
DOCKERD_PIDFILE="/run/$(basename "$DOCKER_SOCK" .sock).pid"
is_dockerd() { [[ -n "$1" ]] && kill -0 "$1" 2> /dev/null && [[ "$(cat "/proc/$1/comm" 2> /dev/null)" == dockerd ]]; }
DOCKERD_BEFORE="$(cat "$DOCKERD_PIDFILE" 2> /dev/null || true)"
is_dockerd "$DOCKERD_BEFORE" || DOCKERD_BEFORE=""
stop_own_dockerd() {
  local pid
  pid="$(cat "$DOCKERD_PIDFILE" 2> /dev/null || true)"
  if [[ "$pid" != "$DOCKERD_BEFORE" ]] && is_dockerd "$pid"; then
    echo "stopping the dockerd this run started (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || return 0; sleep 1; done
    echo "dockerd (pid $pid) still running after 30 s" >&2
  fi
}
trap stop_own_dockerd EXIT

step "virtualenv and dependencies"
bash scripts/setup_venv.sh

step "ruff and mypy"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy source_iterable unit_tests integration_tests bench

step "unit, integration and CDK standard acceptance tests (fake Iterable on 127.0.0.1)"
.venv/bin/python -m pytest unit_tests integration_tests \
  -p airbyte_cdk.test.standard_tests.pytest_hooks -m "not image_tests" -p no:cacheprovider -q

if [ "$only_python" = 1 ]; then
  exit 0
fi

step "Docker image: build without a registry, then spec/check/discover/read against the fake server"
bash scripts/docker_e2e.sh

step "PyAirbyte: load the connector, read every stream into DuckDB, read again incrementally"
bash scripts/run_pyairbyte_e2e.sh
