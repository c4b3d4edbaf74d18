"""The engine's main loop with scripted streams: order, checkpoints, counts, statuses, failures, bounds.

Each scripted unit blocks until the test releases it, so the test decides the order downloads finish in.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from source_iterable.api.errors import ApiError, ConnectorError, FailureType
from source_iterable.engine.lanes import EXPORT, JOBS, RESOURCES, pick
from source_iterable.engine.output import Output, install_logging
from source_iterable.engine.sync import Sync
from source_iterable.engine.track import ReadAhead
from source_iterable.engine.units import Batch, Fetched, Plan, StreamRun, Unit, Verdict


class Script(StreamRun):
    """A stream of ``len(rows)`` units; unit i yields ``rows[i]`` records once ``release(i)`` is called."""

    def __init__(
        self,
        name: str,
        rows: list[int],
        lane: str = EXPORT,
        fail: Mapping[int, ConnectorError] | None = None,
        verdict: Verdict = Verdict.FAIL_STREAM,
        size: int = 0,
    ) -> None:
        super().__init__(name)
        self.gates = [threading.Event() for _ in rows]
        self.running = 0
        self.most_running = 0
        self.started: list[int] = []
        self.finished: list[int] = []
        self._lock = threading.Lock()
        self.fail = dict(fail or {})
        self.verdict = verdict
        for index, count in enumerate(rows):
            self.queue(Unit(name, lane, f"unit {index}", self._fetcher(index, count, size), {"upTo": index}))

    def _fetcher(self, index: int, count: int, size: int) -> Any:
        def fetch(unit: Unit) -> Fetched:
            with self._lock:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
                self.started.append(index)
            try:
                assert self.gates[index].wait(10), f"unit {index} of {self.name} never released"
                if index in self.fail:
                    raise self.fail[index]
                lines = [orjson.dumps({"stream": self.name, "unit": index, "n": n}) for n in range(count)]
                batch = Batch(lines)
                batch.size = size
                return Fetched(batch, rows=count)
            finally:
                with self._lock:
                    self.running -= 1
                    self.finished.append(index)

        return fetch

    def release(self, *indices: int) -> None:
        for index in indices:
            self.gates[index].set()

    def plan(self) -> Plan:
        return Plan("scripted", {})

    def failed(self, unit: Unit, error: ConnectorError) -> Verdict:
        return self.verdict


def messages(out: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def run_sync(
    runs: list[StreamRun], release: Any, read_ahead: ReadAhead | None = None
) -> tuple[bool, list[dict[str, Any]], threading.Event]:
    out = io.BytesIO()
    abort = threading.Event()
    sync = Sync(runs, {EXPORT: 4, RESOURCES: 4}, Output(out), abort, read_ahead or ReadAhead())
    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    ok = sync.run()
    releaser.join(5)
    return ok, messages(out), abort


def wait_until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("condition never held")


def checkpoints(found: list[dict[str, Any]], stream: str) -> list[str]:
    return [step for step in trail(found, stream) if step.startswith("S") and ":" in step]


def trail(found: list[dict[str, Any]], stream: str) -> list[str]:
    """What one stream printed, in order: R (record of unit i), S(i) (state), and statuses."""
    out = []
    for m in found:
        if m["type"] == "RECORD" and m["record"]["stream"] == stream:
            out.append(f"R{m['record']['data']['unit']}")
        elif m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream:
            out.append(
                f"S{m['state']['stream']['stream_state']['upTo']}:{int(m['state']['sourceStats']['recordCount'])}"
            )
        elif m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS":
            if m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream:
                out.append(m["trace"]["stream_status"]["status"])
    return [step for i, step in enumerate(out) if not (step.startswith("R") and i and out[i - 1] == step)]


def test_units_finishing_in_reverse_order_are_printed_in_order_each_state_after_its_records() -> None:
    # given a stream of three units whose downloads finish last-first
    stream = Script("email_send", [2, 3, 1])

    def release() -> None:
        stream.release(2)
        stream.release(1)
        stream.release(0)

    # when the sync runs
    ok, found, _ = run_sync([stream], release, ReadAhead(units_per_stream=3))
    # then records and checkpoints come in unit order, each count covering its own unit
    assert ok
    assert trail(found, "email_send") == [
        "STARTED",
        "RUNNING",
        "R0",
        "S0:2",
        "R1",
        "S1:3",
        "R2",
        "S2:1",
        "COMPLETE",
    ]


def test_streams_fetch_at_once_and_their_records_may_interleave() -> None:
    # given two streams, the second one's unit finishing first
    first = Script("email_open", [1, 1])
    second = Script("email_click", [1])

    def release() -> None:
        second.release(0)
        first.release(0, 1)

    ok, found, _ = run_sync([first, second], release)
    assert ok
    assert trail(found, "email_click") == ["STARTED", "RUNNING", "R0", "S0:1", "COMPLETE"]
    assert trail(found, "email_open") == ["STARTED", "RUNNING", "R0", "S0:1", "R1", "S1:1", "COMPLETE"]


def test_a_failed_unit_stops_its_stream_after_the_units_before_it_and_never_prints_a_later_one() -> None:
    # given unit 1 of a stream fails for good while unit 2 was already fetched, and another stream is fine
    error = ConnectorError(
        "stream 'users', window [b, c): failed after 6 attempts", FailureType.transient_error
    )
    broken = Script("users", [2, 2, 2], fail={1: error})
    fine = Script("lists", [1], lane=RESOURCES)

    def release() -> None:
        broken.release(2)
        fine.release(0)
        broken.release(0, 1)

    ok, found, _ = run_sync([broken, fine], release, ReadAhead(units_per_stream=3))
    # then the stream keeps unit 0 and its checkpoint, ends INCOMPLETE with a trace naming it
    assert not ok
    assert trail(found, "users") == ["STARTED", "RUNNING", "R0", "S0:2", "INCOMPLETE"]
    [trace] = [m["trace"]["error"] for m in found if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert trace["stream_descriptor"] == {"name": "users"} and "window [b, c)" in trace["message"]
    assert trace["failure_type"] == "transient_error"
    # and the other stream completes
    assert trail(found, "lists")[-1] == "COMPLETE"


def test_a_skipped_unit_loses_only_its_records_and_the_stream_fails_at_its_end() -> None:
    error = ConnectorError("stream 'list_users', list 7: HTTP 500 (GenericError)")
    lists = Script("list_users", [1, 1, 1], fail={1: error}, verdict=Verdict.SKIP)
    ok, found, _ = run_sync([lists], lambda: lists.release(0, 1, 2))
    assert not ok
    assert trail(found, "list_users") == [
        "STARTED",
        "RUNNING",
        "R0",
        "S0:1",
        "S1:0",
        "R2",
        "S2:1",
        "INCOMPLETE",
    ]
    [trace] = [m["trace"]["error"] for m in found if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert "list 7" in trace["message"]


def test_a_key_refused_by_a_resource_endpoint_stops_the_whole_sync_with_one_config_error() -> None:
    # given a resource stream whose key is refused while an export stream still has work
    refused = ApiError(
        "stream 'channels': GET /api/channels failed: HTTP 401 (BadApiKey)",
        FailureType.config_error,
        401,
        False,
        "/api/channels",
        RESOURCES,
    )
    channels = Script("channels", [1], lane=RESOURCES, fail={0: refused})
    exports = Script("email_send", [1, 1, 1])
    ok, found, abort = run_sync([channels, exports], lambda: channels.release(0))
    # then one config_error trace, every stream incomplete, and every worker told to stop
    assert not ok and abort.is_set()
    errors = [m["trace"]["error"] for m in found if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert (
        len(errors) == 1
        and errors[0]["failure_type"] == "config_error"
        and "stream_descriptor" not in errors[0]
    )
    assert trail(found, "channels")[-1] == "INCOMPLETE" and trail(found, "email_send")[-1] == "INCOMPLETE"
    assert not any(m["type"] == "RECORD" for m in found)
    for gate in exports.gates:
        gate.set()


def test_read_ahead_bounds_the_units_in_flight_or_waiting_per_stream() -> None:
    # given six units and a bound of two
    stream = Script("email_send", [1] * 6)
    seen: list[int] = []

    def release() -> None:
        wait_until(lambda: stream.running == 2)
        threading.Event().wait(0.2)
        seen.append(len(stream.started))  # nothing more started while two are out
        stream.release(*range(6))

    ok, found, _ = run_sync([stream], release, ReadAhead(units_per_stream=2))
    assert ok and seen == [2] and stream.most_running == 2
    assert checkpoints(found, "email_send") == [f"S{i}:1" for i in range(6)]


def test_no_new_unit_starts_while_unprinted_records_hold_the_disk_bound() -> None:
    # given units of 100 bytes each and a bound of 150 bytes: after one fetched unit, a second may start,
    # a third may not until the first is printed; the head unit is held back to pile them up
    stream = Script("email_send", [1, 1, 1, 1, 1], size=100)
    seen: list[list[int]] = []

    def release() -> None:
        wait_until(lambda: len(stream.started) == 4)
        stream.release(1)
        wait_until(lambda: 1 in stream.finished)
        threading.Event().wait(0.2)
        seen.append(sorted(stream.started))  # 100 held < 150: unit 4 may start
        stream.release(2)
        wait_until(lambda: 2 in stream.finished)
        threading.Event().wait(0.2)
        seen.append(sorted(stream.started))
        stream.release(0, 3, 4)

    # four lanes wide, so only the bounds decide what starts
    ok, found, _ = run_sync([stream], release, ReadAhead(units_per_stream=5, bytes=150))
    assert ok
    assert seen == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    assert checkpoints(found, "email_send") == ["S0:1", "S1:1", "S2:1", "S3:1", "S4:1"]


@pytest.mark.parametrize("count", [0, 3])
def test_a_stream_without_records_goes_from_started_to_complete(count: int) -> None:
    stream = Script("email_complaint", [0] * count)
    ok, found, _ = run_sync([stream], lambda: stream.release(*range(count)))
    assert ok
    assert "RUNNING" not in trail(found, "email_complaint")
    assert trail(found, "email_complaint")[-1] == "COMPLETE"


# ------------------------------------------------------------------ lanes, output, unexpected errors


def test_pick_serves_the_streams_of_a_lane_in_turn() -> None:
    # given three streams whose next units wait on the export lane, one of them at its bound
    candidates = [
        ("email_send", EXPORT, True),
        ("lists", RESOURCES, True),
        ("email_open", EXPORT, True),
        ("email_click", EXPORT, False),
    ]
    # then the lane goes round the streams that may dispatch on it, starting after the last served
    assert pick(EXPORT, candidates, None) == "email_send"
    assert pick(EXPORT, candidates, "email_send") == "email_open"
    assert pick(EXPORT, candidates, "email_open") == "email_send"
    assert pick(EXPORT, candidates, "retired") == "email_send"
    assert pick(RESOURCES, candidates, "lists") == "lists"
    assert pick(JOBS, candidates, None) is None


class Broken(StreamRun):
    """A stream whose one unit hits a bug."""

    def __init__(self) -> None:
        super().__init__("channels")
        self.queue(Unit("channels", RESOURCES, "GET /api/channels", self._fetch))

    def _fetch(self, unit: Unit) -> Fetched:
        raise KeyError("id")

    def plan(self) -> Plan:
        return Plan("scripted", {})


def test_an_unexpected_error_fails_its_stream_with_the_stack_trace_and_the_others_go_on() -> None:
    fine = Script("lists", [1], lane=RESOURCES)

    ok, found, _ = run_sync([Broken(), fine], lambda: fine.release(0))

    assert not ok
    [trace] = [m["trace"]["error"] for m in found if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert trace["message"] == "channels, GET /api/channels: unexpected error KeyError: 'id'"
    assert trace["failure_type"] == "system_error" and "Traceback" in trace["stack_trace"]
    assert trail(found, "lists")[-1] == "COMPLETE"


def test_output_writes_whole_lines_flushes_messages_and_redacts_logs() -> None:
    class Counting(io.BytesIO):
        flushes = 0

        def flush(self) -> None:
            Counting.flushes += 1
            super().flush()

    out = Counting()
    output = Output(out, redact=lambda text: text.replace("s3cret", "****"))

    output.records(b'{"type":"RECORD"}\n')
    assert Counting.flushes == 0  # records wait in the buffer
    output.log("WARN", "key s3cret refused")
    assert Counting.flushes == 1  # everything else goes at once
    output.records(b"")

    assert messages(out)[1] == {"type": "LOG", "log": {"level": "WARN", "message": "key **** refused"}}


def test_logging_goes_through_the_output_as_log_messages_until_undone() -> None:
    out = io.BytesIO()
    logger = logging.getLogger("airbyte")
    before = (logger.handlers[:], logger.level, logger.propagate)
    undo = install_logging(Output(out), debug=False)
    try:
        logger.debug("hidden")
        logger.info("plan: %d windows", 4)
        logger.warning("slow")
        logging.getLogger("urllib3").error("pool full")
    finally:
        undo()

    assert [m["log"] for m in messages(out)] == [
        {"level": "INFO", "message": "plan: 4 windows"},
        {"level": "WARN", "message": "slow"},
        {"level": "ERROR", "message": "pool full"},
    ]
    assert (logger.handlers, logger.level, logger.propagate) == before


# ------------------------------------------------------------------ handshakes: a worker waits for its STATE


class Announcing(StreamRun):
    """Units that hand the main thread a handshake before going on (as an export job's intent does), and
    record what the output held at the moment they were let go."""

    def __init__(self, name: str, units: int, out: io.BytesIO, fail_first: bool = False) -> None:
        super().__init__(name)
        self.out = out
        self.seen_when_let_go: list[int] = []
        self.answers: list[bool] = []
        self.fail_first = fail_first
        self.first_failed = threading.Event()
        for index in range(units):
            self.queue(Unit(name, EXPORT, f"unit {index}", self._fetch, {"upTo": index}))

    def _fetch(self, unit: Unit) -> Fetched:
        if self.fail_first and unit.index == 0:
            self.first_failed.set()
            raise ConnectorError("unit 0 failed", FailureType.transient_error)
        if self.fail_first:
            assert self.first_failed.wait(5)
            threading.Event().wait(0.2)  # the main thread has judged unit 0 by now
        accepted = unit.handshake({"announce": unit.index}, abort=None)
        self.answers.append(accepted)
        if accepted:
            self.seen_when_let_go.append(self.out.getvalue().count(f'"announced":{unit.index}'.encode()))
        return Fetched(Batch([orjson.dumps({"unit": unit.index})]), rows=1)

    def noticed(self, unit: Unit, notice: Any) -> Mapping[str, Any] | None:
        return {"upTo": -1, "announced": notice["announce"]}

    def plan(self) -> Plan:
        return Plan("announcing", {})


def test_a_worker_goes_on_only_once_its_notice_s_state_is_printed() -> None:
    # given a stream whose units each announce themselves and wait
    out = io.BytesIO()
    run = Announcing("s", 3, out)
    sync = Sync([run], {EXPORT: 4}, Output(out), threading.Event(), ReadAhead())
    # when the sync runs
    assert sync.run()
    # then every unit was let go after the STATE naming it had been written out
    assert sorted(run.answers) == [True, True, True]
    assert run.seen_when_let_go == [1, 1, 1]


def test_a_unit_past_its_stream_s_failure_is_told_no_and_nothing_is_recorded() -> None:
    # given a stream whose first unit fails and whose second announces itself afterwards
    out = io.BytesIO()
    run = Announcing("s", 2, out, fail_first=True)
    sync = Sync([run], {EXPORT: 4}, Output(out), threading.Event(), ReadAhead())
    # when the sync runs
    assert not sync.run()
    # then the second unit was told no (once it got that far), and no STATE announced it
    wait_until(lambda: run.answers)
    assert run.answers == [False]
    assert b'"announced"' not in out.getvalue()


def test_a_handshake_gives_up_when_the_sync_stops() -> None:
    abort = threading.Event()
    unit = Unit("s", EXPORT, "unit", lambda u: Fetched(Batch()))
    unit.notify = lambda notice: abort.set()  # nobody settles it: the sync stops instead
    assert unit.handshake("intent", abort) is False


def test_a_unit_fetched_outside_the_engine_is_never_held_by_a_handshake() -> None:
    unit = Unit("s", EXPORT, "unit", lambda u: Fetched(Batch()))
    assert unit.handshake("intent", None) is True
