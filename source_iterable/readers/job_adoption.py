"""Export jobs an earlier sync of this connector left behind: reuse, cancel, or leave alone.

Jobs outlive the process that started them and hold one of the organization's 4 slots until they end.
An earlier sync's state names its jobs two ways:
- ``jobs``: ``[{"id", "start", "end"}]``, written the moment a job's id is known. The job that covers
  this sync's first window is reused; the others, if still queued or running, are cancelled.
- ``intents``: ``[{"dataTypeName", "start", "end", "at"}]``, written before each start call, and
  dropped once the job's id is in the state or the call ended. A sync killed between the start call and
  the STATE naming the job leaves only its intent. ``GET /api/export/jobs`` lists each job's
  ``dataTypeName`` and ``scheduledStartTime`` (not its window): a job of the intent's data type that
  was scheduled within ``INTENT_TOLERANCE`` of the intent's time, and that no state names by id, is
  taken for the intent's job, nearest first, one job per intent. Its window cannot be checked, so it is
  never reused: it is cancelled if still queued or running.
A job that neither an id nor an intent names is never touched (another client's export).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests

from ..api.client import IterableClient
from ..api.errors import Aborted, ConnectorError
from ..transforms import format_rfc3339, parse_rfc3339
from ..windows import Window
from .context import describe
from .job_states import JobIntent, JobState, job_state, recorded_intents, recorded_jobs

LOGGER = logging.getLogger("airbyte")
JOBS_PATH = "/api/export/jobs"
# How far a job's scheduledStartTime (Iterable's clock) may be from its intent's time (ours): hosts kept
# by NTP differ by well under a second, and the start call follows its intent at once (a second more
# when the rate budget must be taken again). A job this misses is left to finish on its own; a wider
# tolerance would risk taking another client's job of the same type for ours.
INTENT_TOLERANCE = timedelta(seconds=10)


@dataclass(frozen=True)
class ListedJob:
    id: int
    data_type: str
    state: JobState | None
    scheduled: datetime | None


def listed_jobs(payload: Any) -> list[ListedJob]:
    """``GET /api/export/jobs`` as values; an entry without an integer id is skipped."""
    entries = payload.get("jobs") if isinstance(payload, Mapping) else None
    found: list[ListedJob] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        job = entry.get("id")
        if not isinstance(job, int) or isinstance(job, bool):
            continue
        try:
            scheduled = parse_rfc3339(entry["scheduledStartTime"])
        except (KeyError, TypeError, ValueError, AttributeError):
            scheduled = None
        kind = entry.get("dataTypeName")
        found.append(
            ListedJob(job, kind if isinstance(kind, str) else "", job_state(entry.get("jobState")), scheduled)
        )
    return found


def claim(
    intents: Sequence[JobIntent],
    jobs: Sequence[ListedJob],
    named: frozenset[int] = frozenset(),
    tolerance: timedelta = INTENT_TOLERANCE,
) -> list[tuple[JobIntent, ListedJob]]:
    """The job each intent most likely started: same data type (Iterable matches it case-insensitively),
    scheduled within ``tolerance`` of the intent, not ``named`` by any state; nearest pairs first, each
    intent and each job taken once (a job that already ended still takes its intent's turn)."""
    pairs = [
        (abs(job.scheduled - intent.at), n, intent, job)
        for n, intent in enumerate(intents)
        for job in jobs
        if job.id not in named
        and job.scheduled is not None
        and job.data_type.lower() == intent.data_type.lower()
        and abs(job.scheduled - intent.at) <= tolerance
    ]
    taken_intents: set[int] = set()
    taken_jobs: set[int] = set()
    found: list[tuple[JobIntent, ListedJob]] = []
    for _, n, intent, job in sorted(pairs, key=lambda p: (p[0], p[1], p[3].id)):
        if n in taken_intents or job.id in taken_jobs:
            continue
        taken_intents.add(n)
        taken_jobs.add(job.id)
        found.append((intent, job))
    return found


class Adoptable(Protocol):
    """What adoption needs of an export stream's run."""

    @property
    def name(self) -> str: ...

    @property
    def first_start(self) -> datetime: ...

    @property
    def upper(self) -> datetime: ...

    def reuse(self, job: int, window: Window) -> bool: ...


def cancel_job(client: IterableClient, job: int, what: str) -> None:
    """``DELETE`` a job, once, even while the sync stops; a failure is a WARN (the next sync retries)."""
    try:
        client.request(
            f"/api/export/{job}",
            None,
            lambda r: True,
            what=f"{what}, cancelling job {job}",
            method="DELETE",
            max_attempts=1,
            even_if_aborted=True,
        )
    except (ConnectorError, Aborted, requests.RequestException):
        LOGGER.warning(f"{what}: could not cancel export job {job}; the next sync cancels it")


def adopt(client: IterableClient, runs: Sequence[Adoptable], states: Mapping[str, Any]) -> None:
    """Reuse or cancel the jobs an earlier run of this connector started and did not finish."""
    recorded = {run.name: recorded_jobs(states.get(run.name)) for run in runs}
    intents = {run.name: recorded_intents(states.get(run.name)) for run in runs}
    if not any(recorded.values()) and not any(intents.values()):
        return
    try:
        jobs = listed_jobs(client.get_json(JOBS_PATH, what="export jobs of the earlier sync"))
    except ConnectorError as error:
        LOGGER.warning(
            f"could not list the export jobs of the earlier sync ({error.message}); leaving them be"
        )
        return
    by_id = {job.id: job for job in jobs}
    for run in runs:
        for job_id, window in recorded[run.name]:
            listed = by_id.get(job_id)
            state = listed.state if listed is not None else None
            if state is None or state in (JobState.FAILED, JobState.CANCELLED):
                continue
            if window.start == run.first_start and window.end <= run.upper and run.reuse(job_id, window):
                LOGGER.info(
                    f"{describe(run.name)}: reusing export job {job_id} of the earlier sync for window {window}"
                )
            elif state in (JobState.QUEUED, JobState.RUNNING):
                LOGGER.info(
                    f"{describe(run.name)}: cancelling export job {job_id} ({window}) left by the earlier sync"
                )
                cancel_job(client, job_id, describe(run.name))
    named = frozenset(job_id for pairs in recorded.values() for job_id, _ in pairs)
    owners = [(run.name, intent) for run in runs for intent in intents[run.name]]
    for intent, job in claim([intent for _, intent in owners], jobs, named):
        if job.state not in (JobState.QUEUED, JobState.RUNNING):
            continue
        stream = next(name for name, mine in owners if mine is intent)
        started = format_rfc3339(job.scheduled) if job.scheduled is not None else "?"
        LOGGER.info(
            f"{describe(stream)}: cancelling export job {job.id} ({job.data_type}, scheduled {started}): the "
            f"earlier sync asked for it at {format_rfc3339(intent.at)} and stopped before recording its id"
        )
        cancel_job(client, job.id, describe(stream))
