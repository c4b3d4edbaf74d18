"""What every stream shares: its declaration, the client, and (when incremental) a bookmark.

State is one dict per stream, ``{<cursor field>: <RFC 3339 UTC>}``. It is parsed into a datetime
when it arrives and compared as a datetime; a state we cannot parse stops the stream with a
message that says which stream and which value, rather than silently starting over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams import CheckpointMixin, Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .catalog import StreamSpec
from .config import IterableConfig
from .http import IterableClient
from .transforms import format_rfc3339, parse_export_time

LOGGER = logging.getLogger("airbyte")
Now = Callable[[], datetime]


class StateError(AirbyteTracedException):
    def __init__(self, stream: str, problem: str) -> None:
        message = f"Invalid state for stream '{stream}': {problem}. Fix or remove this stream's state to re-sync it."
        super().__init__(message=message, internal_message=message, failure_type=FailureType.config_error)


class IterableStream(Stream):
    """A stream declared by a ``StreamSpec``; subclasses only say how records are read."""

    def __init__(self, spec: StreamSpec, client: IterableClient, config: IterableConfig, now: Now) -> None:
        super().__init__()
        self.spec = spec
        self.client = client
        self.config = config
        self.now = now

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def primary_key(self) -> str | list[str] | None:
        return list(self.spec.primary_key) or None

    @property
    def cursor_field(self) -> str | list[str]:
        return self.spec.cursor or []

    @property
    def supports_incremental(self) -> bool:
        return self.spec.incremental

    def describe(self, detail: str = "") -> str:
        return f"stream '{self.name}'" + (f", {detail}" if detail else "")


class BookmarkedStream(IterableStream, CheckpointMixin):
    """An incremental stream whose state is the datetime it has read up to."""

    def __init__(self, spec: StreamSpec, client: IterableClient, config: IterableConfig, now: Now) -> None:
        super().__init__(spec, client, config, now)
        self.bookmark: datetime | None = None

    @property
    def state(self) -> MutableMapping[str, Any]:
        if self.bookmark is None or self.spec.cursor is None:
            return {}
        return {self.spec.cursor: format_rfc3339(self.bookmark)}

    @state.setter
    def state(self, value: Mapping[str, Any]) -> None:
        self.bookmark = self.parse_state(value)

    def parse_state(self, value: Mapping[str, Any] | None) -> datetime | None:
        if not value:
            return None
        if not isinstance(value, Mapping):
            raise StateError(
                self.name, f"expected an object like {{{self.spec.cursor!r}: '2024-01-31T00:00:00Z'}}"
            )
        raw = value.get(self.spec.cursor or "")
        if raw is None:
            # A state written for another cursor (or by another connector) cannot tell us where we are.
            raise StateError(self.name, f"it has no '{self.spec.cursor}' value (got keys {sorted(value)})")
        moment = parse_export_time(raw) if isinstance(raw, str) else None
        if moment is None:
            raise StateError(self.name, f"'{self.spec.cursor}' is {raw!r}, not an RFC 3339 timestamp")
        return moment

    def lower_bound(self) -> datetime:
        """Where an incremental read starts: the bookmark once there is one, else start_date."""
        return self.bookmark if self.bookmark is not None else self.config.start_date
