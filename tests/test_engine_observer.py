"""The engine's observer (``iota_scripts_sdk.observer``): runner counts, starts,
why runners ended, and every sdk call by namespace and outcome.

Real runner processes; each test has its own engine so the counts are its own.
"""

from __future__ import annotations

import threading

import pytest

from iota_scripts_sdk import Engine, EngineConfig, EngineObserver, Limits, ScriptError
from iota_scripts_sdk.errors import CODES
from iota_scripts_sdk.observer import RUNNER_END_REASONS, sdk_call_labels


class Recorder(EngineObserver):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: list[tuple[int, int]] = []
        self.started = 0
        self.ended: list[str] = []
        self.calls: list[tuple[str, str]] = []

    def runners_changed(self, alive: int, busy: int) -> None:
        with self.lock:
            self.counts.append((alive, busy))

    def runner_started(self) -> None:
        with self.lock:
            self.started += 1

    def runner_ended(self, reason: str) -> None:
        with self.lock:
            self.ended.append(reason)

    def sdk_call(self, namespace: str, outcome: str) -> None:
        with self.lock:
            self.calls.append((namespace, outcome))


@pytest.fixture
def observed():
    engine = Engine(EngineConfig(runners=1, recycle_after_runs=3))
    recorder = Recorder()
    engine.set_observer(recorder)
    yield engine, recorder
    engine.close()


def _wait_for(predicate, timeout_sec: float = 20.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout_sec / 0.05)):
        if predicate():
            return
        done.wait(0.05)
    raise AssertionError("the observer did not hear it in time")


def test_counts_follow_the_runner_through_a_run(observed):
    engine, rec = observed
    assert rec.counts == [(0, 0)]  # told the current counts at once
    assert engine.run("export default () => 1").ok
    # counted as starting (alive and busy), then idle after the run
    assert rec.counts[1] == (1, 1)
    assert rec.counts[-1] == (1, 0)
    assert rec.started == 1
    assert rec.ended == []


def test_sdk_calls_by_namespace_and_outcome(observed):
    engine, rec = observed

    def search(args):
        return [1, 2]

    def denied(args):
        raise ScriptError("access_denied", "no")

    src = """export default async () => {
      await sdk.db.search("res.partner", []);
      await sdk.db.search("res.partner", []);
      try { await sdk.db.read("res.partner", [1], ["name"]); } catch (e) {}
      try { await sdk.http.fetch("http://127.0.0.1/"); } catch (e) {}
      await sdk.cache.set("k", 1);
      return 1;
    }"""
    result = engine.run(src, host={"db.search": search, "db.read": denied}, tenant="t1")
    assert result.ok, result.error
    assert rec.calls == [
        ("db", "ok"),
        ("db", "ok"),
        ("db", "access_denied"),
        ("http", "destination_blocked"),
        ("cache", "ok"),
    ]


def test_a_runner_past_its_cap_ends_for_limit_and_is_replaced(observed):
    engine, rec = observed
    # the runner first: on a busy machine starting one may take the whole 0.3 s
    # (a timeout "while waiting for a runner" leaves the runner alive)
    assert engine.run("export default () => 1").ok
    result = engine.run("export default () => { for (;;) {} }", limits=Limits(timeout_sec=0.3))
    assert result.error.code in ("timeout", "cpu_limit")
    assert "waiting for a runner" not in result.error.message
    _wait_for(lambda: rec.started == 2)  # the respawn
    assert rec.ended in (["limit"], ["killed"])
    _wait_for(lambda: rec.counts[-1] == (1, 0))


def test_a_crashed_runner_is_told_as_crashed(observed):
    engine, rec = observed
    # V8's fatal "invalid array length" abort kills the runner process
    result = engine.run('export default () => "ab".repeat(2**27).split("")')
    assert result.error.code in ("sandbox_crashed", "memory_limit")
    expected = "crashed" if result.error.code == "sandbox_crashed" else "limit"
    _wait_for(lambda: rec.ended == [expected])


def test_a_worn_runner_is_recycled(observed):
    engine, rec = observed
    for _ in range(3):
        assert engine.run("export default () => 1").ok
    _wait_for(lambda: rec.ended == ["recycled"] and rec.started == 2)
    assert set(rec.ended) <= set(RUNNER_END_REASONS)


def test_an_observer_that_raises_breaks_nothing(caplog):
    class Broken(EngineObserver):
        def sdk_call(self, namespace, outcome):
            raise RuntimeError("boom")

        def runners_changed(self, alive, busy):
            raise RuntimeError("boom")

    engine = Engine(EngineConfig(runners=1))
    try:
        engine.set_observer(Broken())
        result = engine.run("export default async () => { await sdk.cache.set('a', 1); return 2; }")
        assert result.ok and result.result == 2
        assert "engine observer sdk_call failed" in caplog.text
    finally:
        engine.close()


def test_labels_are_bounded_whatever_the_runner_sends():
    assert sdk_call_labels("db.search", None) == ("db", "ok")
    assert sdk_call_labels("http.fetch", "http_error") == ("http", "http_error")
    # names and codes a hostile runner could invent never become labels
    assert sdk_call_labels("evil.x\nname", None) == ("unknown", "ok")
    assert sdk_call_labels(["db.search"], "made_up_code") == ("unknown", "internal_error")
    assert sdk_call_labels("db.search", "not_available") == ("db", "not_available")
    assert "not_available" in CODES
