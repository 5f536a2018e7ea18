"""Threat: one company or user reads or floods another's cache.

Cache isolation (issue 17): keys per run-as user, one quota per company, and a
full cache that never stops the rate limiter.

Both backends where the contract is shared (the in-process store and a real
Redis); a private redis-server where a test changes ``maxmemory``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from redis_servers import REDIS_URL, OwnRedis, redis_reachable

from iota_scripts_sdk import Engine, EngineConfig, Limits
from iota_scripts_sdk._cache import _ENTRY_OVERHEAD, Cache, CacheLimits, open_cache
from iota_scripts_sdk.errors import ScriptError
from iota_scripts_sdk.ratelimit import RateLimiter

BACKENDS = ["memory", "redis"]


@pytest.fixture
def scope() -> Iterator[tuple[str, str]]:
    """A unique (database, company) quota scope; its Redis keys go afterwards."""
    tag = f"quota-{uuid.uuid4().hex[:12]}"
    yield ("pytest", tag)
    if redis_reachable(REDIS_URL):
        client = redis.Redis.from_url(REDIS_URL)
        for pattern in (f"iota:c:pytest:{tag}*", f"iota:cq:pytest:{tag}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
        client.close()


Opener = Callable[..., Cache]


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, scope: tuple[str, str]) -> Opener:
    """``opener(user, limits=None, scope=scope)``: the cache of one run-as user."""
    url = None
    if request.param == "redis":
        request.getfixturevalue("main_redis")
        url = REDIS_URL

    def open_for(
        user: str, limits: CacheLimits | None = None, scope: tuple[str, ...] = scope
    ) -> Cache:
        return open_cache(url, (*scope, "user", user), limits=limits, quota_scope=scope)

    return open_for


def _code(fn: Callable[[], object]) -> str:
    with pytest.raises(ScriptError) as info:
        fn()
    return info.value.code


def test_keys_are_per_user(opener: Opener) -> None:
    alice, bob = opener("7"), opener("8")
    alice.set("secret", '"alice"')
    assert bob.get("secret") is None
    assert bob.incr("secret") == 1  # bob's own key
    assert alice.get("secret") == '"alice"'
    assert bob.delete("secret") is True and alice.get("secret") == '"alice"'


def test_key_quota_is_per_company_and_refuses_by_name(opener: Opener) -> None:
    limits = CacheLimits(quota_max_keys=3)
    alice, bob = opener("7", limits), opener("8", limits)
    alice.set("a1", "1")
    alice.set("a2", "2")
    bob.set("b1", "3")
    assert _code(lambda: bob.set("b2", "4")) == "quota_exceeded"  # the company's 4th key
    assert _code(lambda: alice.incr("a3")) == "quota_exceeded"
    with pytest.raises(ScriptError, match="quota of 3 keys"):
        alice.set("a3", "5")
    assert bob.get("b2") is None and alice.get("a3") is None  # nothing half-written
    alice.set("a1", '"replaced"')  # replacing a key needs no new room
    assert alice.incr("a2") == 3
    # another company has its own quota
    other = opener("7", limits, scope=("pytest", f"other-{uuid.uuid4().hex[:8]}"))
    other.set("x", "1")
    assert other.get("x") == "1"
    assert alice.delete("a1") is True  # a delete frees room
    bob.set("b2", "4")
    assert bob.get("b2") == "4"


def test_byte_quota_counts_key_value_and_overhead(opener: Opener) -> None:
    entry = 2 + 100 + _ENTRY_OVERHEAD  # key "k1", 100-byte value
    limits = CacheLimits(quota_max_bytes=2 * entry + 60)
    alice, bob = opener("7", limits), opener("8", limits)
    alice.set("k1", "x" * 100)
    bob.set("k1", "x" * 100)
    with pytest.raises(ScriptError, match=f"quota of {2 * entry + 60} bytes") as info:
        bob.set("k2", "x" * 100)
    assert info.value.code == "quota_exceeded"
    assert _code(lambda: alice.set("k1", "x" * 170)) == "quota_exceeded"  # growing in place
    alice.set("k1", "x" * 50)  # shrinking in place is fine, and frees 50 bytes
    bob.set("k2", "x")  # 2 + 1 + overhead fits in what is left
    assert bob.get("k2") == "x"


def test_expired_entries_free_the_quota(opener: Opener) -> None:
    limits = CacheLimits(quota_max_keys=2)
    alice = opener("7", limits)
    alice.set("short", "1", ttl_sec=0.05)
    alice.set("long", "1")
    assert _code(lambda: alice.set("third", "1")) == "quota_exceeded"
    time.sleep(0.15)
    alice.set("third", "1")  # "short" expired: it no longer counts
    assert [alice.get(k) for k in ("short", "long", "third")] == [None, "1", "1"]


def test_quota_holds_under_concurrent_writers(opener: Opener) -> None:
    limits = CacheLimits(quota_max_keys=10)
    caches = [opener(str(user), limits) for user in range(4)]
    barrier = threading.Barrier(16)
    outcomes: list[str] = []
    lock = threading.Lock()

    def writer(i: int) -> None:
        cache = caches[i % 4]
        barrier.wait()
        for j in range(4):
            try:
                cache.set(f"k{i}-{j}", "1")
                outcome = "ok"
            except ScriptError as exc:
                outcome = exc.code
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(set(outcomes)) == ["ok", "quota_exceeded"]
    assert outcomes.count("ok") == 10  # exactly the quota, not one more


def test_quota_scope_must_prefix_the_namespace() -> None:
    with pytest.raises(ValueError, match="prefix"):
        open_cache(None, ("db", "1", "user", "2"), quota_scope=("db", "9"))
    with pytest.raises(ValueError, match="guard"):
        CacheLimits(redis_memory_guard=1.5)


def test_a_full_cache_never_stops_the_rate_limiter(own_redis: OwnRedis) -> None:
    # Issue 17 "Cache isolation": filling the cache used to fill Redis, whose
    # refusals (OOM under noeviction) made every endpoint's limiter answer 503.
    client = redis.Redis.from_url(own_redis.url)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", used + 4 * 1024 * 1024)
    limits = CacheLimits(quota_max_bytes=1 << 30, quota_max_keys=1_000_000)
    cache = open_cache(
        own_redis.url, ("db", "1", "user", "2"), limits=limits, quota_scope=("db", "1")
    )
    codes: set[str] = set()
    for i in range(400):  # 400 x 64 KB = 25 MB: far more than Redis may hold
        try:
            cache.set(f"fill{i}", '"' + "x" * 65_536 + '"')
        except ScriptError as exc:
            codes.add(exc.code)
            if len(codes) > 0 and i > 100:
                break
    assert codes == {"cache_full"}  # named, and never Redis's own OOM refusal
    info = client.info("memory")
    assert int(info["used_memory"]) < int(info["maxmemory"])  # room left for the limiter
    limiter = RateLimiter(own_redis.url, on_unavailable="deny", namespace="iota:api")
    decision = limiter.check("db:1:client", 5, 60)
    assert decision.allowed and not decision.degraded
    assert limiter.check("db:1:client", 5, 60).remaining == 3  # the limiter wrote its key
    assert cache.get("fill0") is not None  # reads still work
    assert cache.delete("fill0") is True  # and deletes free room
    client.config_set("maxmemory", 0)
    cache.set("after", "1")  # writes resume once Redis has room
    assert cache.get("after") == "1"
    client.close()


def test_engine_cache_per_run_as_user_and_quota_per_tenant(main_redis: redis.Redis) -> None:
    tenant = f"pytest/engine-{uuid.uuid4().hex[:8]}"
    src = """
export default async (ctx) => {
  if (ctx.input.op === "set") {
    try { await sdk.cache.set(ctx.input.key, ctx.input.value); return "stored"; }
    catch (e) { return e.code; }
  }
  return await sdk.cache.get(ctx.input.key);
}
"""
    for redis_url in (None, REDIS_URL):
        engine = Engine(EngineConfig(runners=1, redis_url=redis_url, cache_quota_keys=2))
        try:

            def run(user: str, engine: Engine = engine, **input: object) -> object:
                res = engine.run(src, input=input, tenant=tenant, user=user, limits=Limits())
                assert res.ok, res.error
                return res.result

            assert run("7", op="set", key="k", value="seven") == "stored"
            assert run("8", op="get", key="k") is None  # another run-as user
            assert run("7", op="get", key="k") == "seven"
            assert run("8", op="set", key="k", value="eight") == "stored"
            assert run("9", op="set", key="k", value="nine") == "quota_exceeded"
            assert run("7", op="get", key="k") == "seven"
        finally:
            engine.close()
            if redis_url is not None:
                keys = list(main_redis.scan_iter(match="iota:c*:pytest:engine-*", count=1000))
                if keys:
                    main_redis.delete(*keys)
