"""What a dry-run does instead of its side effects: it captures them.

A dry-run (``run/dry_run.py``) runs the script for real against real records,
in a savepoint that is always rolled back. What the savepoint cannot undo is
not done at all, but written down in a :class:`DryRun`:

* ``sdk.http.fetch`` (and ``get``/``post``): the request is recorded (method,
  URL, headers with secret-looking values masked, the start of the body) and
  **not sent**. The script receives status 200, the header
  ``x-iota-dry-run: not-sent`` and the body ``{}``. The scheme and the
  script's allowed hosts are checked as in a real run (``scheme_not_allowed``,
  ``destination_blocked``); the checks that need the network (what a name
  resolves to) and the engine's header rules are not.
* ``sdk.events.emit``: checked as in a real run, recorded, not written to the
  outbox (so never dispatched); the script receives a fresh uuid.
* ``sdk.scripts.enqueue``: checked as in a real run (the target must exist,
  be active and run as an allowed user), recorded, not queued; the script
  receives ``{id: 0}``.
* ``sdk.cache``: an empty in-memory cache for the run; Redis is neither read
  nor written.

``sdk.db`` runs for real (its writes are undone by the savepoint); the write
diff comes from :attr:`DryRun.writes` (``tools/write_capture.py``).
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from iota_scripts_sdk import ScriptError

# the module, not the class: tools/write_capture.py imports this package
from ..tools import write_capture
from .args import invalid, to_json

#: Characters of a captured request body that are kept.
MAX_CAPTURED_BODY_CHARS = 2000
#: Most captured calls kept per kind (later ones are counted).
MAX_CAPTURED_CALLS = 200
_SECRET_HEADER = re.compile(r"auth|cookie|token|secret|key|signature|password", re.I)


class DryRun:
    """The side effects one dry-run captured (JSON values, see the module docstring)."""

    def __init__(self, allow_hosts: tuple[str, ...] = ()) -> None:
        #: the script's allowed hosts (exact names, ``*.example.com``, ``*``)
        self.allow_hosts = tuple(h.lower() for h in allow_hosts)
        self.writes = write_capture.WriteCapture()
        self.http: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.enqueued: list[dict[str, Any]] = []
        #: runs of scripts its writes triggered (automation rules): dropped, not run
        self.triggered_runs = 0
        self.dropped_calls = 0
        self._cache: dict[str, Any] = {}
        #: the run's secrets, masked in the report (set by ``builder.build``)
        self.mask: Callable[[], Any] | None = None

    def _keep(self, calls: list[dict[str, Any]], call: dict[str, Any]) -> None:
        if len(calls) < MAX_CAPTURED_CALLS:
            calls.append(call)
        else:
            self.dropped_calls += 1

    def event(self, event_type: str, payload: Any) -> str:
        self._keep(self.events, {"type": event_type, "payload": payload})
        return str(uuid.uuid4())

    def enqueue(self, key: str, input_value: Any, delay_sec: float, priority: int) -> dict:
        call = {"key": key, "input": to_json(input_value), "delaySec": delay_sec}
        self._keep(self.enqueued, {**call, "priority": priority})
        return {"id": 0}

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        """Host functions that replace the engine's ``http.fetch`` and ``cache.*``."""
        return {
            "http.fetch": self._fetch,
            "cache.get": self._cache_get,
            "cache.set": self._cache_set,
            "cache.delete": self._cache_delete,
            "cache.incr": self._cache_incr,
        }

    def _fetch(self, args: list[Any]) -> dict[str, Any]:
        url = args[0] if args else None
        init = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        if not isinstance(url, str) or not url:
            raise invalid("url is required")
        self._check_destination(url)
        headers = init.get("headers") if isinstance(init.get("headers"), dict) else {}
        body = init.get("body")
        self._keep(
            self.http,
            {
                "method": str(init.get("method") or "GET").upper(),
                "url": url,
                "headers": {
                    str(k): "***" if _SECRET_HEADER.search(str(k)) else str(v)
                    for k, v in headers.items()
                },
                "body": body[:MAX_CAPTURED_BODY_CHARS] if isinstance(body, str) else None,
            },
        )
        return {
            "status": 200,
            "headers": {"x-iota-dry-run": "not-sent"},
            "body": "{}",
            "url": url,
            "redirected": False,
        }

    def _check_destination(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ScriptError("scheme_not_allowed", "only http and https URLs may be fetched")
        host = (parts.hostname or "").lower()
        allowed = any(
            entry == "*" or entry == host or (entry.startswith("*.") and host.endswith(entry[1:]))
            for entry in self.allow_hosts
        )
        if not host or not allowed:
            raise ScriptError("destination_blocked", f"host {host} is not in the allow-list")

    @staticmethod
    def _key(args: list[Any]) -> str:
        key = args[0] if args else None
        if not isinstance(key, str) or not key:
            raise ScriptError("invalid_argument", "key is required")
        return key

    def _cache_get(self, args: list[Any]) -> Any:
        return self._cache.get(self._key(args))

    def _cache_set(self, args: list[Any]) -> None:
        key = self._key(args)
        if len(args) < 2:
            raise invalid("value is required")
        self._cache[key] = args[1]

    def _cache_delete(self, args: list[Any]) -> bool:
        return self._cache.pop(self._key(args), None) is not None

    def _cache_incr(self, args: list[Any]) -> int:
        key = self._key(args)
        by = args[1] if len(args) > 1 and args[1] is not None else 1
        if not isinstance(by, int) or isinstance(by, bool):
            raise invalid("by must be an integer")
        value = self._cache.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid("the cached value is not an integer")
        self._cache[key] = value + by
        return value + by

    def report(self, env: Any) -> dict[str, Any]:
        """Everything captured, with the write diff read now (before the rollback);
        the secrets the run read are masked as ``[secret:name]``."""
        report = {
            **self.writes.diff(env),
            "http": self.http,
            "events": self.events,
            "enqueued": self.enqueued,
            "triggered_runs": self.triggered_runs,
            "dropped_calls": self.dropped_calls,
        }
        return self.mask().data(report) if self.mask is not None else report
