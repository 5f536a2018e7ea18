# Over 600 lines: the Redis and in-process backends of one contract, side by side so they stay equal.
"""The key/value cache behind ``sdk.cache``.

Scripts call ``sdk.cache.get/set/delete/incr``; the engine hands the calls to a
:class:`Cache` built by :func:`open_cache`. Two backends exist:

* :class:`MemoryCache` - in-process, thread-safe, TTL-aware and bounded (LRU by
  entry count and by bytes). Process-local: every Odoo worker has its own.
* :class:`RedisCache` - shared by every process that uses the same Redis.

Contracts shared by both backends (the tests hold them to it):

* Values are JSON **text**. The engine passes the JSON string through untouched
  and the cache stores it verbatim; it never parses it, except in :meth:`Cache.incr`.
* Every entry expires: a ``ttl_sec`` of ``None`` means ``CacheLimits.default_ttl_sec``.
* The namespace (e.g. ``("mydb", "3", "user", "7")``: database, company, run-as
  user) is chosen by the HOST, never by the script. Every namespace part and the script key are percent-encoded
  (everything outside ``[A-Za-z0-9._-]``), so ``:``, ``%``, ``*``, ``?``, ``[``
  and friends never appear raw in a physical key and no key can reach into
  another namespace. The Redis key is ``iota:c:<ns1>:<ns2>:<escaped key>``.
* Quotas: the caches of one *quota scope* (a prefix of the namespace: the
  company) share ``CacheLimits.quota_max_keys`` entries and ``quota_max_bytes``
  bytes. A write past either raises ``quota_exceeded`` and changes nothing; in
  Redis the check is atomic (see :mod:`._cachequota`). A Redis above
  ``redis_memory_guard`` of its ``maxmemory`` refuses writes with ``cache_full``,
  so that the rate limiter sharing it keeps working.
* Bad arguments raise :class:`ScriptError` with ``invalid_argument`` or
  ``argument_too_large``; an unreachable Redis raises ``cache_unavailable``.
  Host-side misconfiguration (a bad namespace or :class:`CacheLimits`) raises
  :class:`ValueError`/:class:`TypeError`: it is a bug of the host, not of a script.
"""

from __future__ import annotations

import math
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import redis.exceptions

from ._cachequota import CACHE_FULL, DELETE_LUA, INCR_LUA, SET_LUA, accounting_keys
from ._redis import (
    BackendUnavailable,
    RedisSession,
    register_fork_aware,
    registry_lock,
    shared_redis_handle,
)
from .errors import ScriptError

__all__ = [
    "KEY_PREFIX",
    "MAX_SAFE_INTEGER",
    "Cache",
    "CacheLimits",
    "MemoryCache",
    "RedisCache",
    "escape_part",
    "open_cache",
]

#: Prefix of every physical Redis key written by :class:`RedisCache`.
KEY_PREFIX = "iota:c"

#: Largest integer a JavaScript number holds exactly (``Number.MAX_SAFE_INTEGER``).
MAX_SAFE_INTEGER = 2**53 - 1

#: Largest ``by`` accepted by :meth:`Cache.incr` (in absolute value).
_MAX_INCR_BY = 2**53

#: Bytes charged per memory entry on top of its key and value (dict slot, object headers).
_ENTRY_OVERHEAD = 96

_T = TypeVar("_T")


# --------------------------------------------------------------------------- escaping

_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# One entry per byte value: the byte itself when safe, else "%XX". Built by hand rather
# than with urllib.parse.quote, which always leaves "~" unescaped.
_ESCAPE_TABLE: tuple[str, ...] = tuple(
    chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in range(256)
)


def escape_part(text: str) -> str:
    """Percent-encode ``text`` so that it is one opaque segment of a physical key.

    Every UTF-8 byte outside ``[A-Za-z0-9._-]`` becomes ``%XX`` (upper-case hex).
    The mapping is injective and its output never contains ``:`` (the segment
    separator), ``%`` other than as an escape, nor a glob character, so joining
    escaped segments with ``:`` can never be ambiguous.

    Raises :class:`UnicodeEncodeError` for strings holding lone surrogates; callers
    validate first.
    """
    return "".join([_ESCAPE_TABLE[b] for b in text.encode("utf-8")])


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class CacheLimits:
    """Limits applied to every cache call, identical for both backends.

    ``memory_*`` bound each in-process store (:class:`MemoryCache`, one per quota
    scope) by evicting the least recently used entries; ``quota_*`` bound a quota
    scope (a company) by refusing writes with ``quota_exceeded``, in both backends;
    ``redis_memory_guard`` is the fraction of Redis's ``maxmemory`` above which
    writes get ``cache_full``;
    ``redis_*_timeout_sec`` are the client's timeouts, kept short so that a dead
    Redis fails a script call quickly instead of hanging the run.
    """

    max_key_bytes: int = 512
    max_value_bytes: int = 1_048_576
    max_ttl_sec: float = 30 * 86400
    default_ttl_sec: float = 86400
    memory_max_entries: int = 10_000
    memory_max_bytes: int = 64 * 1024 * 1024
    redis_connect_timeout_sec: float = 0.5
    redis_socket_timeout_sec: float = 1.0
    quota_max_keys: int = 10_000
    quota_max_bytes: int = 16 * 1024 * 1024
    redis_memory_guard: float = 0.8

    def __post_init__(self) -> None:
        for name in (
            "max_key_bytes",
            "max_value_bytes",
            "memory_max_entries",
            "memory_max_bytes",
            "quota_max_keys",
            "quota_max_bytes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CacheLimits.{name} must be a positive int")
        for name in (
            "max_ttl_sec",
            "default_ttl_sec",
            "redis_connect_timeout_sec",
            "redis_socket_timeout_sec",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"CacheLimits.{name} must be a positive finite number")
        guard = self.redis_memory_guard
        if isinstance(guard, bool) or not isinstance(guard, (int, float)) or not 0 < guard <= 1:
            raise ValueError("CacheLimits.redis_memory_guard must be a fraction in (0, 1]")
        if self.default_ttl_sec > self.max_ttl_sec:
            raise ValueError("CacheLimits.default_ttl_sec must not exceed max_ttl_sec")
        # Any entry that passes validation must fit in an empty memory store, otherwise
        # MemoryCache.set would have to refuse a value the Redis backend accepts.
        if self.memory_max_bytes < self.max_key_bytes + self.max_value_bytes + _ENTRY_OVERHEAD:
            raise ValueError(
                "CacheLimits.memory_max_bytes must hold at least one entry of the largest size"
            )


_DEFAULT_LIMITS = CacheLimits()


# --------------------------------------------------------------------------- validation


def _utf8_len(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates: a Python str can hold them, UTF-8 (and Redis) cannot.
        raise ScriptError("invalid_argument", f"{what} is not valid Unicode text") from None


def _is_number(value: object) -> bool:
    # bool is an int subclass: True must not pass as 1 second / 1 step.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# A canonical JSON integer: no "+", no leading zeros, no exponent, no blanks.
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]{0,15})")


def _parse_counter(text: str) -> int:
    """Parse a stored value for :meth:`Cache.incr`; raise ``invalid_argument`` if not an int."""
    if _INT_RE.fullmatch(text) is None:
        raise ScriptError("invalid_argument", "cache.incr: the stored value is not an integer")
    number = int(text)
    if abs(number) > MAX_SAFE_INTEGER:
        raise ScriptError("invalid_argument", "cache.incr: the stored value is not a safe integer")
    return number


def _check_result(number: int) -> int:
    if abs(number) > MAX_SAFE_INTEGER:
        raise ScriptError(
            "invalid_argument", "cache.incr: the result is outside the safe integer range"
        )
    return number


# --------------------------------------------------------------------------- base class


class Cache(ABC):
    """The four operations of ``sdk.cache``, validated identically for every backend.

    The public methods validate their arguments (raising :class:`ScriptError`) and then
    call the backend's ``_get``/``_set``/``_delete``/``_incr`` with normalised values:
    the key unchanged, the value with its UTF-8 size, the TTL in whole milliseconds.
    """

    def __init__(self, limits: CacheLimits | None = None) -> None:
        self.limits = limits if limits is not None else _DEFAULT_LIMITS

    # -- public API ---------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        """Return the JSON text stored under ``key``, or ``None`` if absent or expired."""
        self._check_key(key)
        return self._get(key)

    def set(self, key: str, value_json: str, ttl_sec: float | None = None) -> None:
        """Store ``value_json`` (JSON text, kept verbatim) under ``key`` for ``ttl_sec``.

        ``ttl_sec=None`` means ``limits.default_ttl_sec``. Replaces any previous value
        and its TTL.
        """
        self._check_key(key)
        if not isinstance(value_json, str):
            raise ScriptError("invalid_argument", "cache.set: the value must be JSON text")
        # Cheap pre-check: a str never has fewer UTF-8 bytes than characters.
        if len(value_json) > self.limits.max_value_bytes:
            raise self._value_too_large()
        size = _utf8_len(value_json, "the value")
        if size > self.limits.max_value_bytes:
            raise self._value_too_large()
        self._set(key, value_json, size, self._ttl_ms(ttl_sec))

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether a live entry was removed."""
        self._check_key(key)
        return self._delete(key)

    def incr(self, key: str, by: int = 1, ttl_sec: float | None = None) -> int:
        """Add ``by`` to the integer stored under ``key`` atomically; return the new value.

        A missing key counts as 0 and is created with ``ttl_sec`` (``None`` means the
        default TTL); an existing key keeps its TTL, ``ttl_sec`` is then ignored (but
        still validated). The stored value must be a canonical JSON integer (``"42"``,
        ``"-7"``) within +-(2**53-1); ``by`` must be an int within +-2**53, and the
        result must stay a JS safe integer, else ``invalid_argument``. On error the
        stored value is unchanged.
        """
        self._check_key(key)
        if isinstance(by, bool) or not isinstance(by, int):
            raise ScriptError("invalid_argument", "cache.incr: 'by' must be an integer")
        if abs(by) > _MAX_INCR_BY:
            raise ScriptError("invalid_argument", "cache.incr: 'by' is outside +-2**53")
        return self._incr(key, by, self._ttl_ms(ttl_sec))

    # -- backend hooks ------------------------------------------------------------------

    @abstractmethod
    def _get(self, key: str) -> str | None: ...

    @abstractmethod
    def _set(self, key: str, value: str, value_bytes: int, ttl_ms: int) -> None: ...

    @abstractmethod
    def _delete(self, key: str) -> bool: ...

    @abstractmethod
    def _incr(self, key: str, by: int, ttl_ms: int) -> int: ...

    # -- validation helpers -------------------------------------------------------------

    def _check_key(self, key: object) -> None:
        if not isinstance(key, str) or not key:
            raise ScriptError("invalid_argument", "cache: the key must be a non-empty string")
        limit = self.limits.max_key_bytes
        if len(key) > limit or _utf8_len(key, "the key") > limit:
            raise ScriptError("argument_too_large", f"cache: the key is longer than {limit} bytes")

    def _value_too_large(self) -> ScriptError:
        return ScriptError(
            "argument_too_large",
            f"cache.set: the value is larger than {self.limits.max_value_bytes} bytes",
        )

    def _ttl_ms(self, ttl_sec: object) -> int:
        """Validate ``ttl_sec`` and return it in whole milliseconds (at least 1)."""
        if ttl_sec is None:
            ttl = float(self.limits.default_ttl_sec)
        else:
            if (
                not _is_number(ttl_sec)
                or not math.isfinite(ttl_sec)  # type: ignore[arg-type]
                or ttl_sec <= 0  # type: ignore[operator]
                or ttl_sec > self.limits.max_ttl_sec  # type: ignore[operator]
            ):
                raise ScriptError(
                    "invalid_argument",
                    "cache: ttl must be a positive number of seconds, at most "
                    f"{self.limits.max_ttl_sec:g}",
                )
            ttl = float(ttl_sec)  # type: ignore[arg-type]
        # Round up: a 0.0001 s TTL must not become "no expiry" (Redis rejects PX 0).
        return max(1, math.ceil(ttl * 1000))


# --------------------------------------------------------------------------- memory backend


class _Entry:
    __slots__ = ("expires_at", "size", "value")

    def __init__(self, value: str, expires_at: float, size: int) -> None:
        self.value = value
        self.expires_at = expires_at
        self.size = size


def _quota_error(limits: CacheLimits, what: str) -> ScriptError:
    if what == "keys":
        return ScriptError(
            "quota_exceeded",
            f"cache: the company's quota of {limits.quota_max_keys} keys is used up; "
            "delete keys or wait for them to expire",
        )
    return ScriptError(
        "quota_exceeded",
        f"cache: the company's quota of {limits.quota_max_bytes} bytes would be exceeded; "
        "delete keys or wait for them to expire",
    )


class _MemoryStore:
    """One bounded LRU map of live entries, guarded by one lock: the entries of one
    quota scope (every namespace under it, see :class:`MemoryCache`)."""

    # A full sweep for expired entries is O(n): under constant pressure do it at most
    # this often, otherwise evict least-recently-used entries straight away.
    _SWEEP_INTERVAL_SEC = 1.0

    def __init__(self, limits: CacheLimits) -> None:
        self.max_entries = limits.memory_max_entries
        self.max_bytes = limits.memory_max_bytes
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.bytes = 0
        self._last_sweep = -math.inf
        register_fork_aware(self)

    def _reset_after_fork(self) -> None:
        self.lock = threading.Lock()

    # All methods below expect self.lock to be held.

    def live(self, key: str, now: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self.remove(key)
            return None
        self.entries.move_to_end(key)
        return entry

    def remove(self, key: str) -> _Entry | None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size
        return entry

    def put(self, key: str, entry: _Entry, now: float, limits: CacheLimits) -> None:
        """Stores ``entry``; raises ``quota_exceeded`` (changing nothing) past a quota."""
        self._check_quota(key, entry.size, now, limits)
        self.remove(key)
        self.entries[key] = entry
        self.bytes += entry.size
        self._enforce_bounds(now)

    def _check_quota(self, key: str, size: int, now: float, limits: CacheLimits) -> None:
        for attempt in range(2):
            old = self.entries.get(key)
            keys = len(self.entries) + (0 if old is not None else 1)
            total = self.bytes - (old.size if old is not None else 0) + size
            if keys <= limits.quota_max_keys and total <= limits.quota_max_bytes:
                return
            if attempt == 0:  # expired entries do not count: forget them and look again
                self._sweep(now)
        if keys > limits.quota_max_keys:
            raise _quota_error(limits, "keys")
        raise _quota_error(limits, "bytes")

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for key in [k for k, e in self.entries.items() if e.expires_at <= now]:
            self.remove(key)

    def _enforce_bounds(self, now: float) -> None:
        if len(self.entries) <= self.max_entries and self.bytes <= self.max_bytes:
            return
        if now - self._last_sweep >= self._SWEEP_INTERVAL_SEC:
            self._sweep(now)
        # The newest entry is last and fits alone (CacheLimits guarantees it), so this
        # loop never evicts the entry just written.
        while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
            _key, old = self.entries.popitem(last=False)
            self.bytes -= old.size


class MemoryCache(Cache):
    """In-process cache: thread-safe, TTL-aware, bounded, process-local.

    Bounds: at most ``limits.memory_max_entries`` entries and ``limits.memory_max_bytes``
    bytes (UTF-8 key + value + a fixed per-entry overhead); past either bound the least
    recently used entries are evicted (expired ones first). Past ``limits.quota_*``
    writes are refused with ``quota_exceeded`` instead. Expiry uses the monotonic
    clock. A forked child gets a copy of the parent's entries at fork time and evolves
    separately.

    Built directly, a ``MemoryCache`` has a private store; :func:`open_cache` instead
    returns caches that share one store per quota scope within the process, each
    cache keeping its entries under its own prefix there.
    """

    def __init__(self, limits: CacheLimits | None = None) -> None:
        super().__init__(limits)
        self._store = _MemoryStore(self.limits)
        self._prefix = ""

    @classmethod
    def _on_store(cls, store: _MemoryStore, limits: CacheLimits | None, prefix: str) -> MemoryCache:
        cache = cls.__new__(cls)
        Cache.__init__(cache, limits)
        cache._store = store
        cache._prefix = prefix
        return cache

    def __len__(self) -> int:
        """Number of stored entries of the store, expired ones not yet purged included."""
        with self._store.lock:
            return len(self._store.entries)

    def _get(self, key: str) -> str | None:
        store = self._store
        with store.lock:
            entry = store.live(self._prefix + key, time.monotonic())
            return None if entry is None else entry.value

    def _set(self, key: str, value: str, value_bytes: int, ttl_ms: int) -> None:
        size = len(key.encode("utf-8")) + value_bytes + _ENTRY_OVERHEAD
        store = self._store
        with store.lock:
            now = time.monotonic()
            entry = _Entry(value, now + ttl_ms / 1000, size)
            store.put(self._prefix + key, entry, now, self.limits)

    def _delete(self, key: str) -> bool:
        store = self._store
        with store.lock:
            entry = store.remove(self._prefix + key)
            return entry is not None and entry.expires_at > time.monotonic()

    def _incr(self, key: str, by: int, ttl_ms: int) -> int:
        key_bytes = len(key.encode("utf-8"))
        name = self._prefix + key
        store = self._store
        with store.lock:
            now = time.monotonic()
            entry = store.live(name, now)
            if entry is None:
                current, expires_at = 0, now + ttl_ms / 1000
            else:
                current, expires_at = _parse_counter(entry.value), entry.expires_at
            result = _check_result(current + by)
            text = str(result)
            # Keep the existing expiry (like Redis KEEPTTL): ttl applies only on creation.
            size = key_bytes + len(text) + _ENTRY_OVERHEAD
            store.put(name, _Entry(text, expires_at, size), now, self.limits)
            return result


# --------------------------------------------------------------------------- redis backend


class RedisCache(Cache):
    """Cache stored in Redis under ``iota:c:<escaped ns parts>:<escaped key>``.

    The client is created lazily and per process (see :class:`RedisHandle`). Every
    backend failure raises ``ScriptError("cache_unavailable")`` within the short
    connect/socket timeouts of :class:`CacheLimits`; the next call tries again.
    ``set``, ``incr`` and ``delete`` are Lua scripts that keep the quota accounts of
    ``quota_scope`` (a prefix of ``namespace``, default all of it) with the entry,
    so quotas and ``incr`` are atomic across processes (see :mod:`._cachequota`).
    """

    def __init__(
        self,
        redis_url: str,
        namespace: Sequence[str],
        *,
        limits: CacheLimits | None = None,
        quota_scope: Sequence[str] | None = None,
    ) -> None:
        super().__init__(limits)
        self.namespace = _check_namespace(namespace)
        scope = _check_scope(self.namespace, quota_scope)
        escaped = [escape_part(part) for part in self.namespace]
        self._prefix = ":".join([KEY_PREFIX, *escaped]) + ":"
        self._accounts = accounting_keys(escaped[: len(scope)])
        # The accounts outlive the longest-lived entry they count, by a minute.
        self._accounts_ttl_ms = str(math.ceil(self.limits.max_ttl_sec * 1000) + 60_000)
        self._handle = shared_redis_handle(
            redis_url,
            connect_timeout_sec=self.limits.redis_connect_timeout_sec,
            socket_timeout_sec=self.limits.redis_socket_timeout_sec,
            what="cache backend",
        )

    def physical_key(self, key: str) -> str:
        """The Redis key that holds the script key ``key`` (not validated here)."""
        return self._prefix + escape_part(key)

    def _run(self, operation: Callable[[RedisSession], _T]) -> _T:
        try:
            return self._handle.call(operation)
        except BackendUnavailable as exc:
            raise ScriptError("cache_unavailable", str(exc)) from None
        except (redis.exceptions.ResponseError, UnicodeDecodeError):
            # Someone else wrote a non-string (WRONGTYPE) or non-UTF-8 bytes under our key.
            raise ScriptError(
                "invalid_argument", "cache: the stored entry is not a text value"
            ) from None

    def _write(self, lua: str, name: str, args: list[str]) -> list[object]:
        """Runs a writing script (``cache_full`` when Redis is nearly full)."""
        keys = [name, *self._accounts]
        args = [*args, repr(float(self.limits.redis_memory_guard))]
        reply = self._run(lambda session: session.script(lua)(keys=keys, args=args))
        if int(reply[0]) == CACHE_FULL:
            raise ScriptError(
                "cache_full",
                "cache: the cache server is nearly full; writes are refused until it frees memory",
            )
        return list(reply)

    def _quota_args(self) -> list[str]:
        return [str(self.limits.quota_max_bytes), str(self.limits.quota_max_keys)]

    def _get(self, key: str) -> str | None:
        name = self.physical_key(key)
        value = self._run(lambda session: session.client.get(name))
        return value if isinstance(value, str) or value is None else str(value)

    def _set(self, key: str, value: str, value_bytes: int, ttl_ms: int) -> None:
        size = len(key.encode("utf-8")) + value_bytes + _ENTRY_OVERHEAD
        args = [value, str(ttl_ms), str(size), *self._quota_args(), self._accounts_ttl_ms]
        status = int(self._write(SET_LUA, self.physical_key(key), args)[0])  # type: ignore[call-overload]
        if status == 1:
            raise _quota_error(self.limits, "keys")
        if status == 2:
            raise _quota_error(self.limits, "bytes")

    def _delete(self, key: str) -> bool:
        keys = [self.physical_key(key), *self._accounts]
        return bool(self._run(lambda session: session.script(DELETE_LUA)(keys=keys, args=[])))

    def _incr(self, key: str, by: int, ttl_ms: int) -> int:
        base = len(key.encode("utf-8")) + _ENTRY_OVERHEAD
        args = [str(by), str(ttl_ms), str(base), *self._quota_args(), self._accounts_ttl_ms]
        reply = self._write(INCR_LUA, self.physical_key(key), args)
        status = int(reply[0])  # type: ignore[call-overload]
        if status == 1:
            raise ScriptError("invalid_argument", "cache.incr: the stored value is not an integer")
        if status == 2:
            raise ScriptError(
                "invalid_argument", "cache.incr: the result is outside the safe integer range"
            )
        if status == 3:
            raise _quota_error(self.limits, "keys")
        if status == 4:
            raise _quota_error(self.limits, "bytes")
        return int(reply[1])  # type: ignore[call-overload]


# --------------------------------------------------------------------------- factory


def _check_namespace(namespace: Sequence[str]) -> tuple[str, ...]:
    # A plain str is a Sequence[str] too: "mydb" would silently become ("m", "y", "d", "b").
    if isinstance(namespace, (str, bytes)) or not isinstance(namespace, Sequence):
        raise TypeError("the cache namespace must be a sequence of strings, not a string")
    parts = tuple(namespace)
    if not parts:
        raise ValueError("the cache namespace must have at least one part")
    for part in parts:
        if not isinstance(part, str) or not part:
            raise ValueError("every cache namespace part must be a non-empty string")
        part.encode("utf-8")  # lone surrogates: UnicodeEncodeError, a ValueError
    return parts


def _check_scope(namespace: tuple[str, ...], scope: Sequence[str] | None) -> tuple[str, ...]:
    if scope is None:
        return namespace
    parts = _check_namespace(scope)
    if namespace[: len(parts)] != parts:
        raise ValueError("the quota scope must be a prefix of the cache namespace")
    return parts


# Quota scope -> shared in-process store. Filled lazily; guarded by registry_lock().
_MEMORY_STORES: dict[tuple[str, ...], _MemoryStore] = {}


def open_cache(
    redis_url: str | None,
    namespace: Sequence[str],
    *,
    limits: CacheLimits | None = None,
    quota_scope: Sequence[str] | None = None,
) -> Cache:
    """Return the cache of ``namespace``, built by the host: e.g. ``("mydb", "3", "user",
    "7")`` for database, company and run-as user, with ``quota_scope=("mydb", "3")`` so
    that the company's users share one quota. ``quota_scope`` (default: the whole
    namespace) must be a prefix of ``namespace``.

    * ``redis_url`` set: a :class:`RedisCache`; nothing connects until the first call.
    * ``redis_url`` ``None``: a :class:`MemoryCache` over a store shared by every cache
      opened under the same quota scope in this process, so successive runs see each
      other's values. The store's bounds (``memory_max_*``) are those of the first
      ``open_cache`` of that scope; the other limits are those passed each time.

    Raises :class:`TypeError`/:class:`ValueError` for a malformed namespace (a host bug).
    """
    parts = _check_namespace(namespace)
    scope = _check_scope(parts, quota_scope)
    if redis_url is not None:
        return RedisCache(redis_url, parts, limits=limits, quota_scope=scope)
    effective = limits if limits is not None else _DEFAULT_LIMITS
    with registry_lock():
        store = _MEMORY_STORES.get(scope)
        if store is None:
            store = _MemoryStore(effective)
            _MEMORY_STORES[scope] = store
    # Escaped parts hold no NUL: the first NUL ends the prefix, so no (namespace, key)
    # pair can spell another's.
    prefix = ":".join(escape_part(part) for part in parts[len(scope) :]) + "\0"
    return MemoryCache._on_store(store, effective, prefix)
