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
JOB_FLAGS = {
    "export_job_rps": "--export-job-rps",
    "export_delete_rps": "--export-delete-rps",
    "queue_seconds": "--job-queue-seconds",
    "base_latency": "--job-base-latency",
    "row_seconds": "--job-row-seconds",
    "file_bytes": "--job-file-bytes",
    "url_lifetime": "--job-url-lifetime",
    "truncate_bytes": "--job-truncate-bytes",
    "max_running": "--job-max-running",
    "cancel_seconds": "--job-cancel-seconds",
    "storage_port": "--storage-port",
}


def job_args(
    *, jobs_api: bool = True, jobs_forbidden_keys: list[str] | None = None, **settings: float | int
) -> list[str]:
    """CLI flags of the export jobs API, e.g. ``job_args(base_latency=0.2, file_bytes=16384)``, for
    ``fake_server_process(*job_args(...))``. Keys: those of ``JOB_FLAGS``."""
    unknown = set(settings) - set(JOB_FLAGS)
    if unknown:
        raise ValueError(f"unknown job settings: {', '.join(sorted(unknown))}")
    args = [item for name, value in settings.items() for item in (JOB_FLAGS[name], str(value))]
    args += [] if jobs_api else ["--no-jobs-api"]
    for key in jobs_forbidden_keys or []:
        args += ["--jobs-forbidden-key", key]
    return args


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
