"""Iterable's request budgets, declared once (``BUDGETS``), and who shares them.

Iterable counts calls per project (one API key on one host) and endpoint, not per stream, so every
stream that hits an endpoint draws from the same budget: 53 export streams share 4 data.json calls a
minute. The export jobs calls are counted per organization, which a process cannot see, so that
budget is shared by every project this process talks to on the host.

Each budget is one ``limiter.Limiter`` per project (or per host, for organization budgets), shared
by every stream and every client of this process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from .limiter import Limiter


class Scope(Enum):
    PROJECT = "project"  # one API key on one host
    ORGANIZATION = "organization"  # every key on the host: the process cannot tell organizations apart


@dataclass(frozen=True)
class Budget:
    name: str
    routes: tuple[str, ...]  # "METHOD /path", a "*" segment matches any one segment
    requests: int
    per_seconds: float
    scope: Scope = Scope.PROJECT
    env_var: str | None = None
    env_per_seconds: float = 60.0  # the unit of the env var's figure: per minute, or per second

    @property
    def per_minute(self) -> float:
        return self.requests * 60.0 / self.per_seconds


RESOURCE_ROUTES = (
    "GET /api/campaigns",
    "GET /api/channels",
    "GET /api/lists",
    "GET /api/messageTypes",
    "GET /api/templates",
)

# From Iterable's API documentation (fact sheets: iterable-api.md section 3, iterable-api-more.md
# section 7). The metadata endpoints state no limit and have none here; the other endpoints without
# a published limit have a conservative one, said where it is declared.
BUDGETS: tuple[Budget, ...] = (
    Budget(
        "data.json export",
        ("GET /api/export/data.json",),
        4,
        60.0,
        env_var="ITERABLE_EXPORT_REQUESTS_PER_MINUTE",
    ),
    Budget(
        "getUsers", ("GET /api/lists/getUsers",), 5, 60.0, env_var="ITERABLE_GETUSERS_REQUESTS_PER_MINUTE"
    ),
    Budget(
        "campaign metrics",
        ("GET /api/campaigns/metrics",),
        10,
        60.0,
        env_var="ITERABLE_METRICS_REQUESTS_PER_MINUTE",
    ),
    Budget(
        "getFields", ("GET /api/users/getFields",), 3, 1.0, env_var="ITERABLE_GETFIELDS_REQUESTS_PER_MINUTE"
    ),
    Budget(
        "export jobs",
        ("POST /api/export/start", "GET /api/export/*/files"),
        1,
        1.0,
        Scope.ORGANIZATION,
        "ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND",
        env_per_seconds=1.0,
    ),
    Budget("export job cancel", ("DELETE /api/export/*",), 1, 1.0),
    Budget("resources", RESOURCE_ROUTES, 100, 1.0),
    # Documented per API key, not per project: one key on one host is what PROJECT scope counts.
    Budget("catalogs", ("GET /api/catalogs", "GET /api/catalogs/*/items"), 100, 1.0),
    # 3 a second each; whether the two share one bucket is not documented, so they share ours.
    Budget("forgotten users", ("GET /api/users/forgotten", "GET /api/users/forgottenUserIds"), 3, 1.0),
    # No published limit. Chosen: the lowest per-second limit Iterable states for a JSON GET (getFields,
    # forgotten users, getSentMessages: 3 a second); a sync makes a handful of these calls.
    Budget("journeys", ("GET /api/journeys",), 3, 1.0),
    Budget("snippets", ("GET /api/snippets",), 3, 1.0),
    Budget("webhooks", ("GET /api/webhooks",), 3, 1.0),
    # No published limit. Chosen: its CSV sibling's, campaigns/metrics (10 a minute), paced by the same
    # variable as that one.
    Budget(
        "experiment metrics",
        ("GET /api/experiments/metrics",),
        10,
        60.0,
        env_var="ITERABLE_METRICS_REQUESTS_PER_MINUTE",
    ),
)


def budget_for(method: str, path: str, budgets: tuple[Budget, ...] = BUDGETS) -> Budget | None:
    parts = path.rstrip("/").split("/")
    for budget in budgets:
        for route in budget.routes:
            verb, pattern = route.split(" ", 1)
            wanted = pattern.split("/")
            if verb == method and len(wanted) == len(parts):
                if all(w == "*" or w == p for w, p in zip(wanted, parts, strict=True)):
                    return budget
    return None


def env_rate(name: str, default: float) -> float:
    """A rate from the environment (tests and benchmarks raise the pace together with the fake's)."""
    from ..config import ConfigError  # config imports this module's users; keep the cycle lazy

    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        rate = float(value)
    except ValueError:
        raise ConfigError(name, f"must be a number of requests, got {value!r}") from None
    if rate <= 0:
        raise ConfigError(name, f"must be positive, got {value!r}")
    return rate


class Limiters:
    """The limiters one sync draws from, looked up by request; shared per project or per host."""

    def __init__(self, by_budget: Mapping[str, Limiter], budgets: tuple[Budget, ...] = BUDGETS) -> None:
        self._by_budget = dict(by_budget)
        self._budgets = budgets

    def for_request(self, method: str, path: str) -> Limiter | None:
        budget = budget_for(method, path, self._budgets)
        return self._by_budget.get(budget.name) if budget is not None else None

    def named(self, name: str) -> Limiter:
        return self._by_budget[name]

    def all(self) -> Mapping[str, Limiter]:
        return dict(self._by_budget)


_SHARED: dict[tuple[str, str, str], Limiter] = {}
_SHARED_LOCK = threading.Lock()


def rate_of(budget: Budget) -> tuple[float, float]:
    """``(requests, per seconds)`` of the budget, or the environment's override (in its own unit).

    A raised rate of at least one request a second is applied per second: the same pace, without
    bursts of a whole minute's worth, and a 429 then closes the budget for a second, not a minute.
    """
    if budget.env_var is None:
        return float(budget.requests), budget.per_seconds
    default = budget.requests * budget.env_per_seconds / budget.per_seconds
    rate = env_rate(budget.env_var, default)
    if budget.env_per_seconds > 1.0 and rate / budget.env_per_seconds >= 1.0 and rate != default:
        return rate / budget.env_per_seconds, 1.0
    return rate, budget.env_per_seconds


def project_limiters(host: str, api_key: str, budgets: tuple[Budget, ...] = BUDGETS) -> Limiters:
    """One limiter per budget and project (host + key), or per host for organization budgets,
    for the whole process: a check and a read in one process share them."""
    project = hashlib.sha256(api_key.encode()).hexdigest()
    found: dict[str, Limiter] = {}
    with _SHARED_LOCK:
        for budget in budgets:
            owner = project if budget.scope is Scope.PROJECT else "*"
            key = (host, owner, budget.name)
            if key not in _SHARED:
                requests, per_seconds = rate_of(budget)
                _SHARED[key] = Limiter(budget.name, requests, per_seconds=per_seconds)
            found[budget.name] = _SHARED[key]
    return Limiters(found, budgets)
