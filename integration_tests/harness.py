"""Drive the real ``source-iterable`` console script and read what it wrote on stdout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_tests.fake_iterable import FakeIterable

# A distinctive key: every test asserts it never shows up in anything the connector prints.
TEST_API_KEY = "itbl-SECRET-7f3c9a1e5b2d4f60a8c7e9d1b3f5a7c9"
FAST_PACE = "6000"
FAST_JOB_PACE = "200"  # export jobs calls per second (the real budget is 1)
# The fake's export jobs, shortened for tests: a few hundred milliseconds each, small files so a
# window spans several of them.
FAST_JOBS: dict[str, Any] = {
    "job_queue_seconds": 0.02,
    "job_base_latency": 0.1,
    "job_row_seconds": 0.0,
    "job_file_bytes": 16_384,
    "job_cancel_seconds": 0.05,
    "export_job_rps": float(FAST_JOB_PACE),
    "export_delete_rps": float(FAST_JOB_PACE),
}


def fast_fake(**overrides: Any) -> FakeIterable:
    """The fake with the test key, at the pace the tests raise the connector's budgets to."""
    settings: dict[str, Any] = {
        "api_keys": [TEST_API_KEY],
        "export_rpm": float(FAST_PACE),
        "getusers_rpm": float(FAST_PACE),
        **FAST_JOBS,
    }
    return FakeIterable(**{**settings, **overrides})


def requests_to(server: FakeIterable, path: str, data_type: str | None = None) -> list[dict[str, Any]]:
    """The fake's log of calls to one path, of one export data type when given."""
    found = []
    for entry in server.stats()["log"]:
        if entry["path"] != path:
            continue
        named = (entry.get("body") or {}).get("dataTypeName") or entry["query"].get("dataTypeName")
        if data_type is None or (named or "").lower() == data_type.lower():
            found.append(entry)
    return found


def console_script() -> str:
    """The installed entry point next to this interpreter (the venv the tests run in)."""
    candidate = Path(sys.executable).parent / "source-iterable"
    found = str(candidate) if candidate.exists() else shutil.which("source-iterable")
    if not found:
        raise RuntimeError("the source-iterable console script is not installed (pip install -e .)")
    return found


def connector_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ITERABLE_EXPORT_REQUESTS_PER_MINUTE": FAST_PACE,
            "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE": FAST_PACE,
            "ITERABLE_METRICS_REQUESTS_PER_MINUTE": FAST_PACE,
            "ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND": FAST_JOB_PACE,
            "ITERABLE_EXPORT_JOB_POLL_SECONDS": "0.05",
            # Faults are injected on purpose; keep their retries short.
            "ITERABLE_BACKOFF_BASE_SECONDS": "0.05",
            "ITERABLE_BACKOFF_CAP_SECONDS": "0.5",
        }
    )
    env.update(overrides)
    return env


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, returncode: int, stdout: str, stderr: str) -> Run:
        messages = []
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                messages.append(json.loads(line))
        return cls(returncode, stdout, stderr, messages)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            m["record"]["data"]
            for m in self.of_type("RECORD")
            if stream is None or m["record"]["stream"] == stream
        ]

    def records_by_stream(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for m in self.of_type("RECORD"):
            out[m["record"]["stream"]].append(m["record"]["data"])
        return out

    def counts(self) -> Counter[str]:
        return Counter(m["record"]["stream"] for m in self.of_type("RECORD"))

    def states(self, stream: str | None = None) -> list[dict[str, Any]]:
        out = []
        for m in self.of_type("STATE"):
            desc = m["state"].get("stream", {})
            if stream is None or desc.get("stream_descriptor", {}).get("name") == stream:
                out.append(m["state"])
        return out

    def last_states(self) -> list[dict[str, Any]]:
        """The newest STATE per stream, in the form `read --state` takes."""
        latest: dict[str, dict[str, Any]] = {}
        for state in self.states():
            name = state["stream"]["stream_descriptor"]["name"]
            latest[name] = {"type": "STREAM", "stream": state["stream"]}
        return list(latest.values())

    def stream_state(self, stream: str) -> dict[str, Any] | None:
        states = self.states(stream)
        return states[-1]["stream"].get("stream_state") if states else None

    def traces(self) -> list[dict[str, Any]]:
        return [m["trace"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]

    def statuses(self, stream: str) -> list[str]:
        return [
            m["trace"]["stream_status"]["status"]
            for m in self.of_type("TRACE")
            if m["trace"]["type"] == "STREAM_STATUS"
            and m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
        ]

    def connection_status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.of_type("CONNECTION_STATUS")[-1]["connectionStatus"]
        return status

    @property
    def all_output(self) -> str:
        return self.stdout + self.stderr


class Connector:
    """Writes config/catalog/state files into a folder and runs the console script on them."""

    def __init__(self, folder: Path, env: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = dict(env or connector_env())
        self._files = 0

    def write(self, name: str, content: Any) -> Path:
        self._files += 1
        path = self.folder / f"{self._files:03d}-{name}"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def command(self, command: str, config: Any = None, catalog: Any = None, state: Any = None) -> list[str]:
        args = [console_script(), command]
        if config is not None:
            args += ["--config", str(self.write("config.json", config))]
        if catalog is not None:
            args += ["--catalog", str(self.write("catalog.json", catalog))]
        if state is not None:
            args += ["--state", str(self.write("state.json", state))]
        return args

    def run(
        self, command: str, config: Any = None, catalog: Any = None, state: Any = None, timeout: float = 300
    ) -> Run:
        completed = subprocess.run(
            self.command(command, config, catalog, state),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Run.parse(completed.returncode, completed.stdout, completed.stderr)

    def start(
        self, command: str, config: Any = None, catalog: Any = None, state: Any = None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(command, config, catalog, state),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )


def kill(process: subprocess.Popen[str], already_read: str = "") -> Run:
    """SIGKILL the process; its output is what was read before plus whatever was still in the pipe."""
    process.send_signal(signal.SIGKILL)
    # Through the file objects the caller read lines from: in text mode they read ahead in chunks, and
    # what they hold is output too (communicate() reads the raw pipes and would lose it, a few KB of
    # records from the middle of the output, once in a few runs).
    rest = process.stdout.read() if process.stdout is not None else ""
    stderr = process.stderr.read() if process.stderr is not None else ""
    process.wait(timeout=30)
    stdout = already_read + rest
    # A line cut by the kill is not a message the platform would have read either.
    complete = stdout if stdout.endswith("\n") else stdout[: stdout.rfind("\n") + 1]
    return Run.parse(process.returncode, complete, stderr)


def make_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_key": TEST_API_KEY,
        "start_date": "2024-01-01T00:00:00Z",
        "window_in_days": 30,
        "base_url": base_url,
        "export_lag_minutes": 0,
        # data.json unless a test asks for export jobs: the generic tests compare against the dataset
        # one request a window; tests of the jobs path set "auto" or "async".
        "export_api": "sync",
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def configured_catalog(
    discovered: Iterable[Mapping[str, Any]], mode: str, streams: Iterable[str] | None = None
) -> dict[str, Any]:
    """A configured catalog from discover's streams: incremental where supported when mode says so."""
    wanted = set(streams) if streams is not None else None
    configured = []
    for stream in discovered:
        if wanted is not None and stream["name"] not in wanted:
            continue
        incremental = mode == "incremental" and "incremental" in stream["supported_sync_modes"]
        entry: dict[str, Any] = {
            "stream": stream,
            "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append",
        }
        if incremental:
            entry["cursor_field"] = stream.get("default_cursor_field", [])
        if stream.get("source_defined_primary_key"):
            entry["primary_key"] = stream["source_defined_primary_key"]
        configured.append(entry)
    return {"streams": configured}
