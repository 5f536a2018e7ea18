"""Rate limiting of the HTTP endpoints: GCRA or an exact sliding window, atomic
in Redis or in-process.

``RateLimiter(algorithm=...)`` picks one of two algorithms:

* ``"sliding_window"``: exact; at no instant more than ``limit`` requests in any
  window of ``period_sec`` (see :mod:`._ratewindow`); ``limit`` <= 100,000;
* ``"gcra"`` (below): one number per key; admits a burst of ``limit`` and then one
  request per ``period / limit``, so up to about ``2 * limit`` in one period.

GCRA (the generic cell rate algorithm) keeps one number per key, the theoretical
arrival time (TAT). With ``limit`` requests per ``period_sec``:

* emission interval ``T = period / limit``, burst tolerance ``tau = T * limit``;
* a request of ``cost`` is allowed iff ``max(TAT, now) + cost*T - tau <= now``, and
  then ``TAT = max(TAT, now) + cost*T``.

So a fresh key admits a burst of exactly ``limit`` requests, and afterwards one more
every ``T``. GCRA has no windows, hence no double burst at a window boundary.

All arithmetic is in whole microseconds, with ``T`` rounded to a whole microsecond
(at least 1) and ``tau = T * limit`` computed from that rounded ``T``: Redis Lua numbers
are doubles, whose resolution at today's epoch in microseconds is 0.25 us, so
fractional intervals would drift and could cost the last request of a burst. Integers
below 2**53 are exact. The rate is thereby off by at most 0.5 us per interval.

On Redis the whole decision is ONE Lua script that reads the clock with Redis
``TIME``: every process and host shares one clock and the client's clock is never
used. Keys expire (PEXPIRE) when their TAT passes, which is when they are
indistinguishable from a missing key.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from ._cache import escape_part
from ._ratewindow import MAX_WINDOW_LIMIT, WINDOW_LUA, LocalWindow
from ._redis import (
    BackendUnavailable,
    RedisHandle,
    register_fork_aware,
    shared_redis_handle,
)
from .errors import ScriptError

__all__ = ["ALGORITHMS", "ON_UNAVAILABLE", "RateDecision", "RateLimiter"]

_log = logging.getLogger(__name__)

#: Accepted values of ``RateLimiter(on_unavailable=...)``.
ON_UNAVAILABLE = frozenset({"deny", "allow", "local"})
#: Accepted values of ``RateLimiter(algorithm=...)``.
ALGORITHMS = frozenset({"gcra", "sliding_window"})

_MAX_KEY_BYTES = 512
_MAX_LIMIT = 1_000_000_000
# TATs are epoch microseconds (~1.7e15) plus at most one period; a one-year cap keeps
# them far below 2**53 (~9.0e15), where doubles stop being exact.
_MAX_PERIOD_SEC = 366 * 86400


def _ceil_sec(seconds: float) -> int:
    # Round to the microsecond first: float noise from the us -> s division
    # (60.000000000000007) must give 60, not 61.
    return math.ceil(round(seconds, 6))


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one :meth:`RateLimiter.check`.

    ``remaining`` is how many more unit-cost requests would be allowed right now;
    ``reset_after_sec`` is when the key is back to a full burst; ``retry_after_sec``
    is 0 when allowed, else when the same request would be allowed. ``degraded`` is
    True when Redis could not be reached and the ``on_unavailable`` policy decided.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after_sec: float
    retry_after_sec: float
    degraded: bool = False

    def headers(self) -> dict[str, str]:
        """HTTP headers: ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``
        (integer seconds, rounded up) and, when denied, ``Retry-After`` (integer seconds,
        rounded up, at least 1)."""
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(max(0, _ceil_sec(self.reset_after_sec))),
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, _ceil_sec(self.retry_after_sec)))
        return out


# KEYS[1] = the key; ARGV = emission interval (us), burst tolerance (us), cost.
# Returns {allowed, remaining, reset_after_us, retry_after_us}, all integers.
_GCRA_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat == nil or tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, math.floor((now + tolerance - tat) / interval), tat - now, allow_at - now}
end
if cost > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
             'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
end
return {1, math.floor((now + tolerance - new_tat) / interval), new_tat - now, 0}
"""


def _decision(limit: int, reply: Sequence[Any]) -> RateDecision:
    allowed, remaining, reset_us, retry_us = (int(x) for x in reply)
    return RateDecision(
        allowed=bool(allowed),
        limit=limit,
        remaining=max(0, remaining),
        reset_after_sec=max(0, reset_us) / 1_000_000,
        retry_after_sec=max(0, retry_us) / 1_000_000,
    )


class _LocalGCRA:
    """In-process GCRA on the monotonic clock; thread-safe; bounded number of keys."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._tats: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        register_fork_aware(self)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()

    def check(
        self, key: str, interval: int, tolerance: int, cost: int
    ) -> tuple[int, int, int, int]:
        with self._lock:
            # Looked up at call time (not bound at import) so tests can fake the clock.
            now = time.monotonic_ns() // 1000
            tat = max(self._tats.get(key, now), now)
            new_tat = tat + cost * interval
            allow_at = new_tat - tolerance
            if allow_at > now:
                return (0, (now + tolerance - tat) // interval, tat - now, allow_at - now)
            if cost > 0:
                self._tats[key] = new_tat
                self._tats.move_to_end(key)
                if len(self._tats) > self._max_keys:
                    self._shrink(now)
            return (1, (now + tolerance - new_tat) // interval, new_tat - now, 0)

    def _shrink(self, now: int) -> None:
        # A key whose TAT has passed is the same as a missing key: drop those first,
        # then the least recently charged ones (which forgets their state: fail open).
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        while len(self._tats) > self._max_keys:
            self._tats.popitem(last=False)


class RateLimiter:
    """A rate limiter, shared through Redis or local to the process.

    ``algorithm`` is ``"gcra"`` (default) or ``"sliding_window"`` (exact, see the
    module docstring). ``redis_url=None`` -> purely in-process. Otherwise every check
    is one atomic Lua script on Redis using Redis time; the client is lazy, per
    process and fork-safe. When Redis cannot be reached, ``on_unavailable`` decides:

    * ``"deny"``  -> ``allowed=False``, ``retry_after_sec=1``, ``degraded=True``;
    * ``"allow"`` -> ``allowed=True``, ``degraded=True``;
    * ``"local"`` -> the in-process limiter of the same algorithm decides (exact
      within the process, so the effective limit is multiplied by the number of
      processes), ``degraded=True``.

    Each check tries Redis again, so recovery is automatic. Keys are stored as
    ``<namespace>:<escaped key>``; ``namespace`` is host-chosen and used verbatim:
    give each algorithm its own (a GCRA key is a string, a window key a ZSET).
    Raises :class:`ValueError` for a bad ``on_unavailable``, ``namespace`` or
    ``algorithm``.
    """

    def __init__(
        self,
        redis_url: str | None,
        *,
        on_unavailable: str = "deny",
        namespace: str = "iota:rl",
        algorithm: str = "gcra",
    ) -> None:
        if on_unavailable not in ON_UNAVAILABLE:
            raise ValueError(
                f"on_unavailable must be one of {sorted(ON_UNAVAILABLE)}, not {on_unavailable!r}"
            )
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, not {algorithm!r}")
        if not isinstance(namespace, str) or not namespace:
            raise ValueError("namespace must be a non-empty string")
        self.on_unavailable = on_unavailable
        self.namespace = namespace
        self.algorithm = algorithm
        self._local: _LocalGCRA | LocalWindow = (
            LocalWindow() if algorithm == "sliding_window" else _LocalGCRA()
        )
        self._handle: RedisHandle | None = None
        if redis_url is not None:
            self._handle = shared_redis_handle(redis_url, what="rate limit backend")

    def physical_key(self, key: str) -> str:
        """The storage key of ``key`` (``<namespace>:<escaped key>``)."""
        return f"{self.namespace}:{escape_part(key)}"

    def check(self, key: str, limit: int, period_sec: float, cost: int = 1) -> RateDecision:
        """Charge ``cost`` to ``key`` under ``limit`` requests per ``period_sec``.

        ``limit``: int in [1, 1e9] (sliding window: [1, 100000]); ``period_sec``:
        finite number in (0, 366 days]; ``cost``: int in [0, limit] (0 only
        inspects). Raises ``ScriptError("invalid_argument")`` otherwise. A denied
        request is not charged.
        """
        name = self._check_args(key, limit, period_sec, cost)
        if self.algorithm == "sliding_window":
            script, args = WINDOW_LUA, (max(1, round(period_sec * 1_000_000)), limit, cost)
            local = (name, args[0], limit, cost)
        else:
            interval = max(1, round(period_sec * 1_000_000 / limit))
            script, args = _GCRA_LUA, (interval, interval * limit, cost)
            local = (name, *args)
        if self._handle is None:
            return _decision(limit, self._local.check(*local))  # type: ignore[arg-type]
        argv = [str(a) for a in args]
        if self.algorithm == "sliding_window":
            argv.append(secrets.token_hex(8))  # unique ZSET members
        try:
            reply = self._handle.call(
                lambda session: session.script(script)(keys=[name], args=argv)
            )
        except BackendUnavailable:
            return self._degraded(limit, local, cost)
        except redis.exceptions.ResponseError:
            # WRONGTYPE: something else wrote under our key. Not a script's fault and
            # not worth a 500: apply the outage policy, loudly.
            _log.warning("rate limit key %r holds a foreign value; applying policy", name)
            return self._degraded(limit, local, cost)
        return _decision(limit, reply)

    def _degraded(self, limit: int, local: tuple, cost: int) -> RateDecision:
        if self.on_unavailable == "allow":
            return RateDecision(True, limit, max(0, limit - cost), 0.0, 0.0, degraded=True)
        if self.on_unavailable == "local":
            decided = _decision(limit, self._local.check(*local))
            return dataclasses.replace(decided, degraded=True)
        return RateDecision(False, limit, 0, 1.0, 1.0, degraded=True)

    def _check_args(self, key: object, limit: object, period_sec: object, cost: object) -> str:
        if not isinstance(key, str) or not key:
            raise ScriptError("invalid_argument", "rate limit: the key must be a non-empty string")
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            raise ScriptError("invalid_argument", "rate limit: the key is not valid text") from None
        if size > _MAX_KEY_BYTES:
            raise ScriptError(
                "argument_too_large", f"rate limit: the key is longer than {_MAX_KEY_BYTES} bytes"
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
            raise ScriptError("invalid_argument", "rate limit: limit must be a positive integer")
        if (
            isinstance(period_sec, bool)
            or not isinstance(period_sec, (int, float))
            or not math.isfinite(period_sec)
            or not 0 < period_sec <= _MAX_PERIOD_SEC
        ):
            raise ScriptError(
                "invalid_argument", "rate limit: period must be a positive number of seconds"
            )
        if self.algorithm == "sliding_window" and limit > MAX_WINDOW_LIMIT:
            raise ScriptError(
                "invalid_argument",
                f"rate limit: the sliding window takes at most {MAX_WINDOW_LIMIT} requests",
            )
        if isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= limit:
            raise ScriptError("invalid_argument", "rate limit: cost must be an int in [0, limit]")
        return self.physical_key(key)
