#!/usr/bin/env bash
# Create .venv-pyairbyte: PyAirbyte (the `airbyte` package) and pytest, apart from the project's .venv.
#
#   bash scripts/pyairbyte_venv.sh
#
# PyAirbyte pins its own versions of pandas, duckdb, SQLAlchemy and friends (about 800 MB, about
# 140 s to install) and supports Python < 3.13 only, so it gets its own venv. Idempotent: when the
# venv already holds these exact versions, nothing is installed.
#
# Environment: PYAIRBYTE_VENV (default <repo>/.venv-pyairbyte), PYAIRBYTE_PYTHON (an interpreter
# 3.10-3.12; default: the first of python3.11, python3.12, python3.10, python3 that is one).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PYAIRBYTE_VENV:-$ROOT/.venv-pyairbyte}"
AIRBYTE_VERSION="0.71.3"
PYTEST_VERSION="9.2.0" # the project's dev pin (pyproject.toml)

log() { printf '%s [pyairbyte_venv] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

supported() { # supported PYTHON: is it Python 3.10-3.12?
    "$1" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)' 2> /dev/null
}

installed() { # the venv holds exactly the pinned versions
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$AIRBYTE_VERSION" "$PYTEST_VERSION" << 'PY' 2> /dev/null
import importlib.metadata as metadata
import sys

try:
    ok = metadata.version("airbyte") == sys.argv[1] and metadata.version("pytest") == sys.argv[2]
except metadata.PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

if installed; then
    log "$VENV already has airbyte==$AIRBYTE_VERSION and pytest==$PYTEST_VERSION"
    exit 0
fi

PYTHON="${PYAIRBYTE_PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    for candidate in python3.11 python3.12 python3.10 python3; do
        if command -v "$candidate" > /dev/null && supported "$candidate"; then
            PYTHON="$candidate"
            break
        fi
    done
fi
[[ -n "$PYTHON" ]] || { log "ERROR: no Python 3.10-3.12 found (PyAirbyte $AIRBYTE_VERSION needs < 3.13); set PYAIRBYTE_PYTHON"; exit 1; }
supported "$PYTHON" || { log "ERROR: $PYTHON is not Python 3.10-3.12"; exit 1; }

start=$SECONDS
if [[ -x "$VENV/bin/python" ]] && supported "$VENV/bin/python"; then
    log "updating the existing $VENV"
else
    rm -rf "$VENV"
    log "creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "airbyte==$AIRBYTE_VERSION" "pytest==$PYTEST_VERSION"
installed || { log "ERROR: the install did not leave airbyte==$AIRBYTE_VERSION and pytest==$PYTEST_VERSION in $VENV"; exit 1; }
log "installed airbyte==$AIRBYTE_VERSION and pytest==$PYTEST_VERSION into $VENV in $((SECONDS - start)) s"
