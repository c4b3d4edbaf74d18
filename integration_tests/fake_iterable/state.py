"""Mutable server state shared by handler threads: keys, rate-limit windows, stats, export rows, jobs."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import orjson

from .bench import BenchEmailSend
from .data import EXPORT_TYPES, Dataset, build_dataset
from .faults import FaultBook
from .jobs import JobBook, JobSettings
from .project_types import with_project_type
from .scale import more_lists, now_seconds, recent_exports
from .scaled_lists import ScaledLists
from .storage import StorageStats, UrlSigner
from .timefmt import parse_datetime

DEFAULT_KEY = "demo-server-side-key"
LOG_LIMIT = 5000
BATCH = 256
# Valid dataTypeName values (SPEC enum) that this project has no data for: they answer an empty 200.
OTHER_TYPES = (
    "hostedUnsubscribeClick",
    "pushSend",
    "pushOpen",
    "pushUninstall",
    "pushBounce",
    "pushSendSkip",
    "inAppSend",
    "inAppOpen",
    "inAppClick",
    "inAppClose",
    "inAppDelete",
    "inAppDelivery",
    "inAppSendSkip",
    "inAppRecall",
    "inboxSession",
    "inboxMessageImpression",
    "smsSend",
    "smsBounce",
    "smsClick",
    "smsReceived",
    "smsSendSkip",
    "webPushSend",
    "webPushClick",
    "webPushSendSkip",
    "rcsSend",
    "rcsSendSkip",
    "purchase",
    "customEvent",
    "smsUsageInfo",
    "embeddedSend",
    "embeddedSendSkip",
    "embeddedClick",
    "embeddedReceived",
    "embeddedImpression",
    "embeddedSession",
    "unknownSession",
    "anonSession",
    "journeyExit",
    "whatsAppBounce",
    "whatsAppClick",
    "whatsAppReceived",
    "whatsAppSeen",
    "whatsAppSend",
    "whatsAppSendSkip",
    "whatsAppUsageInfo",
)

Line = tuple[float, bytes]  # (cursor value in epoch seconds, NDJSON line with its newline)


def rpm_from_env(value: float | None, variable: str, default: float) -> float:
    if value is not None:
        return float(value)
    raw = os.environ.get(variable, "").strip()
    return float(raw) if raw else default


def cursor_field(data_type: str) -> str:
    # Export windows filter users on the profile update time and events on createdAt (fact sheet 4.1).
    return "profileUpdatedAt" if data_type == "user" else "createdAt"


class RollingLimiter:
    """At most N accepted calls per rolling ``period`` (60 s) per bucket key (``limit <= 0`` disables it).

    The bucket is the API key for data.json and getUsers, the organization or the project for export jobs.
    A fractional limit keeps its average rate: 2.5/min allows 2 calls per 48 s, 0.5/min 1 call per 120 s.
    """

    def __init__(self, per_minute: float, period: float = 60.0) -> None:
        self.rate = per_minute  # calls per period (the name is kept from the per-minute limiters)
        self.period = period
        self.per_minute = per_minute * 60.0 / period
        self.capacity = max(1, int(per_minute)) if per_minute > 0 else 0
        self.window = period * self.capacity / per_minute if per_minute > 0 else 0.0
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        if self.capacity == 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.capacity:
                return False
            hits.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)

    def record(
        self,
        path: str,
        query: dict[str, str],
        status: int,
        fault: str | None = None,
        method: str = "GET",
        body: Any = None,
    ) -> None:
        entry: dict[str, Any] = {"path": path, "query": query, "status": status, "t": time.time()}
        if fault:
            entry["fault"] = fault
        if method != "GET":
            entry["method"] = method
        if body is not None:
            entry["body"] = body
        with self._lock:
            self.requests[path] += 1
            self.statuses[str(status)] += 1
            self.log.append(entry)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.requests), "statuses": dict(self.statuses), "log": list(self.log)}

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.log.clear()


def encode_rows(data_type: str, rows: list[dict[str, Any]]) -> list[Line]:
    field = cursor_field(data_type)
    out: list[Line] = []
    for row in rows:
        value = row.get(field)
        stamp = parse_datetime(value) if isinstance(value, str) else None
        if stamp is None:
            raise ValueError(f"row has no parseable {field}: {row!r}")
        out.append((stamp, orjson.dumps(row) + b"\n"))
    return out


def reshape(
    batches: Iterator[list[bytes]],
    data_type: str,
    campaign: str | None,
    only: set[str],
    omit: set[str],
) -> Iterator[list[bytes]]:
    """campaignId / onlyFields / omitFields: re-encode rows (slow path, only when asked for)."""
    if only:
        only = {*only, cursor_field(data_type)}  # createdAt always comes back, even when not asked for
    for batch in batches:
        out = []
        for line in batch:
            row = orjson.loads(line)
            if campaign is not None and str(row.get("campaignId")) != campaign:
                continue
            row = {k: v for k, v in row.items() if (not only or k in only) and k not in omit}
            out.append(orjson.dumps(row) + b"\n")
        yield out


class ServerState:
    def __init__(
        self,
        api_keys: list[str] | None = None,
        readonly_keys: list[str] | None = None,
        export_rpm: float | None = None,
        getusers_rpm: float | None = None,
        bench_rows: int = 0,
        seed: int = 7,
        project_id: int = 2158,
        *,
        export_job_rps: float | None = None,
        export_delete_rps: float | None = None,
        job_settings: JobSettings | None = None,
        jobs_api: bool = True,
        jobs_forbidden_keys: list[str] | None = None,
        recent_months: int = 0,
        extra_lists: int = 0,
        project_type: str = "email_based",
        scaled_lists: tuple[int, int, int] | None = None,
    ) -> None:
        self.api_keys = set(api_keys or [DEFAULT_KEY])
        self.readonly_keys = set(readonly_keys or [])
        self.project_id = project_id
        self.export_limit = RollingLimiter(
            rpm_from_env(export_rpm, "ITERABLE_EXPORT_REQUESTS_PER_MINUTE", 4.0)
        )
        self.getusers_limit = RollingLimiter(
            rpm_from_env(getusers_rpm, "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE", 5.0)
        )
        # Export jobs: start + files share 1/s per organization (the fake has one), DELETE 1/s per project.
        self.job_limit = RollingLimiter(
            rpm_from_env(export_job_rps, "ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND", 1.0), period=1.0
        )
        self.delete_limit = RollingLimiter(
            rpm_from_env(export_delete_rps, "ITERABLE_EXPORT_JOB_DELETES_PER_SECOND", 1.0), period=1.0
        )
        self.organization = "organization"
        self._job_settings = job_settings or JobSettings.resolve()
        self._jobs_api = jobs_api
        self._jobs_forbidden = frozenset(jobs_forbidden_keys or [])
        self.jobs_api = jobs_api  # False: every key gets 403 Forbidden on the jobs API (no such feature)
        self.jobs_forbidden_keys = set(self._jobs_forbidden)  # these keys get 403 there
        self.jobs = JobBook(self._job_settings)
        self.signer = UrlSigner()
        self.storage_stats = StorageStats()
        self.dataset: Dataset = with_project_type(build_dataset(seed), project_type)
        if recent_months > 0:  # benchmarks: the seeded events moved into the last N months
            self.dataset.exports = recent_exports(self.dataset.exports, recent_months, now_seconds())
        if extra_lists > 0:
            more_lists(self.dataset, extra_lists, seed)
        # Benchmarks: (users, lists, dynamic lists) generated in place of the seeded users and lists.
        self.scaled = ScaledLists(*scaled_lists, seed=seed) if scaled_lists else None
        if self.scaled is not None:
            self.dataset.lists, self.dataset.list_members = self.scaled.lists, self.scaled.members
        self.bench = BenchEmailSend(bench_rows, seed) if bench_rows > 0 else None
        self.type_names = {name.lower(): name for name in (*EXPORT_TYPES, *OTHER_TYPES)}
        self.exports = {name: encode_rows(name, rows) for name, rows in self.dataset.exports.items()}
        self.added: dict[str, list[Line]] = {}
        self.faults = FaultBook()
        self.stats = Stats()
        self.stopping = threading.Event()  # wakes sleeping delay/stall faults on shutdown
        self._lock = threading.Lock()

    def add_events(self, data_type: str, rows: list[dict[str, Any]]) -> int:
        canonical = self.type_names.get(data_type.lower())
        if canonical is None:
            raise ValueError(f"unknown dataTypeName {data_type!r}")
        lines = encode_rows(canonical, rows)
        with self._lock:
            self.added.setdefault(canonical, []).extend(lines)
        return len(lines)

    def export_window(
        self, data_type: str, start: float | None, end: float | None
    ) -> tuple[int, Iterator[list[bytes]]]:
        """Rows with ``start <= cursor < end`` (None = unbounded) as (count, batches of lines)."""
        with self._lock:
            added = list(self.added.get(data_type, ()))
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        extra = [line for stamp, line in added if lo <= stamp < hi]
        if self.scaled is not None and data_type == "user":
            return self.scaled.users_window(start, end)
        if self.bench is not None:
            if data_type != "emailSend":
                return len(extra), iter([extra] if extra else [])
            total, batches = self.bench.window(start, end)

            def chained() -> Iterator[list[bytes]]:
                yield from batches
                if extra:
                    yield extra

            return total + len(extra), chained()
        lines = [line for stamp, line in self.exports.get(data_type, ()) if lo <= stamp < hi] + extra
        return len(lines), iter([lines[i : i + BATCH] for i in range(0, len(lines), BATCH)])

    def jobs_refused(self, key: str) -> bool:
        """True when the jobs API answers this (server-side) key 403 Forbidden."""
        return not self.jobs_api or key in self.jobs_forbidden_keys

    def reset(self) -> None:
        """Back to the constructor's configuration: no faults, stats, added rows, jobs or storage log."""
        self.faults.clear()
        self.stats.reset()
        self.export_limit.reset()
        self.getusers_limit.reset()
        self.job_limit.reset()
        self.delete_limit.reset()
        with self._lock:
            self.added.clear()
        self.jobs.reset()
        self.jobs.configure(self._job_settings)
        self.jobs_api = self._jobs_api
        self.jobs_forbidden_keys = set(self._jobs_forbidden)
        self.storage_stats.reset()
