"""An export query through ``/api/export/data.json``: one request, or a window split in pieces.

A window data.json keeps failing on (cut bodies, bad lines, timeouts, 5xx) is split in halves down to
``split_floor``; its rows are handed on only once every piece is complete. A query without a window
cannot be split.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from ..api.errors import ApiError
from ..api.spool import RecordFile
from ..engine.units import Batch, Fetched, Unit
from ..lookback.window_filter import spooler
from ..records import BlockConvert
from ..windows import DEFAULT_SPLIT_FLOOR, split_window
from .context import SyncContext, describe
from .export_query import ExportQuery

LOGGER = logging.getLogger("airbyte")
# Attempts at one window before it is split: enough to ride out a blip, few enough that a window
# Iterable cannot serve in one piece is split while the budget of 4 requests a minute lasts.
ATTEMPTS_BEFORE_SPLIT = 3


def read_data_json(
    ctx: SyncContext,
    path: str,
    query: ExportQuery,
    convert: BlockConvert,
    unit: Unit,
    split_floor: timedelta = DEFAULT_SPLIT_FLOOR,
) -> Fetched:
    """Every row ``query`` asks for on disk through data.json, in one piece or several; all or nothing.

    A window data.json keeps failing on (cut bodies, bad lines, timeouts, 5xx) is split in halves
    down to ``split_floor``; a query without a window cannot be split and fails as it is.
    """
    pieces: list[RecordFile] = []
    try:
        body_bytes = _download_into(ctx, path, query, convert, unit, pieces, split_floor)
    except BaseException:
        for piece in pieces:
            piece.close()
        raise
    batch = Batch(files=pieces)
    return Fetched(batch, rows=batch.count, body_bytes=body_bytes, pieces=len(pieces))


def _download_into(
    ctx: SyncContext,
    path: str,
    query: ExportQuery,
    convert: BlockConvert,
    unit: Unit,
    pieces: list[RecordFile],
    split_floor: timedelta,
) -> int:
    what = describe(query.stream, query.label)
    try:
        body = ctx.client.request(
            path,
            query.data_json_params(),
            spooler(convert, unit.progress, query.stream),
            what=what,
            stream=True,
            max_attempts=ATTEMPTS_BEFORE_SPLIT if query.window is not None else None,
        )
    except ApiError as error:
        # Only a window too big to serve is helped by asking for less; a refused key or a
        # spent rate budget is not.
        if not error.transient or error.status == 429 or query.window is None:
            raise
        halves = split_window(query.window, split_floor)
        if halves is None:
            # error.message already names the stream and this smallest piece.
            raise ApiError(
                f"{error.message} (this piece of {query.window.width} is the smallest window we split to: "
                f"a window is not split below {split_floor})",
                error.failure_type,
                error.status,
                True,
                error.path,
                error.budget,
            ) from None
        LOGGER.warning(f"{what}: splitting into {halves[0]} and {halves[1]}")
        return sum(
            _download_into(ctx, path, query.within(half), convert, unit, pieces, split_floor)
            for half in halves
        )
    assert body is not None
    pieces.append(body)
    return body.source_bytes
