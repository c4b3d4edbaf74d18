"""``GET /api/campaigns/metrics``: request building, URI-sized batches and CSV parsing, as pure functions.

No I/O here. A reader wires them together (see ``docs/api-campaigns-metrics.md``)::

    ids = [c["id"] for c in <every record of GET /api/campaigns>]
    window = DateRange.full_refresh(config.start_date, sync_started_at)
    for batch in batch_campaign_ids(config.base_url, ids, window):
        body = <GET METRICS_PATH with metrics_params(batch, window), paced at 10 a minute>
        parsed = parse_metrics_csv(body, window)      # MetricsBodyError: retry like any bad body
        if parsed.unparsed_cells or parsed.skipped_rows: <log one warning: parsed.summary()>
        yield from parsed.records

Facts behind every rule below are cited in the doc; the short version:
- Iterable answers one CSV row per campaign (``id`` first, then metric columns named for humans,
  such as ``Total Email Sends`` or ``Revenue / M (Email)``); no daily form exists.
- Its HTTP server refuses a request target longer than 2048 characters with a 414.
- Numbers come as ``57``, ``0.0``, ``16.0`` or ``.25``; a cell is blank when a metric does not apply to the
  campaign's medium.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import requests

METRICS_PATH = "/api/campaigns/metrics"
STREAM_NAME = "campaigns_metrics"
PRIMARY_KEY: tuple[str, ...] = ("id",)  # one row per campaign: the API has no daily form
ID_KEY = "id"
START_KEY = "startDateTime"  # the date range the totals cover, added to every record
END_KEY = "endDateTime"
UNPARSED_KEY = "_unparsedValues"  # record key -> original text of a cell that is not a number

# Iterable's server (akka-http) refuses a request target longer than 2048 characters with
# "414 URI length exceeds the configured limit of 2048 characters"; exactly 2048 is accepted.
MAX_URI_LENGTH = 2048
# We count the whole URL (scheme and host included) although the server counts only path and query:
# that alone leaves 24-27 characters spare on Iterable's hosts. The margin on top covers what we cannot
# see from here: a front proxy or ingress that lengthens the target before the limit is checked, a
# forward proxy that receives the absolute URL, and a short parameter added later (useNewFormat=true
# is 17). It costs 3-4 ids per batch of about 100.
URI_MARGIN = 64

_ID_PARAM = "campaignId"
_PER_ID = len(_ID_PARAM) + len("=") + len("&")


class MetricsBodyError(ValueError):
    """A 200 whose body is not the metrics CSV (HTML page, JSON error, plain-text message).

    A reader should treat it as an unusable body (retry, like ``BodyError``): nothing was parsed.
    """


# ---------------------------------------------------------------------------------------------
# Request


def format_query_datetime(moment: datetime) -> str:
    """``2024-03-06T15:46:40Z``: ISO 8601 in UTC, whole seconds (the form the endpoint documents)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole_seconds_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
    return moment.astimezone(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class DateRange:
    """``start <= event time < end``: the window Iterable sums each campaign's metrics over.

    Both ends are aware UTC datetimes in whole seconds (what the query can carry), ``start < end``.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = _whole_seconds_utc(self.start), _whole_seconds_utc(self.end)
        if start >= end:
            raise ValueError(f"the metrics range must end after it starts: {start} >= {end}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def full_refresh(cls, start_date: datetime, sync_started_at: datetime) -> DateRange:
        """The range a full refresh sends: the configured start date up to the sync's start.

        The end is exclusive, so it is rounded *up* to the next whole second: events of the second the
        sync started in are counted, and every batch of one sync uses the same range.
        """
        end = _whole_seconds_utc(sync_started_at)
        if end != sync_started_at.astimezone(timezone.utc):
            end += timedelta(seconds=1)
        return cls(start_date, end)

    def record_fields(self) -> dict[str, str]:
        return {START_KEY: format_query_datetime(self.start), END_KEY: format_query_datetime(self.end)}


def _checked_ids(campaign_ids: Iterable[int]) -> list[int]:
    """The ids in first-seen order, duplicates dropped (pages of /api/campaigns can overlap)."""
    seen: set[int] = set()
    out: list[int] = []
    for value in campaign_ids:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"a campaign id must be a positive integer, got {value!r}")
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def metrics_params(campaign_ids: Sequence[int], date_range: DateRange) -> dict[str, list[str] | str]:
    """The query of one request: ``campaignId`` repeated once per id, then the date range.

    ``requests`` encodes a list value as a repeated parameter (``campaignId=1&campaignId=2``), the form
    the API documents (``collectionFormat: multi``).
    """
    ids = _checked_ids(campaign_ids)
    if not ids:
        raise ValueError("a metrics request needs at least one campaign id")
    return {
        _ID_PARAM: [str(campaign_id) for campaign_id in ids],
        "startDateTime": format_query_datetime(date_range.start),
        "endDateTime": format_query_datetime(date_range.end),
    }


def _url_without_ids(base_url: str, date_range: DateRange) -> str:
    params = {
        "startDateTime": format_query_datetime(date_range.start),
        "endDateTime": format_query_datetime(date_range.end),
    }
    # Preparing a request is pure (no connection): it gives the exact URL requests will send.
    url = requests.Request("GET", base_url + METRICS_PATH, params=params).prepare().url
    assert url is not None
    return url


def request_url_length(base_url: str, campaign_ids: Sequence[int], date_range: DateRange) -> int:
    """The length of the full URL ``requests`` sends for this batch (scheme, host, path and query)."""
    ids = _checked_ids(campaign_ids)
    return len(_url_without_ids(base_url, date_range)) + sum(_PER_ID + len(str(i)) for i in ids)


def batch_campaign_ids(
    base_url: str,
    campaign_ids: Iterable[int],
    date_range: DateRange,
    *,
    max_uri_length: int = MAX_URI_LENGTH,
    margin: int = URI_MARGIN,
) -> list[list[int]]:
    """Split the ids into as few requests as fit: each full URL is at most ``max_uri_length - margin``.

    ``base_url`` is the origin the client sends to (``https://api.iterable.com``, the EU host or a proxy):
    its length changes how many ids fit. Ids keep their order; duplicates are dropped. Raises
    ``ValueError`` when not even one id fits.
    """
    budget = max_uri_length - margin
    fixed = len(_url_without_ids(base_url, date_range))
    batches: list[list[int]] = []
    current: list[int] = []
    length = fixed
    for campaign_id in _checked_ids(campaign_ids):
        cost = _PER_ID + len(str(campaign_id))
        if current and length + cost > budget:
            batches.append(current)
            current, length = [], fixed
        if length + cost > budget:
            raise ValueError(
                f"campaign id {campaign_id} alone makes a {length + cost}-character URL with base "
                f"{base_url!r}, over the {budget} allowed ({max_uri_length} - margin {margin})"
            )
        current.append(campaign_id)
        length += cost
    if current:
        batches.append(current)
    return batches


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
    ``Total WebPush Holdout`` -> ``totalWebPushHoldout``. Returns ``""`` for a title with no letters or
    digits.
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
    skipped_rows: int = 0  # rows without a usable integer ``id`` (not emitted)
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


def _not_csv(text: str) -> MetricsBodyError | None:
    """A clear error when the body is an HTML page or a JSON document instead of CSV."""
    head = text.lstrip()
    if head.startswith("<"):
        title = re.search(r"<title[^>]*>(.*?)</title>", head, re.IGNORECASE | re.DOTALL)
        named = f" titled {_excerpt(title.group(1), 60)!r}" if title else ""
        return MetricsBodyError(
            f"campaign metrics: got an HTML page{named} instead of CSV: {_excerpt(head)!r}"
        )
    if head.startswith(("{", "[")):
        try:
            parsed = orjson.loads(head)
        except orjson.JSONDecodeError:
            return None
        if isinstance(parsed, dict) and ("msg" in parsed or "code" in parsed):
            detail = f"{parsed.get('code', '')}: {parsed.get('msg', '')}".strip(": ")
            return MetricsBodyError(f"campaign metrics: got a JSON error instead of CSV ({_excerpt(detail)})")
        return MetricsBodyError(f"campaign metrics: got JSON instead of CSV: {_excerpt(head)!r}")
    return None


def parse_metrics_csv(body: bytes | str, date_range: DateRange | None = None) -> ParsedMetrics:
    """One record per CSV row: ``id`` as int, every metric column typed as a number under ``column_key``.

    - A blank cell (a metric that does not apply to the campaign's medium) leaves its key out, as every
      stream of this connector leaves absent values out rather than adding nulls.
    - A non-blank cell that is not a number never fails the body: its key is left out of the record and
      its text is kept under ``_unparsedValues`` (``{"emailOpenRate": "N/A"}``), counted in
      ``unparsed_cells`` for the reader to log.
    - A row whose ``id`` is not an integer is skipped and counted (it has no primary key).
    - Two titles that give one key (Iterable's 2017 CSV repeated every column): the first wins.
    - ``date_range``, when given, is added to every record as ``startDateTime`` / ``endDateTime``.
    - An empty body, a header alone, or ``id,`` and a blank line give no records.
    - A body that is not the metrics CSV (HTML, JSON, a header without ``id``) raises ``MetricsBodyError``.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return ParsedMetrics(records=[])
    problem = _not_csv(text)
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
    if ID_KEY not in taken:
        raise MetricsBodyError(
            f"campaign metrics: the body is not the metrics CSV (no 'id' column): {_excerpt(text)!r}"
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
            if not cell:
                continue
            number = parse_number(cell)
            if key == ID_KEY:
                if isinstance(number, int) and number > 0:
                    record[ID_KEY] = number
            elif number is None:
                unparsed[key] = cell
            else:
                record[key] = number
        if ID_KEY not in record:
            skipped_rows += 1
            continue
        unparsed_cells += len(unparsed)
        record.update(extra)
        if unparsed:
            record[UNPARSED_KEY] = unparsed
        records.append(record)
    return ParsedMetrics(records, columns, unparsed_cells, skipped_rows, tuple(ignored))
