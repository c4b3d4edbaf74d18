"""``GET /api/users/getFields``: the project's user fields and their types (filled in by issue 10)."""

from __future__ import annotations

from .api_types import Reply, Request
from .state import ServerState


def get_fields(state: ServerState, req: Request, _: list[str]) -> Reply:
    return Reply(501, b'{"msg":"getFields is not served yet","code":"GenericError","params":null}')
