"""Expected records of the streams of issue 17, computed from the fake's objects (fake_iterable/objects.py,
experiments.py) with this module's own small conversions, as ``expectations.expected_records`` does for
the others: a bug in the connector's transforms cannot hide behind itself."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timedelta, timezone
from typing import Any

from integration_tests.fake_iterable import Dataset
from integration_tests.fake_iterable.experiments import build_variants, experiments_csv
from integration_tests.fake_iterable.objects import build_objects

UTC = timezone.utc


def iso_from_ms(ms: int) -> str:
    """Top-level epoch-ms fields: always with milliseconds."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


# Streams whose records expected_records builds from fake_iterable/objects.py (experiment_metrics is
# compared by its numbers, experiment_variants).
OBJECT_STREAMS = ("journeys", "catalogs", "catalog_items", "snippets", "webhooks", "forgotten_users")


def export_moment_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_from_any(value: Any) -> Any:
    """A time the connector reads as epoch ms or a date-time string, as it emits it: milliseconds only
    when there are some (a date-time string, a nested epoch-ms date); top-level epoch ms fields always
    carry them (``iso_from_ms``)."""
    if isinstance(value, int):
        text = iso_from_ms(value)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"
    else:
        return value
    return text.replace(".000Z", "Z")


def object_records(dataset: Dataset, stream: str, since: datetime | None) -> list[dict[str, Any]]:
    objects = build_objects(dataset)
    bound = since.timestamp() * 1000 if since is not None else None
    if stream == "journeys":
        out: list[dict[str, Any]] = []
        for journey in objects.journeys:
            if bound is not None and int(str(journey["updatedAt"])) < bound:
                continue
            record: dict[str, Any] = {**journey, "createdAt": iso_from_ms(int(str(journey["createdAt"])))}
            record["updatedAt"] = iso_from_ms(int(str(journey["updatedAt"])))
            if isinstance(record.get("draft"), dict):
                draft = dict(record["draft"])
                draft["createdAt"], draft["updatedAt"] = (
                    iso_from_any(draft["createdAt"]),
                    iso_from_any(draft["updatedAt"]),
                )
                record["draft"] = draft
            out.append(record)
        return out
    if stream == "catalogs":
        return [{"name": name} for name in objects.catalogs]
    if stream == "catalog_items":
        out = []
        for items in objects.catalogs.values():
            for item in items:
                modified = item["lastModified"]
                text = iso_from_ms(modified) if isinstance(modified, int) else iso_from_any(modified)
                if bound is None or export_moment_rfc3339(str(text)).timestamp() * 1000 >= bound:
                    out.append({**item, "lastModified": text})
        return out
    if stream == "snippets":
        return [
            {**s, "createdAt": iso_from_any(s["createdAt"]), "updatedAt": iso_from_any(s["updatedAt"])}
            for s in objects.snippets
        ]
    if stream == "webhooks":
        return [dict(w) for w in objects.webhooks]
    kinds: dict[str, list[str]] = {}
    for digest in objects.forgotten_emails:
        kinds.setdefault(digest, []).append("email")
    for digest in objects.forgotten_user_ids:
        kinds.setdefault(digest, []).append("userId")
    return [{"hash": digest, "identifierTypes": listed} for digest, listed in kinds.items()]


def experiment_variants(
    dataset: Dataset, start: datetime, end: datetime
) -> dict[tuple[int, int], dict[str, Any]]:
    """experiment_metrics as this module reads the fake's CSV: per (experiment, template), the sorted
    numbers of its row (ids, improvement, confidence and metrics; N/A and NaN are not numbers) and its
    texts. Compared with the records' values, it checks every cell arrived, typed, without sharing the
    connector's column naming."""
    variants = build_variants(dataset)
    body = experiments_csv(
        variants, {v.campaign_id for v in variants}, set(), start.timestamp(), end.timestamp()
    )
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    header = rows[0]
    expected: dict[tuple[int, int], dict[str, Any]] = {}
    for row in rows[1:]:
        cells = dict(zip(header, row, strict=True))
        numbers = []
        for cell in row:
            try:
                number = float(cell)
            except ValueError:
                continue
            if math.isfinite(number):
                numbers.append(number)
        expected[(int(cells["Experiment ID"]), int(cells["Template ID"]))] = {
            "numbers": sorted(numbers),
            "texts": {cells["Name"], cells["Type"], cells["Created by"], cells["Subject"]},
        }
    return expected
