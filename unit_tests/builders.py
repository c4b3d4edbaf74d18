"""Builders shared by the unit tests: configs, a fake clock, a client and a sync context on it,
NDJSON bodies, Iterable's error bodies, and small drivers for stream runs.

The bodies follow the fact sheet (../shared/iterable-api.md): error envelopes, export rows and
resource payloads as Iterable sends them. Nothing here sleeps for real: the client's backoff and the
limiters' waits advance ``FakeClock``.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from airbyte_cdk.models import AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, SyncMode
from urllib3.exceptions import ProtocolError

from source_iterable.api.budgets import BUDGETS, Limiters
from source_iterable.api.client import HttpSettings, IterableClient
from source_iterable.api.errors import ConnectorError
from source_iterable.api.limiter import Limiter, Waiter
from source_iterable.config import IterableConfig, parse_config
from source_iterable.engine.output import Output
from source_iterable.engine.sync import Sync
from source_iterable.engine.track import ReadAhead
from source_iterable.engine.units import Handshake, StreamRun, Unit, Verdict
from source_iterable.readers import lane_widths
from source_iterable.readers.context import JobsAccess, SyncContext

API_KEY = "0123456789abcdef0123456789abcdef"
BASE_URL = "https://api.iterable.com"
STORAGE = "https://iterable-exports.s3.amazonaws.com"
EXPORT_PATH = "/api/export/data.json"
GET_USERS_PATH = "/api/lists/getUsers"
EXPORT_URL = BASE_URL + EXPORT_PATH
# "Now" of every test that needs one: well after the default start dates below.
NOW = datetime(2024, 3, 10, 12, 0, 0, tzinfo=timezone.utc)
# High enough that the limiters never make a unit test wait.
FAST_RATE = 600_000.0

# The stream names of the other channels' events (issue 11), in the order of the brief.
CHANNEL_STREAMS = (
    "push_send push_send_skip push_open push_uninstall push_bounce web_push_send web_push_click "
    "web_push_send_skip in_app_send in_app_open in_app_click in_app_close in_app_delete in_app_delivery "
    "in_app_send_skip inbox_session inbox_message_impression sms_send sms_bounce sms_click sms_received "
    "sms_send_skip sms_usage_info purchase custom_event hosted_unsubscribe_click in_app_recall rcs_send "
    "rcs_send_skip embedded_send embedded_send_skip embedded_click embedded_received embedded_impression "
    "embedded_session unknown_session journey_exit whatsapp_send whatsapp_send_skip whatsapp_bounce "
    "whatsapp_click whatsapp_received whatsapp_seen whatsapp_usage_info"
).split()

# Error bodies quoted in the fact sheet, section 2.
BAD_API_KEY_BODY = {
    "msg": "Invalid API key",
    "code": "BadApiKey",
    "params": {"ip": "192.184.158.61", "endpoint": "/api/experiments/metrics"},
}
RATE_LIMITED_BODY = {
    "msg": "Exceeded rate limit of 4.0 per minute for endpoint: /api/export/data.json, project: 2158 ",
    "code": "RateLimitExceeded",
    "params": {},
}
GENERIC_ERROR_BODY = {
    "msg": "An error occurred. Please try again later. If problem persists, please contact your CSM",
    "code": "GenericError",
    "params": None,
}
BAD_PARAMS_BODY = {
    "msg": "Template ID: 42 does not exist for this project",
    "code": "BadParams",
    "params": None,
}
NOT_FOUND_BODY = {
    "msg": "No metadata found in table exampletable with key dnuofton",
    "code": "NotFound",
    "params": None,
}


# ------------------------------------------------------------------ configs and time


def config_dict(**overrides: Any) -> dict[str, Any]:
    """A valid raw config starting 2024-03-01; ``None`` as an override removes the field."""
    raw: dict[str, Any] = {"api_key": API_KEY, "start_date": "2024-03-01T00:00:00Z"}
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not None}


def iterable_config(now: datetime = NOW, **overrides: Any) -> IterableConfig:
    """The parsed ``config_dict``: 30-day windows and a 5-minute export lag unless overridden."""
    return parse_config(config_dict(**overrides), now)


def config(**overrides: Any) -> IterableConfig:
    """A config starting 2024-01-01 without export lag (the export jobs and engine tests' default)."""
    raw: dict[str, Any] = {"start_date": "2024-01-01T00:00:00Z", "export_lag_minutes": 0}
    raw.update(overrides)
    return iterable_config(**raw)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


@dataclass
class FakeClock:
    """A monotonic clock that only moves when something sleeps on it; records every sleep."""

    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        self.now += seconds
        return False  # "not stopped"

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        self.sleep(seconds)


# ------------------------------------------------------------------ client and context


def woken_by_notify(condition: threading.Condition, seconds: float) -> None:
    """A limiter wait for tests with worker threads: the answer the waiter waits for wakes it at once
    (``notify_all``). The fake clock's waiter cannot be used there: it never lets go of the lock."""
    condition.wait(seconds)


def limiters(
    clock: FakeClock, rates: Mapping[str, float] | None = None, waiter: Waiter | None = None
) -> Limiters:
    """Every budget on the fake clock: fast (no test waits) unless ``rates`` slows one down."""
    wait = waiter or clock.wait
    return Limiters(
        {b.name: Limiter(b.name, (rates or {}).get(b.name, FAST_RATE), clock, wait) for b in BUDGETS}
    )


def client(
    clock: FakeClock,
    cfg: IterableConfig | None = None,
    rates: Mapping[str, float] | None = None,
    settings: HttpSettings | None = None,
    waiter: Waiter | None = None,
) -> IterableClient:
    """A client whose backoff sleeps and limiter waits are the fake clock's: no test ever waits."""
    cfg = cfg or config()
    return IterableClient(
        cfg.base_url,
        cfg.api_key,
        limiters(clock, rates, waiter),
        settings or HttpSettings(backoff_base=1.0, backoff_cap=4.0),
        clock=clock,
        sleep=clock.sleep,
    )


def context(
    clock: FakeClock,
    cfg: IterableConfig | None = None,
    *,
    started: datetime = NOW,
    settings: HttpSettings | None = None,
    rates: Mapping[str, float] | None = None,
    threaded: bool = False,
    **overrides: Any,
) -> SyncContext:
    """A sync's shared context: ``cfg``, or ``config(**overrides)``. ``threaded`` for runs driven by
    the engine's worker threads (see ``woken_by_notify``)."""
    cfg = cfg or config(**overrides)
    waiter = woken_by_notify if threaded else None
    http = client(clock, cfg, rates, settings, waiter)
    return SyncContext(cfg, http, started, JobsAccess(allowed=cfg.export_api != "sync"))


# ------------------------------------------------------------------ bodies


def ndjson(rows: Iterable[Mapping[str, Any]], trailing_newline: bool = True) -> bytes:
    """An export body: one JSON object per line."""
    body = b"\n".join(orjson.dumps(row) for row in rows)
    return body + b"\n" if body and trailing_newline else body


def event(created: str, **fields: Any) -> dict[str, Any]:
    """An export row as Iterable sends it: ``createdAt`` in the export's own format."""
    return {"email": "jane.doe@example.com", "createdAt": created, **fields}


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a request URL, decoded and with their case kept."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


class CutBody(io.RawIOBase):
    """A raw response body that delivers ``data`` and then breaks like a connection closed mid-body."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = data
        self._sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._sent:
            raise ProtocolError("Connection broken: IncompleteRead(0 bytes read, 512 more expected)")
        self._sent = True
        buffer[: len(self._data)] = self._data
        return len(self._data)


def open_files_in(directory: Path) -> list[str]:
    """The files this process holds open in ``directory``, named or not (an unnamed temporary file
    has no directory entry, but its descriptor still points there until it is closed)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory) + os.sep):
            found.append(target)
    return found


# ------------------------------------------------------------------ driving stream runs


class Notices(list[Any]):
    """A unit's ``notify`` in a test without the engine: every notice in order (a handshake's payload),
    each handshake settled at once with ``accept``, as the main thread would after printing its STATE."""

    def __init__(self, accept: bool = True) -> None:
        super().__init__()
        self.accept = accept

    def __call__(self, notice: Any) -> None:
        if isinstance(notice, Handshake):
            self.append(notice.notice)
            notice.settle(self.accept)
        else:
            self.append(notice)


def lines_of(blocks: Iterable[list[bytes]]) -> list[dict[str, Any]]:
    """The records of a batch's blocks: a reader's record files hold whole RECORD lines (their data
    is the record), a memory batch the records' JSON."""
    found = [orjson.loads(line) for block in blocks for line in block]
    return [m["record"]["data"] if m.get("type") == "RECORD" and "record" in m else m for m in found]


@dataclass
class Driven:
    """What a run produced when its units were fetched one after the other on this thread."""

    records: list[dict[str, Any]] = field(default_factory=list)
    states: list[Mapping[str, Any]] = field(default_factory=list)
    failures: list[tuple[Unit, ConnectorError, Verdict]] = field(default_factory=list)
    final_state: Mapping[str, Any] | None = None
    final_error: ConnectorError | None = None


def drive(run: StreamRun) -> Driven:
    """Fetch every unit of ``run`` in order, as the engine would with one worker: feedback, records,
    the STATE after each unit; a unit whose failure is not a SKIP ends the run there."""
    out = Driven()
    while True:
        run.refill(len(run.ready))
        if not run.ready:
            break
        unit = run.ready.popleft()
        try:
            fetched = unit.fetch(unit)
        except ConnectorError as error:
            verdict = run.failed(unit, error)
            out.failures.append((unit, error, verdict))
            if verdict is Verdict.SKIP:
                run.errors.append(error.message)
                continue
            return out
        run.fetched(unit, fetched)
        try:
            out.records += lines_of(fetched.batch.blocks())
        finally:
            fetched.batch.close()
        checkpoint = run.state_after(unit)
        if checkpoint is not None:
            out.states.append(checkpoint)
    out.final_state = run.final_state()
    out.final_error = run.final_error()
    return out


def messages_of(out: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def run_engine(
    runs: list[StreamRun], ctx: SyncContext, read_ahead: ReadAhead | None = None
) -> tuple[bool, list[dict[str, Any]]]:
    """The engine's main loop over ``runs`` (worker threads per lane), printing into memory."""
    out = io.BytesIO()
    sync = Sync(
        runs,
        lane_widths(ctx),
        Output(out, ctx.client.redact),
        ctx.client.abort,
        read_ahead or ReadAhead(),
        key_proven=lambda: ctx.client.gate.proven,
    )
    ok = sync.run()
    return ok, messages_of(out)


def records_of(found: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"]["data"] for m in found if m["type"] == "RECORD" and m["record"]["stream"] == stream]


def states_of(found: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [
        m["state"]["stream"]["stream_state"]
        for m in found
        if m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream
    ]


def error_traces(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["trace"]["error"] for m in found if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]


def statuses_of(found: list[dict[str, Any]], stream: str) -> list[str]:
    return [
        m["trace"]["stream_status"]["status"]
        for m in found
        if m["type"] == "TRACE"
        and m["trace"]["type"] == "STREAM_STATUS"
        and m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
    ]


def kinds_of(found: list[dict[str, Any]], stream: str) -> list[str]:
    """RECORD / STATE / the statuses of one stream, in print order, runs of RECORD collapsed."""
    out: list[str] = []
    for m in found:
        if m["type"] == "RECORD" and m["record"]["stream"] == stream:
            kind = "RECORD"
        elif m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream:
            kind = "STATE"
        elif (
            m["type"] == "TRACE"
            and m["trace"]["type"] == "STREAM_STATUS"
            and m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
        ):
            kind = m["trace"]["stream_status"]["status"]
        else:
            continue
        if not (kind == "RECORD" and out and out[-1] == "RECORD"):
            out.append(kind)
    return out


def cdk_bad_catalog() -> dict[str, Any]:
    """The catalog of the CDK's test_fail_read_with_bad_catalog and CAT's test_airbyte_trace_message_on_failure."""
    catalog = ConfiguredAirbyteCatalog(
        streams=[
            ConfiguredAirbyteStream(
                stream=AirbyteStream(
                    name="__AIRBYTE__stream_that_does_not_exist",
                    json_schema={"type": "object", "properties": {"f1": {"type": "string"}}},
                    supported_sync_modes=[SyncMode.full_refresh],
                ),
                sync_mode="INVALID",
                destination_sync_mode="INVALID",
            )
        ]
    )
    return orjson.loads(orjson.dumps(asdict(catalog)))  # type: ignore[no-any-return]
