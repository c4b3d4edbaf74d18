"""The ``source-iterable`` console script: the Airbyte protocol on stdout.

``read`` is ours end to end (``source_iterable.read``): it never imports the CDK, whose import alone
takes about 2 s, and it writes protocol lines as bytes into one buffered stdout. ``spec``, ``check``
and ``discover`` go through the CDK's entry point with the ``SourceIterable`` source.

A failure we understand (bad config, unreadable input file, unusable state, an API error) ends as one
Airbyte TRACE message and exit status 1, without a Python traceback and with the API key filtered out.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

from . import protocol
from .api.errors import ConnectorError, FailureType
from .config import ConfigError, parse_config

T = TypeVar("T")


def read_json_file(path: str, option: str) -> Any:
    """A file given on the command line; one that cannot be read or parsed is a config error."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(option, f"file {path} could not be used: {exc}") from None


def read_command(argv: list[str], out: BinaryIO) -> int:
    parser = argparse.ArgumentParser(prog="source-iterable read")
    parser.add_argument("--config", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--state", default=None)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    from .read import read  # the engine; imported here so spec/check/discover do not load it

    # Export rows are short-lived dicts without cycles, freed by reference counting; the collector's
    # passes over everything imported cost about 5% of a million-row window for nothing.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)

    try:
        config = read_json_file(args.config, "--config")
        catalog = read_json_file(args.catalog, "--catalog")
        state = read_json_file(args.state, "--state") if args.state else None
    except ConnectorError as error:
        out.write(trace_line(error))
        out.flush()
        return 1
    return read(config, catalog, state, out, debug=args.debug)


def cdk_messages(argv: list[str]) -> Iterator[bytes]:
    """spec, check and discover through the CDK's entry point; check reports a bad config as a failed
    connection (exit 0), with the trace beside it."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets

    from .source import SourceIterable

    entrypoint = AirbyteEntrypoint(SourceIterable())
    parsed = entrypoint.parse_args(argv)
    if parsed.command in ("check", "discover"):
        try:
            parse_config(read_json_file(parsed.config, "--config"))
        except ConfigError as error:
            if parsed.command != "check":
                raise
            yield trace_line(error)
            status = {"status": "FAILED", "message": error.message}
            yield protocol.dumps_line({"type": "CONNECTION_STATUS", "connectionStatus": status})
            return
    for line in entrypoint.run(parsed):
        yield (filter_secrets(line) + "\n").encode()


def trace_line(error: ConnectorError) -> bytes:
    """The failure as one TRACE message; the traceback stays out of what the user reads."""
    return protocol.error_trace(error.message, error.failure_type)


def protocol_output() -> BinaryIO:
    """A buffered byte stream for stdout that log lines and records share, so they stay in order.

    Under PYTHONUNBUFFERED (set in many container images) stdout has no buffer and every record
    would be its own system call, so one is put in and stdout re-pointed at it.
    """
    sys.stdout.flush()
    binary = sys.stdout.buffer
    if isinstance(binary, io.BufferedWriter) and isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(write_through=True)
        return binary
    buffered = io.BufferedWriter(binary.raw if hasattr(binary, "raw") else binary, buffer_size=1 << 16)
    previous, sys.stdout = sys.stdout, io.TextIOWrapper(buffered, encoding="utf-8", write_through=True)
    for handler in logging.getLogger().handlers + logging.getLogger("airbyte").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is previous:
            handler.setStream(sys.stdout)
    return buffered


def _guarded(out: BinaryIO, body: Callable[[], int]) -> int:
    try:
        return body()
    except ConnectorError as error:
        out.write(trace_line(error))
        out.flush()
        return 1
    except BrokenPipeError:
        # The reader went away (a destination that stopped early); nothing left to tell it.
        os._exit(1)


def run(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else args
    out = protocol_output()
    if argv[:1] == ["read"]:
        sys.exit(_guarded(out, lambda: read_command(argv[1:], out)))

    def other_commands() -> int:
        for line in cdk_messages(argv):
            out.write(line)
            out.flush()
        return 0

    code = _guarded(out, other_commands)
    if code:
        sys.exit(code)


__all__ = ["FailureType", "run"]

if __name__ == "__main__":
    run()
