#!/usr/bin/env bash
# Set up, then run spec, check, discover and a read of all 68 streams against the bundled fake Iterable.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
exec .venv/bin/python scripts/demo.py "$@"
