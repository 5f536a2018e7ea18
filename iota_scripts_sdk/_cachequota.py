"""Per-company quotas of ``sdk.cache`` in Redis, and the guard that keeps Redis
usable for the rate limiter.

Quota accounting
----------------
The cache keys of one company (every run-as user of it) share one quota of
``CacheLimits.quota_max_keys`` entries and ``quota_max_bytes`` bytes (UTF-8 key +
value + a fixed per-entry overhead, the same measure as the in-process store).
Two Redis keys per quota scope hold the accounts:

* ``iota:cq:<scope>:e``, a sorted set: member = the entry's physical key, score
  = when it expires (Redis ``TIME``, milliseconds);
* ``iota:cq:<scope>:s``, a hash: member = the entry's physical key, value = its
  size; the field ``#bytes`` holds the total (a physical key always starts with
  ``iota:c:``, so it never collides).

Writes (``set``, ``incr``) and ``delete`` are Lua scripts that change the entry
and its accounts together, so the quota holds across processes and hosts. Each
script first forgets up to ``_PURGE_BATCH`` entries whose expiry passed (Redis has
removed their keys by then). A write that would pass the quota changes nothing
and answers ``quota_exceeded``.

Trap: the accounts count what *we* wrote. Keys that Redis evicts under a
``maxmemory-policy`` other than ``noeviction`` stay counted until their TTL
passes: the quota errs on the safe side. The accounting keys expire a minute
after the longest TTL, so an idle company leaves nothing behind.

Memory guard
------------
A Redis under ``maxmemory`` with ``noeviction`` refuses every write once full,
the rate limiter's included, and the endpoints then answer 503 (or evict the
limiter's keys under an LRU policy). So cache writes are refused with
``cache_full`` while ``used_memory`` is above ``CacheLimits.redis_memory_guard``
(default 0.8) of ``maxmemory``. The writing scripts read ``INFO memory``
themselves, so the guard is exact even under a burst of writes from many
processes. Without ``maxmemory`` (0) there is nothing to compare with, and only
the quotas bound the cache.
"""

from __future__ import annotations

__all__ = ["CACHE_FULL", "DELETE_LUA", "INCR_LUA", "SET_LUA", "accounting_keys"]

#: Prefix of the quota accounts (``iota:cq:<scope>:e`` and ``:s``).
QUOTA_PREFIX = "iota:cq"

#: Expired entries forgotten per script call, at most.
_PURGE_BATCH = 500

#: The status of SET_LUA and INCR_LUA when Redis is nearly full (``cache_full``).
CACHE_FULL = 9

# Shared head of the writing scripts. ARGV[7] is the memory guard (a fraction).
# TIME and INFO (non-deterministic) before writes need effects replication on Redis < 5.
_HEAD = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local mem = redis.call('INFO', 'memory')
local maxmemory = tonumber(string.match(mem, 'maxmemory:(%d+)') or '0')
if maxmemory > 0 then
  local used = tonumber(string.match(mem, 'used_memory:(%d+)') or '0')
  if used > tonumber(ARGV[7]) * maxmemory then return {9} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, __PURGE_BATCH__)
if #dead > 0 then
  local sizes = redis.call('HMGET', KEYS[3], unpack(dead))
  local freed = 0
  for i = 1, #dead do freed = freed + (tonumber(sizes[i]) or 0) end
  redis.call('ZREM', KEYS[2], unpack(dead))
  redis.call('HDEL', KEYS[3], unpack(dead))
  redis.call('HINCRBY', KEYS[3], '#bytes', -freed)
end
local total = tonumber(redis.call('HGET', KEYS[3], '#bytes') or '0')
local old = redis.call('HGET', KEYS[3], KEYS[1])
""".replace("__PURGE_BATCH__", str(_PURGE_BATCH))

# KEYS = data key, expiry set, size hash.
# ARGV = value, ttl_ms, size, max_bytes, max_keys, accounts_ttl_ms, memory guard.
# Returns {0} stored, {1} too many keys, {2} too many bytes.
SET_LUA = (
    _HEAD
    + """
local size = tonumber(ARGV[3])
if not old then
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {1} end
  old = 0
else
  old = tonumber(old)
end
if total - old + size > tonumber(ARGV[4]) then return {2} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], size)
redis.call('HINCRBY', KEYS[3], '#bytes', size - old)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return {0}
"""
)

# Atomic incr with TTL-on-create. Lua numbers are doubles: exact for every integer up to
# 2**53, and a sum that overflows the safe range still compares as out of range because
# rounding is monotonic. tostring() would print "9.007199254741e+15", hence %.0f.
# KEYS as SET_LUA. ARGV = by, ttl_ms, size without the value, max_bytes, max_keys,
# accounts_ttl_ms, memory guard. Returns {0, value}, {1} not an integer, {2} out of range,
# {3} too many keys, {4} too many bytes.
INCR_LUA = (
    _HEAD
    + """
local v = redis.call('GET', KEYS[1])
local by = tonumber(ARGV[1])
local cur = 0
if v then
  local digits = string.match(v, '^%-?([0-9]+)$')
  if (not digits) or #digits > 16 or (#digits > 1 and string.sub(digits, 1, 1) == '0') then
    return {1}
  end
  cur = tonumber(v)
  if cur > 9007199254740991 or cur < -9007199254740991 then
    return {1}
  end
end
local n = cur + by
if n > 9007199254740991 or n < -9007199254740991 then
  return {2}
end
local s = string.format('%.0f', n)
if s == '-0' then s = '0' end
local size = tonumber(ARGV[3]) + #s
local counted = old
if not old then
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {3} end
  old = 0
else
  old = tonumber(old)
end
if size > old and total - old + size > tonumber(ARGV[4]) then return {4} end
if v then
  redis.call('SET', KEYS[1], s, 'KEEPTTL')
  if not counted then
    -- written before quotas existed: count it until its own expiry
    local pttl = redis.call('PTTL', KEYS[1])
    if pttl < 0 then pttl = tonumber(ARGV[2]) end
    redis.call('ZADD', KEYS[2], now + pttl, KEYS[1])
  end
else
  redis.call('SET', KEYS[1], s, 'PX', ARGV[2])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), KEYS[1])
end
redis.call('HSET', KEYS[3], KEYS[1], size)
redis.call('HINCRBY', KEYS[3], '#bytes', size - old)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return {0, s}
"""
)

# KEYS as SET_LUA. Returns how many keys were deleted (0 or 1).
DELETE_LUA = """
local n = redis.call('DEL', KEYS[1])
local old = redis.call('HGET', KEYS[3], KEYS[1])
if old then
  redis.call('HDEL', KEYS[3], KEYS[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
  redis.call('HINCRBY', KEYS[3], '#bytes', -tonumber(old))
end
return n
"""


def accounting_keys(escaped_scope: list[str]) -> tuple[str, str]:
    """The expiry set and the size hash of a quota scope (parts already escaped)."""
    base = ":".join([QUOTA_PREFIX, *escaped_scope])
    return base + ":e", base + ":s"
