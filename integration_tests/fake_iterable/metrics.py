"""``GET /api/campaigns/metrics``: per-campaign totals as CSV, as the real endpoint answers them.

What it copies (sources in docs/api-campaigns-metrics.md):
- ``200 text/plain; charset=utf-8``; header ``id`` then the metric titles in alphabetical order, the union
  of the columns of the media of the campaigns found; a cell is blank where a metric does not apply.
- One row per requested campaign of the project, ascending by id, repeated ids once; unknown ids are left
  out (INFERRED); a campaign without activity in the range gets a row of zeros (as recorded in 2017).
- Totals over the events of ``startDateTime <= t < endDateTime``; a missing or empty bound is unbounded.
- No ``campaignId`` at all: ``200`` with the body ``id,`` and a blank line (recorded in 2017).
- A request target (path and query) over 2048 characters: ``414`` with akka-http's plain-text message.
- 10 calls a minute per API key (``ITERABLE_METRICS_REQUESTS_PER_MINUTE``), then Iterable's 429 body.
- Malformed ids or dates: ``400 BadParams`` (texts INVENTED).

The metric values are seeded and deterministic: each campaign of ``state.dataset`` gets a daily activity
series (events stamped at noon UTC) from its state, type and dates; drafts, scheduled and never-started
campaigns have none. Unique counts are summed per day, which real uniques are not (good enough here).
"""

from __future__ import annotations

import random
import re
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlencode

from .api_types import Reply, Request
from .faults import error_json, rate_limit_body
from .state import RollingLimiter, ServerState, rpm_from_env
from .timefmt import parse_datetime

METRICS_PATH = "/api/campaigns/metrics"
CSV_TYPE = "text/plain; charset=utf-8"  # what the real endpoint sends, not text/csv
MAX_URI_LENGTH = 2048  # akka-http's default max-uri-length: 2048 is accepted, 2049 refused
URI_TOO_LONG = f"URI length exceeds the configured limit of {MAX_URI_LENGTH} characters".encode()
RATE_ENV = "ITERABLE_METRICS_REQUESTS_PER_MINUTE"
DEFAULT_RPM = 10.0
DAY = 86_400
NOON = DAY // 2

# Title -> base quantity it sums. Titles as in Airbyte's 2023 records (SMS: Iterable's SMS article).
GENERAL: dict[str, str] = {
    "Revenue": "revenue",
    "Sum of Custom Conversions": "conversion_value",
    "Total Custom Conversions": "conversions",
    "Total Purchases": "purchases",
    "Total Unsubscribes": "unsubscribes",
    "Unique Custom Conversions": "conversions_unique",
    "Unique Purchases": "purchases_unique",
    "Unique Unsubscribes": "unsubscribes_unique",
}
BY_MEDIUM: dict[str, dict[str, str]] = {
    "Email": {
        "Total Complaints": "complaints",
        "Total Email Holdout": "holdout",
        "Total Email Opens": "opens",
        "Total Email Opens (filtered)": "opens_filtered",
        "Total Email Send Skips": "skips",
        "Total Email Sends": "sent",
        "Total Emails Bounced": "bounced",
        "Total Emails Clicked": "clicks",
        "Total Emails Delivered": "delivered",
        "Unique Email Clicks": "clicks_unique",
        "Unique Email Opens": "opens_unique",
        "Unique Email Opens (filtered)": "opens_filtered_unique",
        "Unique Email Opens Or Clicks": "opens_or_clicks_unique",
        "Unique Email Sends": "sent_unique",
        "Unique Emails Bounced": "bounced",
        "Unique Emails Delivered": "delivered_unique",
    },
    "Push": {
        "Total App Uninstalls": "uninstalls",
        "Total Push Holdout": "holdout",
        "Total Push Send Skips": "skips",
        "Total Pushes Bounced": "bounced",
        "Total Pushes Delivered": "delivered",
        "Total Pushes Opened": "opens",
        "Total Pushes Sent": "sent",
        "Unique Pushes Bounced": "bounced",
        "Unique Pushes Delivered": "delivered_unique",
        "Unique Pushes Opened": "opens_unique",
        "Unique Pushes Sent": "sent_unique",
    },
    "WebPush": {
        "Total Web Push Clicks": "clicks",
        "Total Web Push Send Skips": "skips",
        "Total Web Pushes Sent": "sent",
        "Total WebPush Holdout": "holdout",
        "Unique Web Push Clicks": "clicks_unique",
        "Unique Web Pushes Sent": "sent_unique",
    },
    "SMS": {
        "Total SMS Bounced": "bounced",
        "Total SMS Clicks": "clicks",
        "Total SMS Delivered": "delivered",
        "Total SMS Holdout": "holdout",
        "Total SMS Send Skips": "skips",
        "Total SMS Sent": "sent",
        "Unique SMS Bounced": "bounced",
        "Unique SMS Clicks": "clicks_unique",
        "Unique SMS Delivered": "delivered_unique",
        "Unique SMS Sent": "sent_unique",
    },
    "InApp": {},  # in-app column titles are not known: general metrics only
}
MONEY = frozenset({"revenue", "conversion_value"})  # summed in cents, written as decimals
# The 2017 recording wrote this count as "16.0": keep one float-formatted count, as Iterable did.
FLOAT_FORMATTED = frozenset({"Total Emails Delivered"})


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _ratio(numerator: str, denominator: str, scale: float = 1.0) -> Callable[[Mapping[str, int]], float]:
    def compute(sums: Mapping[str, int]) -> float:
        bottom = sums.get(denominator, 0)
        top = sums.get(numerator, 0) / (100 if numerator in MONEY else 1)
        return round(top * scale / bottom, 4) if bottom else 0.0

    return compute


# Computed from the range's totals (averages and per-thousand-delivered figures are not additive).
DERIVED_GENERAL: dict[str, Callable[[Mapping[str, int]], float]] = {
    "Average Custom Conversion Value": _ratio("conversion_value", "conversions"),
    "Average Order Value": _ratio("revenue", "purchases"),
}
DERIVED_BY_MEDIUM: dict[str, dict[str, Callable[[Mapping[str, int]], float]]] = {
    medium: {
        f"Purchases / M ({medium})": _ratio("purchases", "delivered", 1000.0),
        f"Revenue / M ({medium})": _ratio("revenue", "delivered", 1000.0),
    }
    for medium in ("Email", "Push", "SMS")
}


def columns_for(medium: str) -> list[str]:
    """Every title a campaign of this medium has, alphabetically (InApp and unknown media: general)."""
    titles = {*GENERAL, *DERIVED_GENERAL, *BY_MEDIUM.get(medium, {}), *DERIVED_BY_MEDIUM.get(medium, {})}
    return sorted(titles)


Day = tuple[int, dict[str, int]]  # (noon of the day, epoch seconds; base quantities of that day)


def _day(rng: random.Random, sent: int, engaged: int) -> dict[str, int]:
    """One day's base quantities: ``sent`` messages, ``engaged`` people reached by them (or earlier)."""
    bounced = int(sent * rng.uniform(0.0, 0.03))
    opens_unique = int(engaged * rng.uniform(0.15, 0.45))
    clicks_unique = int(opens_unique * rng.uniform(0.05, 0.3))
    purchases_unique = int(clicks_unique * rng.uniform(0.0, 0.2))
    conversions_unique = int(clicks_unique * rng.uniform(0.0, 0.3))
    unsubscribes_unique = int(engaged * rng.uniform(0.0, 0.004))
    purchases = purchases_unique + rng.randint(0, purchases_unique)
    conversions = conversions_unique + rng.randint(0, conversions_unique)
    return {
        "sent": sent,
        "sent_unique": sent - int(sent * rng.uniform(0.0, 0.01)),
        "skips": rng.randint(0, max(0, sent // 50)),
        "holdout": rng.randint(0, max(0, sent // 100)) if rng.random() < 0.3 else 0,
        "bounced": bounced,
        "delivered": sent - bounced,
        "delivered_unique": max(0, sent - bounced - int(sent * 0.005)),
        "opens": opens_unique + rng.randint(0, opens_unique),
        "opens_unique": opens_unique,
        "opens_filtered": int(opens_unique * 1.2),
        "opens_filtered_unique": int(opens_unique * 0.9),
        "opens_or_clicks_unique": opens_unique + clicks_unique // 10,
        "clicks": clicks_unique + rng.randint(0, 2 * clicks_unique),
        "clicks_unique": clicks_unique,
        "complaints": rng.randint(0, 1) if sent else 0,
        "uninstalls": int(sent * rng.uniform(0.0, 0.01)),
        "unsubscribes": unsubscribes_unique + rng.randint(0, unsubscribes_unique),
        "unsubscribes_unique": unsubscribes_unique,
        "purchases": purchases,
        "purchases_unique": purchases_unique,
        "revenue": sum(rng.randint(1_500, 25_000) for _ in range(purchases)),  # cents
        "conversions": conversions,
        "conversions_unique": conversions_unique,
        "conversion_value": sum(rng.randint(0, 5_000) for _ in range(conversions)),  # cents
    }


def activity(campaign: Mapping[str, object], seed: int) -> list[Day]:
    """The seeded daily activity of one campaign (empty: the campaign never sent anything)."""
    cid = _int(campaign["id"])
    rng = random.Random(f"{seed}:metrics:{cid}")
    state = campaign.get("campaignState")
    blast = campaign.get("type") == "Blast"
    if blast and "startAt" in campaign and state in ("Finished", "Running", "Aborted", "Recurring"):
        first = _int(campaign["startAt"]) // 1000 // DAY
        days = 1 if state == "Aborted" else rng.randint(3, 21)
        audience = _int(campaign.get("sendSize", 0))
    elif not blast and state in ("Running", "Finished", "Archived"):
        first = _int(campaign["createdAt"]) // 1000 // DAY
        days = rng.randint(20, 90)
        audience = rng.randint(0, 400)  # per day
    else:
        return []
    if rng.random() < 0.08:
        audience = 0  # sent to an empty list: a row of zeros
    out: list[Day] = []
    for offset in range(days):
        if blast:
            sent = audience if offset == 0 else 0
            engaged = int(audience * 0.5**offset)
        else:
            sent = rng.randint(audience // 2, audience) if audience else 0
            engaged = sent
        out.append(((first + offset) * DAY + NOON, _day(rng, sent, engaged)))
    return out


def totals(days: list[Day], start: float | None, end: float | None) -> dict[str, int]:
    sums: dict[str, int] = {}
    for stamp, quantities in days:
        if (start is None or stamp >= start) and (end is None or stamp < end):
            for name, value in quantities.items():
                sums[name] = sums.get(name, 0) + value
    return sums


def _format(title: str, base: str | None, value: float) -> str:
    if base in MONEY:
        return repr(round(value / 100, 2))
    if isinstance(value, float):
        return repr(value)
    return f"{value}.0" if title in FLOAT_FORMATTED else str(value)


def cells(campaign: Mapping[str, object], sums: Mapping[str, int], header: list[str]) -> list[str]:
    """The row of one campaign under ``header`` (its first title is ``id``)."""
    medium = str(campaign.get("messageMedium", ""))
    plain = {**GENERAL, **BY_MEDIUM.get(medium, {})}
    derived = {**DERIVED_GENERAL, **DERIVED_BY_MEDIUM.get(medium, {})}
    row = [str(campaign["id"])]
    for title in header[1:]:
        if title in plain:
            row.append(_format(title, plain[title], sums.get(plain[title], 0)))
        elif title in derived:
            row.append(_format(title, None, derived[title](sums)))
        else:
            row.append("")  # this metric does not apply to the campaign's medium
    return row


def metrics_csv(
    campaigns: Sequence[Mapping[str, object]], seed: int, start: float | None, end: float | None
) -> bytes:
    """The whole body for these campaigns (already filtered and sorted)."""
    titles = sorted({title for c in campaigns for title in columns_for(str(c.get("messageMedium", "")))})
    header = ["id", *titles]
    lines = ["id," + ",".join(titles)]  # "id," alone when no campaign was found, as recorded
    for campaign in campaigns:
        lines.append(",".join(cells(campaign, totals(activity(campaign, seed), start, end), header)))
    return ("\n".join(lines) + "\n" + ("" if campaigns else "\n")).encode()


# This endpoint's rate limiter, per server (state.py has no slot for it).
_LIMITERS: weakref.WeakKeyDictionary[ServerState, RollingLimiter] = weakref.WeakKeyDictionary()
_LIMITERS_LOCK = threading.Lock()


def _limiter(state: ServerState) -> RollingLimiter:
    """The server's metrics limiter; a fresh one (env var read again) after ``state.reset()``.

    ``reset()`` does not know this limiter, but it clears the request counts: no metrics request counted
    yet means none since the last reset (this request is counted after its answer).
    """
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(state)
        if limiter is None or state.stats.requests.get(METRICS_PATH, 0) == 0:
            limiter = RollingLimiter(rpm_from_env(None, RATE_ENV, DEFAULT_RPM))
            _LIMITERS[state] = limiter
        return limiter


def _target(req: Request) -> str:
    if req.raw_target:
        return req.raw_target
    # A Request built without it (in-process callers): rebuild the target from its parts.
    query = urlencode(req.query, doseq=True)
    return f"{req.path}?{query}" if query else req.path


_ID = re.compile(r"\d+")


def _bad(message: str) -> Reply:
    return Reply(400, error_json(message, "BadParams"))


def campaign_metrics(state: ServerState, req: Request, _: list[str]) -> Reply:
    # The HTTP layer refuses the request line before any application code (key, limits) sees it.
    if len(_target(req)) > MAX_URI_LENGTH:
        return Reply(414, URI_TOO_LONG, "text/plain; charset=UTF-8")
    limiter = _limiter(state)
    if not limiter.allow(req.key or ""):
        limit = limiter.per_minute if limiter.per_minute > 0 else DEFAULT_RPM
        return Reply(429, rate_limit_body(limit, METRICS_PATH, state.project_id))
    raw_ids = req.query.get("campaignId", [])
    ids: set[int] = set()
    for raw in raw_ids:
        if not _ID.fullmatch(raw.strip()):
            return _bad(f"Invalid campaignId: {raw}")
        ids.add(int(raw))
    bounds: list[float | None] = []
    for name in ("startDateTime", "endDateTime"):
        text = (req.one(name) or "").strip()
        stamp = parse_datetime(text) if text else None
        if text and stamp is None:
            return _bad(
                f"Invalid {name}: {text}. Accepted formats include YYYY-MM-DD and other ISO 8601 formats"
            )
        bounds.append(stamp)
    start, end = bounds
    if start is not None and end is not None and start >= end:
        return _bad("startDateTime must be before endDateTime")
    found = sorted((c for c in state.dataset.campaigns if c["id"] in ids), key=lambda c: _int(c["id"]))
    return Reply(200, metrics_csv(found, state.dataset.seed, start, end), CSV_TYPE)
