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
from integration_tests.harness import configured_catalog

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
        stats: dict[str, Any] = json.loads(response.read())
        return stats


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
    config: dict[str, Any],
    catalog: dict[str, Any],
    env: dict[str, str],
    prefix: list[str] | None = None,
    replace: bool = False,
    keep: Path | None = None,
    state: Any = None,
) -> ReadResult:
    """Run ``source-iterable read`` with stdout into a counting sink; peak RSS from wait4's rusage.
    ``prefix`` goes before the console script (a profiler), or replaces it when ``replace``; ``keep``
    also writes stdout to that file (to compare the records of two runs); ``state`` is passed with
    ``--state``."""
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.json"
        catalog_path = Path(folder) / "catalog.json"
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(catalog))
        command = [
            *(prefix or []),
            *([] if replace else [console_script()]),
            "read",
            "--config",
            str(config_path),
            "--catalog",
            str(catalog_path),
        ]
        if state is not None:
            state_path = Path(folder) / "state.json"
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, **env}, bufsize=0)
        assert process.stdout is not None
        records = states = 0
        carry = b""
        tail = b""
        kept = keep.open("wb") if keep is not None else None
        while chunk := process.stdout.read(1 << 20):
            if kept is not None:
                kept.write(chunk)
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            lines, carry = data[:cut], data[cut:]
            records += lines.count(b'{"type":"RECORD"')
            states += lines.count(b'{"type":"STATE"')
            tail = (tail + lines)[-4000:]
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if kept is not None:
            kept.close()
        return ReadResult(
            records,
            states,
            seconds,
            usage.ru_maxrss / 1024,
            usage.ru_utime + usage.ru_stime,
            os.waitstatus_to_exitcode(status),
            tail,
        )


PEER_SCRIPT = Path(__file__).resolve().parents[2] / "shared" / "peers" / "airbyte-source-iterable.sh"


@dataclass
class PeerResult:
    records: int
    seconds: float
    peak_rss_mb: float
    returncode: int
    by_stream: dict[str, int]


def peer_catalog(base_url: str, config: dict[str, Any], streams: list[str], folder: Path) -> dict[str, Any]:
    """The peer's own discovered catalog, for the given streams (incremental where it can)."""
    (folder / "peer-config.json").write_text(json.dumps(config))
    found = subprocess.run(
        ["bash", str(PEER_SCRIPT), "discover", "--config", str(folder / "peer-config.json")],
        capture_output=True,
        text=True,
        cwd=folder,  # not the repository: its source_iterable package would shadow the peer's
        env={**os.environ, "BASE_URL": base_url},
        check=False,
    )
    catalog = next((json.loads(line) for line in found.stdout.splitlines() if '"CATALOG"' in line), None)
    if catalog is None:
        raise RuntimeError(f"the peer's discover failed: {found.stderr[-2000:]}")
    return configured_catalog(catalog["catalog"]["streams"], "incremental", streams)


def run_peer(
    base_url: str, config: dict[str, Any], streams: list[str], env: dict[str, str] | None = None
) -> PeerResult:
    """Airbyte's published connector (1.0.1) reading the same fake server; stdout into a counting sink."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        catalog = peer_catalog(base_url, config, streams, folder)
        (folder / "peer-catalog.json").write_text(json.dumps(catalog))
        command = ["bash", str(PEER_SCRIPT), "read", "--config", str(folder / "peer-config.json")]
        command += ["--catalog", str(folder / "peer-catalog.json")]
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            cwd=folder,
            env={**os.environ, **(env or {}), "BASE_URL": base_url},
        )
        assert process.stdout is not None
        by_stream: dict[str, int] = {}
        for line in process.stdout:
            if line.startswith((b'{"type":"RECORD"', b'{"type": "RECORD"')):
                stream = json.loads(line)["record"]["stream"]
                by_stream[stream] = by_stream.get(stream, 0) + 1
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        return PeerResult(
            sum(by_stream.values()),
            seconds,
            usage.ru_maxrss / 1024,
            os.waitstatus_to_exitcode(status),
            by_stream,
        )


def records_by_stream(path: Path) -> dict[str, list[bytes]]:
    """The records a kept run printed, per stream, as sorted canonical JSON (emitted_at left out)."""
    found: dict[str, list[bytes]] = {}
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"'):
                record = json.loads(line)["record"]
                found.setdefault(record["stream"], []).append(
                    json.dumps(record["data"], sort_keys=True).encode()
                )
    return {stream: sorted(lines) for stream, lines in found.items()}


def peak_disk(tail: bytes) -> str:
    """The peak temporary disk our connector reports in its last LOG line."""
    import re

    found = re.search(rb"peak temporary disk ([0-9.]+ (?:MB|kB))", tail)
    return found.group(1).decode() if found else "not reported"
