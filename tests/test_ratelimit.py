"""Tests of iota_scripts_sdk._ratelimit (GCRA) in-process and on a real Redis.

The Redis tests use ``IOTA_TEST_REDIS_URL`` (default 127.0.0.1:6379, db 0) with a unique
namespace per test, deleted afterwards. Outage tests run their own ``redis-server``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
import redis
from _checks import concurrent_checks
from redis_servers import REDIS_URL, OwnRedis, free_port

from iota_scripts_sdk._ratelimit import RateDecision, RateLimiter
from iota_scripts_sdk.errors import ScriptError

# --------------------------------------------------------------------------- helpers


@pytest.fixture(params=["local", "redis"])
def limiter(request: pytest.FixtureRequest, namespace: str) -> RateLimiter:
    if request.param == "redis":
        request.getfixturevalue("main_redis")
        return RateLimiter(REDIS_URL, namespace=namespace)
    return RateLimiter(None, namespace=namespace)


def _code(fn: Callable[[], object]) -> str:
    with pytest.raises(ScriptError) as info:
        fn()
    return info.value.code


def _count_allowed(limiter: RateLimiter, key: str, n: int, limit: int, period: float) -> int:
    return sum(limiter.check(key, limit, period).allowed for _ in range(n))


# --------------------------------------------------------------------------- GCRA behaviour


def test_parallel_burst_is_exact(limiter: RateLimiter) -> None:
    start = time.monotonic()
    decisions = concurrent_checks(limiter, 200, "endpoint", 50, 60)
    elapsed = time.monotonic() - start
    allowed = [d for d in decisions if d.allowed]
    denied = [d for d in decisions if not d.allowed]
    assert len(allowed) == 50
    assert len(denied) == 150
    # the next token is due within one emission interval (60 s / 50 = 1.2 s);
    # how far within depends on how long the burst took on this machine
    assert all(0 < d.retry_after_sec <= 1.2 and d.remaining == 0 for d in denied)
    assert all(int(d.headers()["Retry-After"]) >= 1 for d in denied)
    assert all(not d.degraded and d.limit == 50 for d in decisions)
    if elapsed < 1.0:  # no refill yet (one every 1.2 s): each allowed saw its own count
        assert sorted(d.remaining for d in allowed) == list(range(50))


def test_refill_one_per_interval_no_double_burst(limiter: RateLimiter) -> None:
    # limit 5 per 1 s: emission interval 0.2 s
    assert _count_allowed(limiter, "k", 8, 5, 1.0) == 5
    denied = limiter.check("k", 5, 1.0)
    assert not denied.allowed
    assert 0.1 < denied.retry_after_sec <= 0.2
    time.sleep(denied.retry_after_sec + 0.03)  # just past one emission interval
    assert _count_allowed(limiter, "k", 5, 5, 1.0) == 1
    time.sleep(0.43)  # a little over two intervals
    assert _count_allowed(limiter, "k", 5, 5, 1.0) == 2
    # Past a whole period the key is back to one burst, never two.
    time.sleep(1.05)
    assert _count_allowed(limiter, "k", 12, 5, 1.0) == 5


def test_decision_fields(limiter: RateLimiter) -> None:
    first = limiter.check("k", 3, 60)
    assert first.allowed and first.remaining == 2 and first.retry_after_sec == 0
    assert 19.9 < first.reset_after_sec <= 20.0  # one interval of 20 s consumed
    limiter.check("k", 3, 60)
    last = limiter.check("k", 3, 60)
    assert last.allowed and last.remaining == 0
    assert 59.9 < last.reset_after_sec <= 60.0
    denied = limiter.check("k", 3, 60)
    assert not denied.allowed and denied.remaining == 0
    assert 19.9 < denied.retry_after_sec <= 20.0
    assert 59.9 < denied.reset_after_sec <= 60.0
    assert denied.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "Retry-After": "20",
    }


def test_cost(limiter: RateLimiter) -> None:
    d = limiter.check("k", 5, 60, cost=3)
    assert d.allowed and d.remaining == 2
    peek = limiter.check("k", 5, 60, cost=0)  # inspects, charges nothing
    assert peek.allowed and peek.remaining == 2
    assert not limiter.check("k", 5, 60, cost=3).allowed  # denied requests are not charged
    assert limiter.check("k", 5, 60, cost=2).allowed
    assert not limiter.check("k", 5, 60, cost=1).allowed


def test_keys_are_independent_and_escaped(limiter: RateLimiter, namespace: str) -> None:
    assert limiter.physical_key("a:b*") == f"{namespace}:a%3Ab%2A"
    for key in ("a:b", "a%3Ab", "a", "a:b:c", "*", "?"):
        assert limiter.check(key, 1, 60).allowed, key
    for key in ("a:b", "a%3Ab", "a", "a:b:c", "*", "?"):
        assert not limiter.check(key, 1, 60).allowed, key


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("", 1, 1.0, 1), "invalid_argument"),
        ((5, 1, 1.0, 1), "invalid_argument"),
        (("\ud800", 1, 1.0, 1), "invalid_argument"),
        (("x" * 513, 1, 1.0, 1), "argument_too_large"),
        (("k", 0, 1.0, 1), "invalid_argument"),
        (("k", -1, 1.0, 1), "invalid_argument"),
        (("k", 1.5, 1.0, 1), "invalid_argument"),
        (("k", True, 1.0, 1), "invalid_argument"),
        (("k", 1, 0, 1), "invalid_argument"),
        (("k", 1, -1, 1), "invalid_argument"),
        (("k", 1, float("nan"), 1), "invalid_argument"),
        (("k", 1, float("inf"), 1), "invalid_argument"),
        (("k", 1, "1", 1), "invalid_argument"),
        (("k", 1, 400 * 86400, 1), "invalid_argument"),
        (("k", 2, 1.0, -1), "invalid_argument"),
        (("k", 2, 1.0, 3), "invalid_argument"),
        (("k", 2, 1.0, 1.0), "invalid_argument"),
    ],
)
def test_invalid_arguments(args: tuple[object, ...], code: str) -> None:
    limiter = RateLimiter(None)
    assert _code(lambda: limiter.check(*args)) == code  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", ["", "DENY", "fail", None])
def test_invalid_policy(policy: object) -> None:
    with pytest.raises(ValueError):
        RateLimiter(None, on_unavailable=policy)  # type: ignore[arg-type]


def test_headers() -> None:
    allowed = RateDecision(True, 50, 49, 1.2, 0.0)
    assert allowed.headers() == {
        "RateLimit-Limit": "50",
        "RateLimit-Remaining": "49",
        "RateLimit-Reset": "2",
    }
    denied = RateDecision(False, 50, 0, 60.000000000000007, 0.3)
    assert denied.headers() == {
        "RateLimit-Limit": "50",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "Retry-After": "1",
    }
    assert RateDecision(False, 5, 0, 3.0, 0.0).headers()["Retry-After"] == "1"  # never 0
    assert RateDecision(False, 5, 0, 3.0, 2.000001).headers()["Retry-After"] == "3"
    assert RateDecision(True, 5, 5, 0.0, 0.0).headers()["RateLimit-Reset"] == "0"


# --------------------------------------------------------------------------- Redis specifics


def test_redis_uses_server_time(
    main_redis: redis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_time, real_ns = time.time, time.monotonic_ns
    jumps = {"n": 0}

    def jump() -> int:  # every reading is one more hour in the future
        jumps["n"] += 1
        return jumps["n"] * 3600

    monkeypatch.setattr(time, "time", lambda: real_time() + jump())
    monkeypatch.setattr(time, "monotonic_ns", lambda: real_ns() + jump() * 10**9)

    # Control: the in-process limiter reads the (patched) local clock, so it refills.
    local = RateLimiter(None, namespace=namespace)
    assert _count_allowed(local, "k", 6, 3, 60) == 6

    shared = RateLimiter(REDIS_URL, namespace=namespace)
    assert _count_allowed(shared, "k", 6, 3, 60) == 3
    denied = shared.check("k", 3, 60)
    assert not denied.allowed and not denied.degraded
    assert 19.0 < denied.retry_after_sec <= 20.0
    # The key expires at its TAT, about one period ahead on the server's clock.
    assert 59_000 < int(main_redis.pttl(shared.physical_key("k"))) <= 60_000


def test_redis_key_expires_at_tat(main_redis: redis.Redis, namespace: str) -> None:
    limiter = RateLimiter(REDIS_URL, namespace=namespace)
    assert limiter.check("k", 2, 0.2).allowed  # TAT = now + 0.1 s
    assert 0 < int(main_redis.pttl(limiter.physical_key("k"))) <= 100
    time.sleep(0.15)
    assert main_redis.exists(limiter.physical_key("k")) == 0
    assert not main_redis.exists(limiter.physical_key("never-charged"))
    assert limiter.check("never-charged", 2, 0.2, cost=0).allowed
    assert not main_redis.exists(limiter.physical_key("never-charged"))


def test_redis_shared_between_limiters(main_redis: redis.Redis, namespace: str) -> None:
    one = RateLimiter(REDIS_URL, namespace=namespace)
    two = RateLimiter(REDIS_URL, namespace=namespace)
    other_ns = RateLimiter(REDIS_URL, namespace=namespace + "-other")
    assert one.check("k", 2, 60).allowed
    assert two.check("k", 2, 60).allowed
    assert not one.check("k", 2, 60).allowed
    assert other_ns.check("k", 2, 60).allowed
    main_redis.delete(other_ns.physical_key("k"))


def test_redis_foreign_value_applies_policy(main_redis: redis.Redis, namespace: str) -> None:
    limiter = RateLimiter(REDIS_URL, namespace=namespace, on_unavailable="allow")
    main_redis.hset(limiter.physical_key("k"), "a", "b")
    decision = limiter.check("k", 1, 60)
    assert decision.allowed and decision.degraded
    main_redis.set(limiter.physical_key("k"), "garbage")  # a string: read as a fresh key
    fresh = limiter.check("k", 1, 60)
    assert fresh.allowed and not fresh.degraded
    assert not limiter.check("k", 1, 60).allowed


@pytest.mark.parametrize("policy", ["deny", "allow", "local"])
def test_redis_unavailable_policies(own_redis: OwnRedis, policy: str) -> None:
    limiter = RateLimiter(own_redis.url, on_unavailable=policy)
    assert _count_allowed(limiter, "k", 2, 2, 60) == 2
    assert not limiter.check("k", 2, 60).allowed

    own_redis.kill()
    start = time.monotonic()
    outage = [limiter.check("k", 2, 60) for _ in range(4)]
    assert time.monotonic() - start < 2
    assert all(d.degraded for d in outage)
    if policy == "deny":
        assert [d.allowed for d in outage] == [False] * 4
        assert all(d.retry_after_sec == 1 for d in outage)
        assert outage[0].headers()["Retry-After"] == "1"
    elif policy == "allow":
        assert [d.allowed for d in outage] == [True] * 4
    else:  # the in-process GCRA decides, with its own (fresh) state
        assert [d.allowed for d in outage] == [True, True, False, False]
        assert 29 < outage[2].retry_after_sec <= 30

    own_redis.start()  # recovery needs nothing but the next call
    back = limiter.check("k", 2, 60)
    assert back.allowed and not back.degraded and back.remaining == 1
    assert limiter.check("k", 2, 60).allowed
    later = limiter.check("k", 2, 60)
    assert not later.allowed and not later.degraded


def test_unreachable_message_free_deny() -> None:
    limiter = RateLimiter(f"redis://:pw@127.0.0.1:{free_port()}/0")
    start = time.monotonic()
    decision = limiter.check("k", 5, 60)
    assert time.monotonic() - start < 2
    assert decision == RateDecision(False, 5, 0, 1.0, 1.0, degraded=True)


def test_redis_fork_safety(main_redis: redis.Redis, namespace: str) -> None:
    limiter = RateLimiter(REDIS_URL, namespace=namespace)
    assert limiter.check("k", 3, 60).allowed
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            ok = limiter.check("k", 3, 60).allowed and not limiter.check("k", 3, 60).degraded
            code = 0 if ok else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("child hung")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    # parent + child charged 3 in all: the shared limit is spent
    denied = limiter.check("k", 3, 60)
    assert not denied.allowed and not denied.degraded
