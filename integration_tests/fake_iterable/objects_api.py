"""The endpoints of the objects in ``objects.py`` and of experiment metrics (``experiments.py``).

- ``GET /api/journeys``: ``page`` (from 1), ``pageSize`` (default 10, at most 50), ``sort`` (``id`` by
  default; ``name``, ``createdAt``, ``updatedAt``, ``-`` for descending), ``state`` repeated: without it
  every journey that is not archived, with ``state=Archived`` the archived ones only.
- ``GET /api/catalogs`` (``pageSize`` at most 100) and ``GET /api/catalogs/{name}/items`` (at most 1000,
  newest ``lastModified`` first): both inside Iterable's ``{"msg", "code", "params": {...}}`` envelope, as
  the recorded items answer is (for the catalog list INFERRED: the official client unwraps it when
  present); ``nextPageUrl`` relative, as recorded; an unknown catalog answers the recorded 404.
  100 calls a second per API key.
- ``GET /api/snippets``, ``GET /api/webhooks``: the whole collection, unpaged.
- ``GET /api/users/forgotten`` (email-based and hybrid projects) and ``/forgottenUserIds`` (userID-based
  and hybrid): ``{"hashedEmails": [...]}`` / ``{"hashedUserIds": [...]}``; the other project type gets a
  400 (Iterable documents "an error"; its text is INVENTED). 3 calls a second per project.
- ``GET /api/experiments/metrics``: see ``experiments.py``.

Benchmarks: ``FAKE_ITERABLE_BENCH_CATALOG_ITEMS=N`` adds a catalog ``bench`` of N generated items, made
page by page when asked (``BenchCatalog``), so a million items cost the server no memory.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode

import orjson

from .api_types import BadParams, Reply, Request
from .experiments import Variant, build_variants, experiment_metrics
from .faults import error_json, rate_limit_body
from .objects import Objects, build_objects
from .state import RollingLimiter, ServerState

Handler = Callable[[ServerState, Request, list[str]], Reply]
CATALOGS = "/api/catalogs"
JOURNEY_SORTS = ("id", "name", "createdAt", "updatedAt")


class BenchCatalog:
    """``size`` items, newest ``lastModified`` first, each made from its position when a page asks."""

    name = "bench"

    def __init__(self, size: int) -> None:
        self.size = size

    def page(self, start: int, end: int) -> list[dict[str, Any]]:
        return [
            {
                "catalogName": self.name,
                "itemId": f"b{n:08d}",
                "size": 120,
                "lastModified": 1719791999000 - n * 1000,
                "value": {"name": f"Bench item {n}", "price": n % 500 + 0.99, "tags": ["bench", str(n % 7)]},
            }
            for n in range(start, min(end, self.size))
        ]


class _Project:
    """What the server serves for these endpoints, built once per server; and their limiters."""

    def __init__(self, state: ServerState) -> None:
        self.objects: Objects = build_objects(state.dataset)
        self.variants: list[Variant] = build_variants(state.dataset)
        size = int(os.environ.get("FAKE_ITERABLE_BENCH_CATALOG_ITEMS") or 0)
        self.bench = BenchCatalog(size) if size > 0 else None
        self.catalog_limit = RollingLimiter(100.0, period=1.0)  # calls per period
        self.forgotten_limit = RollingLimiter(3.0, period=1.0)


_PROJECTS: weakref.WeakKeyDictionary[ServerState, _Project] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def project_of(state: ServerState) -> _Project:
    with _LOCK:
        found = _PROJECTS.get(state)
        if found is None:
            found = _PROJECTS[state] = _Project(state)
        return found


def _ok(payload: Any) -> Reply:
    return Reply(200, orjson.dumps(payload))


def _enveloped(payload: Any) -> Reply:
    return _ok({"msg": "", "code": "Success", "params": payload})


def _int(req: Request, name: str, default: int, high: int) -> int:
    raw = req.one(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise BadParams(f"{name} must be a whole number from 1 to {high}, got {raw}")
    return int(raw)


def _page(req: Request, items: list[Any], default_size: int, max_size: int) -> tuple[list[Any], int, int]:
    page, size = _int(req, "page", 1, 10**9), _int(req, "pageSize", default_size, max_size)
    return items[(page - 1) * size : page * size], page, size


def _limited(limiter: RollingLimiter, state: ServerState, req: Request) -> Reply | None:
    if limiter.allow(req.key or ""):
        return None
    return Reply(429, rate_limit_body(limiter.rate, req.path, state.project_id, "second"))


def journeys(state: ServerState, req: Request, _: list[str]) -> Reply:
    states = req.query.get("state", [])
    if any(s != "Archived" for s in states):
        raise BadParams(f"Invalid state: {states}")
    sort = (req.one("sort") or "id").strip()
    if sort.lstrip("+-") not in JOURNEY_SORTS:
        raise BadParams(f"Invalid sort field: {sort}")
    archived = bool(states)
    found = [j for j in project_of(state).objects.journeys if j["isArchived"] == archived]
    key = sort.lstrip("+-")
    found.sort(key=lambda j: (j[key], j["id"]), reverse=sort.startswith("-"))
    items, page, size = _page(req, found, 10, 50)
    body: dict[str, Any] = {"journeys": items, "totalJourneysCount": len(found)}
    query = {**req.flat(), "pageSize": str(size)}
    if page * size < len(found):
        body["nextPageUrl"] = f"http://{req.host}{req.path}?{urlencode({**query, 'page': page + 1})}"
    if page > 1:
        body["previousPageUrl"] = f"http://{req.host}{req.path}?{urlencode({**query, 'page': page - 1})}"
    return _ok(body)


def catalogs(state: ServerState, req: Request, parts: list[str]) -> Reply:
    project = project_of(state)
    limited = _limited(project.catalog_limit, state, req)
    if limited is not None:
        return limited
    bench = project.bench
    if not parts:
        names = [{"name": name} for name in project.objects.catalogs]
        if bench is not None:
            names.append({"name": bench.name})
        listed, page, size = _page(req, names, 10, 100)
        body: dict[str, Any] = {"catalogNames": listed, "totalCatalogsCount": len(names)}
        if page * size < len(names):
            body["nextPageUrl"] = f"{CATALOGS}?{urlencode({'pageSize': size, 'page': page + 1})}"
        return _enveloped(body)
    name = parts[0]
    if bench is not None and name == bench.name:
        page, size = _int(req, "page", 1, 10**9), _int(req, "pageSize", 10, 1000)
        inner = {
            "catalogItemsWithProperties": bench.page((page - 1) * size, page * size),
            "totalItemsCount": bench.size,
        }
        return _enveloped(inner)
    items = project.objects.catalogs.get(name)
    if items is None:  # the recorded answer (2019)
        msg = (
            f"You are trying to access catalog {name}, but it does not yet exist. Please see our API docs "
            "to explicitly create the catalog."
        )
        return Reply(404, error_json(msg, "NotFound"))
    listed, page, size = _page(req, items, 10, 1000)
    body = {"catalogItemsWithProperties": listed, "totalItemsCount": len(items)}
    if page * size < len(items):
        body["nextPageUrl"] = f"{CATALOGS}/{name}/items?{urlencode({'pageSize': size, 'page': page + 1})}"
    return _enveloped(body)


def _forgotten(kind: str) -> Handler:
    def handler(state: ServerState, req: Request, _: list[str]) -> Reply:
        project = project_of(state)
        limited = _limited(project.forgotten_limit, state, req)
        if limited is not None:
            return limited
        allowed = ("email_based", "hybrid") if kind == "hashedEmails" else ("hybrid", "userid_based")
        if state.dataset.project_type not in allowed:
            other = "userID-based" if kind == "hashedEmails" else "email-based"
            return Reply(400, error_json(f"This endpoint is not available in {other} projects", "BadParams"))
        objects = project.objects
        return _ok({kind: objects.forgotten_emails if kind == "hashedEmails" else objects.forgotten_user_ids})

    return handler


def _target(req: Request) -> str:
    if req.raw_target:
        return req.raw_target
    query = urlencode(req.query, doseq=True)
    return f"{req.path}?{query}" if query else req.path


ROUTES: dict[str, Handler] = {
    "/api/journeys": journeys,
    "/api/snippets": lambda state, req, _: _ok({"snippets": project_of(state).objects.snippets}),
    "/api/webhooks": lambda state, req, _: _ok({"webhooks": project_of(state).objects.webhooks}),
    "/api/users/forgotten": _forgotten("hashedEmails"),
    "/api/users/forgottenUserIds": _forgotten("hashedUserIds"),
    "/api/experiments/metrics": lambda state, req, _: experiment_metrics(
        project_of(state).variants, req, _target(req)
    ),
}


def route(method: str, path: str) -> tuple[Handler, list[str]] | None:
    if method != "GET":
        return None
    if path in ROUTES:
        return ROUTES[path], []
    if path == CATALOGS:
        return catalogs, []
    parts = path[len(CATALOGS) + 1 :].split("/") if path.startswith(CATALOGS + "/") else []
    if len(parts) == 2 and parts[0] and parts[1] == "items":
        return catalogs, [unquote(parts[0])]
    return None
