"""Exact rate limiting: a sliding-window log, atomic in Redis or in-process.

The log keeps the time of every request allowed in the last ``window`` per key.
A request of ``cost`` is allowed iff ``count(entries newer than now - window) + cost
<= limit``; then ``cost`` entries stamped ``now`` are added. So **at no instant do
more than ``limit`` requests fall in any window of length ``window``**: there is no
burst at a window edge (a fixed window allows ``2 * limit`` across its edge; GCRA
allows ``limit`` at once and then one per interval, up to about ``2 * limit`` per
window). Capacity returns entry by entry, exactly one window after each was spent.

The price is memory: one entry per allowed request, hence the ceiling
:data:`MAX_WINDOW_LIMIT` on ``limit``.

On Redis the decision is ONE Lua script on Redis ``TIME`` (one clock for every
process and host): a ZSET per key whose members are unique (a per-call random token
plus an index; two calls in the same microsecond must not merge) and whose scores
are epoch microseconds (below 2**53: exact in doubles). Expired entries are trimmed
on every call; the key expires (PEXPIRE) one window after its newest entry, when it
is indistinguishable from a missing key. The in-process log is exact within its
process (one lock) and bounded in keys and entries.

Every check returns ``(allowed, remaining, reset_after_us, retry_after_us)``:
``reset_after_us`` is when the newest entry leaves the window (the key is back to a
full quota); ``retry_after_us`` is 0 when allowed, else when enough old entries
have left for the same request to pass.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

from ._redis import register_fork_aware

#: The largest ``limit`` of the sliding-window algorithm (one stored entry per request).
MAX_WINDOW_LIMIT = 100_000

# KEYS[1] = the key; ARGV = window (us), limit, cost, unique token.
WINDOW_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window))
local count = redis.call('ZCARD', key)
local function reset_after(extra)
  if extra then return window end
  if count == 0 then return 0 end
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  return tonumber(newest[2]) + window - now
end
if count + cost > limit then
  -- The (count + cost - limit)-th oldest entry has to leave the window first.
  local need = count + cost - limit
  local entry = redis.call('ZRANGE', key, need - 1, need - 1, 'WITHSCORES')
  return {0, math.max(0, limit - count), reset_after(false), tonumber(entry[2]) + window - now}
end
if cost > 0 then
  local stamp = string.format('%.0f', now)
  for i = 1, cost do
    redis.call('ZADD', key, stamp, ARGV[4] .. ':' .. i)
  end
  redis.call('PEXPIRE', key, math.max(1, math.ceil(window / 1000)))
end
return {1, limit - count - cost, reset_after(cost > 0), 0}
"""


class _Log:
    __slots__ = ("stamps", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.stamps: deque[int] = deque()


class LocalWindow:
    """The sliding-window log in this process, on the monotonic clock; thread-safe.

    Bounded: at most ``max_keys`` keys and ``max_entries`` entries in all. Past a
    bound, keys whose entries all expired go first, then the least recently charged
    keys (which forgets their entries: fail open, never fail closed for everyone).
    """

    def __init__(self, max_keys: int = 100_000, max_entries: int = 2_000_000) -> None:
        self._max_keys = max_keys
        self._max_entries = max_entries
        self._logs: OrderedDict[str, _Log] = OrderedDict()
        self._entries = 0
        self._lock = threading.Lock()
        register_fork_aware(self)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()

    def check(self, key: str, window: int, limit: int, cost: int) -> tuple[int, int, int, int]:
        with self._lock:
            # Looked up at call time (not bound at import) so tests can fake the clock.
            now = time.monotonic_ns() // 1000
            log = self._logs.get(key) or _Log(window)
            log.window = window
            stamps = log.stamps
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
                self._entries -= 1
            count = len(stamps)
            reset = stamps[-1] + window - now if stamps else 0
            if count + cost > limit:
                retry = stamps[count + cost - limit - 1] + window - now
                return (0, max(0, limit - count), reset, retry)
            if cost > 0:
                stamps.extend([now] * cost)
                self._entries += cost
                self._logs[key] = log
                self._logs.move_to_end(key)
                reset = window
                if len(self._logs) > self._max_keys or self._entries > self._max_entries:
                    self._shrink(now, keep=key)
            elif not stamps:
                self._logs.pop(key, None)
            return (1, limit - count - cost, reset, 0)

    def _shrink(self, now: int, keep: str) -> None:
        for name in [
            k for k, log in self._logs.items() if k != keep and log.stamps[-1] <= now - log.window
        ]:
            self._entries -= len(self._logs.pop(name).stamps)
        for name in list(self._logs):
            if len(self._logs) <= self._max_keys and self._entries <= self._max_entries:
                break
            if name != keep:
                self._entries -= len(self._logs.pop(name).stamps)
