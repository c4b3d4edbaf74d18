"""``GET /api/experiments/metrics``: email experiments' metrics per variant, as CSV.

What it copies (the 2017 recording of a real answer, ../shared/iterable-api-more.md section 6):
- the header ``Campaign ID,Experiment ID,Template ID,Name,Type,Created by,Creation Date,Last modified,
  Subject,Improvement,Confidence`` then the email metric columns; CRLF line ends, no newline at the end;
- one row per variant: the control (``Type`` ``Control``, ``Improvement`` ``N/A``) then ``Variation n``
  (``Type`` ``-``); ``Confidence`` ``N/A`` or ``NaN`` until there is one; dates ISO with milliseconds;
- metric cells blank for a variant with no sends in the range.
And what the brief asks of it: rows for the named ``campaignId``s and ``experimentId``s (either matches),
only the header when neither is named; a request target over 2048 characters answers 414 (akka-http's
text, as campaigns/metrics). No rate limit: none is published. The values are seeded (INVENTED).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .api_types import Reply, Request
from .data import MARKETERS, Dataset
from .faults import error_json
from .metrics import CSV_TYPE, MAX_URI_LENGTH, URI_TOO_LONG
from .objects import iso_ms
from .timefmt import parse_datetime

DAY = 86_400
HEADER = (
    "Campaign ID,Experiment ID,Template ID,Name,Type,Created by,Creation Date,Last modified,Subject,"
    "Improvement,Confidence,Total Email Sends,Email Delivery Rate,Total Emails Delivered,Total Email Opens,"
    "Unique Email Opens Or Clicks,Email Open Rate,Total Emails Clicked,Unique Email Clicks,Clicks / Opens,"
    "Email Click Rate,Total Hosted Unsubscribe Clicks,Unique Hosted Unsubscribe Clicks,Total Complaints,"
    "Complaint Rate,Total Emails Bounced,Unique Emails Bounced,Email Bounce Rate,Total Unsubscribes,"
    "Unique Unsubscribes,Email Unsubscribe Rate,Revenue,Total Purchases,Unique Purchases,"
    "Average Order Value,Purchases / M,Revenue / M"
)
METRICS_FROM = HEADER.split(",").index("Total Email Sends")


@dataclass(frozen=True)
class Variant:
    campaign_id: int
    experiment_id: int
    template_id: int
    name: str
    kind: str  # "Control" or "-"
    created_by: str
    created_ms: int
    modified_ms: int
    subject: str
    improvement: str
    confidence: str
    days: tuple[tuple[int, int], ...]  # (noon of the day, epoch seconds; sends that day)
    rates: tuple[float, ...]  # delivered, opened, clicked, bounced, unsubscribed, purchased per send


def build_variants(dataset: Dataset) -> list[Variant]:
    """2-4 variants for each experiment of about one email campaign in twenty."""
    rng = random.Random(f"{dataset.seed}:experiments")
    out: list[Variant] = []
    experiment_id = 12_041
    template_id = 9_300_000
    emails = [c for c in dataset.campaigns if c.get("messageMedium") == "Email" and "templateId" in c]
    for campaign in sorted(rng.sample(emails, len(emails) // 20), key=lambda c: int(str(c["id"]))):
        for _ in range(rng.choice([1, 1, 2])):
            created = int(str(campaign["createdAt"])) + rng.randint(0, 5 * 86_400_000)
            start_day = created // 1000 // DAY
            subject = f"{campaign['name']}: {rng.choice(['New in', 'Last chance', 'For you'])}"
            for number in range(rng.randint(2, 4)):
                control = number == 0
                sending_days = rng.randint(0, 20) if rng.random() > 0.15 else 0
                days = tuple(
                    ((start_day + d) * DAY + DAY // 2, rng.randint(20, 900)) for d in range(sending_days)
                )
                out.append(
                    Variant(
                        campaign_id=int(str(campaign["id"])),
                        experiment_id=experiment_id,
                        template_id=int(str(campaign["templateId"])) if control else template_id + number,
                        name=str(campaign["name"]) if control else f"Variation {number}",
                        kind="Control" if control else "-",
                        created_by=rng.choice(MARKETERS),
                        created_ms=created + number * 1000,
                        modified_ms=created + number * 1000 + rng.randint(0, 86_400_000),
                        subject=subject if control or rng.random() < 0.5 else f"{subject}!",
                        improvement="N/A" if control or not days else f"{rng.uniform(-20, 35):.2f}",
                        confidence=rng.choice(["N/A", "NaN"])
                        if control or not days
                        else f"{rng.uniform(40, 99.9):.1f}",
                        days=days,
                        rates=tuple(rng.uniform(lo, hi) for lo, hi in _RATE_RANGES),
                    )
                )
            experiment_id += rng.randint(1, 40)
            template_id += 10
    return out


_RATE_RANGES = ((0.95, 0.995), (0.1, 0.5), (0.01, 0.12), (0.0, 0.03), (0.0, 0.01), (0.0, 0.02))


def _metric_cells(variant: Variant, start: float | None, end: float | None) -> list[str]:
    sends = sum(
        n for stamp, n in variant.days if (start is None or stamp >= start) and (end is None or stamp < end)
    )
    if not sends:
        return [""] * (len(HEADER.split(",")) - METRICS_FROM)
    delivered_r, opened_r, clicked_r, bounced_r, unsub_r, purchased_r = variant.rates
    delivered = int(sends * delivered_r)
    opens = int(delivered * opened_r)
    clicks = int(delivered * clicked_r)
    bounced = int(sends * bounced_r)
    unsubs = int(delivered * unsub_r)
    purchases = int(delivered * purchased_r)
    revenue = round(purchases * 42.5, 2)

    def rate(top: int, bottom: int) -> str:
        return repr(round(top / bottom, 4)) if bottom else "NaN"

    return [
        str(sends), rate(delivered, sends), str(delivered), str(opens), str(opens + clicks // 10),
        rate(opens, delivered), str(clicks), str(clicks), rate(clicks, opens), rate(clicks, delivered),
        "0", "0", "0", "0.0", str(bounced), str(bounced), rate(bounced, sends), str(unsubs), str(unsubs),
        rate(unsubs, delivered), repr(revenue), str(purchases), str(purchases),
        repr(round(revenue / purchases, 2)) if purchases else "0.0",
        repr(round(purchases * 1000 / delivered, 4)) if delivered else "0.0",
        repr(round(revenue * 1000 / delivered, 4)) if delivered else "0.0",
    ]  # fmt: skip


def row_of(variant: Variant, start: float | None, end: float | None) -> str:
    cells = [
        str(variant.campaign_id), str(variant.experiment_id), str(variant.template_id), variant.name,
        variant.kind, variant.created_by, iso_ms(variant.created_ms), iso_ms(variant.modified_ms),
        variant.subject, variant.improvement, variant.confidence,
    ]  # fmt: skip
    return ",".join(_quoted(cell) for cell in [*cells, *_metric_cells(variant, start, end)])


def _quoted(cell: str) -> str:
    return f'"{cell}"' if "," in cell or '"' in cell else cell


def experiments_csv(
    variants: list[Variant],
    campaigns: set[int],
    experiments: set[int],
    start: float | None,
    end: float | None,
) -> bytes:
    rows = [v for v in variants if v.campaign_id in campaigns or v.experiment_id in experiments]
    return "\r\n".join([HEADER, *(row_of(v, start, end) for v in rows)]).encode()


def experiment_metrics(variants: list[Variant], req: Request, target: str) -> Reply:
    """The answer to one request (``target``: the request line's path and query, for the URI limit)."""
    if len(target) > MAX_URI_LENGTH:
        return Reply(414, URI_TOO_LONG, "text/plain; charset=UTF-8")
    ids: dict[str, set[int]] = {}
    for name in ("campaignId", "experimentId"):
        values = req.query.get(name, [])
        if any(not v.strip().isdigit() for v in values):
            return Reply(400, error_json(f"Invalid {name}: {values}", "BadParams"))
        ids[name] = {int(v) for v in values}
    bounds: list[float | None] = []
    for name in ("startDateTime", "endDateTime"):
        text = (req.one(name) or "").strip()
        stamp = parse_datetime(text) if text else None
        if text and stamp is None:
            return Reply(400, error_json(f"Invalid {name}: {text}", "BadParams"))
        bounds.append(stamp)
    body = experiments_csv(variants, ids["campaignId"], ids["experimentId"], bounds[0], bounds[1])
    return Reply(200, body, CSV_TYPE)
