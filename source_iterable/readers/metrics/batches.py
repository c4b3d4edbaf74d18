"""Pure: the query of a CSV metrics request and the batches of ids sized to Iterable's URI limit.

Both metrics endpoints (``/api/campaigns/metrics``, ``/api/experiments/metrics``) take ``campaignId``
repeated once per id and a date range; their HTTP server refuses a longer request target than 2048
characters with a 414, so the ids of a project go in as few requests as fit under it. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests

START_KEY = "startDateTime"  # the date range the totals cover, added to every record
END_KEY = "endDateTime"

# Iterable's server (akka-http) refuses a request target longer than 2048 characters with
# "414 URI length exceeds the configured limit of 2048 characters"; exactly 2048 is accepted.
MAX_URI_LENGTH = 2048
# We count the whole URL (scheme and host included) although the server counts only path and query:
# that alone leaves 24-27 characters spare on Iterable's hosts. The margin on top covers what we cannot
# see from here: a front proxy or ingress that lengthens the target before the limit is checked, a
# forward proxy that receives the absolute URL, and a short parameter added later (useNewFormat=true
# is 17). It costs 3-4 ids per batch of about 100.
URI_MARGIN = 64

ID_PARAM = "campaignId"
_PER_ID = len(ID_PARAM) + len("=") + len("&")


def format_query_datetime(moment: datetime) -> str:
    """``2024-03-06T15:46:40Z``: ISO 8601 in UTC, whole seconds (the form the endpoints document)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole_seconds_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
    return moment.astimezone(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class DateRange:
    """``start <= event time < end``: the window Iterable sums the metrics over.

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


def checked_ids(ids: Iterable[int]) -> list[int]:
    """The ids in first-seen order, duplicates dropped (pages of /api/campaigns can overlap)."""
    seen: set[int] = set()
    out: list[int] = []
    for value in ids:
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
    ids = checked_ids(campaign_ids)
    if not ids:
        raise ValueError("a metrics request needs at least one campaign id")
    return {
        ID_PARAM: [str(campaign_id) for campaign_id in ids],
        START_KEY: format_query_datetime(date_range.start),
        END_KEY: format_query_datetime(date_range.end),
    }


def _url_without_ids(base_url: str, path: str, date_range: DateRange) -> str:
    params = {
        START_KEY: format_query_datetime(date_range.start),
        END_KEY: format_query_datetime(date_range.end),
    }
    # Preparing a request is pure (no connection): it gives the exact URL requests will send.
    url = requests.Request("GET", base_url + path, params=params).prepare().url
    assert url is not None
    return url


def request_url_length(base_url: str, path: str, campaign_ids: Sequence[int], date_range: DateRange) -> int:
    """The length of the full URL ``requests`` sends for this batch (scheme, host, path and query)."""
    ids = checked_ids(campaign_ids)
    return len(_url_without_ids(base_url, path, date_range)) + sum(_PER_ID + len(str(i)) for i in ids)


def batch_ids(
    base_url: str,
    path: str,
    campaign_ids: Iterable[int],
    date_range: DateRange,
    *,
    max_uri_length: int = MAX_URI_LENGTH,
    margin: int = URI_MARGIN,
) -> list[list[int]]:
    """Split the ids into as few requests to ``path`` as fit: each full URL is at most
    ``max_uri_length - margin``.

    ``base_url`` is the origin the client sends to (``https://api.iterable.com``, the EU host or a proxy):
    its length, and the path's, change how many ids fit. Ids keep their order; duplicates are dropped.
    Raises ``ValueError`` when not even one id fits.
    """
    budget = max_uri_length - margin
    fixed = len(_url_without_ids(base_url, path, date_range))
    batches: list[list[int]] = []
    current: list[int] = []
    length = fixed
    for campaign_id in checked_ids(campaign_ids):
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
