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

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def flat(self) -> dict[str, str]:
        return {name: values[-1] for name, values in self.query.items() if values}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A chunked NDJSON body: ``total`` rows delivered as batches of lines."""

    total: int
    batches: Iterator[list[bytes]]
