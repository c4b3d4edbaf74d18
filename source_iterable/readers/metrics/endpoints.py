"""The two CSV metrics endpoints, as data: where they are, what their columns are, their lane.

Both are asked by campaign ids in URI-sized batches (``batches``) and answer CSV (``csv_body``); a stream
row of ``catalog.STREAMS`` names its endpoint by path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...engine.lanes import EXPERIMENT_METRICS, METRICS
from .csv_body import CsvLayout


@dataclass(frozen=True)
class MetricsEndpoint:
    path: str
    layout: CsvLayout
    lane: str  # the engine lane of its batches, named like its budget (api/budgets.py)


CAMPAIGNS = MetricsEndpoint(
    "/api/campaigns/metrics",
    # One row per campaign: the API has no daily form (docs/api-campaigns-metrics.md).
    CsvLayout("campaign metrics", keys=("id",)),
    METRICS,
)
EXPERIMENTS = MetricsEndpoint(
    "/api/experiments/metrics",
    # One row per variant of an experiment (its template), as recorded in 2017: "Campaign ID,Experiment
    # ID,Template ID,Name,Type,Created by,Creation Date,Last modified,Subject,Improvement,Confidence,
    # Total Email Sends,...". A campaign can run several experiments with the same control template,
    # so the key is the experiment and the template together.
    CsvLayout(
        "experiment metrics",
        keys=("experimentId", "templateId"),
        integers=frozenset({"campaignId"}),
        texts=frozenset({"name", "type", "createdBy", "subject"}),
        times=frozenset({"creationDate", "lastModified"}),
        # Iterable's own answers: a control's Improvement is "N/A", an undecided Confidence "N/A" or "NaN".
        no_value=frozenset({"n/a", "nan"}),
    ),
    EXPERIMENT_METRICS,
)
ENDPOINTS: Mapping[str, MetricsEndpoint] = {endpoint.path: endpoint for endpoint in (CAMPAIGNS, EXPERIMENTS)}
