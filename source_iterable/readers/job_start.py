"""Starting an export job so that none is ever left unowned: the intent first, then the call, then the id.

Before each start call (once its slot of the 1-a-second budget is taken) the worker hands the main thread
a ``JobIntent`` (data type, window, time) and waits until the main thread has printed it in the stream's
STATE; only then is ``POST /api/export/start`` sent. Its answer's ``jobId`` is announced at once
(``JobStarted``) and replaces the intent in the next STATE. A sync killed anywhere in between leaves a
state that names the job by id, or by intent (``job_adoption`` matches an intent to the job).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from ..api.client import read_json
from ..api.errors import Aborted, ApiError, ConnectorError, FailureType
from ..engine.units import Unit
from .context import SyncContext
from .export_query import ExportQuery
from .job_states import JobIntent, JobStarted

LOGGER = logging.getLogger("airbyte")
START_PATH = "/api/export/start"


class JobsRefused(Exception):
    """The key may not use export jobs (``auto``): the window is read through data.json instead."""


class JobStarter:
    def __init__(self, ctx: SyncContext, wall: Callable[[], datetime]) -> None:
        self.ctx = ctx
        self._wall = wall  # the intents' time, compared with Iterable's scheduledStartTime
        self.started = 0
        self._lock = threading.Lock()

    def start(self, query: ExportQuery, unit: Unit, what: str) -> int:
        """A new job for ``query``: its id, announced to the main thread. Raises ``JobsRefused``."""
        try:
            payload = self.ctx.client.request(
                START_PATH,
                None,
                read_json,
                what=what,
                method="POST",
                json=query.job_body(),
                before_send=lambda: self._announce(query, unit),
            )
        except ApiError as error:
            if not error.key_refused:
                raise
            self._refused(error, what)
            raise JobsRefused() from None
        job = payload.get("jobId") if isinstance(payload, dict) else None
        if not isinstance(job, int) or isinstance(job, bool):
            raise ConnectorError(f"{what}: POST {START_PATH} answered without a jobId: {str(payload)[:200]}")
        with self._lock:
            self.started += 1
        unit.notify(JobStarted(job, query.window))
        unit.progress.note = f"job {job} started"
        return job

    def _announce(self, query: ExportQuery, unit: Unit) -> None:
        intent = JobIntent(query.data_type, query.window, self._wall())
        if not unit.handshake(intent, self.ctx.client.abort):
            raise Aborted()  # the sync is stopping, or the stream ended: nothing is started

    def _refused(self, error: ApiError, what: str) -> None:
        if self.ctx.config.export_api == "async":
            raise ConnectorError(
                f"{what}: export_api is 'async' but Iterable refused the export jobs API for this key "
                f"({error.message}); set export_api to 'auto' or 'sync' to read through data.json",
                FailureType.config_error,
            ) from None
        if self.ctx.jobs.refuse(error):
            LOGGER.warning(
                f"Iterable refused export jobs for this key (HTTP {error.status}); every export stream is read "
                f"through data.json instead (4 requests a minute). Details: {error.message}"
            )
