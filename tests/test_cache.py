# Over 600 lines: every case runs against both backends of the cache, Redis and in-process.
"""Tests of iota_scripts_sdk._cache against both backends.

The Redis tests use the Redis at ``IOTA_TEST_REDIS_URL`` (default 127.0.0.1:6379, db 0)
with a unique key prefix per test, deleted afterwards. "Redis goes down" tests start
their own ``redis-server`` on a free port in a temporary directory and kill it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from redis_servers import REDIS_URL, OwnRedis, free_port, redis_reachable

from iota_scripts_sdk._cache import (
    _ENTRY_OVERHEAD,
    MAX_SAFE_INTEGER,
    Cache,
    CacheLimits,
    MemoryCache,
    RedisCache,
    escape_part,
    open_cache,
)
from iota_scripts_sdk.errors import ScriptError

BACKENDS = ["memory", "redis"]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def ns() -> Iterator[tuple[str, ...]]:
    """A unique namespace; its Redis keys are removed after the test."""
    tag = f"test-{uuid.uuid4().hex[:12]}"
    yield ("pytest", tag)
    if redis_reachable(REDIS_URL):
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"iota:c:pytest:{tag}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


CacheFactory = Callable[..., Cache]


@pytest.fixture(params=BACKENDS)
def make_cache(request: pytest.FixtureRequest, ns: tuple[str, ...]) -> CacheFactory:
    """``make_cache(limits=None, namespace=ns)`` for the parametrised backend."""
    if request.param == "redis":
        request.getfixturevalue("main_redis")

        def factory(limits: CacheLimits | None = None, namespace: tuple[str, ...] = ns) -> Cache:
            return open_cache(REDIS_URL, namespace, limits=limits)

    else:

        def factory(limits: CacheLimits | None = None, namespace: tuple[str, ...] = ns) -> Cache:
            # Private store: the limits (bounds included) are the ones asked for.
            return MemoryCache(limits)

    return factory


def _code(fn: Callable[[], object]) -> str:
    with pytest.raises(ScriptError) as info:
        fn()
    return info.value.code


# --------------------------------------------------------------------------- basics


def test_set_get_delete(make_cache: CacheFactory) -> None:
    cache = make_cache()
    assert cache.get("k") is None
    value = '{"a": [1, 2.5, "\u00e9\u2603\U0001f600"], "b": null}'
    cache.set("k", value)
    assert cache.get("k") == value  # verbatim JSON text, whitespace included
    cache.set("k", '"replaced"')
    assert cache.get("k") == '"replaced"'
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    assert cache.get("k") is None


def test_ttl_expiry(make_cache: CacheFactory) -> None:
    cache = make_cache()
    cache.set("short", "1", ttl_sec=0.2)
    cache.set("long", "2", ttl_sec=5)
    assert cache.get("short") == "1"
    time.sleep(0.3)
    assert cache.get("short") is None
    assert cache.get("long") == "2"
    assert cache.delete("short") is False  # an expired entry is not "removed"


def test_set_replaces_ttl(make_cache: CacheFactory) -> None:
    cache = make_cache()
    cache.set("k", "1", ttl_sec=0.2)
    cache.set("k", "2")  # default TTL (one day) replaces the short one
    time.sleep(0.3)
    assert cache.get("k") == "2"


def test_default_ttl_applies(make_cache: CacheFactory) -> None:
    cache = make_cache(CacheLimits(default_ttl_sec=0.2))
    cache.set("k", "1")
    assert cache.incr("n") == 1
    assert cache.get("k") == "1"
    time.sleep(0.3)
    assert cache.get("k") is None
    assert cache.get("n") is None


def test_default_ttl_on_redis(main_redis: redis.Redis, ns: tuple[str, ...]) -> None:
    cache = open_cache(REDIS_URL, ns)
    assert isinstance(cache, RedisCache)
    cache.set("k", "1")
    cache.set("t", "1", ttl_sec=2.5)
    assert 86_390_000 < int(main_redis.pttl(cache.physical_key("k"))) <= 86_400_000
    assert 2_400 < int(main_redis.pttl(cache.physical_key("t"))) <= 2_500


def test_incr(make_cache: CacheFactory) -> None:
    cache = make_cache()
    assert cache.incr("n") == 1
    assert cache.incr("n", 5) == 6
    assert cache.incr("n", -10) == -4
    assert cache.get("n") == "-4"  # stored as JSON text of the number
    cache.set("m", "41")
    assert cache.incr("m") == 42
    cache.set("z", "-0")
    assert cache.incr("z", 0) == 0
    assert cache.get("z") == "0"
    cache.set("big", str(MAX_SAFE_INTEGER - 1))
    assert cache.incr("big") == MAX_SAFE_INTEGER
    assert cache.get("big") == "9007199254740991"  # not 9.007199254741e+15
    assert cache.incr("neg", -(2**53) + 1) == -MAX_SAFE_INTEGER
    assert cache.incr("huge", 2**53 - 1) == MAX_SAFE_INTEGER


def test_incr_ttl_only_on_create(make_cache: CacheFactory) -> None:
    cache = make_cache()
    assert cache.incr("n", ttl_sec=0.3) == 1
    time.sleep(0.15)
    assert cache.incr("n", ttl_sec=30) == 2  # must NOT extend the expiry
    time.sleep(0.25)
    assert cache.get("n") is None
    assert cache.incr("n", ttl_sec=30) == 1  # recreated after expiry


@pytest.mark.parametrize(
    "stored",
    ['"5"', "5.0", "1e3", "01", "+1", " 1", "1 ", "null", "true", "", "--1", "0x10",
     "9007199254740992", "-9007199254740992", "99999999999999999"],
)  # fmt: skip
def test_incr_rejects_non_integers(make_cache: CacheFactory, stored: str) -> None:
    cache = make_cache()
    cache.set("k", stored)
    assert _code(lambda: cache.incr("k")) == "invalid_argument"
    assert cache.get("k") == stored  # unchanged


def test_incr_range(make_cache: CacheFactory) -> None:
    cache = make_cache()
    cache.set("k", str(MAX_SAFE_INTEGER))
    assert _code(lambda: cache.incr("k")) == "invalid_argument"
    assert cache.get("k") == str(MAX_SAFE_INTEGER)
    assert cache.incr("k", -1) == MAX_SAFE_INTEGER - 1
    cache.set("m", str(-MAX_SAFE_INTEGER))
    assert _code(lambda: cache.incr("m", -1)) == "invalid_argument"
    # by itself within +-2**53 but the result is not a safe integer
    assert _code(lambda: cache.incr("fresh", 2**53)) == "invalid_argument"
    assert cache.get("fresh") is None
    assert _code(lambda: cache.incr("fresh", -(2**53))) == "invalid_argument"
    assert cache.incr("x", 2**53 - 1) == MAX_SAFE_INTEGER


@pytest.mark.parametrize("by", [1.5, 1.0, True, "1", None, 2**53 + 1, -(2**53) - 1, 10**30])
def test_incr_rejects_bad_by(make_cache: CacheFactory, by: object) -> None:
    cache = make_cache()
    assert _code(lambda: cache.incr("k", by)) == "invalid_argument"  # type: ignore[arg-type]
    assert cache.get("k") is None


def test_incr_threads(make_cache: CacheFactory) -> None:
    cache = make_cache()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(500):
                cache.incr("counter")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert cache.get("counter") == "4000"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("", "invalid_argument"),
        (None, "invalid_argument"),
        (5, "invalid_argument"),
        (b"k", "invalid_argument"),
        ("\ud800", "invalid_argument"),
        ("x" * 513, "argument_too_large"),
        ("\u00e9" * 257, "argument_too_large"),  # 257 chars, 514 UTF-8 bytes
    ],
)
def test_bad_keys(make_cache: CacheFactory, key: object, code: str) -> None:
    cache = make_cache()
    assert _code(lambda: cache.get(key)) == code  # type: ignore[arg-type]
    assert _code(lambda: cache.set(key, "1")) == code  # type: ignore[arg-type]
    assert _code(lambda: cache.delete(key)) == code  # type: ignore[arg-type]
    assert _code(lambda: cache.incr(key)) == code  # type: ignore[arg-type]


def test_key_size_boundary(make_cache: CacheFactory) -> None:
    cache = make_cache()
    for key in ("x" * 512, "\u00e9" * 256, "\U0001f600" * 128):
        cache.set(key, "1")
        assert cache.get(key) == "1"


def test_value_size_limits(make_cache: CacheFactory) -> None:
    cache = make_cache()
    limit = CacheLimits().max_value_bytes
    cache.set("k", "x" * limit)
    assert cache.get("k") == "x" * limit
    assert _code(lambda: cache.set("k", "x" * (limit + 1))) == "argument_too_large"
    # fewer characters than the limit, more UTF-8 bytes
    assert _code(lambda: cache.set("k", "\u00e9" * (limit // 2 + 1))) == "argument_too_large"
    assert cache.get("k") == "x" * limit  # the failed sets changed nothing
    small = make_cache(CacheLimits(max_key_bytes=8, max_value_bytes=10))
    small.set("12345678", "0123456789")
    assert _code(lambda: small.set("123456789", "1")) == "argument_too_large"
    assert _code(lambda: small.set("k", "01234567890")) == "argument_too_large"


@pytest.mark.parametrize("value", [5, None, b"1", {"a": 1}, "\ud800"])
def test_bad_values(make_cache: CacheFactory, value: object) -> None:
    cache = make_cache()
    assert _code(lambda: cache.set("k", value)) == "invalid_argument"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "ttl", [0, -1, 0.0, float("nan"), float("inf"), True, "1", 30 * 86400 + 1, 1e300]
)
def test_bad_ttl(make_cache: CacheFactory, ttl: object) -> None:
    cache = make_cache()
    assert _code(lambda: cache.set("k", "1", ttl)) == "invalid_argument"  # type: ignore[arg-type]
    assert _code(lambda: cache.incr("k", 1, ttl)) == "invalid_argument"  # type: ignore[arg-type]
    assert cache.get("k") is None


def test_ttl_boundaries(make_cache: CacheFactory) -> None:
    cache = make_cache()
    cache.set("max", "1", ttl_sec=30 * 86400)
    cache.set("tiny", "1", ttl_sec=0.0001)  # rounds up to 1 ms, never "no expiry"
    time.sleep(0.01)
    assert cache.get("max") == "1"
    assert cache.get("tiny") is None


def test_cache_limits_validation() -> None:
    with pytest.raises(ValueError):
        CacheLimits(max_key_bytes=0)
    with pytest.raises(ValueError):
        CacheLimits(default_ttl_sec=10, max_ttl_sec=5)
    with pytest.raises(ValueError):
        CacheLimits(max_ttl_sec=float("inf"))
    with pytest.raises(ValueError):
        CacheLimits(memory_max_bytes=1000)  # cannot hold one 1 MiB value


# --------------------------------------------------------------------------- namespaces


def test_escape_part() -> None:
    assert escape_part("aZ09._-") == "aZ09._-"
    assert escape_part("a:b*?[]%~ /\\\u00e9") == "a%3Ab%2A%3F%5B%5D%25%7E%20%2F%5C%C3%A9"
    samples = ["a:b", "a%3Ab", "a%253Ab", ":", "%", "%3A", "", "\u00e9", "%C3%A9", "a:", ":a"]
    escaped = [escape_part(s) for s in samples]
    assert len(set(escaped)) == len(samples)  # injective on these look-alikes
    assert all(":" not in e and "*" not in e and "?" not in e and "[" not in e for e in escaped)


def test_physical_key_layout() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", ("my:db", "company-3"))
    assert cache.physical_key("k:1*") == "iota:c:my%3Adb:company-3:k%3A1%2A"


# (namespace, key) pairs whose naive "ns1:ns2:key" joins collide.
ADVERSARIAL = [
    (("a", "b"), "c"),
    (("a",), "b:c"),
    (("a:b",), "c"),
    (("a%3Ab",), "c"),
    (("a", "b:c"), "d"),
    (("a", "b"), "c:d"),
    (("a", "b"), "*"),
    (("a", "b"), "?"),
    (("a", "b"), "[a-z]"),
    (("a", "b"), "%2A"),
    (("a", "b*"), "c"),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_namespace_isolation(
    backend: str, ns: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    url = None
    if backend == "redis":
        request.getfixturevalue("main_redis")
        url = REDIS_URL
    caches = [(open_cache(url, (*ns, *parts)), key) for parts, key in ADVERSARIAL]
    for i, (cache, key) in enumerate(caches):
        cache.set(key, f'"{i}"')
    for i, (cache, key) in enumerate(caches):
        assert cache.get(key) == f'"{i}"'
    if backend == "redis":
        physical = {c.physical_key(k) for c, k in caches}  # type: ignore[attr-defined]
        assert len(physical) == len(ADVERSARIAL)
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        # A glob over one namespace never matches another namespace's keys.
        prefix = caches[0][0].physical_key("")  # type: ignore[attr-defined]
        matched = set(client.scan_iter(match=prefix + "*", count=1000))
        expected = {
            c.physical_key(k)  # type: ignore[attr-defined]
            for (c, k), (parts, _) in zip(caches, ADVERSARIAL, strict=True)
            if parts == ("a", "b")
        }
        assert len(expected) == 6
        assert matched == expected  # not ("a", "b*") nor ("a", "b:c")
        client.close()
    # deleting in one namespace leaves the look-alikes alone
    first, key = caches[0]
    assert first.delete(key) is True
    for i, (cache, k) in enumerate(caches[1:], start=1):
        assert cache.get(k) == f'"{i}"'


def test_open_cache_memory_shared_per_namespace(ns: tuple[str, ...]) -> None:
    one = open_cache(None, ns)
    two = open_cache(None, ns)
    other = open_cache(None, (*ns, "x"))
    assert isinstance(one, MemoryCache)
    one.set("k", '"v"')
    assert two.get("k") == '"v"'  # a second run in the same process sees it
    assert other.get("k") is None
    assert two.incr("n") == 1 and one.incr("n") == 2


def test_open_cache_registry_threads(ns: tuple[str, ...]) -> None:
    target = (*ns, "threads")
    barrier = threading.Barrier(16)
    caches: list[Cache] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        cache = open_cache(None, target)
        cache.set(f"k{i}", str(i))
        with lock:
            caches.append(cache)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(caches) == 16
    for cache in caches:  # every thread got the same store
        assert [cache.get(f"k{i}") for i in range(16)] == [str(i) for i in range(16)]


@pytest.mark.parametrize("bad", ["mydb", b"mydb", (), ("a", ""), ("a", 3), None])
def test_open_cache_bad_namespace(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        open_cache(None, bad)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        open_cache(REDIS_URL, bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- memory bounds


def test_memory_lru_by_entries() -> None:
    cache = MemoryCache(CacheLimits(memory_max_entries=3))
    for key in "abc":
        cache.set(key, "1")
    assert cache.get("a") == "1"  # a becomes the most recently used
    cache.set("d", "1")
    assert cache.get("b") is None  # least recently used went
    assert [cache.get(k) for k in "acd"] == ["1", "1", "1"]
    cache.incr("c")  # incr counts as a use
    cache.set("e", "1")
    assert cache.get("a") is None
    assert len(cache) == 3


def test_memory_lru_by_bytes() -> None:
    entry = 1 + 100 + _ENTRY_OVERHEAD
    limits = CacheLimits(max_key_bytes=8, max_value_bytes=100, memory_max_bytes=2 * entry + 100)
    cache = MemoryCache(limits)
    cache.set("a", "x" * 100)
    cache.set("b", "x" * 100)
    assert len(cache) == 2
    cache.set("c", "x" * 100)
    assert cache.get("a") is None
    assert cache.get("b") == "x" * 100 and cache.get("c") == "x" * 100
    cache.set("d", "x")  # small: fits next to the two large ones
    assert len(cache) == 3


def test_memory_evicts_expired_before_lru() -> None:
    cache = MemoryCache(CacheLimits(memory_max_entries=2))
    cache.set("old", "1")
    cache.set("dying", "1", ttl_sec=0.05)
    cache.get("dying")  # dying is the most recent: plain LRU would evict "old"
    time.sleep(0.1)
    cache.set("new", "1")
    assert cache.get("old") == "1"
    assert cache.get("new") == "1"


# --------------------------------------------------------------------------- redis failures


def test_redis_lazy_and_unreachable_is_quick() -> None:
    url = f"redis://user:s3cr3t-pw@127.0.0.1:{free_port()}/0"
    cache = open_cache(url, ("db", "c"))  # must not connect, hence not fail, here
    start = time.monotonic()
    with pytest.raises(ScriptError) as info:
        cache.get("k")
    assert time.monotonic() - start < 2
    err = info.value
    assert err.code == "cache_unavailable"
    for secret in ("s3cr3t", "127.0.0.1", "user", url.rsplit(":", 1)[1]):
        assert secret not in err.message
    assert "s3cr3t" not in repr(cache._handle)  # type: ignore[attr-defined]


def test_redis_client_shared_and_lazy() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    one = open_cache(url, ("db", "a"))
    two = open_cache(url, ("db", "b"))
    # One client (one connection pool) per process and URL, not one per run.
    assert one._handle is two._handle  # type: ignore[attr-defined]
    assert one._handle._state is None  # type: ignore[attr-defined]  # nothing built yet
    other = open_cache(url, ("db", "a"), limits=CacheLimits(redis_socket_timeout_sec=2))
    assert other._handle is not one._handle  # type: ignore[attr-defined]


def test_redis_malformed_url() -> None:
    cache = open_cache("notredis://secret@somewhere", ("db", "c"))
    with pytest.raises(ScriptError) as info:
        cache.get("k")
    err = info.value
    assert err.code == "cache_unavailable"
    assert "secret" not in err.message and "somewhere" not in err.message


def test_redis_foreign_value_types(main_redis: redis.Redis, ns: tuple[str, ...]) -> None:
    cache = open_cache(REDIS_URL, ns)
    assert isinstance(cache, RedisCache)
    main_redis.hset(cache.physical_key("h"), "a", "b")
    main_redis.set(cache.physical_key("bin"), b"\xff\xfe")
    assert _code(lambda: cache.get("h")) == "invalid_argument"
    assert _code(lambda: cache.incr("h")) == "invalid_argument"
    assert _code(lambda: cache.get("bin")) == "invalid_argument"
    cache.set("h", "1")  # SET replaces whatever was there
    assert cache.get("h") == "1"


def test_redis_down_and_back(own_redis: OwnRedis) -> None:
    cache = open_cache(own_redis.url, ("db", "c"))
    cache.set("k", "1")
    assert cache.incr("n") == 1
    # Several threads leave several pooled connections that all go stale on restart.
    pool = [threading.Thread(target=cache.incr, args=("n",)) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(5)

    own_redis.kill()
    for op in (
        lambda: cache.get("k"),
        lambda: cache.set("k", "2"),
        lambda: cache.delete("k"),
        lambda: cache.incr("n"),
    ):
        start = time.monotonic()
        assert _code(op) == "cache_unavailable"
        assert time.monotonic() - start < 2

    own_redis.start()  # same port, empty data, empty script cache
    assert cache.get("k") is None  # the very first call after the restart works
    assert cache.incr("n", 7) == 7  # NOSCRIPT on the new server is handled
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.incr("n"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(results) == [8, 9, 10, 11]


def test_redis_frozen_times_out(own_redis: OwnRedis) -> None:
    cache = open_cache(own_redis.url, ("db", "c"))
    cache.set("k", "1")
    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)  # accepts nothing, answers nothing
    try:
        start = time.monotonic()
        assert _code(lambda: cache.get("k")) == "cache_unavailable"
        assert time.monotonic() - start < 2
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert cache.get("k") == "1"


# --------------------------------------------------------------------------- fork safety


def _wait_child(pid: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("child did not finish")


def test_redis_fork_safety(main_redis: redis.Redis, ns: tuple[str, ...]) -> None:
    cache = open_cache(REDIS_URL, ns)
    cache.set("parent", '"p"')
    assert cache.incr("n") == 1
    parent_state = cache._handle._state  # type: ignore[attr-defined]
    assert parent_state is not None and parent_state[0] == os.getpid()

    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            ok = cache.get("parent") == '"p"' and cache.incr("n") == 2
            cache.set("child", '"c"')
            state = cache._handle._state  # type: ignore[attr-defined]
            ok = ok and state[0] == os.getpid() and state[1] is not parent_state[1]
            code = 0 if ok else 2
        finally:
            os._exit(code)
    assert _wait_child(pid) == 0
    # The parent still works on its own (untouched) client and sees the child's writes.
    assert cache._handle._state is parent_state  # type: ignore[attr-defined]
    assert cache.get("child") == '"c"'
    assert cache.incr("n") == 3


def test_memory_fork_safety_with_held_lock(ns: tuple[str, ...]) -> None:
    cache = open_cache(None, ns)
    assert isinstance(cache, MemoryCache)
    cache.set("k", "1")
    store_lock = cache._store.lock  # type: ignore[attr-defined]
    # Fork while the store lock is held, as another thread might hold it: without the
    # at-fork reset the child would deadlock on its first call.
    store_lock.acquire()
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.alarm(5)
                ok = cache.get("k") == "1" and cache.incr("k") == 2
                again = open_cache(None, ns)  # registry lock works too
                code = 0 if ok and again.get("k") == "2" else 2
            finally:
                os._exit(code)
    finally:
        store_lock.release()
    assert _wait_child(pid) == 0
    assert cache.get("k") == "1"  # process-local: the child's write stayed there
