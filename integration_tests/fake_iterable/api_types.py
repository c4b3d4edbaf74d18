"""The request and reply values every endpoint module shares."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

JSON = "application/json; charset=utf-8"


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    host: str
    ip: str
    key: str | None
    method: str = "GET"
    body: bytes = b""  # the request body (POST /api/export/start sends JSON)
    raw_target: str = ""  # the request-target as sent (path and query, still encoded): URI length

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def flat(self) -> dict[str, str]:
        return {name: values[-1] for name, values in self.query.items() if values}


class BadParams(Exception):
    """A request the API rejects with 400 and this ``code`` in the error envelope."""

    code = "BadParams"


class BadJsonBody(BadParams):
    code = "BadJsonBody"


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None  # a job fault the handler applied, for the stats log (never sent)


@dataclass
class Stream:
    """A chunked NDJSON body: ``total`` rows delivered as batches of lines."""

    total: int
    batches: Iterator[list[bytes]]
