"""CLI: ``python -m integration_tests.fake_iterable --port 8765 [--api-key K ...]``.

Prints exactly one line, ``fake-iterable listening on http://HOST:PORT``, once the socket is bound, and
runs until SIGTERM or SIGINT (then exits 0). The storage host of the export jobs' files listens on another
port (``--storage-port``, default a free one); ``GET /_control/storage`` tells its URL.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from .server import FakeIterable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.fake_iterable", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="server-side key (repeatable; default demo-server-side-key)",
    )
    parser.add_argument(
        "--readonly-key",
        action="append",
        dest="readonly_keys",
        metavar="KEY",
        default=[],
        help="read-only key: JSON resources only; 401 on export and getUsers (repeatable)",
    )
    parser.add_argument(
        "--export-rpm",
        type=float,
        default=None,
        help="data.json calls per rolling minute per key (default $ITERABLE_EXPORT_REQUESTS_PER_MINUTE"
        " or 4; 0 disables)",
    )
    parser.add_argument(
        "--getusers-rpm",
        type=float,
        default=None,
        help="getUsers calls per rolling minute per key (default "
        "$ITERABLE_GETUSERS_REQUESTS_PER_MINUTE or 5; 0 disables)",
    )
    parser.add_argument(
        "--bench-rows",
        type=int,
        default=0,
        help="serve N generated emailSend rows on 2024-01-01 instead of the seeded events",
    )
    jobs = parser.add_argument_group(
        "export jobs",
        "POST /api/export/start and friends; unset values come from FAKE_ITERABLE_JOB_* variables",
    )
    jobs.add_argument(
        "--export-job-rps",
        type=float,
        default=None,
        help="start + files calls per second per organization (default "
        "$ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND or 1; 0 disables)",
    )
    jobs.add_argument(
        "--export-delete-rps",
        type=float,
        default=None,
        help="DELETE /api/export/{jobId} calls per second per project (default "
        "$ITERABLE_EXPORT_JOB_DELETES_PER_SECOND or 1; 0 disables)",
    )
    jobs.add_argument("--job-queue-seconds", type=float, default=None, help="minimum time enqueued (1)")
    jobs.add_argument("--job-base-latency", type=float, default=None, help="seconds before the first row (3)")
    jobs.add_argument("--job-row-seconds", type=float, default=None, help="seconds per row (0.00002)")
    jobs.add_argument("--job-file-bytes", type=int, default=None, help="bytes per file at most (10000000)")
    jobs.add_argument("--job-url-lifetime", type=float, default=None, help="URL lifetime in seconds (1800)")
    jobs.add_argument(
        "--job-truncate-bytes", type=int, default=None, help="bytes per job before exportTruncated (100 GB)"
    )
    jobs.add_argument("--job-max-running", type=int, default=None, help="jobs running at once (4)")
    jobs.add_argument("--job-cancel-seconds", type=float, default=None, help="time spent cancelling (1)")
    jobs.add_argument(
        "--no-jobs-api", action="store_true", help="403 Forbidden on the jobs API for every key (no feature)"
    )
    jobs.add_argument(
        "--jobs-forbidden-key",
        action="append",
        dest="jobs_forbidden_keys",
        metavar="KEY",
        default=[],
        help="server-side key that gets 403 on the jobs API but may use data.json (repeatable)",
    )
    jobs.add_argument("--storage-port", type=int, default=0, help="port of the files' storage host (0: free)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--recent-months",
        type=int,
        default=0,
        help="benchmarks: the seeded events repeated over the last N months",
    )
    parser.add_argument(
        "--extra-lists", type=int, default=0, help="benchmarks: N more lists of 20-200 members"
    )
    parser.add_argument(
        "--project-type",
        choices=("email_based", "hybrid", "userid_based"),
        default="email_based",
        help="the project's type: users carry itblUserId and userListIds, some have no email",
    )
    parser.add_argument(
        "--scaled-lists",
        nargs=3,
        type=int,
        default=None,
        metavar=("USERS", "LISTS", "DYNAMIC"),
        help="benchmarks: USERS generated profiles on LISTS lists, DYNAMIC of them dynamic",
    )
    parser.add_argument("--port-file", default=None, help="write the bound port to this file")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    server = FakeIterable(
        api_keys=args.api_keys,
        readonly_keys=args.readonly_keys,
        export_rpm=args.export_rpm,
        getusers_rpm=args.getusers_rpm,
        bench_rows=args.bench_rows,
        seed=args.seed,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
        export_job_rps=args.export_job_rps,
        export_delete_rps=args.export_delete_rps,
        job_queue_seconds=args.job_queue_seconds,
        job_base_latency=args.job_base_latency,
        job_row_seconds=args.job_row_seconds,
        job_file_bytes=args.job_file_bytes,
        job_url_lifetime=args.job_url_lifetime,
        job_truncate_bytes=args.job_truncate_bytes,
        job_max_running=args.job_max_running,
        job_cancel_seconds=args.job_cancel_seconds,
        jobs_api=not args.no_jobs_api,
        jobs_forbidden_keys=args.jobs_forbidden_keys,
        storage_port=args.storage_port,
        recent_months=args.recent_months,
        extra_lists=args.extra_lists,
        project_type=args.project_type,
        scaled_lists=tuple(args.scaled_lists) if args.scaled_lists else None,
    )
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    if args.port_file:
        temporary = f"{args.port_file}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(f"{server.port}\n")
        os.replace(temporary, args.port_file)  # readers never see a half-written file
    print(f"fake-iterable listening on {server.base_url}", flush=True)
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
