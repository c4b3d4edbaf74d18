"""CLI: ``python -m integration_tests.fake_iterable --port 8765 [--api-key K ...]``.

Prints exactly one line, ``fake-iterable listening on http://HOST:PORT``, once the socket is bound, and
runs until SIGTERM or SIGINT (then exits 0).
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
    parser.add_argument("--seed", type=int, default=7)
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
