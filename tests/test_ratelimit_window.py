"""Tests of the exact sliding-window rate limiter, in-process and on a real Redis.

The Redis tests use ``IOTA_TEST_REDIS_URL`` (default 127.0.0.1:6379, db 0) with a unique
namespace per test, deleted afterwards. Outage tests run their own ``redis-server``.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
import redis
from _checks import concurrent_checks
from redis_servers import REDIS_URL, OwnRedis

from iota_scripts_sdk._ratelimit import RateLimiter
from iota_scripts_sdk._ratewindow import LocalWindow
from iota_scripts_sdk.errors import ScriptError


@pytest.fixture(params=["local", "redis"])
def limiter(request: pytest.FixtureRequest, namespace: str) -> RateLimiter:
    url = None
    if request.param == "redis":
        request.getfixturevalue("main_redis")
        url = REDIS_URL
    return RateLimiter(url, namespace=namespace, algorithm="sliding_window")


def _count_allowed(limiter: RateLimiter, key: str, n: int, limit: int, period: float) -> int:
    return sum(limiter.check(key, limit, period).allowed for _ in range(n))


def _hammer(limiter: RateLimiter, limit: int, window: float, seconds: float, threads: int):
    """Calls ``check`` from ``threads`` threads for ``seconds``; returns the
    ``(before, after)`` monotonic times of every allowed call."""
    allowed: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        while time.monotonic() < stop_at:
            before = time.monotonic()
            ok = limiter.check("k", limit, window).allowed
            if ok:
                mine.append((before, time.monotonic()))
        with lock:
            allowed.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 30)
    return sorted(allowed)


def _most_in_one_window(allowed: list[tuple[float, float]], window: float) -> int:
    """A lower bound of the most allowed calls in one window: call j surely came less
    than ``window`` after call i when ``after_j - before_i < window``."""
    most = 0
    for i, (before_i, _after) in enumerate(allowed):
        inside = sum(1 for _b, after_j in allowed[i:] if after_j - before_i < window)
        most = max(most, inside)
    return most


def test_200_concurrent_attempts_allow_exactly_50(limiter: RateLimiter) -> None:
    decisions = concurrent_checks(limiter, 200, "endpoint", 50, 60)
    allowed = [d for d in decisions if d.allowed]
    denied = [d for d in decisions if not d.allowed]
    assert (len(allowed), len(denied)) == (50, 150)
    # each allowed call saw its own count; nothing refills within the minute
    assert sorted(d.remaining for d in allowed) == list(range(50))
    assert all(d.remaining == 0 and 50 < d.retry_after_sec <= 60 for d in denied)
    # when the oldest of the 50 leaves the window, rounded up
    assert all(
        d.headers()["Retry-After"] == str(math.ceil(round(d.retry_after_sec, 6))) for d in denied
    )
    assert all(not d.degraded and d.limit == 50 for d in decisions)
    # later attempts in the same minute are all refused
    assert _count_allowed(limiter, "endpoint", 20, 50, 60) == 0


def test_capacity_returns_entry_by_entry(limiter: RateLimiter) -> None:
    assert _count_allowed(limiter, "k", 2, 4, 1.0) == 2  # at t0
    time.sleep(0.4)
    assert _count_allowed(limiter, "k", 5, 4, 1.0) == 2  # at t0 + 0.4: the rest
    denied = limiter.check("k", 4, 1.0)
    assert not denied.allowed
    # the two t0 entries leave at t0 + 1 (less if this thread was descheduled)
    assert 0.2 < denied.retry_after_sec <= 0.6
    time.sleep(denied.retry_after_sec + 0.05)
    # only the two spent at t0 are back: no fresh burst of 4 at the window edge
    assert _count_allowed(limiter, "k", 6, 4, 1.0) == 2
    time.sleep(0.4)
    assert _count_allowed(limiter, "k", 6, 4, 1.0) == 2


def test_never_more_than_limit_in_any_window(limiter: RateLimiter) -> None:
    allowed = _hammer(limiter, 5, 0.5, 2.2, threads=4)
    assert _most_in_one_window(allowed, 0.5) <= 5
    # and capacity did come back: about 5 per half second
    assert 5 * 3 <= len(allowed) <= 5 * 5


def test_gcra_control_bursts_past_the_limit(namespace: str) -> None:
    # The same measurement catches GCRA's burst-then-refill: proof that it can fail.
    gcra = RateLimiter(None, namespace=namespace, algorithm="gcra")
    allowed = _hammer(gcra, 5, 0.5, 1.2, threads=2)
    assert _most_in_one_window(allowed, 0.5) > 5


def test_decision_fields(limiter: RateLimiter) -> None:
    first = limiter.check("k", 3, 60)
    assert first.allowed and first.remaining == 2 and first.retry_after_sec == 0
    assert first.reset_after_sec == 60
    time.sleep(0.2)
    limiter.check("k", 3, 60)
    last = limiter.check("k", 3, 60)
    assert last.allowed and last.remaining == 0 and last.reset_after_sec == 60
    denied = limiter.check("k", 3, 60)
    assert not denied.allowed and denied.remaining == 0
    assert 58.5 < denied.retry_after_sec <= 59.8  # the first entry, 0.2 s older
    assert 59 < denied.reset_after_sec <= 60.0  # the newest entry
    assert denied.reset_after_sec > denied.retry_after_sec
    assert denied.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "Retry-After": str(math.ceil(denied.retry_after_sec)),  # 60, or 59 after a stall
    }
    peek = limiter.check("other", 3, 60, cost=0)
    assert peek.allowed and peek.remaining == 3 and peek.reset_after_sec == 0


def test_cost(limiter: RateLimiter) -> None:
    d = limiter.check("k", 5, 60, cost=3)
    assert d.allowed and d.remaining == 2
    peek = limiter.check("k", 5, 60, cost=0)
    assert peek.allowed and peek.remaining == 2
    assert not limiter.check("k", 5, 60, cost=3).allowed  # denied requests are not charged
    assert limiter.check("k", 5, 60, cost=2).allowed
    assert not limiter.check("k", 5, 60, cost=1).allowed


def test_keys_are_independent(limiter: RateLimiter) -> None:
    for key in ("a:b", "a%3Ab", "a", "*"):
        assert limiter.check(key, 1, 60).allowed, key
    for key in ("a:b", "a%3Ab", "a", "*"):
        assert not limiter.check(key, 1, 60).allowed, key


def test_invalid_arguments() -> None:
    window = RateLimiter(None, algorithm="sliding_window")
    with pytest.raises(ScriptError) as info:
        window.check("k", 100_001, 60)
    assert info.value.code == "invalid_argument"
    assert window.check("k", 100_000, 60).allowed
    assert RateLimiter(None, algorithm="gcra").check("k", 100_001, 60).allowed
    for bad in ("", "window", "GCRA", None):
        with pytest.raises(ValueError):
            RateLimiter(None, algorithm=bad)  # type: ignore[arg-type]


def test_local_log_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    log = LocalWindow(max_keys=3, max_entries=10)
    for n in range(6):
        assert log.check(f"k{n}", 60_000_000, 5, 1)[0] == 1
    assert len(log._logs) == 3 and log._entries == 3
    assert list(log._logs) == ["k3", "k4", "k5"]  # the least recently charged went first
    for _ in range(4):
        log.check("k5", 60_000_000, 5, 1)
    assert log.check("k5", 60_000_000, 5, 1)[0] == 0
    assert log._entries == 7
    for n in range(3):  # entries past the bound push out other keys, never the charged one
        log.check(f"big{n}", 60_000_000, 5, 5)
    assert log._entries <= 10 and "big2" in log._logs


# --------------------------------------------------------------------------- Redis specifics


def test_redis_zset_members_ttl_and_server_time(
    main_redis: redis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = RateLimiter(REDIS_URL, namespace=namespace, algorithm="sliding_window")
    real_time, real_ns = time.time, time.monotonic_ns
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    monkeypatch.setattr(time, "monotonic_ns", lambda: real_ns() + 3600 * 10**9)
    assert shared.check("k", 10, 2.0, cost=4).allowed
    assert _count_allowed(shared, "k", 10, 10, 2.0) == 6
    key = shared.physical_key("k")
    assert main_redis.type(key) in ("zset", b"zset")
    assert main_redis.zcard(key) == 10  # unique members, even within one microsecond
    assert 1500 < int(main_redis.pttl(key)) <= 2000  # TTL = the window
    # the client's clock is an hour ahead and does not matter
    assert not shared.check("k", 10, 2.0).allowed
    time.sleep(2.1)
    assert main_redis.exists(key) == 0
    assert shared.check("k", 10, 2.0, cost=0).remaining == 10
    assert main_redis.exists(key) == 0  # inspecting stores nothing


def test_redis_shared_between_limiters(main_redis: redis.Redis, namespace: str) -> None:
    one = RateLimiter(REDIS_URL, namespace=namespace, algorithm="sliding_window")
    two = RateLimiter(REDIS_URL, namespace=namespace, algorithm="sliding_window")
    assert one.check("k", 2, 60).allowed
    assert two.check("k", 2, 60).allowed
    assert not one.check("k", 2, 60).allowed


def test_redis_foreign_value_applies_policy(main_redis: redis.Redis, namespace: str) -> None:
    limiter = RateLimiter(
        REDIS_URL, namespace=namespace, on_unavailable="allow", algorithm="sliding_window"
    )
    main_redis.set(limiter.physical_key("k"), "a GCRA TAT")
    decision = limiter.check("k", 1, 60)
    assert decision.allowed and decision.degraded


@pytest.mark.parametrize("policy", ["deny", "allow", "local"])
def test_redis_unavailable_policies(own_redis: OwnRedis, policy: str) -> None:
    limiter = RateLimiter(own_redis.url, on_unavailable=policy, algorithm="sliding_window")
    assert _count_allowed(limiter, "k", 2, 2, 60) == 2
    assert not limiter.check("k", 2, 60).allowed

    own_redis.kill()
    outage = [limiter.check("k", 2, 60) for _ in range(4)]
    assert all(d.degraded for d in outage)
    if policy == "deny":
        assert [d.allowed for d in outage] == [False] * 4
        assert outage[0].headers()["Retry-After"] == "1"
    elif policy == "allow":
        assert [d.allowed for d in outage] == [True] * 4
    else:  # the in-process log decides, exactly, with its own (fresh) state
        assert [d.allowed for d in outage] == [True, True, False, False]
        assert 59 < outage[2].retry_after_sec <= 60
        barrier = threading.Barrier(40)
        results: list[bool] = []

        def worker() -> None:
            barrier.wait()
            results.append(limiter.check("parallel", 10, 60).allowed)

        pool = [threading.Thread(target=worker) for _ in range(40)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(10)
        assert results.count(True) == 10 and len(results) == 40

    own_redis.start()  # recovery needs nothing but the next call
    back = limiter.check("k", 2, 60)
    assert back.allowed and not back.degraded and back.remaining == 1
