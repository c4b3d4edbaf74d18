"""Shared pieces of the benchmarks: the fake server as a process, the connector as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration_tests.fake_iterable.process import fake_server_process

BENCH_KEY = "bench-server-side-key"


def console_script() -> str:
    return str(Path(sys.executable).parent / "source-iterable")


@contextmanager
def fake_server(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """The fake server in its own process, so its CPU and memory are not the connector's."""
    with fake_server_process("--api-key", BENCH_KEY, *args, env=env) as base_url:
        yield base_url


def server_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_control/stats", timeout=10) as response:
        return json.loads(response.read())


def catalog_for(streams: list[str], cursor: dict[str, str]) -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": True,
                    "default_cursor_field": [cursor[name]],
                },
                "sync_mode": "incremental",
                "cursor_field": [cursor[name]],
                "destination_sync_mode": "append",
            }
            for name in streams
        ]
    }


@dataclass
class ReadResult:
    records: int
    states: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    returncode: int
    tail: bytes


def run_read(
    config: dict[str, Any], catalog: dict[str, Any], env: dict[str, str], prefix: list[str] | None = None
) -> ReadResult:
    """Run ``source-iterable read`` with stdout into a counting sink; peak RSS from wait4's rusage."""
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.json"
        catalog_path = Path(folder) / "catalog.json"
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(catalog))
        command = [
            *(prefix or []),
            console_script(),
            "read",
            "--config",
            str(config_path),
            "--catalog",
            str(catalog_path),
        ]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, **env}, bufsize=0)
        assert process.stdout is not None
        records = states = 0
        carry = b""
        tail = b""
        while chunk := process.stdout.read(1 << 20):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            lines, carry = data[:cut], data[cut:]
            records += lines.count(b'{"type":"RECORD"')
            states += lines.count(b'{"type":"STATE"')
            tail = (tail + lines)[-4000:]
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        return ReadResult(
            records,
            states,
            seconds,
            usage.ru_maxrss / 1024,
            usage.ru_utime + usage.ru_stime,
            os.waitstatus_to_exitcode(status),
            tail,
        )
