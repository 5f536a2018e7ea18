"""Live output of interactive runs: log lines pushed over the bus while the run goes.

What it does
------------
The Run panel calls ``iota.script.action_run_live``: the run happens in that
RPC's transaction, which commits only when the run ends, so whatever the run
itself writes (``bus.bus`` rows included) is invisible until then. A
:class:`LiveRun` therefore streams on the side:

- ``on_log`` (called by the engine on the run's thread) only appends the record
  to a buffer: no database work on the run's thread;
- a *pump* thread wakes every ``FLUSH_INTERVAL_SEC``, cuts the buffer into
  messages of at most ``MAX_LINES_PER_MESSAGE`` lines and
  ``MAX_MESSAGE_CHARS`` characters of JSON, and sends them with
  ``res.users._bus_send("iota_scripts.execution/log", ...)`` to the user who
  started the run, from a **separate short cursor that commits at once**
  (the run's own transaction commits only at the end, see above);
- the same pump polls the queue's cancel-request table
  (``iota_script_execution_cancel``, see ``models/iota_script_queue.py``) and
  sets ``cancel``, the engine's event that kills the runner;
- ``started`` and ``done`` notifications frame the stream; the run is
  registered in ``iota_script_execution_live`` (committed) so that a Cancel
  RPC from another worker can check who may cancel a run it cannot see yet.

The test-mode trap
------------------
In ``HttpCase`` every cursor is a ``TestCursor`` on one shared connection,
serialised by ``registry.test_lock`` (an RLock that a request holds from its
start to its end), and ``TestCursor.commit()`` drops post-commit hooks (the
bus's NOTIFY among them). So while a run holds the lock, neither the
websocket (it reads ``bus.bus`` through a cursor), nor the Cancel RPC, nor
the pump can get through, and nothing would be notified anyway.
:class:`TestLockGate` fully releases the lock while the run waits on V8 with
no database work in flight and takes it back around every host call (the
way ``threading.Condition.wait`` does with ``_release_save`` /
``_acquire_restore``); after the pump's commit, :func:`_notify_test_mode`
sends the NOTIFY the TestCursor dropped. Both are no-ops outside test mode
(``registry.test_cr is None``): real cursors have their own connections and
run their post-commit hooks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)

#: How often the pump flushes log lines and looks for a cancel request.
FLUSH_INTERVAL_SEC = 0.15
#: A bus message carries at most this many lines...
MAX_LINES_PER_MESSAGE = 50
#: ... and at most this many characters of JSON lines.
MAX_MESSAGE_CHARS = 32 * 1024
#: A streamed line's message is cut at this many characters (the stored log is not).
MAX_LINE_CHARS = 2000
#: Lines streamed per run; the rest is counted as dropped (the stored log keeps them).
MAX_LINES_PER_RUN = 2000

LOG = "iota_scripts.execution/log"
STARTED = "iota_scripts.execution/started"
DONE = "iota_scripts.execution/done"


class TestLockGate:
    """Releases ``registry.test_lock`` while a run waits on V8 (test mode only).

    ``released()`` wraps the whole engine call on the thread that holds the
    lock; ``held()`` wraps each piece of database work inside it (host calls).
    Outside test mode, or on a thread that does not hold the lock, both do
    nothing.
    """

    def __init__(self, registry: Any):
        self._lock = registry.test_lock if getattr(registry, "test_cr", None) is not None else None
        self._state: Any = None
        self._owner: int | None = None

    @property
    def active(self) -> bool:
        return self._lock is not None

    @contextmanager
    def released(self) -> Iterator[None]:
        lock = self._lock
        if lock is None or not lock._is_owned():
            yield
            return
        # Release every level this thread holds, as Condition.wait does.
        self._state = lock._release_save()
        self._owner = threading.get_ident()
        try:
            yield
        finally:
            state, self._state, self._owner = self._state, None, None
            lock._acquire_restore(state)

    @contextmanager
    def held(self) -> Iterator[None]:
        lock = self._lock
        if lock is None or self._state is None or self._owner != threading.get_ident():
            yield
            return
        state, self._state = self._state, None
        lock._acquire_restore(state)
        try:
            yield
        finally:
            self._state = lock._release_save()

    def wrap(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``fn`` (a host function) run with the lock held."""

        def locked(args: Any) -> Any:
            with self.held():
                return fn(args)

        return locked


def _notify_test_mode(registry: Any, channels: list[Any]) -> None:
    """Sends the bus NOTIFY that ``TestCursor.commit()`` dropped (test mode only)."""
    if getattr(registry, "test_cr", None) is None or not channels:
        return
    from odoo.addons.bus.models.bus import ODOO_NOTIFY_FUNCTION, get_notify_payloads
    from odoo.sql_db import db_connect
    from odoo.tools import SQL

    with db_connect("postgres").cursor() as cr:
        for payload in get_notify_payloads(channels):
            cr.execute(SQL("SELECT %s('imbus', %s)", SQL.identifier(ODOO_NOTIFY_FUNCTION), payload))


def _line(rec: dict[str, Any]) -> dict[str, Any]:
    """The streamed form of a log record: level, message (cut), t_ms, fields."""
    message = str(rec.get("message", ""))
    line: dict[str, Any] = {
        "level": str(rec.get("level", "info"))[:10],
        "message": message[:MAX_LINE_CHARS],
        "t_ms": rec.get("t_ms") or 0,
    }
    if len(message) > MAX_LINE_CHARS:
        line["cut"] = True
    if rec.get("fields") not in (None, {}):
        fields_text = json.dumps(rec["fields"], ensure_ascii=False, default=str)
        if len(fields_text) <= MAX_LINE_CHARS:
            line["fields"] = rec["fields"]
        else:
            line["cut"] = True
    return line


def batches(lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cuts ``lines`` into messages of bounded line count and JSON size."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for line in lines:
        n = len(json.dumps(line, ensure_ascii=False, default=str)) + 1
        if current and (len(current) >= MAX_LINES_PER_MESSAGE or size + n > MAX_MESSAGE_CHARS):
            out.append(current)
            current, size = [], 0
        current.append(line)
        size += n
    if current:
        out.append(current)
    return out


class LiveRun:
    """Streams one interactive run to the user ``uid`` of ``env``.

    Life cycle (all on the run's thread, except the pump): ``start(execution)``
    once the execution exists; ``streaming()`` around the engine call, with
    ``on_log``, ``cancel`` and ``wrap_host(host)`` handed to the engine;
    ``finish(state)`` at the end (idempotent, also called on errors).
    """

    def __init__(self, env: Any, token: str):
        self.registry = env.registry
        self.dbname = env.cr.dbname
        self.uid = env.uid
        self.token = str(token or "")[:64]
        self.cancel = threading.Event()
        self.gate = TestLockGate(self.registry)
        self.execution_id: int | None = None
        self.sent_lines = 0
        self.dropped = 0
        self.messages = 0
        self._pending: list[dict[str, Any]] = []
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._finished = False
        #: the run's governance units meter (run/units.py), set before the run;
        #: its ``used`` goes with each message (the Run panel's live meter)
        self.meter: Any = None
        self._sent_units = 0

    # ---- the engine side (run thread) ----------------------------------------
    def on_log(self, rec: dict[str, Any]) -> None:
        """Buffers a log record (engine callback; no database work here)."""
        with self._pending_lock:
            if self.sent_lines + len(self._pending) >= MAX_LINES_PER_RUN:
                self.dropped += 1
                return
            self._pending.append(_line(rec))

    def wrap_host(self, host: dict[str, Callable[[Any], Any]]) -> dict[str, Callable[[Any], Any]]:
        return {name: self.gate.wrap(fn) for name, fn in host.items()}

    def start(self, execution: Any) -> None:
        """Registers the run (for Cancel) and tells the client its execution id."""
        self.execution_id = execution.id
        with self._side_env() as env:
            env.cr.execute(
                """
                INSERT INTO iota_script_execution_live (execution_id, user_id, token, company_id)
                VALUES (%s, %s, %s, %s) ON CONFLICT (execution_id) DO NOTHING
                """,
                [self.execution_id, self.uid, self.token, execution.company_id.id],
            )
            self._send(env, STARTED, {"script_id": execution.script_id.id})

    @contextmanager
    def streaming(self, env: Any) -> Iterator[None]:
        """Runs the pump and, in test mode, releases the test lock meanwhile."""
        env.flush_all()  # nothing half-written may wait in the ORM while others use the cursor
        self._stop.clear()
        self._pump = threading.Thread(
            target=self._run_pump, name=f"iota-live-{self.execution_id}", daemon=True
        )
        with self.gate.released():
            self._pump.start()
            try:
                yield
            finally:
                # Stop the pump before taking the lock back: it may wait for it.
                self._stop.set()
                self._pump.join(10)

    def finish(self, state: str | None) -> None:
        """Sends what is left and ``done``; forgets the run (live and cancel rows)."""
        if self._finished or self.execution_id is None:
            return
        self._finished = True
        with self._side_env() as env:
            self._flush(env)
            self._send(env, DONE, {"state": state, "dropped": self.dropped, "units": self.units()})
            env.cr.execute(
                "DELETE FROM iota_script_execution_live WHERE execution_id = %s",
                [self.execution_id],
            )
            env.cr.execute(
                "DELETE FROM iota_script_execution_cancel WHERE execution_id = %s",
                [self.execution_id],
            )

    # ---- the pump -----------------------------------------------------------------
    def _run_pump(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_SEC):
            try:
                with self._side_env() as env:
                    self._flush(env)
                    if not self.cancel.is_set():
                        env.cr.execute(
                            "SELECT 1 FROM iota_script_execution_cancel WHERE execution_id = %s",
                            [self.execution_id],
                        )
                        if env.cr.fetchone():
                            self.cancel.set()
            except Exception:
                _logger.exception(
                    "iota.script.execution %s: live streaming failed", self.execution_id
                )
                return

    # ---- helpers ------------------------------------------------------------------
    @contextmanager
    def _side_env(self) -> Iterator[Any]:
        """A superuser env on a cursor of its own, committed (and notified) on exit.

        A separate cursor: the run's transaction commits only when the run
        ends. In test mode it is a TestCursor (it takes the test lock).
        """
        channels: list[Any] = []
        with self.registry.cursor() as cr:
            # Environment() alone would look the registry up by name, under
            # the registry's class lock (held while modules load or tests run).
            cr.transaction = api.Transaction(self.registry)
            env = api.Environment(cr, SUPERUSER_ID, {})
            yield env
            env.flush_all()
            channels = list(cr.postcommit.data.get("bus.bus.channels") or [])
            cr.commit()
        _notify_test_mode(self.registry, channels)

    def _flush(self, env: Any) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        units = self.units()
        for lines in batches(pending):
            self._send(env, LOG, {"lines": lines, "units": units})
            self.sent_lines += len(lines)
        if not pending and units != self._sent_units:
            self._send(env, LOG, {"lines": [], "units": units})
        self._sent_units = units

    def units(self) -> int:
        """The units the run used so far (read from the run's thread's meter)."""
        return int(self.meter.used) if self.meter is not None else 0

    def _send(self, env: Any, kind: str, payload: dict[str, Any]) -> None:
        message = {"execution_id": self.execution_id, "token": self.token, **payload}
        env["res.users"].browse(self.uid)._bus_send(kind, message)
        self.messages += 1
