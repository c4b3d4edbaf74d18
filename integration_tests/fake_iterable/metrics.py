"""``GET /api/campaigns/metrics``: per-campaign metrics as CSV (filled in by issue 11)."""

from __future__ import annotations

from .api_types import Reply, Request
from .state import ServerState


def campaign_metrics(state: ServerState, req: Request, _: list[str]) -> Reply:
    return Reply(501, b'{"msg":"campaigns/metrics is not served yet","code":"GenericError","params":null}')
