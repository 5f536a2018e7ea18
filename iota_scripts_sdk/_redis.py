"""One lazily built Redis client per process and URL, shared by the cache and the
rate limiter; and the fork handling of the engine's in-process state.

The cache (``_cache``) and the endpoints' rate limiter (``_ratelimit``) both talk
to Redis through a :class:`RedisHandle`. They never share keys (the cache writes
``iota:c:*`` and ``iota:cq:*``, the limiter ``iota:api:*``) and the addon may point
them at different servers or database numbers (``redis_url`` and
``ratelimit_redis_url``), so that a full cache cannot stop the limiter.

Fork safety: objects that hold a lock register with :func:`register_fork_aware`;
in a forked child (Odoo's prefork workers) their locks are replaced, because a
lock held by another thread at fork time stays held forever in the child.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import redis
import redis.exceptions
from redis.commands.core import Script

__all__ = [
    "BackendUnavailable",
    "RedisHandle",
    "RedisSession",
    "register_fork_aware",
    "registry_lock",
    "shared_redis_handle",
]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")


class _ForkAware(Protocol):
    def _reset_after_fork(self) -> None: ...


# Objects whose locks must be replaced in a forked child: a lock held by another thread
# at fork time stays held forever in the child, where that thread does not exist.
_FORK_AWARE: weakref.WeakSet[Any] = weakref.WeakSet()
_REGISTRY_LOCK = threading.Lock()


def register_fork_aware(obj: _ForkAware) -> None:
    """Have ``obj._reset_after_fork()`` called in every forked child."""
    _FORK_AWARE.add(obj)


def registry_lock() -> threading.Lock:
    """The lock of this process's registries (handles, memory stores); fork-safe."""
    return _REGISTRY_LOCK


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for obj in list(_FORK_AWARE):
        obj._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --------------------------------------------------------------------------- clients


class BackendUnavailable(Exception):
    """Redis could not be reached or refused to serve; the message is safe to show."""


class RedisSession:
    """One process's Redis client plus the Lua scripts registered on it."""

    __slots__ = ("_scripts", "client")

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._scripts: dict[str, Script] = {}

    def script(self, source: str) -> Script:
        """The callable script for ``source`` (EVALSHA, loading it on NOSCRIPT).

        Registering only hashes locally; the server learns the script on the first
        NOSCRIPT reply, which also covers a Redis restart (empty script cache).
        """
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts.setdefault(source, self.client.register_script(source))
        return found


class RedisHandle:
    """A lazily built, per-process Redis client; see :func:`shared_redis_handle`.

    * Nothing connects until the first :meth:`call`.
    * Fork-safe: the client is rebuilt when ``os.getpid()`` changes. The child never
      touches (let alone shuts down) the sockets it inherited from the parent.
    * No retries: one failed attempt raises :class:`BackendUnavailable` at once, and
      the next call tries again, so service resumes by itself when Redis returns.
      Pooled connections left stale by a Redis restart are detected and reopened by
      redis-py before use.
    * Any :class:`redis.exceptions.RedisError` or :class:`OSError` becomes
      :class:`BackendUnavailable` with a fixed message: the URL (password, host) never
      reaches a script. The details go to the server log, once per outage.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_sec: float = 0.5,
        socket_timeout_sec: float = 1.0,
        what: str = "redis",
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("the Redis URL must be a non-empty string")
        self._url = url
        self._connect_timeout = connect_timeout_sec
        self._socket_timeout = socket_timeout_sec
        self._what = what
        # (pid, session) swapped as ONE tuple so that a reader never pairs a fresh pid
        # with the parent's client.
        self._state: tuple[int, RedisSession] | None = None
        self._lock = threading.Lock()
        self._down = False
        register_fork_aware(self)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Never show the URL: it may hold a password.
        return f"<RedisHandle {self._what}>"

    def _session(self) -> RedisSession:
        pid = os.getpid()
        state = self._state
        if state is not None and state[0] == pid:
            return state[1]
        with self._lock:
            state = self._state
            if state is None or state[0] != pid:
                # After a fork the parent's client is dropped, not closed: closing would
                # be harmless (redis-py only shuts a socket down in the process that
                # opened it) but there is nothing to gain.
                client = redis.Redis.from_url(
                    self._url,
                    socket_connect_timeout=self._connect_timeout,
                    socket_timeout=self._socket_timeout,
                    retry_on_timeout=False,
                    health_check_interval=0,
                    decode_responses=True,
                )
                state = (pid, RedisSession(client))
                self._state = state
            return state[1]

    def call(self, operation: Callable[[RedisSession], _T]) -> _T:
        """Run ``operation(session)``; map backend failures to :class:`BackendUnavailable`.

        A ``WRONGTYPE`` :class:`redis.exceptions.ResponseError` is re-raised unchanged for
        the caller to interpret; other refusals (read-only replica, OOM, loading...)
        count as unavailability.
        """
        try:
            session = self._session()
        except ValueError as exc:  # a malformed URL, found on first use
            self._note_down(exc)
            raise BackendUnavailable(f"the {self._what} is misconfigured") from None
        try:
            result = operation(session)
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                raise
            self._note_down(exc)
            raise BackendUnavailable(f"the {self._what} refused the command") from None
        except (redis.exceptions.RedisError, OSError) as exc:
            self._note_down(exc)
            raise BackendUnavailable(f"the {self._what} cannot be reached") from None
        if self._down:
            self._down = False
            _log.info("%s is reachable again", self._what)
        return result

    def _note_down(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            # redis-py's messages name host and port, never the password.
            _log.warning("%s unavailable: %s: %s", self._what, type(exc).__name__, exc)


# (url, connect timeout, socket timeout, what) -> handle; guarded by _REGISTRY_LOCK.
_HANDLES: dict[tuple[str, float, float, str], RedisHandle] = {}


def shared_redis_handle(
    url: str,
    *,
    connect_timeout_sec: float = 0.5,
    socket_timeout_sec: float = 1.0,
    what: str = "redis",
) -> RedisHandle:
    """The process-wide :class:`RedisHandle` for these settings.

    Sharing matters: the engine opens a cache per run, and a handle per cache would
    mean a new connection pool, hence new TCP connections, for every run.
    """
    key = (url, float(connect_timeout_sec), float(socket_timeout_sec), what)
    with registry_lock():
        handle = _HANDLES.get(key)
        if handle is None:
            handle = RedisHandle(
                url,
                connect_timeout_sec=connect_timeout_sec,
                socket_timeout_sec=socket_timeout_sec,
                what=what,
            )
            _HANDLES[key] = handle
    return handle
