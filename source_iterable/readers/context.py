"""What every stream run of one sync shares: the config, the client, the sync's start time, and
the few decisions made once for all export streams (which export path the key may use)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api.client import IterableClient
from ..api.errors import ApiError
from ..catalog import StreamSpec
from ..config import IterableConfig
from ..records import RecordShaper, Row
from ..transforms import format_rfc3339


@dataclass
class JobsAccess:
    """Whether export jobs may be used; in ``auto`` a key the jobs API refuses falls back to
    data.json for every export stream, once, with one WARN."""

    allowed: bool
    refused: ApiError | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refuse(self, error: ApiError) -> bool:
        """Record a refusal; True for the first one (the one to report)."""
        with self._lock:
            first = self.refused is None
            self.refused = self.refused or error
            self.allowed = False
            return first


@dataclass
class SyncContext:
    config: IterableConfig
    client: IterableClient
    started: datetime  # the sync's start: export windows end before it, list_users' updatedAt is it
    jobs: JobsAccess
    transforms: Mapping[str, Callable[[Row], Any]] = field(default_factory=dict)  # per-stream overrides
    # Per stream, the top-level keys its configured schema declares (what Airbyte keeps of a record).
    declared: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    @property
    def started_text(self) -> str:
        return format_rfc3339(self.started.replace(microsecond=0))

    def transform(self, spec: StreamSpec) -> Callable[[Row], Any]:
        return self.transforms.get(spec.name, spec.transform)

    def shaper(self, spec: StreamSpec) -> RecordShaper:
        """Every record of ``spec`` goes through this: its transform, then undeclared keys folded."""
        return RecordShaper(self.transform(spec), self.declared.get(spec.name))


def describe(stream: str, detail: str = "") -> str:
    return f"stream '{stream}'" + (f", {detail}" if detail else "")
