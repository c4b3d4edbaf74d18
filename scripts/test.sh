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

step "PyAirbyte: load the connector, read all 68 streams into DuckDB, read again incrementally"
bash scripts/run_pyairbyte_e2e.sh
