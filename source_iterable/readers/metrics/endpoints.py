"""The CSV metrics endpoints, as data: where they are, what their columns are, their lane.

Each is asked by campaign ids in URI-sized batches (``batches``) and answer CSV (``csv_body``); a stream
row of ``catalog.STREAMS`` names its endpoint by path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...engine.lanes import METRICS
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
ENDPOINTS: Mapping[str, MetricsEndpoint] = {endpoint.path: endpoint for endpoint in (CAMPAIGNS,)}
