"""Pure: a CSV metrics body (``/api/campaigns/metrics``, ``/api/experiments/metrics``) to typed records.

Both endpoints answer CSV whose columns are named for humans (``Total Email Sends``, ``Revenue / M``):
each title becomes a stable camelCase key (``column_key``) and each cell a number, except the
columns an endpoint's ``CsvLayout`` names as its keys, texts or times. No I/O here; facts behind the
rules are in ``docs/api-campaigns-metrics.md``:
- numbers come as ``57``, ``0.0``, ``16.0`` or ``.25``; a cell is blank when a metric does not apply;
- experiments' ``Improvement`` and ``Confidence`` hold ``N/A`` and ``NaN`` in real answers (a control
  has no improvement; a young experiment no confidence).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ...transforms import date_to_rfc3339
from .batches import END_KEY, START_KEY, DateRange

UNPARSED_KEY = "_unparsedValues"  # record key -> original text of a cell that is not a number


class MetricsBodyError(ValueError):
    """A 200 whose body is not the metrics CSV (HTML page, JSON error, plain-text message).

    A reader should treat it as an unusable body (retry, like ``BodyError``): nothing was parsed.
    """


@dataclass(frozen=True)
class CsvLayout:
    """What one endpoint's columns are, by record key (after ``column_key``); every other column is a
    metric, typed as a number."""

    what: str  # "campaign metrics": how messages name the endpoint
    keys: tuple[str, ...]  # positive integers every record must have (its primary key)
    integers: frozenset[str] = frozenset()  # other integer ids, kept when they parse
    texts: frozenset[str] = frozenset()  # kept as the cell's text
    times: frozenset[str] = frozenset()  # ISO date-times, emitted as RFC 3339 UTC
    # Cell texts meaning "no value" for this endpoint, in lower case (cells are compared case-folded):
    # the key is left out, as for a blank cell, without a warning.
    no_value: frozenset[str] = frozenset()


# ---------------------------------------------------------------------------------------------
# Column names

_WORD = re.compile(r"[A-Za-z0-9]+")
_SYMBOL_WORDS = (("/", " per "), ("%", " percent "), ("&", " and "), ("+", " plus "), ("#", " number "))


def column_key(header: str) -> str:
    """Iterable's column title as a stable camelCase record key (the style of the API's JSON keys).

    ``/`` reads "per", ``%`` "percent", ``&`` "and", ``+`` "plus", ``#`` "number"; every other character
    that is not an ASCII letter or digit separates words. The first word is lower-cased at its first
    letter (wholly when it is an all-capitals acronym); every later word gets a capital first letter and
    an acronym is written ``Sms``. A key starting with a digit gets a leading ``_``. Examples:
    ``Total Email Sends`` -> ``totalEmailSends``, ``Revenue / M (Email)`` -> ``revenuePerMEmail``,
    ``Total Email Opens (filtered)`` -> ``totalEmailOpensFiltered``, ``Total SMS Sent`` -> ``totalSmsSent``,
    ``Total WebPush Holdout`` -> ``totalWebPushHoldout``, ``Campaign ID`` -> ``campaignId``. Returns ``""``
    for a title with no letters or digits.
    """
    text = header.strip()
    for symbol, words in _SYMBOL_WORDS:
        text = text.replace(symbol, words)
    parts: list[str] = []
    for index, word in enumerate(_WORD.findall(text)):
        if len(word) > 1 and word.isupper():
            word = word.lower() if index == 0 else word.capitalize()
        elif index == 0:
            word = word[0].lower() + word[1:]
        else:
            word = word[0].upper() + word[1:]
        parts.append(word)
    key = "".join(parts)
    return f"_{key}" if key[:1].isdigit() else key


# ---------------------------------------------------------------------------------------------
# Values

_INTEGER = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)")
_DECIMAL = re.compile(
    r"[+-]?(?:(?:\d+|\d{1,3}(?:,\d{3})+)\.\d*|\.\d+|(?:\d+|\d{1,3}(?:,\d{3})+))(?:[eE][+-]?\d+)?"
)


def parse_number(text: str) -> int | float | None:
    """A metric cell as a number, or None when it is not one.

    ``57`` and ``1,234`` -> int; ``0.0``, ``16.0``, ``.25``, ``1,234.5`` and ``1e-05`` -> float (a count
    Iterable writes as ``16.0`` stays a float: the schema types every metric as a number);
    ``12.5%`` -> ``0.125`` (Iterable documents rates as decimal fractions, ``.25`` = 25%, so a percent
    form is put on the same scale). ``N/A``, ``-``, ``NaN``, ``Infinity`` and any other text -> None:
    JSON cannot carry NaN or infinity, and a guess would be worse than the raw text.
    """
    value = text.strip()
    percent = value.endswith("%")
    if percent:
        value = value[:-1].rstrip()
    if not percent and _INTEGER.fullmatch(value):
        return int(value.replace(",", ""))
    if not _DECIMAL.fullmatch(value):
        return None
    plain = value.replace(",", "")
    # Decimal arithmetic: "33.3%" is 0.333, not 0.33299999999999996.
    number = float(Decimal(plain) / 100) if percent else float(plain)
    return number if math.isfinite(number) else None


# ---------------------------------------------------------------------------------------------
# Body


@dataclass(frozen=True)
class ParsedMetrics:
    """The records of one body and what a reader should log about it."""

    records: list[dict[str, Any]]
    columns: dict[str, str] = field(default_factory=dict)  # header title -> record key, in CSV order
    unparsed_cells: int = 0  # non-blank cells that are not numbers (kept in ``_unparsedValues``)
    skipped_rows: int = 0  # rows without their integer keys (not emitted)
    ignored_columns: tuple[str, ...] = ()  # titles with no key, or a key an earlier column already took

    def summary(self) -> str:
        """One line for a warning: what could not be typed, and where to find it."""
        parts = []
        if self.unparsed_cells:
            parts.append(f"{self.unparsed_cells} non-numeric cell(s) kept as text in '{UNPARSED_KEY}'")
        if self.skipped_rows:
            parts.append(f"{self.skipped_rows} row(s) without an integer id skipped")
        if self.ignored_columns:
            parts.append(f"column(s) ignored: {', '.join(repr(c) for c in self.ignored_columns)}")
        return "; ".join(parts) or "all cells typed"


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _not_csv(text: str, what: str) -> MetricsBodyError | None:
    """A clear error when the body is an HTML page or a JSON document instead of CSV."""
    head = text.lstrip()
    if head.startswith("<"):
        title = re.search(r"<title[^>]*>(.*?)</title>", head, re.IGNORECASE | re.DOTALL)
        named = f" titled {_excerpt(title.group(1), 60)!r}" if title else ""
        return MetricsBodyError(f"{what}: got an HTML page{named} instead of CSV: {_excerpt(head)!r}")
    if head.startswith(("{", "[")):
        try:
            parsed = orjson.loads(head)
        except orjson.JSONDecodeError:
            return None
        if isinstance(parsed, dict) and ("msg" in parsed or "code" in parsed):
            detail = f"{parsed.get('code', '')}: {parsed.get('msg', '')}".strip(": ")
            return MetricsBodyError(f"{what}: got a JSON error instead of CSV ({_excerpt(detail)})")
        return MetricsBodyError(f"{what}: got JSON instead of CSV: {_excerpt(head)!r}")
    return None


def _cell(key: str, cell: str, layout: CsvLayout, record: dict[str, Any], unparsed: dict[str, str]) -> None:
    """Put one non-blank cell into the record (or ``unparsed``) as the layout types its column."""
    if key in layout.texts:
        record[key] = cell
        return
    if cell.casefold() in layout.no_value:
        return
    if key in layout.times:
        moment = date_to_rfc3339(cell)
        if moment is None:
            unparsed[key] = cell
        else:
            record[key] = moment
        return
    number = parse_number(cell)
    if key in layout.keys or key in layout.integers:
        if isinstance(number, int) and number > 0:
            record[key] = number
        elif key not in layout.keys:
            unparsed[key] = cell
    elif number is None:
        unparsed[key] = cell
    else:
        record[key] = number


def parse_metrics_csv(
    body: bytes | str, layout: CsvLayout, date_range: DateRange | None = None
) -> ParsedMetrics:
    """One record per CSV row: the layout's key columns as ints, every metric column typed as a number
    under ``column_key`` (texts and times as the layout says).

    - A blank cell (a metric that does not apply) leaves its key out, as every stream of this connector
      leaves absent values out rather than adding nulls; so does a cell the layout reads as no value.
    - A non-blank cell that is not a number never fails the body: its key is left out of the record and
      its text is kept under ``_unparsedValues`` (``{"emailOpenRate": "-"}``), counted in
      ``unparsed_cells`` for the reader to log.
    - A row without every key column as a positive integer is skipped and counted (no primary key).
    - Two titles that give one key (Iterable's 2017 CSV repeated every column): the first wins.
    - ``date_range``, when given, is added to every record as ``startDateTime`` / ``endDateTime``.
    - An empty body, a header alone, or ``id,`` and a blank line give no records.
    - A body that is not the metrics CSV (HTML, JSON, a header without the key columns) raises
      ``MetricsBodyError``.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return ParsedMetrics(records=[])
    problem = _not_csv(text, layout.what)
    if problem is not None:
        raise problem
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, [])
    positions: list[tuple[int, str]] = []
    columns: dict[str, str] = {}
    ignored: list[str] = []
    taken: set[str] = set()
    for position, title in enumerate(header):
        key = column_key(title)
        if not key or key in taken or key in (UNPARSED_KEY, START_KEY, END_KEY):
            if title.strip():
                ignored.append(title.strip())
            continue
        taken.add(key)
        columns[title.strip()] = key
        positions.append((position, key))
    missing = [key for key in layout.keys if key not in taken]
    if missing:
        raise MetricsBodyError(
            f"{layout.what}: the body is not the metrics CSV (no {', '.join(repr(k) for k in missing)} "
            f"column): {_excerpt(text)!r}"
        )
    extra = date_range.record_fields() if date_range is not None else {}
    records: list[dict[str, Any]] = []
    unparsed_cells = skipped_rows = 0
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        record: dict[str, Any] = {}
        unparsed: dict[str, str] = {}
        for position, key in positions:
            cell = row[position].strip() if position < len(row) else ""
            if cell:
                _cell(key, cell, layout, record, unparsed)
        if any(key not in record for key in layout.keys):
            skipped_rows += 1
            continue
        unparsed_cells += len(unparsed)
        record.update(extra)
        if unparsed:
            record[UNPARSED_KEY] = unparsed
        records.append(record)
    return ParsedMetrics(records, columns, unparsed_cells, skipped_rows, tuple(ignored))
