"""The ``read`` command: config, catalog and state in; protocol lines out; the exit code back.

It builds one run per selected stream (``readers``), logs their plans, and hands them to the engine
(``engine.sync``). Nothing on this path imports the CDK: its import alone costs about 2 s, the time
to print 400,000 records.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timezone
from typing import Any, BinaryIO

from .api.budgets import project_limiters
from .api.client import IterableClient
from .api.errors import ConnectorError, FailureType
from .api.spool import DISK
from .catalog import STREAMS_BY_NAME
from .config import ConfigError, parse_config
from .configured_catalog import catalog_problems, describe
from .engine import progress as progress_text
from .engine.output import Output, install_logging
from .engine.sync import Sync
from .engine.track import ReadAhead
from .protocol import Status, error_trace, stream_status
from .readers import Selected, build_runs, lane_widths
from .readers.context import JobsAccess, SyncContext
from .readers.exports import ExportRun
from .readers.jobs import JobRunner
from .records import ADDITIONAL_FIELDS, declared_keys, missing_fold_warning
from .state import stream_states

LOGGER = logging.getLogger("airbyte")
CURSORS = {name: spec.cursor for name, spec in STREAMS_BY_NAME.items()}


class CatalogError(ConnectorError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"Invalid configuration: '--catalog' {problem}", FailureType.config_error)


def select(catalog: Any) -> tuple[list[Selected], list[str]]:
    """The configured streams we know, in catalog order, and the names we do not know; a catalog the
    protocol does not allow is refused whole, before any request."""
    problems = catalog_problems(catalog, CURSORS)
    if problems:
        raise CatalogError(describe(problems))
    selected: list[Selected] = []
    unknown: list[str] = []
    for entry in catalog["streams"]:
        stream = entry["stream"]
        spec = STREAMS_BY_NAME.get(stream["name"])
        if spec is None:
            unknown.append(stream["name"])
            continue
        incremental = entry["sync_mode"] == "incremental" and spec.incremental
        selected.append(Selected(spec, incremental, stream["json_schema"]))
    return selected, unknown


def read(
    raw_config: Any,
    raw_catalog: Any,
    raw_state: Any,
    out: BinaryIO,
    *,
    debug: bool = False,
    now: datetime | None = None,
) -> int:
    """Run a sync; returns the process exit code (0 when every stream completed)."""
    output = Output(out)
    undo_logging = install_logging(output, debug)
    try:
        config = parse_config(raw_config, now)
        output.redact = lambda text: text.replace(config.api_key, "****")
        selected, unknown = select(raw_catalog)
        states = stream_states(raw_state)
        started = now or datetime.now(timezone.utc)
        limiters = project_limiters(config.host, config.api_key)
        client = IterableClient(config.base_url, config.api_key, limiters)
        ctx = SyncContext(
            config,
            client,
            started,
            JobsAccess(allowed=config.export_api != "sync"),
            declared={item.spec.name: declared_keys(item.json_schema) for item in selected},
        )
        for name, keys in ctx.declared.items():
            if keys is not None and ADDITIONAL_FIELDS not in keys:
                LOGGER.warning(missing_fold_warning(name))
        for name in unknown:
            LOGGER.warning(f"stream '{name}' of the catalog is not a stream of this source; it is skipped")
            output.message(stream_status(name, Status.INCOMPLETE))
        jobs = JobRunner(ctx) if config.export_api != "sync" else None
        runs = build_runs(selected, ctx, states, jobs)
        if jobs is not None:
            jobs.adopt([run for run in runs if isinstance(run, ExportRun)], states)
        plans = {run.name: run.plan() for run in runs}
        for line in progress_text.plan_lines(plans, limiters.all()):
            LOGGER.info(line)
        LOGGER.info(progress_text.expected_line(plans, limiters.all()))
        reporter = progress_text.Progress(plans, limiters.all())
        read_ahead = ReadAhead(config.read_ahead_units, config.read_ahead_mb << 20)
        sync = Sync(
            runs,
            lane_widths(ctx),
            output,
            client.abort,
            read_ahead,
            reporter,
            key_proven=lambda: client.gate.proven,
        )
        with _stop_on_sigterm(client.abort):
            ok = sync.run()
        LOGGER.info(progress_text.summary(sync, time.monotonic() - reporter.started, DISK.peak))
        if jobs is not None and jobs.jobs_started:
            LOGGER.info(
                f"export jobs: {jobs.jobs_started} started, {jobs.files_downloaded} files, "
                f"{progress_text.size(jobs.bytes_downloaded)} downloaded"
            )
        return 0 if ok else 1
    except ConnectorError as error:
        output.message(error_trace(output.redact(error.message), error.failure_type))
        return 1
    finally:
        output.flush()
        undo_logging()


class _stop_on_sigterm:
    """Airbyte's platform cancels a sync with SIGTERM: stop making requests, print what is whole."""

    def __init__(self, abort: threading.Event) -> None:
        self._abort = abort
        self._previous: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, lambda *_: self._abort.set())

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


__all__ = ["ConfigError", "read", "select"]
