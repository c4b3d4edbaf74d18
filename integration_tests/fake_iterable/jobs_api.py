"""The export jobs endpoints (fact sheet 4.2): ``POST /api/export/start``, ``GET /api/export/{jobId}/files``,
``GET /api/export/jobs`` and ``DELETE /api/export/{jobId}``.

Keys, 403 mode and rate limits are checked in ``api.gate`` before these handlers run:

- read-only keys get 401 BadApiKey on all four (as on data.json);
- a key in ``jobs_forbidden_keys``, or every key when the jobs API is off, gets 403 Forbidden (a project
  without the feature), while data.json keeps working;
- start and files share one rolling limiter per organization (``ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND``,
  default 1/s); DELETE has its own per project (``ITERABLE_EXPORT_JOB_DELETES_PER_SECOND``, default 1/s);
  both answer Iterable's 429 body in its per-second phrasing, without Retry-After. The jobs listing and the
  storage downloads are not limited.

Stats record the files and DELETE calls under the normalised paths ``/api/export/{jobId}/files`` and
``/api/export/{jobId}``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from .api_types import BadJsonBody, BadParams, Reply, Request
from .faults import LISTING_KINDS, START_KINDS, error_json
from .jobs import JOB_STATES, JobPlan
from .state import ServerState, reshape
from .timefmt import parse_datetime

START_PATH = "/api/export/start"
JOBS_PATH = "/api/export/jobs"
FILES_PATH = "/api/export/{jobId}/files"
JOB_PATH = "/api/export/{jobId}"
JSON_STREAM = "application/x-json-stream"
CSV = "text/csv"
_FILES = re.compile(r"/api/export/([0-9]+)/files")
_JOB = re.compile(r"/api/export/([0-9]+)")


def job_route(method: str, path: str) -> tuple[str, list[str]] | None:
    """Which jobs endpoint this is: ("start" | "list" | "files" | "cancel", path parts), or None."""
    if method == "POST" and path == START_PATH:
        return "start", []
    if method == "GET" and path == JOBS_PATH:
        return "list", []
    if method == "GET" and (found := _FILES.fullmatch(path)):
        return "files", [found.group(1)]
    if method == "DELETE" and (found := _JOB.fullmatch(path)):
        return "cancel", [found.group(1)]
    return None


def stats_path(method: str, path: str) -> str:
    route = job_route(method, path)
    if route is None:
        return path
    return {"files": FILES_PATH, "cancel": JOB_PATH}.get(route[0], path)


def _body(req: Request) -> dict[str, Any] | None:
    try:
        payload = orjson.loads(req.body) if req.body.strip() else None
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def body_for_log(req: Request) -> dict[str, Any] | None:
    """The JSON body of a start call, for the stats log (None for other calls or a body that is not JSON)."""
    route = job_route(req.method, req.path)
    return _body(req) if route is not None and route[0] == "start" else None


def match_fields(state: ServerState, req: Request) -> dict[str, str]:
    """What fault rules match against: the query, plus the start body or the job's fields."""
    fields = req.flat()
    route = job_route(req.method, req.path)
    if route is None:
        return fields
    if route[0] == "start":
        fields.update(_scalars(_body(req) or {}))
    elif route[1]:
        fields["jobId"] = route[1][0]
        fields.update(state.jobs.spec(int(route[1][0])) or {})
    return fields


def _scalars(payload: dict[str, Any]) -> dict[str, str]:
    return {
        str(k): str(v)
        for k, v in payload.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }


def _ok(payload: Any, fault: str | None = None) -> Reply:
    return Reply(200, orjson.dumps(payload), fault=fault)


def _no_job(job_id: int) -> Reply:
    return Reply(404, error_json(f"Export job {job_id} not found", "NotFound"))


def _when(payload: dict[str, Any], name: str) -> tuple[float | None, str | None]:
    raw = payload.get(name)
    if raw is None or raw == "":
        return None, None
    if not isinstance(raw, str):
        raise BadParams(f"Invalid {name}: {raw}. Expected format yyyy-MM-dd HH:mm:ss [ZZ]")
    stamp = parse_datetime(raw)
    if stamp is None:
        raise BadParams(f"Invalid {name}: {raw}. Expected format yyyy-MM-dd HH:mm:ss [ZZ]")
    return stamp, raw


def _field_set(payload: dict[str, Any], name: str) -> set[str]:
    raw = payload.get(name)
    if raw is None:
        return set()
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        raw = ",".join(raw)
    if not isinstance(raw, str):
        raise BadParams(f"Invalid {name}: expected a comma separated string")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _utc(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(stamp)))


def start_job(state: ServerState, req: Request, _: list[str]) -> Reply:
    try:
        payload = orjson.loads(req.body) if req.body.strip() else None
    except orjson.JSONDecodeError as exc:
        raise BadJsonBody(f"Json error: {exc}") from None
    if not isinstance(payload, dict):
        raise BadJsonBody("Json error: expected a JSON object body")
    name = payload.get("dataTypeName")
    if not isinstance(name, str) or not name:
        raise BadParams("dataTypeName is required")
    data_type = state.type_names.get(name.lower())  # emailUnSubscribe == emailUnsubscribe, as on data.json
    if data_type is None:
        raise BadParams(f"Invalid dataTypeName: {name}")
    output = payload.get("outputFormat")
    if not output:
        raise BadParams("outputFormat is required")
    if output == CSV:
        raise BadParams(f"outputFormat {CSV} is not supported by this fake; use {JSON_STREAM}")
    if output != JSON_STREAM:
        raise BadParams(f"Invalid outputFormat: {output}. Expected {CSV} or {JSON_STREAM}")
    start, start_raw = _when(payload, "startDateTime")
    end, end_raw = _when(payload, "endDateTime")
    campaign = payload.get("campaignId")
    if campaign is not None and (isinstance(campaign, bool) or not isinstance(campaign, int)):
        raise BadParams(f"Invalid campaignId: {campaign}")
    only, omit = _field_set(payload, "onlyFields"), _field_set(payload, "omitFields")
    # The one selection function data.json uses: the job's rows are data.json's rows for the same window.
    total, batches = state.export_window(data_type, start, end)
    if campaign is not None or only or omit:
        batches = reshape(batches, data_type, None if campaign is None else str(campaign), only, omit)
    spec = {**_scalars(payload), "dataTypeName": data_type, "outputFormat": JSON_STREAM}
    if start is not None and start_raw is not None:
        spec["start"] = _utc(start)
    if end is not None and end_raw is not None:
        spec["end"] = _utc(end)
    plan = _plan(state, spec)
    job = state.jobs.create(data_type, spec, (start, end), (total, batches), plan, req.key)
    if state.jobs.settings.start_answer_seconds:
        state.stopping.wait(state.jobs.settings.start_answer_seconds)
    message = f"Export job {job.id} for {data_type} was created"
    return _ok({"jobId": job.id, "message": message}, ",".join(plan.faults) or None)


def _plan(state: ServerState, spec: dict[str, str]) -> JobPlan:
    """Spend the start-time job faults (one firing each) that match this job."""
    plan = JobPlan()
    for kind in START_KINDS:
        fault = state.faults.take(START_PATH, spec, kinds=(kind,))
        if fault is None:
            continue
        plan.faults.append(kind)
        if kind == "job_slow":
            plan.extra_latency += fault.seconds
        elif kind == "job_failed":
            plan.fail_after = -1.0 if fault.after_seconds is None else fault.after_seconds
        elif kind == "job_truncated":
            plan.keep_rows = -1 if fault.after_rows is None else fault.after_rows
        else:  # job_requeue
            plan.requeue_after = -1.0 if fault.after_seconds is None else fault.after_seconds
            plan.requeue_seconds = fault.seconds
    return plan


def job_files(state: ServerState, req: Request, parts: list[str]) -> Reply:
    job_id = int(parts[0])
    page = state.jobs.files_page(job_id, req.one("startAfter"))
    if page is None:
        return _no_job(job_id)
    lifetime = state.jobs.settings.url_lifetime
    issued = state.jobs.clock()
    fired = None
    if page.files and state.faults.take(FILES_PATH, page.spec, kinds=LISTING_KINDS) is not None:
        issued -= lifetime + 60  # signed long ago: already expired when listed
        fired = "url_expired"
    files = [
        {"file": f.name, "url": state.signer.url(state.project_id, job_id, f.name, issued, lifetime)}
        for f in page.files
    ]
    body = {"jobId": job_id, "jobState": page.state, "exportTruncated": page.truncated, "files": files}
    return _ok(body, fired)


def list_jobs(state: ServerState, req: Request, _: list[str]) -> Reply:
    raw = (req.one("jobState") or "").strip().lower()
    wanted = "enqueued" if raw == "queued" else raw or None  # the official client also knows "queued"
    if wanted is not None and wanted not in JOB_STATES:
        raise BadParams(f"Invalid jobState: {req.one('jobState')}. Expected one of {', '.join(JOB_STATES)}")
    return _ok({"jobs": state.jobs.listing(wanted)})


def cancel_job(state: ServerState, req: Request, parts: list[str]) -> Reply:
    job_id = int(parts[0])
    result = state.jobs.cancel(job_id, req.key)
    if result is None:
        return _no_job(job_id)
    before, _after = result
    if before in ("completed", "failed"):
        msg = f"Export job {job_id} is already {before} and cannot be cancelled"
        return Reply(400, error_json(msg, "BadParams"))
    msg = (
        f"Export job {job_id} was already cancelled"
        if before in ("cancelling", "cancelled")
        else (f"Export job {job_id} cancelled")
    )
    return Reply(200, error_json(msg, "Success"))


HANDLERS = {"start": start_job, "list": list_jobs, "files": job_files, "cancel": cancel_job}
