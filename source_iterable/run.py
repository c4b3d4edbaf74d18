"""The ``source-iterable`` console script: the Airbyte protocol on stdout.

It is the CDK's entry point with two changes that matter in production:
- RECORD messages are serialised straight to bytes with orjson and written through one buffer.
  The CDK's generic serialiser costs about as much per row as everything else we do together, and
  an export can hold millions of rows. Every other message still goes through the CDK's serialiser.
- A known failure (bad config, unusable state, an API error) ends as one Airbyte TRACE message and
  exit status 1, without a Python traceback and with the API key filtered out.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteConnectionStatus, AirbyteMessage, Status, Type
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .config import ConfigError, parse_config
from .source import SourceIterable

T = TypeVar("T")


def record_bytes(message: AirbyteMessage) -> bytes:
    """One protocol line for a RECORD message, the same JSON the CDK would write."""
    record = message.record
    assert record is not None
    envelope = {"stream": record.stream, "data": record.data, "emitted_at": record.emitted_at}
    if record.namespace is not None:
        envelope["namespace"] = record.namespace
    return orjson.dumps({"type": "RECORD", "record": envelope}, option=orjson.OPT_APPEND_NEWLINE)


def message_bytes(message: AirbyteMessage) -> bytes:
    if message.type is Type.RECORD:
        try:
            return record_bytes(message)
        except TypeError:
            pass  # a value orjson cannot encode: let the CDK's serialiser and its fallback handle it
    return (filter_secrets(AirbyteEntrypoint.airbyte_message_to_string(message)) + "\n").encode()


class IterableEntrypoint(AirbyteEntrypoint):
    def messages(self, parsed_args: argparse.Namespace) -> Iterator[bytes]:
        """Protocol lines as bytes: ``read`` on the fast path, the other commands as the CDK writes them."""
        if parsed_args.command in ("check", "discover", "read"):
            try:
                parse_config(read_input(self.source.read_config, parsed_args.config, "--config"))
            except ConfigError as error:
                if parsed_args.command != "check":
                    raise
                # check reports a bad config as a failed connection (exit 0), with the trace beside it.
                yield trace_line(error)
                yield message_bytes(
                    AirbyteMessage(
                        type=Type.CONNECTION_STATUS,
                        connectionStatus=AirbyteConnectionStatus(status=Status.FAILED, message=error.message),
                    )
                )
                return
        if parsed_args.command != "read":
            for line in self.run(parsed_args):
                yield (line + "\n").encode()
            return
        level = logging.DEBUG if getattr(parsed_args, "debug", False) else logging.INFO
        for logger in (self.logger, logging.getLogger("airbyte")):
            logger.setLevel(level)
        source_spec = self.source.spec(self.logger)
        # Unlike the CDK's run(), no scratch directory and no copy of the config in it: the directory
        # only serves the CDK's request cache, which we do not use, and a SIGKILLed sync would leave
        # it behind with the API key inside.
        try:
            config = read_input(self.source.read_config, parsed_args.config, "--config")
            catalog = read_input(self.source.read_catalog, parsed_args.catalog, "--catalog")
            state = read_input(self.source.read_state, parsed_args.state, "--state")
            yield from map(message_bytes, self.read(source_spec, config, catalog, state))
        finally:
            yield from map(message_bytes, self._emit_queued_messages(self.source))


def read_input(reader: Callable[[str], T], path: str, option: str) -> T:
    """A file given on the command line; one that cannot be read or parsed is a config error."""
    try:
        return reader(path)
    except Exception as exc:
        # The CDK's own message says which file and why; its traceback helps nobody fix a file.
        detail = str(exc).split("\nTraceback", 1)[0].strip()
        raise ConfigError(option, f"file {path} could not be used: {detail}") from None


def write_protocol(lines: Iterable[bytes], out: BinaryIO) -> None:
    """Write lines as they come; flush after every non-record line so a checkpoint is never held back."""
    for line in lines:
        out.write(line)
        if not line.startswith(b'{"type":"RECORD"'):
            out.flush()
    out.flush()


def trace_line(error: AirbyteTracedException) -> bytes:
    """The failure as one TRACE message; the traceback stays out of what the user reads."""
    message = error.as_sanitized_airbyte_message()
    if message.trace is not None and message.trace.error is not None:
        message.trace.error.stack_trace = None
    return message_bytes(message)


def protocol_output() -> BinaryIO:
    """A buffered byte stream for stdout that log lines and records share, so they stay in order.

    Records are written as bytes to the buffer under ``sys.stdout``; log lines go through the text
    layer, made write-through so they land in the same buffer in sequence. Under PYTHONUNBUFFERED
    (set in many container images) that buffer does not exist and every record would be its own
    system call, so one is put in and stdout re-pointed at it.
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


def run(args: list[str] | None = None) -> None:
    out = protocol_output()
    entrypoint = IterableEntrypoint(SourceIterable())
    parsed_args = entrypoint.parse_args(sys.argv[1:] if args is None else args)
    try:
        write_protocol(entrypoint.messages(parsed_args), out)
    except AirbyteTracedException as error:
        out.write(trace_line(error))
        out.flush()
        sys.exit(1)
    except BrokenPipeError:
        # The reader went away (a destination that stopped early); nothing left to tell it.
        os._exit(1)


if __name__ == "__main__":
    run()
