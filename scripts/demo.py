"""The connector's main job end to end on the bundled fake Iterable: spec, check, discover, read.

    .venv/bin/python scripts/demo.py            (scripts/demo.sh sets up the venv first)

Starts the fake server, runs the real ``source-iterable`` console script for each command, keeps
every output under ``.demo/`` and prints records per stream and the final state. The fake server's
limits and the connector's pace are raised together (ITERABLE_EXPORT_REQUESTS_PER_MINUTE and the
export jobs' ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND), and the fake's export jobs finish in a fraction
of a second, so this backfill of every stream since 2024 takes seconds instead of tens of minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from integration_tests.fake_iterable.process import fake_server_process, job_args  # noqa: E402

DEMO_KEY = "demo-server-side-key"
PACE = {
    "ITERABLE_EXPORT_REQUESTS_PER_MINUTE": "6000",
    "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE": "600",
    "ITERABLE_METRICS_REQUESTS_PER_MINUTE": "600",
    "ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND": "100",
    "ITERABLE_EXPORT_JOB_POLL_SECONDS": "0.1",
}
FAST_JOBS = job_args(queue_seconds=0.05, base_latency=0.2, row_seconds=0.0, cancel_seconds=0.1)
OUT = REPO / ".demo"


def connector(*args: str) -> list[dict[str, Any]]:
    """Run the console script, save its stdout, and return the protocol messages."""
    command = [str(Path(sys.executable).parent / "source-iterable"), *args]
    completed = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **PACE}, check=False
    )
    (OUT / f"{args[0]}.jsonl").write_text(completed.stdout)
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0:
        errors = [
            m["trace"]["error"]["message"] for m in messages if m["type"] == "TRACE" and "error" in m["trace"]
        ]
        raise SystemExit(
            f"source-iterable {args[0]} failed (exit {completed.returncode}): {errors or completed.stderr}"
        )
    return messages


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with fake_server_process("--api-key", DEMO_KEY, *FAST_JOBS, env=PACE) as base_url:
        config = {
            "api_key": DEMO_KEY,
            "start_date": "2024-01-01T00:00:00Z",
            "window_in_days": 30,
            "base_url": base_url,
        }
        (OUT / "config.json").write_text(json.dumps(config, indent=2))
        config_path = str(OUT / "config.json")
        print(f"fake Iterable at {base_url}; outputs in {OUT}")

        spec = connector("spec")
        fields = sorted(
            next(m for m in spec if m["type"] == "SPEC")["spec"]["connectionSpecification"]["properties"]
        )
        print(f"spec      config fields: {', '.join(fields)}")

        check = connector("check", "--config", config_path)
        print(
            f"check     {next(m for m in check if m['type'] == 'CONNECTION_STATUS')['connectionStatus']['status']}"
        )

        streams = next(m for m in connector("discover", "--config", config_path) if m["type"] == "CATALOG")
        streams = streams["catalog"]["streams"]
        print(f"discover  {len(streams)} streams")
        catalog = {
            "streams": [
                {
                    "stream": s,
                    "sync_mode": "incremental"
                    if "incremental" in s["supported_sync_modes"]
                    else "full_refresh",
                    "destination_sync_mode": "append",
                    **(
                        {"cursor_field": s["default_cursor_field"]}
                        if "incremental" in s["supported_sync_modes"]
                        else {}
                    ),
                }
                for s in streams
            ]
        }
        (OUT / "catalog.json").write_text(json.dumps(catalog, indent=2))

        read = connector("read", "--config", config_path, "--catalog", str(OUT / "catalog.json"))
    counts = Counter(m["record"]["stream"] for m in read if m["type"] == "RECORD")
    final: dict[str, Any] = {}
    for message in read:
        if message["type"] == "STATE":
            stream = message["state"]["stream"]
            final[stream["stream_descriptor"]["name"]] = stream.get("stream_state")
    state = [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": n}, "stream_state": s}}
        for n, s in final.items()
    ]
    (OUT / "state.json").write_text(json.dumps(state, indent=2))
    print("read      records per stream, and the state a next sync starts from:")
    for stream in sorted(s["name"] for s in streams):
        print(f"  {stream:18s} {counts.get(stream, 0):6d}   {json.dumps(final.get(stream) or {})}")
    print(f"  {'total':18s} {sum(counts.values()):6d}")
    print(
        f"next sync: .venv/bin/source-iterable read --config {OUT}/config.json --catalog {OUT}/catalog.json "
        f"--state {OUT}/state.json"
    )


if __name__ == "__main__":
    main()
