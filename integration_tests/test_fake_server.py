"""Tests of the fake Iterable server itself, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests

from integration_tests.fake_iterable import FakeIterable, build_dataset

KEY = "test-key"
RO_KEY = "read-only-key"
EXPORT = "/api/export/data.json"
JAN = {"startDateTime": "2024-01-01 00:00:00", "endDateTime": "2024-01-31 00:00:00"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIterable]:
    with FakeIterable(api_keys=[KEY], readonly_keys=[RO_KEY], export_rpm=1000, getusers_rpm=1000) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean(server: FakeIterable) -> None:
    server.reset()


def get(server: FakeIterable, path: str, key: str | None = KEY, **params: str) -> requests.Response:
    headers = {"Api-Key": key} if key else {}
    return requests.get(server.base_url + path, params=params, headers=headers, timeout=10)


def export_rows(response: requests.Response) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in response.content.splitlines() if line]


def test_auth_key_header_variants_and_read_only_key(server: FakeIterable) -> None:
    missing = get(server, "/api/channels", key=None)
    assert missing.status_code == 401
    assert missing.headers["Content-Type"] == "application/json; charset=utf-8"
    assert missing.json() == {
        "msg": "Invalid API key",
        "code": "BadApiKey",
        "params": {"ip": "127.0.0.1", "endpoint": "/api/channels"},
    }
    assert get(server, "/api/channels", key="wrong").status_code == 401
    for header in ("api-key", "API-KEY", "api_key"):
        response = requests.get(server.base_url + "/api/lists", headers={header: KEY}, timeout=10)
        assert response.status_code == 200 and len(response.json()["lists"]) == 8
    # Read-only keys may read JSON resources but get the same 401 on export and getUsers.
    assert get(server, "/api/campaigns", key=RO_KEY).status_code == 200
    denied = get(server, EXPORT, key=RO_KEY, dataTypeName="emailSend", **JAN)
    assert denied.status_code == 401 and denied.json()["params"]["endpoint"] == EXPORT
    assert get(server, "/api/lists/getUsers", key=RO_KEY, listId="3301122").status_code == 401
    unknown = get(server, "/api/nothing/here")
    assert unknown.status_code == 404 and "<title>Action not found</title>" in unknown.text


def test_export_rate_limit_429_body_and_rolling_window() -> None:
    with FakeIterable(api_keys=[KEY, "other"], export_rpm=2, getusers_rpm=1) as fake:
        for _ in range(2):
            assert get(fake, EXPORT, dataTypeName="emailOpen", **JAN).status_code == 200
        limited = get(fake, EXPORT, dataTypeName="emailOpen", **JAN)
        assert limited.status_code == 429
        assert "Retry-After" not in limited.headers
        assert limited.headers["Content-Type"] == "application/json; charset=utf-8"
        assert limited.text == (
            '{"msg":"Exceeded rate limit of 2.0 per minute for endpoint: /api/export/data.json, '
            'project: 2158 ","code":"RateLimitExceeded","params":{}}'
        )
        assert get(fake, EXPORT, key="other", dataTypeName="emailOpen", **JAN).status_code == 200  # per key
        assert get(fake, "/api/lists/getUsers", listId="3301150").status_code == 200
        users_limited = get(fake, "/api/lists/getUsers", listId="3301150")
        assert users_limited.status_code == 429 and "of 1.0 per minute" in users_limited.json()["msg"]
        assert fake.stats()["statuses"] == {"200": 4, "429": 2}


def test_export_window_is_start_inclusive_end_exclusive(server: FakeIterable) -> None:
    response = get(server, EXPORT, dataTypeName="emailSend", **JAN, stream="True")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.headers
    assert response.content.endswith(b"}\n")
    got = sorted(str(row["createdAt"]) for row in export_rows(response))
    expected = sorted(
        str(row["createdAt"])
        for row in server.dataset.exports["emailSend"]
        if "2024-01-01 00:00:00" <= str(row["createdAt"]) < "2024-01-31 00:00:00"
    )
    assert got == expected
    assert got[0] == "2024-01-01 00:00:00 +00:00" and got[-1] == "2024-01-30 23:59:59 +00:00"
    assert "2024-01-31 00:00:00 +00:00" not in got and "2023-12-31 23:59:59 +00:00" not in got
    # An explicit offset ("+" sent as %2B), ISO input and the lower-case unsubscribe spelling all work.
    iso = get(
        server,
        EXPORT,
        dataTypeName="emailsend",
        startDateTime="2024-01-01T00:00:00Z",
        endDateTime="2024-01-31 00:00:00 +00:00",
    )
    assert sorted(str(r["createdAt"]) for r in export_rows(iso)) == got
    lower = get(server, EXPORT, dataTypeName="emailUnsubscribe", range="All")
    assert len(export_rows(lower)) == len(server.dataset.exports["emailUnSubscribe"])
    users = export_rows(get(server, EXPORT, dataTypeName="user", startDateTime="2024-03-01 00:00:00"))
    assert users and all(str(u["profileUpdatedAt"]) >= "2024-03-01 00:00:00" for u in users)
    assert get(server, EXPORT, dataTypeName="emailSend", startDateTime="2030-01-01 00:00:00").content == b""


def test_export_bad_params(server: FakeIterable) -> None:
    for params in (
        {"dataTypeName": "bogus", "range": "All"},
        {"dataTypeName": "emailSend"},
        {"dataTypeName": "emailSend", "startDateTime": "yesterday-ish"},
    ):
        response = get(server, EXPORT, **params)
        assert response.status_code == 400 and response.json()["code"] == "BadParams", params


def test_campaign_and_template_paging(server: FakeIterable) -> None:
    first = get(server, "/api/campaigns", page="1", pageSize="1000").json()
    assert len(first["campaigns"]) == 1000 and first["totalCampaignsCount"] == 1203
    assert "page=2" in first["nextPageUrl"] and "previousPageUrl" not in first
    second = get(server, "/api/campaigns", page="2", pageSize="1000").json()
    assert len(second["campaigns"]) == 203 and "nextPageUrl" not in second and "previousPageUrl" in second
    ids = [c["id"] for c in first["campaigns"] + second["campaigns"]]
    assert len(set(ids)) == 1203
    legacy = get(server, "/api/campaigns").json()
    assert list(legacy) == ["campaigns"] and len(legacy["campaigns"]) == 1203
    assert get(server, "/api/campaigns", pageSize="1001").status_code == 400
    seen: list[int] = []
    for kind in ("Base", "Blast", "Triggered", "Workflow"):
        for medium in ("Email", "Push", "InApp", "SMS"):
            page = get(
                server, "/api/templates", templateType=kind, messageMedium=medium, page="1", pageSize="1000"
            ).json()
            assert page["totalTemplatesCount"] == len(page["templates"])
            seen += [t["templateId"] for t in page["templates"]]
    assert len(seen) == 150 and len(set(seen)) == 147  # three templates are listed twice


def test_metadata_next_marker_and_not_found(server: FakeIterable) -> None:
    keys: list[str] = []
    params: dict[str, str] = {}
    pages = 0
    while True:
        body = get(server, "/api/metadata/PRODUCTS", **params).json()  # table names: case-insensitive
        keys += [r["key"] for r in body["results"]]
        pages += 1
        if "nextMarker" not in body:
            break
        params = {"nextMarker": body["nextMarker"]}
    assert pages == 3 and len(keys) == 12 and len(set(keys)) == 12 and "shared-1" in keys
    assert get(server, "/api/metadata/nope").json() == {"results": []}
    value = get(server, "/api/metadata/stores/shared-1").json()
    assert set(value) == {"table", "key", "size", "lastModified", "value"} and value["table"] == "stores"
    missing = get(server, "/api/metadata/stores/SHARED-1")  # keys are case-sensitive
    assert missing.status_code == 404
    assert missing.json() == {
        "msg": "No metadata found in table stores with key SHARED-1",
        "code": "NotFound",
        "params": None,
    }


def test_get_users_bodies(server: FakeIterable) -> None:
    newsletter = get(server, "/api/lists/getUsers", listId="3301122")
    assert newsletter.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "\n\n" in newsletter.text and newsletter.text.endswith("\n\n")
    assert newsletter.text == "\n".join(server.dataset.list_members[3301122])
    assert get(server, "/api/lists/getUsers", listId="3301124").content == b""
    bad = get(server, "/api/lists/getUsers", listId="42")
    assert bad.status_code == 400
    assert bad.json() == {
        "msg": "error.lists.invalidListId(42)",
        "code": "Success",
        "params": {"projectId": 2158, "listId": 42},
    }


def test_cut_fault_breaks_the_chunked_body_once(server: FakeIterable) -> None:
    server.add_fault({"path": EXPORT, "match": {"dataTypeName": "EMAILSEND"}, "kind": "cut", "after_rows": 3})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(server, EXPORT, dataTypeName="emailSend", range="All")
    raw = requests.get(
        server.base_url + EXPORT,
        params={"dataTypeName": "emailOpen", "range": "All"},
        headers={"Api-Key": KEY},
        timeout=10,
    )
    assert raw.status_code == 200  # the rule matches emailSend only
    again = get(server, EXPORT, dataTypeName="emailSend", range="All")  # times defaults to 1
    assert len(export_rows(again)) == len(server.dataset.exports["emailSend"])
    log = server.stats()["log"]
    assert [entry.get("fault") for entry in log] == ["cut", None, None]


def test_malformed_status_reset_and_stall_faults(server: FakeIterable) -> None:
    server.add_fault({"path": EXPORT, "kind": "malformed", "after_rows": 2})
    lines = get(server, EXPORT, dataTypeName="emailClick", range="All").content.splitlines()
    assert lines[2] == b'{"email": "x@example.com", "createdAt": '
    assert len(lines) == len(server.dataset.exports["emailClick"]) + 1

    server.add_fault(
        {
            "path": "/api/lists/getUsers",
            "match": {"listId": 3301150},
            "kind": "status",
            "status": 500,
            "times": None,
        }
    )
    for _ in range(2):
        failed = get(server, "/api/lists/getUsers", listId="3301150")
        assert failed.status_code == 500 and failed.json()["code"] == "GenericError"
    assert get(server, "/api/lists/getUsers", listId="3301123").status_code == 200

    server.add_fault({"path": "/api/channels", "kind": "reset"})
    with pytest.raises(requests.exceptions.ConnectionError):
        get(server, "/api/channels")

    server.add_fault({"path": EXPORT, "kind": "stall", "after_rows": 1, "seconds": 3})
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):  # read timeout while streaming the body
        requests.get(
            server.base_url + EXPORT,
            params={"dataTypeName": "emailSend", "range": "All"},
            headers={"Api-Key": KEY},
            timeout=(5, 0.5),
        )
    assert time.monotonic() - started < 2.5


def test_keep_alive_connection_serves_chunked_and_fixed_bodies(server: FakeIterable) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for path in (
            f"{EXPORT}?dataTypeName=emailBounce&range=All",
            "/api/channels",
            f"{EXPORT}?dataTypeName=user&startDateTime=2024-01-01+00%3A00%3A00",
            "/_control/health",
        ):
            conn.request("GET", path, headers={"Api-Key": KEY})
            response = conn.getresponse()
            assert response.status == 200 and response.read()
            assert not response.will_close
    finally:
        conn.close()
    assert server.stats()["requests"][EXPORT] == 2


def test_control_events_reach_the_next_window(server: FakeIterable) -> None:
    row = {"email": "late@example.com", "createdAt": "2024-07-02 10:00:00 +00:00", "messageId": "f" * 32}
    added = requests.post(
        server.base_url + "/_control/events", json={"dataTypeName": "emailSend", "rows": [row]}, timeout=10
    )
    assert added.json() == {"ok": True, "added": 1}
    window = get(server, EXPORT, dataTypeName="emailSend", startDateTime="2024-07-01 00:00:00")
    assert export_rows(window) == [row]
    requests.post(server.base_url + "/_control/reset", timeout=10)
    assert get(server, EXPORT, dataTypeName="emailSend", startDateTime="2024-07-01 00:00:00").content == b""


def test_bench_rows_are_lazy_distinct_and_inside_the_day() -> None:
    with FakeIterable(api_keys=[KEY], export_rpm=0, bench_rows=20_000) as fake:
        rows = export_rows(
            get(
                fake,
                EXPORT,
                dataTypeName="emailSend",
                startDateTime="2024-01-01 00:00:00",
                endDateTime="2024-01-02 00:00:00",
            )
        )
        assert len(rows) == 20_000 and len({r["messageId"] for r in rows}) == 20_000
        assert all("2024-01-01 00:00:00" <= str(r["createdAt"]) < "2024-01-02" for r in rows)
        half = export_rows(get(fake, EXPORT, dataTypeName="emailSend", startDateTime="2024-01-01 12:00:00"))
        assert len(half) == 10_000
        assert get(fake, EXPORT, dataTypeName="emailOpen", range="All").content == b""


def test_dataset_seed_shapes() -> None:
    data = build_dataset(7)
    assert data == build_dataset(7)  # deterministic
    for name, rows in data.exports.items():
        field = "profileUpdatedAt" if name == "user" else "createdAt"
        stamps = [str(r[field]) for r in rows]
        for boundary in (
            "2023-12-31 23:59:59",
            "2024-01-01 00:00:00",
            "2024-01-30 23:59:59",
            "2024-01-31 00:00:00",
            "2024-03-01 00:00:00",
        ):
            assert f"{boundary} +00:00" in stamps, (name, boundary)
        assert len(stamps) > len(set(stamps))  # at least two rows share a second
        assert all(v is not None for r in rows for v in r.values())  # optional keys absent, never null
    assert any(r.get("transactionalData") == "not json {" for r in data.exports["emailSend"])
    assert sum("Industry" in u and "offers.Intro APR" in u for u in data.exports["user"]) >= 3


def test_cli_prints_one_line_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integration_tests.fake_iterable",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        port = int(port_file.read_text())
        assert line == f"fake-iterable listening on http://127.0.0.1:{port}"
        health = requests.get(f"http://127.0.0.1:{port}/_control/health", timeout=5)
        assert health.json() == {"ok": True}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
