"""Tests of the fake server's asynchronous export jobs API and its storage host, over real HTTP on 127.0.0.1.

Latencies are shortened with constructor arguments (or ``/_control/jobs/settings``) so the file runs fast.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import requests

from integration_tests.fake_iterable import FakeIterable
from integration_tests.fake_iterable.process import fake_server_process, job_args

KEY = "jobs-test-key"
OTHER_KEY = "jobs-second-key"  # another server-side key of the same project
FORBIDDEN_KEY = "jobs-without-feature-key"
RO_KEY = "jobs-read-only-key"
EXPORT = "/api/export/data.json"
START = "/api/export/start"
JSONL = "application/x-json-stream"
JAN = {"startDateTime": "2024-01-01 00:00:00", "endDateTime": "2024-01-31 00:00:00"}
FAST: dict[str, Any] = {
    "export_rpm": 0,
    "export_job_rps": 0,
    "export_delete_rps": 0,
    "job_queue_seconds": 0.05,
    "job_base_latency": 0.05,
    "job_row_seconds": 0.0005,
    "job_file_bytes": 16_384,
    "job_cancel_seconds": 0.2,
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIterable]:
    with FakeIterable(
        api_keys=[KEY, OTHER_KEY, FORBIDDEN_KEY],
        readonly_keys=[RO_KEY],
        jobs_forbidden_keys=[FORBIDDEN_KEY],
        **FAST,
    ) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean(server: FakeIterable) -> None:
    server.reset()


# -- helpers ---------------------------------------------------------------------------------------------


def headers(key: str | None = KEY) -> dict[str, str]:
    return {"Api-Key": key} if key else {}


def start(server: FakeIterable, key: str | None = KEY, **body: Any) -> requests.Response:
    payload = {"outputFormat": JSONL, **body}
    return requests.post(server.base_url + START, json=payload, headers=headers(key), timeout=10)


def start_id(server: FakeIterable, **body: Any) -> int:
    response = start(server, **body)
    assert response.status_code == 200, response.text
    return int(response.json()["jobId"])


def files(server: FakeIterable, job_id: int, key: str | None = KEY, **params: str) -> requests.Response:
    url = f"{server.base_url}/api/export/{job_id}/files"
    return requests.get(url, params=params, headers=headers(key), timeout=10)


def delete(server: FakeIterable, job_id: int, key: str | None = KEY) -> requests.Response:
    return requests.delete(f"{server.base_url}/api/export/{job_id}", headers=headers(key), timeout=10)


def list_jobs(server: FakeIterable, key: str | None = KEY, **params: str) -> requests.Response:
    return requests.get(server.base_url + "/api/export/jobs", params=params, headers=headers(key), timeout=10)


def wait(
    server: FakeIterable, job_id: int, until: tuple[str, ...] = ("completed",), limit: float = 15
) -> Any:
    deadline = time.monotonic() + limit
    while True:
        body = files(server, job_id).json()
        if body["jobState"] in until:
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body['jobState']}"
        time.sleep(0.02)


def all_files(server: FakeIterable, job_id: int) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    while True:
        params = {"startAfter": out[-1]["file"]} if out else {}
        page = files(server, job_id, **params).json()["files"]
        if not page:
            return out
        out += page


def download(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=10, **kwargs)


def job_body(server: FakeIterable, job_id: int) -> bytes:
    """Every file of a finished job, downloaded and concatenated in name order."""
    return b"".join(download(f["url"]).content for f in all_files(server, job_id))


def data_json(server: FakeIterable, **params: str) -> bytes:
    response = requests.get(server.base_url + EXPORT, params=params, headers=headers(), timeout=10)
    assert response.status_code == 200
    return response.content


def settings(server: FakeIterable, **changes: float) -> None:
    answer = requests.post(server.base_url + "/_control/jobs/settings", json=changes, timeout=10)
    assert answer.status_code == 200, answer.text


def control_job(server: FakeIterable, job_id: int) -> dict[str, Any]:
    jobs = requests.get(server.base_url + "/_control/jobs", timeout=10).json()["jobs"]
    return next(job for job in jobs if job["id"] == job_id)


def fault(server: FakeIterable, **rule: Any) -> None:
    answer = requests.post(server.base_url + "/_control/faults", json=rule, timeout=10)
    assert answer.status_code == 200, answer.text


# -- state machine and files -----------------------------------------------------------------------------


def test_a_job_moves_enqueued_running_completed_and_files_appear_while_it_runs(server: FakeIterable) -> None:
    # Given a latency model where the run of a 254-row window takes about a second
    settings(server, queue_seconds=0.3, base_latency=0.2, row_seconds=0.004, file_bytes=16_384)
    # When a job is started and polled
    response = start(server, dataTypeName="emailSend")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == {"jobId", "message"} and isinstance(body["jobId"], int)
    seen: list[tuple[str, int]] = []
    while not seen or seen[-1][0] != "completed":
        page = files(server, body["jobId"]).json()
        assert (
            set(page) == {"jobId", "jobState", "exportTruncated", "files"} and page["jobId"] == body["jobId"]
        )
        seen.append((page["jobState"], len(page["files"])))
        assert len(seen) < 1000
        time.sleep(0.02)
    # Then the states come in order, an enqueued job lists no files, and files showed up before the end
    states = [state for state, _ in seen]
    assert states[0] == "enqueued" and {n for s, n in seen if s == "enqueued"} == {0}
    assert states == sorted(states, key=["enqueued", "running", "completed"].index)
    running_counts = [n for s, n in seen if s == "running"]
    final = seen[-1][1]
    assert final >= 5  # ~108 KB of rows in files of at most 16 KB
    assert any(0 < n < final for n in running_counts)
    assert [n for _, n in seen] == sorted(n for _, n in seen)  # files never disappear


def test_files_are_listed_ten_a_page_after_start_after(server: FakeIterable) -> None:
    # Given a completed job whose files are small enough to fill more than two pages
    settings(server, file_bytes=4096)
    job_id = start_id(server, dataTypeName="emailSend")
    wait(server, job_id)
    # When the pages are walked with startAfter
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = files(server, job_id, **({"startAfter": after} if after else {})).json()["files"]
        if not page:
            break
        pages.append([f["file"] for f in page])
        after = page[-1]["file"]
    # Then every page but the last holds 10 files, and together they are every file of the job, in order
    names = [name for page in pages for name in page]
    expected = control_job(server, job_id)["files"]
    assert len(expected) > 20 and names == expected == sorted(expected)
    assert [len(p) for p in pages[:-1]] == [10] * (len(pages) - 1) and 0 < len(pages[-1]) <= 10
    assert all(re.fullmatch(r"file-\d{13}\.json", name) for name in names)
    # startAfter skips names up to and including the one given, like an S3 listing
    middle = files(server, job_id, startAfter=names[4]).json()["files"]
    assert [f["file"] for f in middle] == names[5:15]


def test_the_rows_of_a_job_are_the_rows_of_data_json_for_the_same_window(server: FakeIterable) -> None:
    # Given jobs over several types and windows, with a file cap that splits them into several files
    cases: list[dict[str, Any]] = [
        {"dataTypeName": "emailSend"},
        {"dataTypeName": "emailOpen", **JAN},
        {"dataTypeName": "user", "startDateTime": "2024-03-01 00:00:00"},
        {"dataTypeName": "emailUnsubscribe", "startDateTime": "2024-01-01T00:00:00Z"},
        {"dataTypeName": "emailClick", **JAN, "onlyFields": "email,campaignId"},
    ]
    jobs = [start_id(server, **case) for case in cases]
    # And rows that arrive after the jobs started
    late = {"email": "late@example.com", "createdAt": "2024-01-15 10:00:00 +00:00", "messageId": "e" * 32}
    server.add_events("emailOpen", [late])
    for case, job_id in zip(cases, jobs, strict=True):
        wait(server, job_id)
        # When the files are downloaded and joined
        listed = all_files(server, job_id)
        joined = b"".join(download(f["url"]).content for f in listed)
        # Then they hold exactly data.json's bytes for that window as it was when the job started
        params = {k: str(v) for k, v in case.items()}
        expected = data_json(server, **params, **({} if "startDateTime" in case else {"range": "All"}))
        if case["dataTypeName"] == "emailOpen":
            assert orjson.dumps(late) + b"\n" in expected and orjson.dumps(late) not in joined
            expected = expected.replace(orjson.dumps(late) + b"\n", b"")
        assert joined == expected and joined.count(b"\n") == control_job(server, job_id)["rows"]
        sizes = [len(download(f["url"]).content) for f in listed]
        assert all(size <= 16_384 for size in sizes)
        if case["dataTypeName"] in ("emailSend", "user"):
            assert len(sizes) > 1
    only = [orjson.loads(line) for line in job_body(server, jobs[-1]).splitlines()]
    assert only and all(set(row) <= {"email", "campaignId", "createdAt"} for row in only)


def test_an_empty_window_completes_without_files(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailSend", startDateTime="2030-01-01 00:00:00")
    done = wait(server, job_id)
    assert done["files"] == [] and done["exportTruncated"] is False


# -- storage host ----------------------------------------------------------------------------------------


def test_the_storage_host_is_another_origin_and_records_whether_the_key_was_sent(
    server: FakeIterable,
) -> None:
    # Given a completed job
    job_id = start_id(server, dataTypeName="emailBounce")
    url = wait(server, job_id)["files"][0]["url"]
    # Then its URLs point at the storage host, on another port, with a pre-signed query
    assert url.startswith(server.storage_url + "/") and server.storage.port != server.port
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=1800" in url
    # When the file is fetched without a key, then with the header, then with a query parameter
    plain = download(url)
    with_header = download(url, headers={"Api-Key": KEY})
    with_query = download(url + "&api_key=" + KEY)
    # Then all are served, and the log tells which carried the key
    assert [r.status_code for r in (plain, with_header, with_query)] == [200, 200, 200]
    assert plain.headers["Content-Length"] == str(len(plain.content)) and plain.headers["ETag"]
    log = server.storage_stats()["log"]
    assert [entry["api_key_present"] for entry in log] == [False, True, True]
    assert all(entry["job_id"] == job_id for entry in log)
    control = requests.get(server.base_url + "/_control/storage", timeout=10).json()
    assert control["base_url"] == server.storage_url and control["api_key_seen"] is True
    own = requests.get(server.storage_url + "/_control/stats", timeout=10).json()
    assert own["requests"] == 3 and own["statuses"] == {"200": 3}
    assert control_job(server, job_id)["fetched"] == {url.split("/")[-1].split("?")[0]: 3}
    # A byte range is served as 206
    part = download(url, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == plain.content[:10]
    assert part.headers["Content-Range"] == f"bytes 0-9/{len(plain.content)}"


def test_file_urls_expire_and_a_forged_url_is_refused(server: FakeIterable) -> None:
    # Given URLs that live two seconds (X-Amz-Date has whole seconds: good for one to two seconds)
    settings(server, url_lifetime=2)
    job_id = start_id(server, dataTypeName="emailComplaint")
    url = wait(server, job_id)["files"][0]["url"]
    assert "X-Amz-Expires=2&" in url
    assert download(url).status_code == 200
    # When the signature is edited, or its parameters are missing, the storage host refuses it
    forged = download(re.sub(r"X-Amz-Signature=[0-9a-f]+", "X-Amz-Signature=" + "0" * 64, url))
    assert forged.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in forged.text
    assert download(url.split("?")[0]).status_code == 403
    # When the lifetime has passed
    time.sleep(2.1)
    expired = download(url)
    # Then it answers 403 with S3's XML body; a fresh listing gives a working URL again
    assert expired.status_code == 403 and expired.headers["Content-Type"] == "application/xml"
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.text
    assert download(files(server, job_id).json()["files"][0]["url"]).status_code == 200


def test_reset_forgets_jobs_and_deletes_their_files(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailOpen")
    url = wait(server, job_id)["files"][0]["url"]
    server.reset()
    assert requests.get(server.base_url + "/_control/jobs", timeout=10).json() == {"jobs": []}
    gone = download(url)
    assert gone.status_code == 404 and "<Code>NoSuchKey</Code>" in gone.text
    assert files(server, job_id).status_code == 404
    assert start_id(server, dataTypeName="emailOpen") > job_id  # ids never repeat


# -- caps, queueing, cancellation, listing ---------------------------------------------------------------


def test_a_job_over_the_byte_cap_completes_truncated_with_the_files_up_to_the_cap(
    server: FakeIterable,
) -> None:
    # Given a truncation cap of 40 KB (emailSend holds about 108 KB)
    settings(server, truncate_bytes=40_000)
    job_id = start_id(server, dataTypeName="emailSend")
    small = start_id(server, dataTypeName="emailSend", **JAN)
    # When the jobs complete
    done = wait(server, job_id)
    # Then the big one says exportTruncated and holds a prefix of the window's rows, within the cap
    assert done["exportTruncated"] is True
    body = job_body(server, job_id)
    full = data_json(server, dataTypeName="emailSend", range="All")
    assert 30_000 < len(body) <= 40_000 and full.startswith(body) and body.endswith(b"\n")
    assert wait(server, small)["exportTruncated"] is False


def test_at_most_four_jobs_run_at_once_and_the_rest_stay_enqueued(server: FakeIterable) -> None:
    # Given jobs that run for about a second each
    settings(server, base_latency=1.0, row_seconds=0.0)
    ids = [start_id(server, dataTypeName="emailOpen", **JAN) for _ in range(6)]
    time.sleep(0.25)
    # Then four run and two wait
    states = {job["id"]: job["jobState"] for job in list_jobs(server).json()["jobs"]}
    assert [states[i] for i in ids] == ["running"] * 4 + ["enqueued"] * 2
    running = list_jobs(server, jobState="running").json()["jobs"]
    assert [job["id"] for job in running] == ids[:4]
    assert [job["id"] for job in list_jobs(server, jobState="queued").json()["jobs"]] == ids[4:]
    # When one running job is cancelled, its slot goes to the next job in line once it stops cancelling
    assert delete(server, ids[0]).status_code == 200
    time.sleep(0.4)  # cancel_seconds is 0.2
    assert files(server, ids[4]).json()["jobState"] == "running"
    assert files(server, ids[5]).json()["jobState"] == "enqueued"
    for job_id in ids[1:]:
        wait(server, job_id)


def test_delete_cancels_a_job_and_its_files_stop(server: FakeIterable) -> None:
    # Given a running job that writes a file every ~0.1 s, a job still enqueued, and a completed one
    settings(server, row_seconds=0.004, file_bytes=4096, max_running=1, base_latency=0.0)
    running = start_id(server, dataTypeName="emailSend")
    queued = start_id(server, dataTypeName="emailOpen")
    while len(files(server, running).json()["files"]) < 2:
        time.sleep(0.02)
    # When both are deleted
    cancelled = delete(server, running)
    assert cancelled.status_code == 200
    assert cancelled.json() == {"msg": f"Export job {running} cancelled", "code": "Success", "params": None}
    assert delete(server, queued).status_code == 200
    # Then the running one is cancelling, then cancelled, and lists no file written after the DELETE
    first = files(server, running).json()
    assert first["jobState"] == "cancelling"
    time.sleep(0.5)
    later = files(server, running).json()
    names = [f["file"] for f in first["files"]]
    assert later["jobState"] == "cancelled" and [f["file"] for f in later["files"]] == names
    assert 2 <= len(later["files"]) < len(control_job(server, running)["files"])
    # And the enqueued one is cancelled at once, without files
    assert files(server, queued).json() == {
        "jobId": queued,
        "jobState": "cancelled",
        "exportTruncated": False,
        "files": [],
    }
    # A second DELETE is harmless; a finished job cannot be cancelled; an unknown one is not found
    assert delete(server, running).status_code == 200
    settings(server, max_running=4)
    done = start_id(server, dataTypeName="emailOpen", **JAN)
    wait(server, done)
    refused = delete(server, done)
    assert refused.status_code == 400 and refused.json()["code"] == "BadParams"
    missing = delete(server, 99_999_999)
    assert missing.status_code == 404
    assert missing.json() == {"msg": "Export job 99999999 not found", "code": "NotFound", "params": None}
    # The control view says who deleted what; the job nobody deleted says so too
    assert control_job(server, running)["deleted_by"] == KEY
    assert control_job(server, running)["delete_calls"] == 2
    assert control_job(server, done)["deleted_by"] is None
    paths = server.stats()["requests"]
    assert paths["/api/export/{jobId}"] == 5 and paths["/api/export/{jobId}/files"] >= 5


def test_the_jobs_listing_shows_every_job_of_the_project(server: FakeIterable) -> None:
    # Given a job started by another client of the project, and one of ours
    theirs = requests.post(
        server.base_url + START,
        json={"dataTypeName": "user", "outputFormat": JSONL},
        headers={"Api-Key": OTHER_KEY},
        timeout=10,
    ).json()["jobId"]
    ours = start_id(server, dataTypeName="emailClick", **JAN)
    wait(server, theirs)
    wait(server, ours)
    # When the jobs are listed
    listed = list_jobs(server).json()["jobs"]
    # Then both are there, as JobModel entries
    assert [job["id"] for job in listed] == [theirs, ours]
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
    for job in listed:
        assert set(job) == {
            "id",
            "dataTypeName",
            "jobState",
            "scheduledStartTime",
            "endTime",
            "bytesExported",
        }
        assert job["jobState"] == "completed"
        assert re.fullmatch(stamp, job["scheduledStartTime"]) and re.fullmatch(stamp, job["endTime"])
        assert job["scheduledStartTime"] < job["endTime"]
    assert listed[1]["dataTypeName"] == "emailClick"
    assert listed[1]["bytesExported"] == len(job_body(server, ours))
    assert list_jobs(server, jobState="COMPLETED").json()["jobs"] == listed
    assert list_jobs(server, jobState="failed").json() == {"jobs": []}
    assert list_jobs(server, jobState="nonsense").status_code == 400
    assert control_job(server, theirs)["created_by"] == OTHER_KEY


# -- validation, keys, limits ----------------------------------------------------------------------------


def test_start_validates_its_body_and_unknown_jobs_are_not_found(server: FakeIterable) -> None:
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"dataTypeName": "bogus"},
        {"dataTypeName": "emailSend", "outputFormat": None},
        {"dataTypeName": "emailSend", "outputFormat": "text/csv"},
        {"dataTypeName": "emailSend", "outputFormat": "application/xml"},
        {"dataTypeName": "emailSend", "startDateTime": "yesterday-ish"},
        {"dataTypeName": "emailSend", "endDateTime": "2024-13-01 00:00:00"},
        {"dataTypeName": "emailSend", "campaignId": "seven"},
    ]
    for body in bad_bodies:
        answer = start(server, **body)
        assert answer.status_code == 400 and answer.json()["code"] == "BadParams", body
    csv = start(server, dataTypeName="emailSend", outputFormat="text/csv").json()["msg"]
    assert "not supported by this fake" in csv
    not_json = requests.post(server.base_url + START, data=b"{nope", headers=headers(), timeout=10)
    assert not_json.status_code == 400 and not_json.json()["code"] == "BadJsonBody"
    unknown = files(server, 123_456_789)
    assert unknown.status_code == 404 and unknown.json()["code"] == "NotFound"
    html = requests.get(server.base_url + "/api/export/abc/files", headers=headers(), timeout=10)
    assert html.status_code == 404 and "Action not found" in html.text
    assert requests.get(server.base_url + START, headers=headers(), timeout=10).status_code == 404
    assert requests.get(server.base_url + "/_control/jobs", timeout=10).json() == {"jobs": []}


def test_read_only_keys_get_401_and_a_project_without_the_feature_gets_403(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailOpen", **JAN)
    calls: dict[str, Callable[[str | None], requests.Response]] = {
        "start": lambda key: start(server, key, dataTypeName="emailOpen"),
        "files": lambda key: files(server, job_id, key),
        "delete": lambda key: delete(server, job_id, key),
        "jobs": lambda key: list_jobs(server, key),
    }
    for name, call in calls.items():
        denied = call(RO_KEY)
        assert denied.status_code == 401 and denied.json()["code"] == "BadApiKey", name
        refused = call(FORBIDDEN_KEY)
        assert refused.status_code == 403 and refused.json()["code"] == "Forbidden", name
        assert call(None).status_code == 401
    # data.json still works for the key the jobs API refuses
    synchronous = requests.get(
        server.base_url + EXPORT,
        params={"dataTypeName": "emailOpen", **JAN},
        headers=headers(FORBIDDEN_KEY),
        timeout=10,
    )
    assert synchronous.status_code == 200 and synchronous.content
    # The feature can be switched off for every key at run time, and reset switches it back on
    switched = requests.post(server.base_url + "/_control/jobs/feature", json={"enabled": False}, timeout=10)
    assert switched.status_code == 200
    assert start(server, dataTypeName="emailOpen").status_code == 403
    assert control_job(server, job_id)["delete_calls"] == 0
    server.reset()
    assert start(server, dataTypeName="emailOpen").status_code == 200


def test_start_and_files_share_one_limit_per_organization_and_delete_has_its_own() -> None:
    with FakeIterable(api_keys=[KEY, OTHER_KEY], **_fast(1)) as fake:
        # Given one start in this second
        first = start(fake, dataTypeName="emailOpen", **JAN)
        assert first.status_code == 200
        job_id = first.json()["jobId"]
        # When files is asked at once, with another key too
        limited = files(fake, job_id)
        other = files(fake, job_id, OTHER_KEY)
        # Then both get Iterable's 429, per second, naming the endpoint, without Retry-After
        assert limited.status_code == 429 and other.status_code == 429
        assert "Retry-After" not in limited.headers
        assert limited.headers["Content-Type"] == "application/json; charset=utf-8"
        assert limited.text == (
            '{"msg":"Exceeded rate limit of 1.0 per second for endpoint: '
            f'/api/export/{job_id}/files, project: 2158 ","code":"RateLimitExceeded","params":{{}}}}'
        )
        # The jobs listing is not limited; DELETE has its own bucket
        assert all(list_jobs(fake).status_code == 200 for _ in range(3))
        assert delete(fake, job_id).status_code == 200
        again = delete(fake, job_id)
        assert again.status_code == 429
        assert again.json()["msg"] == (
            f"Exceeded rate limit of 1.0 per second for endpoint: /api/export/{job_id}, project: 2158 "
        )
        # A rolling second later both buckets have room again
        time.sleep(1.05)
        assert files(fake, job_id).status_code == 200
        assert delete(fake, job_id).status_code == 200
        assert fake.stats()["statuses"] == {"200": 7, "429": 3}


def test_the_job_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND", "2")
    with FakeIterable(api_keys=[KEY], **_fast(None)) as fake:
        answers = [start(fake, dataTypeName="emailOpen", **JAN) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert "of 2.0 per second for endpoint: /api/export/start," in answers[2].json()["msg"]


def _fast(rps: float | None) -> dict[str, Any]:
    return {**FAST, "export_job_rps": rps, "export_delete_rps": rps}


# -- faults ----------------------------------------------------------------------------------------------


def test_job_failed_fault_fails_the_matching_job_once(server: FakeIterable) -> None:
    # Given a failure rule for emailSend jobs
    settings(server, row_seconds=0.002, file_bytes=4096)
    fault(server, kind="job_failed", match={"dataTypeName": "emailsend"}, after_seconds=0.2)
    # When an emailOpen and two emailSend jobs run
    other = start_id(server, dataTypeName="emailOpen")
    failing = start_id(server, dataTypeName="emailSend")
    healthy = start_id(server, dataTypeName="emailSend")
    # Then only the first emailSend job fails, after running a while, with the files written until then
    failed = wait(server, failing, ("failed", "completed"))
    assert failed["jobState"] == "failed"
    assert 0 < len(failed["files"]) < len(control_job(server, failing)["files"])
    assert wait(server, other)["jobState"] == "completed"
    assert wait(server, healthy, ("failed", "completed"))["jobState"] == "completed"
    assert control_job(server, failing)["faults"] == ["job_failed"]
    assert list_jobs(server, jobState="failed").json()["jobs"][0]["id"] == failing
    start_log = [entry for entry in server.stats()["log"] if entry["path"] == START]
    assert [entry.get("fault") for entry in start_log] == [None, "job_failed", None]
    assert start_log[1]["body"]["dataTypeName"] == "emailSend"


def test_job_slow_fault_adds_latency(server: FakeIterable) -> None:
    fault(
        server,
        kind="job_slow",
        seconds=1.0,
        match={"dataTypeName": "emailOpen", "start": "2024-01-01 00:00:00"},
    )
    slow = start_id(server, dataTypeName="emailOpen", **JAN)
    quick = start_id(server, dataTypeName="emailOpen", startDateTime="2024-02-01 00:00:00")
    wait(server, quick)
    assert files(server, slow).json() | {"files": []} == {
        "jobId": slow,
        "jobState": "running",
        "exportTruncated": False,
        "files": [],
    }
    began = time.monotonic()
    wait(server, slow)
    assert time.monotonic() - began > 0.5
    assert control_job(server, slow)["faults"] == ["job_slow"]


def test_job_truncated_fault_keeps_the_first_rows(server: FakeIterable) -> None:
    fault(server, kind="job_truncated", after_rows=10)
    job_id = start_id(server, dataTypeName="emailSend")
    assert wait(server, job_id)["exportTruncated"] is True
    body = job_body(server, job_id)
    assert body.count(b"\n") == 10 and data_json(server, dataTypeName="emailSend", range="All").startswith(
        body
    )


def test_job_requeue_fault_drops_back_to_enqueued_and_keeps_progress(server: FakeIterable) -> None:
    settings(server, row_seconds=0.004, file_bytes=4096, base_latency=0.0, queue_seconds=0.2)
    fault(server, kind="job_requeue", after_seconds=0.3, seconds=0.5)
    job_id = start_id(server, dataTypeName="emailSend")
    seen: list[tuple[str, int]] = []
    while not seen or seen[-1][0] != "completed":
        page = files(server, job_id).json()
        seen.append((page["jobState"], len(page["files"])))
        time.sleep(0.02)
    states = [s for i, (s, _) in enumerate(seen) if i == 0 or s != seen[i - 1][0]]
    assert states == ["enqueued", "running", "enqueued", "running", "completed"]
    assert [n for _, n in seen] == sorted(n for _, n in seen)
    assert max(n for s, n in seen if s == "enqueued") > 0  # dropped back with its files kept


def test_url_expired_fault_expires_one_listing(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailBounce")
    wait(server, job_id)  # listings without files do not spend the fault; this one is after it is set
    fault(server, kind="url_expired", match={"dataTypeName": "emailBounce"})
    stale = files(server, job_id).json()["files"]
    refused = download(stale[0]["url"])
    assert refused.status_code == 403 and "Request has expired" in refused.text
    assert download(files(server, job_id).json()["files"][0]["url"]).status_code == 200
    listed = [entry.get("fault") for entry in server.stats()["log"] if entry["path"].endswith("/files")]
    assert listed[-2:] == ["url_expired", None]


def test_file_cut_fault_closes_the_download_mid_body_once(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailSend")
    url = wait(server, job_id)["files"][0]["url"]
    fault(server, kind="file_cut", match={"jobId": job_id})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # IncompleteRead: fewer bytes than promised
        download(url)
    whole = download(url)
    assert whole.status_code == 200 and len(whole.content) == int(whole.headers["Content-Length"])
    assert [entry.get("fault") for entry in server.storage_stats()["log"]] == ["file_cut", None]


def test_file_malformed_fault_inserts_a_bad_line_once(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailSend")
    url = wait(server, job_id)["files"][0]["url"]
    clean = download(url).content
    fault(server, kind="file_malformed", after_rows=3, line="{not json")
    damaged = download(url).content.splitlines()
    assert damaged[3] == b"{not json" and damaged[:3] + damaged[4:] == clean.splitlines()
    assert download(url).content == clean


def test_file_status_fault_answers_an_s3_error(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailSend")
    url = wait(server, job_id)["files"][0]["url"]
    fault(server, kind="file_status", times=2)
    for _ in range(2):
        busy = download(url)
        assert busy.status_code == 503 and "<Code>SlowDown</Code>" in busy.text
    assert download(url).status_code == 200


def test_429_on_start_fault_answers_the_per_second_body_n_times(server: FakeIterable) -> None:
    fault(server, kind="status", status=429, path=START, times=2)
    answers = [start(server, dataTypeName="emailOpen", **JAN) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json() == {
        "msg": "Exceeded rate limit of 1.0 per second for endpoint: /api/export/start, project: 2158 ",
        "code": "RateLimitExceeded",
        "params": {},
    }
    assert len(server.jobs()) == 1
    # HTTP faults also match the normalised files path
    fault(server, kind="status", status=500, path="/api/export/{jobId}/files")
    assert files(server, answers[2].json()["jobId"]).status_code == 500


def test_job_faults_take_no_path_and_bad_settings_are_refused(server: FakeIterable) -> None:
    refused = requests.post(
        server.base_url + "/_control/faults", json={"kind": "job_failed", "path": START}, timeout=10
    )
    assert refused.status_code == 400 and "takes no path" in refused.json()["error"]
    bad = requests.post(server.base_url + "/_control/jobs/settings", json={"file_bytes": 0}, timeout=10)
    assert bad.status_code == 400
    unknown = requests.post(server.base_url + "/_control/jobs/settings", json={"latency": 1}, timeout=10)
    assert unknown.status_code == 400


def test_the_cli_passes_the_job_flags_through() -> None:
    flags = job_args(base_latency=0.5, file_bytes=2048, url_lifetime=60, jobs_forbidden_keys=["no-jobs"])
    with fake_server_process("--api-key", KEY, "--api-key", "no-jobs", *flags) as base_url:
        answer = requests.get(base_url + "/_control/jobs/settings", timeout=10).json()["settings"]
        assert (answer["base_latency"], answer["file_bytes"], answer["url_lifetime"]) == (0.5, 2048, 60.0)
        jobs_url = base_url + "/api/export/jobs"
        assert requests.get(jobs_url, headers={"Api-Key": "no-jobs"}, timeout=10).status_code == 403
        assert requests.get(jobs_url, headers={"Api-Key": KEY}, timeout=10).status_code == 200
        storage = requests.get(base_url + "/_control/storage", timeout=10).json()["base_url"]
        assert storage.startswith("http://127.0.0.1:") and storage != base_url


def test_a_slow_start_answer_comes_after_the_job_exists(server: FakeIterable) -> None:
    # Given a start call that takes 0.5 s to answer once its job is created
    requests.post(
        server.base_url + "/_control/jobs/settings", json={"start_answer_seconds": 0.5}, timeout=10
    ).raise_for_status()
    asked = time.time()
    job_id = start_id(server, dataTypeName="emailSend", **JAN)
    answered = time.time()
    # Then the answer took that long, and the job was listed (scheduled) before it came
    scheduled = control_job(server, job_id)["created"]
    assert answered - asked >= 0.5
    assert scheduled < answered - 0.4


def test_a_job_can_be_backdated_as_another_client_s_older_export(server: FakeIterable) -> None:
    job_id = start_id(server, dataTypeName="emailSend", **JAN)
    before = control_job(server, job_id)["created"]
    server.state.jobs.backdate(job_id, 60)
    assert control_job(server, job_id)["created"] == pytest.approx(before - 60)
    listed = {job["id"]: job for job in list_jobs(server).json()["jobs"]}
    assert listed[job_id]["scheduledStartTime"] < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(before - 59))
