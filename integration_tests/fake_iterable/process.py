"""Run the fake server in its own process (demo, benchmarks, Docker and PyAirbyte checks)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def fake_server_process(
    *args: str, env: dict[str, str] | None = None, python: str | None = None
) -> Iterator[str]:
    """Start ``python -m integration_tests.fake_iterable --port 0 ARGS``; yield its base URL; stop it."""
    with tempfile.TemporaryDirectory() as folder:
        port_file = Path(folder) / "port"
        process = subprocess.Popen(
            [
                python or sys.executable,
                "-m",
                "integration_tests.fake_iterable",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                *args,
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        try:
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fake Iterable server did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text().strip()}"
        finally:
            process.terminate()
            process.wait(timeout=10)
