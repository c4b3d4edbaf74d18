"""users: an export stream whose primary key depends on the project type.

In hybrid and userID-based projects users is keyed on ``itblUserId`` (``catalog.py``). Estuary keys on
it in production, so export rows are expected to carry it, but no recorded row of such a project shows
it: whether every row has it is UNCONFIRMED. A row without its key (absent or null) is emitted as Iterable
sent it, nothing is dropped, and counted; the stream ends with one WARN naming the count, because a
deduplicating destination cannot key such a row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from ...engine.units import Unit
from ...records import BlockConvert, Row
from ..exports import ExportRun

LOGGER = logging.getLogger("airbyte")


class KeyTally:
    """Rows seen and rows without every field of ``key``, counted by the workers that convert them.

    A download retried after a cut body converts its rows again, so after a retry the figures count
    those rows twice: they are a warning's figures, not the records emitted.
    """

    def __init__(self, key: tuple[str, ...]) -> None:
        self.key = key
        self.rows = 0
        self.missing = 0
        self._lock = threading.Lock()

    def count(self, rows: list[Row]) -> None:
        key = self.key
        missing = sum(1 for row in rows if any(row.get(field) is None for field in key))
        with self._lock:
            self.rows += len(rows)
            self.missing += missing


def missing_key_warning(stream: str, tally: KeyTally, project_type: str) -> str | None:
    """One line for the end of the stream, or None when every row had its key."""
    if not tally.missing:
        return None
    key = ", ".join(tally.key)
    text = (
        f"stream '{stream}': {tally.missing} of {tally.rows} rows had no '{key}', the primary key of "
        f"{stream} in a {project_type} project; they were emitted as Iterable sent them, but a "
        "deduplicating destination cannot key them"
    )
    if tally.missing < tally.rows:
        return text
    other = "hybrid or userid_based" if project_type == "email_based" else "email_based"
    return (
        f"{text}. No row carried it: if the project's type is {other}, set project_type to it; otherwise "
        f"Iterable's export does not include '{key}' here, so sync {stream} in an append mode"
    )


class UsersRun(ExportRun):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tally = KeyTally(self.spec.key_for(self.ctx.config.project_type))

    def block_convert(self, unit: Unit) -> BlockConvert:
        convert, tally = super().block_convert(unit), self.tally

        def counted(rows: list[Row]) -> list[bytes]:
            tally.count(rows)
            return convert(rows)

        return counted

    def final_state(self) -> Mapping[str, Any] | None:
        warning = missing_key_warning(self.name, self.tally, self.ctx.config.project_type)
        if warning is not None:
            LOGGER.warning(warning)
        return super().final_state()
