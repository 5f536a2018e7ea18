# Over 600 lines: the engine's public API and the host-call loop it serves, one contract.
"""The engine: run a script in a sandboxed runner and serve its sdk calls.

Usage::

    engine = Engine(EngineConfig(runners=2))
    result = engine.run(source, input={"n": 1}, limits=Limits(timeout_sec=2), tenant="db1/3")
    result.ok, result.result, result.error, result.logs, result.stats

Threads: ``run`` may be called from many threads at once. It blocks the
calling thread until the run ends, and serves every host call (``sdk.db``,
``sdk.http``, ...) *on that thread*, so a host that must stay on the thread
owning its database cursor (Odoo) gets all calls there.

Tenancy: ``tenant`` names who owns the run (for Odoo: database and company)
and ``user`` whom it acts as. Two runs with different ``(tenant, version)``
never share a V8 context; ``sdk.cache`` is namespaced by ``(tenant, user)`` and
its quota is per ``tenant``; scripts cannot choose any of them.

Nothing is started at import: runners start on the first ``run``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ._pool import RunnerPool, RunnerProcess
from .api import deprecated_host_names, host_names, void_host_names
from .breakpoints import (
    CAPTURE_DEPTH,
    CAPTURE_NODES,
    CAPTURE_STRING,
    MAX_HITS,
    MAX_HITS_PER_BREAKPOINT,
    Breakpoint,
    breakpoints_from,
    digest,
)
from .capabilities import DEFAULT_CACHE_NAMESPACE, Capabilities, Suggestion, suggest
from .errors import ScriptError
from .journal import Journal
from .limits import EngineConfig, Limits
from .masking import SecretMask
from .npm.module import Module
from .observer import EngineObserver, notify, sdk_call_labels, sdk_call_name
from .policy import PolicyRule, PolicyViolation, violations_from
from .units import LOG_UNIT_NAME, Meter

__all__ = ["Engine", "HostFunction", "RunResult", "get_engine"]

_logger = logging.getLogger(__name__)

#: A host function receives the call's arguments (decoded JSON, a list) and
#: returns a JSON-serialisable value, or raises ScriptError.
HostFunction = Callable[[list[Any]], Any]

#: Time the host grants a runner past the deadline to report by itself before
#: it is killed.
_KILL_GRACE_SEC = 0.25


class RunResult:
    """The outcome of one run. ``to_dict`` is the CLI's ``--json`` shape.

    ``result_json`` is the result as the sandbox wrote it: UTF-8 JSON text,
    valid Unicode (or None for a run that failed or was built by hand).
    ``result`` is that text parsed, on first use: a host that only stores or
    forwards the result as JSON never parses it.
    """

    __slots__ = ("_result", "error", "hits", "logs", "ok", "result_json", "stats")

    def __init__(
        self,
        ok: bool,
        result: Any = None,
        error: ScriptError | None = None,
        logs: list[dict[str, Any]] | None = None,
        stats: dict[str, Any] | None = None,
        *,
        result_json: bytes | None = None,
    ) -> None:
        self.ok = ok
        self._result = result if result_json is None else _UNPARSED
        self.result_json = result_json
        self.error = error
        self.logs = [] if logs is None else logs
        self.stats = {} if stats is None else stats
        #: breakpoint hits (``breakpoints.py``), for a run given breakpoints
        self.hits: list[dict[str, Any]] = []

    @property
    def result(self) -> Any:
        if self._result is _UNPARSED:
            self._result = _loads(self.result_json or b"null")
        return self._result

    @result.setter
    def result(self, value: Any) -> None:
        self._result = value
        self.result_json = None

    def __repr__(self) -> str:
        return f"RunResult(ok={self.ok!r}, result={self.result!r}, error={self.error!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunResult):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "ok": self.ok,
            "result": self.result,
            "error": self.error.to_dict() if self.error else None,
            "logs": self.logs,
            "stats": self.stats,
        }
        if self.hits:
            out["hits"] = self.hits
        return out


_UNPARSED = object()


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message})


@dataclasses.dataclass(frozen=True)
class _Scope:
    """Who a run belongs to and what it may touch: ``owner`` (tenant, user,
    cache namespace) keys ``sdk.cache``; ``caps`` (None: no declaration) is
    checked on every sdk call; ``mask`` collects the secrets the run read."""

    owner: tuple[str, str | None, str | None]
    caps: Capabilities | None
    mask: SecretMask


class Engine:
    """A pool of runners and the host side of the sdk. Safe to share between threads."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self._pool = RunnerPool(self.config)
        self._run_ids = iter(range(1, 1 << 62))
        self._ids_lock = threading.Lock()
        self._caches: dict[tuple[str, str | None, str | None], Any] = {}
        self._observer: EngineObserver | None = None

    # ---- public API ---------------------------------------------------------
    def run(
        self,
        source: str,
        *,
        input: Any = None,
        ctx: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        tenant: str = "default",
        user: str | None = None,
        version: str | None = None,
        host: Mapping[str, HostFunction] | None = None,
        on_log: Callable[[dict[str, Any]], None] | None = None,
        cancel: threading.Event | None = None,
        deny: Mapping[str, str] | None = None,
        modules: Sequence[Module] | None = None,
        journal: Journal | None = None,
        capabilities: Capabilities | None = None,
        meter: Meter | None = None,
        breakpoints: Sequence[Breakpoint | Mapping[str, Any]] | None = None,
    ) -> RunResult:
        """Runs ``source`` and returns its result. Never raises for script faults.

        ``ctx`` adds fields to the script's ``ctx`` (``trigger``, ``records``,
        ...); ``input`` becomes ``ctx.input``. ``host`` serves sdk calls by
        host name (``db.search``, ``events.emit``, ...); it may also replace
        the built-in ``http.fetch`` and ``cache.*``. ``on_log`` sees each log
        record as it arrives (for live output). Setting ``cancel`` kills the
        run and reports ``cancelled``. ``user`` (the run-as user) gives the run
        its own ``sdk.cache`` keys within the tenant's quota. ``deny`` refuses
        sdk calls with ``access_denied``: ``{path: why}``, where a path is a
        namespace (``http``) or a call (``db.unlink``), and ``why`` names the
        rule (``policy.denied_calls``). ``journal`` (``journal.Journal``)
        records every sdk call: name, arguments, answer, start and duration
        (secrets masked as in the logs).

        ``capabilities`` (``capabilities.py``) is checked on every sdk call,
        the built-in ones included, before the host sees it: a call outside it
        answers ``access_denied`` naming the capability. Its ``http`` hosts
        replace ``limits.allow_hosts`` and its ``cache`` namespace keeps the
        run's cache keys apart. None: no declaration, nothing checked here.

        Every value a ``secrets.get`` call answers is masked as
        ``[secret:name]`` in the run's logs (before ``on_log`` sees them), its
        result and its error (``masking.py``), and in the arguments of
        ``events.emit`` and ``scripts.enqueue`` (stored as events and runs).

        ``meter`` (``units.py``) charges every sdk call and log line, before
        it is served; a budget that runs out ends the run with
        ``budget_exceeded`` (``stats["units"]``: the units used).

        ``breakpoints`` (``breakpoints.py``) instrument this run: their hits
        come back in ``RunResult.hits`` (secret values masked as in logs); a
        breakpoint on a line without a statement fails the run with
        ``invalid_breakpoint``. Without them the source runs as it is.

        ``modules`` are what the script may import (``npm.Module``: approved
        npm bundles, library scripts), in load order; an import of anything
        else fails like a syntax error.
        """
        limits = limits or Limits()
        if capabilities is not None:
            limits = dataclasses.replace(limits, allow_hosts=capabilities.http)
        # The deadline is wall-clock from this call: waiting for a runner, or
        # starting one, is part of the run's time.
        t0 = time.monotonic()
        try:
            payload, key = self._prepare(source, input, ctx, limits, tenant, version)
            bps = breakpoints_from(breakpoints or ())
        except ScriptError as e:
            return RunResult(False, error=e, stats=_empty_stats(t0))
        hits: list[dict[str, Any]] | None = None
        if bps:
            key = _instrumented(payload, key, bps)
            hits = []
        try:
            runner = self._pool.acquire(key)
        except ScriptError as e:
            return RunResult(False, error=e, stats=_empty_stats(t0))
        if modules:
            # A 100 KB bundle crosses the pipe once per runner, not once per run.
            payload["modules"] = [m.wire(m.sha256 not in runner.modules) for m in modules]
            runner.modules.update(m.sha256 for m in modules)
        try:
            namespace = capabilities.cache if capabilities is not None else None
            scope = _Scope((tenant, user, namespace), capabilities, SecretMask())
            if deny:
                host = _denying(host or {}, deny)
            result = self._drive(
                runner,
                payload,
                limits,
                scope,
                host or {},
                on_log,
                cancel,
                t0,
                key,
                meter,
                journal,
                hits,
            )
        finally:
            self._pool.release(runner)
        if hits is not None:
            result.hits = hits
            result.stats["hits_dropped"] = result.stats.get("hits_dropped", 0)
        return _metered(result, meter)

    def check(
        self, source: str, packages: Sequence[str] = (), *, module: bool = False
    ) -> ScriptError | None:
        """Parses ``source`` without running it: None when valid, else the error.

        ``packages``: the module specifiers it may import (``date-fns``,
        ``lib:invoicing``); any other import is an error with its position.
        ``module``: ``source`` is a library (named exports, no default export
        needed) that other scripts import, not a script that runs.
        """
        try:
            self._check_source(source)
        except ScriptError as e:
            return e
        try:
            res = self._ask(
                {"op": "check", "source": source, "packages": list(packages), "module": module},
                "parsing",
            )
        except ScriptError as e:  # busy, not_installed, a crash: the same answer as run()
            return e
        return _answered(res, "syntax_error", "syntax error")

    def check_breakpoints(
        self, source: str, breakpoints: Sequence[Breakpoint | Mapping[str, Any]]
    ) -> ScriptError | None:
        """Whether ``breakpoints`` can be set in ``source``: None, else the
        ``invalid_breakpoint`` (or ``syntax_error``) error, with its line."""
        try:
            self._check_source(source)
            bps = breakpoints_from(breakpoints)
            if not bps:
                return None
            wire = [b.to_dict() for b in bps]
            res = self._ask({"op": "instrument", "source": source, "breakpoints": wire}, "checking")
        except ScriptError as e:
            return e
        return _answered(res, "invalid_breakpoint", "the breakpoint is not valid")

    def imports(
        self, source: str, packages: Sequence[str] = (), *, module: bool = False
    ) -> list[str]:
        """The module specifiers ``source`` imports, in order (all within ``packages``).

        Raises :class:`ScriptError` as :meth:`check` reports it (an import
        outside ``packages`` is a ``syntax_error`` with its position).
        ``module`` as for :meth:`check`.
        """
        self._check_source(source)
        res = self._ask(
            {"op": "check", "source": source, "packages": list(packages), "module": module},
            "parsing",
        )
        if not res.get("ok"):
            raise ScriptError(
                res.get("code", "syntax_error"),
                res.get("message", "syntax error"),
                line=res.get("line"),
                column=res.get("column"),
            )
        return list(dict.fromkeys(str(s) for s in res.get("imports") or []))

    def _ask(self, message: dict[str, Any], doing: str) -> dict[str, Any]:
        """A runner's answer (``res``) to a message outside a run (``check``, ``policy``).

        Raises :class:`ScriptError`: ``busy``/``not_installed`` as ``run``, or
        ``sandbox_crashed`` when the runner dies or fails while ``doing`` it.
        """
        runner = self._pool.acquire("")
        try:
            runner.send(message)
            frame = runner.read_frame(time.monotonic() + 30)
            if frame is None:
                runner.end_reason = "crashed"
                runner.kill()
                raise ScriptError("sandbox_crashed", f"the script runner died while {doing}")
            return dict(orjson.loads(frame)["res"])
        except (OSError, TimeoutError):
            runner.kill()
            raise ScriptError(
                "sandbox_crashed", f"the script runner failed while {doing}"
            ) from None
        finally:
            self._pool.release(runner)

    def instrument(self, source: str) -> dict[str, Any]:
        """``source`` instrumented for the profile run mode (``profile.py``):
        ``{"ok": True, "source", "functions"}`` or ``{"ok": False, "message", "line", "column"}``.

        Raises :class:`ScriptError` when no runner can instrument it."""
        self._check_source(source)
        return self._ask({"op": "profile", "source": source}, "instrumenting")

    def sandbox(self) -> dict[str, Any]:
        """The runners' operating-system sandbox, as one runner applied and experiences it.

        ``{"layers": {layer: "on: ..." | "off: why"}, "probe": {...}}``: the
        layers (``_sandbox.LAYERS``) and what the runner got when it tried
        what they forbid (``_sandbox.probe``): a TCP connection to a port this
        engine listens on for the occasion, files written and read, its ids,
        descriptors and environment. Starts a runner when none runs.
        """
        import socket

        runner = self._pool.acquire("")
        try:
            with socket.create_server(("127.0.0.1", 0)) as listener:
                probed = runner.probe(listener.getsockname()[1])
        except (OSError, TimeoutError):
            runner.kill()
            raise ScriptError(
                "sandbox_crashed", "the runner failed during the sandbox probe"
            ) from None
        finally:
            self._pool.release(runner)
        return {"layers": dict(runner.sandbox), "probe": probed}

    def check_policies(self, source: str, rules: Sequence[PolicyRule]) -> list[PolicyViolation]:
        """The ``rules`` that ``source`` breaks, in source order (``policy.py``).

        Parsed by the runners' parser, the one the editor's check uses. Raises
        :class:`ScriptError` when the source does not parse (``syntax_error``,
        with its position) or no runner can check it.
        """
        rules = list(rules)
        self._check_source(source)
        if not rules:
            return []
        wire = [{"kind": r.kind, "value": r.value} for r in rules]
        res = self._ask({"op": "policy", "source": source, "rules": wire}, "checking")
        error = _answered(res, "syntax_error", "syntax error")
        if error is not None:
            raise error
        return violations_from(rules, source, res)

    def suggest_capabilities(self, source: str, extra_hosts: Sequence[str] = ()) -> Suggestion:
        """The capabilities ``source`` uses, read from its AST (``capabilities.suggest``).

        Literal targets become entries (``sdk.db.search("res.partner")`` ->
        ``models.res.partner.read``); computed ones are listed as unresolved.
        Raises :class:`ScriptError` (``syntax_error`` with its position) when
        the source does not parse, or no runner can read it."""
        self._check_source(source)
        res = self._ask({"op": "capabilities", "source": source}, "reading the script")
        error = _answered(res, "syntax_error", "syntax error")
        if error is not None:
            raise error
        return suggest(res, extra_hosts)

    def stats(self) -> dict[str, int]:
        """Runner counts: ``runners`` (live or starting), ``idle``, ``waiting``."""
        return self._pool.stats()

    def set_observer(self, observer: EngineObserver | None) -> None:
        """Tells ``observer`` (``iota_scripts_sdk.observer``) about the runners
        and every sdk call from now on; None stops. It hears the current
        runner counts at once."""
        self._observer = observer
        self._pool.observer = observer
        if observer is not None:
            stats = self._pool.stats()
            notify(observer, "runners_changed", stats["runners"], stats["runners"] - stats["idle"])

    def close(self) -> None:
        """Stops the runners. The engine cannot run scripts afterwards."""
        self._pool.close()

    # ---- internals ------------------------------------------------------------
    def _check_source(self, source: str) -> None:
        if not isinstance(source, str):
            raise ScriptError("invalid_argument", "the script source must be text")
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > self.config.max_source_bytes:
            raise ScriptError(
                "source_too_large",
                f"the script is {size} bytes; at most {self.config.max_source_bytes} are allowed",
            )

    def _prepare(
        self,
        source: str,
        input_value: Any,
        ctx: Mapping[str, Any] | None,
        limits: Limits,
        tenant: str,
        version: str | None,
    ) -> tuple[dict[str, Any], str]:
        self._check_source(source)
        try:
            # Bytes all the way into V8: the runner never decodes them.
            input_text = orjson.dumps(input_value)
            ctx_text = orjson.dumps(dict(ctx or {}))
        except (TypeError, orjson.JSONEncodeError) as e:
            raise ScriptError("invalid_argument", f"the input is not JSON: {e}") from None
        if len(input_text) > limits.max_input_bytes:
            raise ScriptError(
                "argument_too_large", f"the input is larger than {limits.max_input_bytes} bytes"
            )
        digest = version or hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        key = f"{tenant}\x00{digest}"
        payload = {
            "op": "run",
            "key": key,
            "source": source,
            "input": input_text,
            "ctx": ctx_text,
            "limits": {
                "timeout_sec": limits.timeout_sec,
                "deadline_sec": limits.timeout_sec,
                "cpu_sec": limits.cpu_sec,
                "memory_mb": limits.memory_mb,
                "prelude": limits.for_prelude(),
            },
        }
        return payload, key

    def _drive(
        self,
        runner: RunnerProcess,
        payload: dict[str, Any],
        limits: Limits,
        scope: _Scope,
        host: Mapping[str, HostFunction],
        on_log: Callable[[dict[str, Any]], None] | None,
        cancel: threading.Event | None,
        t0: float,
        key: str,
        meter: Meter | None = None,
        journal: Journal | None = None,
        hits: list[dict[str, Any]] | None = None,
    ) -> RunResult:
        with self._ids_lock:
            run_id = next(self._run_ids)
        payload["run"] = run_id
        logs: list[dict[str, Any]] = []
        calls = 0
        started = time.monotonic()
        # deprecated sdk functions: one warn line per function and run
        deprecated, warned = deprecated_host_names(), set()
        remaining = t0 + limits.timeout_sec - started
        if remaining <= 0:
            err = ScriptError(
                "timeout",
                f"the run passed its {limits.timeout_sec:g} s deadline while waiting for a runner",
            )
            return RunResult(False, error=err, stats=_empty_stats(t0))
        payload["limits"]["timeout_sec"] = remaining
        hard_deadline = started + remaining + _KILL_GRACE_SEC
        runner.runs += 1
        runner.keys.add(key)
        cpu_at_start = runner.cpu_ms()
        if journal is not None:
            journal.start()
        try:
            runner.send(*_run_frame(payload), shared=True)
        except OSError:
            runner.kill()
            return self._crashed(runner, logs, t0, calls)
        while True:
            tick = hard_deadline if cancel is None else min(hard_deadline, time.monotonic() + 0.05)
            try:
                message = runner.read_message(tick)
            except TimeoutError:
                if cancel is not None and cancel.is_set():
                    # what the run used, measured before the runner goes (its own stats never come)
                    cpu_now = runner.cpu_ms()
                    runner.kill()
                    stats = _empty_stats(t0, calls)
                    if cpu_now is not None and cpu_at_start is not None:
                        stats["cpu_ms"] = round(max(0.0, cpu_now - cpu_at_start), 3)
                    return RunResult(
                        False,
                        error=ScriptError("cancelled", "the run was cancelled"),
                        logs=logs,
                        stats=stats,
                    )
                if time.monotonic() < hard_deadline:
                    continue
                runner.kill()
                err = ScriptError(
                    "timeout", f"the run passed its {limits.timeout_sec:g} s deadline"
                )
                return RunResult(False, error=err, logs=logs, stats=_empty_stats(t0, calls))
            except Exception:  # noqa: BLE001 - a broken frame means a broken runner
                runner.kill()
                return self._crashed(runner, logs, t0, calls)
            if message is None:
                return self._crashed(runner, logs, t0, calls)
            head, tail = message
            try:
                msg = _loads(head)
            except ValueError:
                runner.kill()
                return self._crashed(runner, logs, t0, calls)
            if msg.get("run") != run_id:
                continue
            op = msg.get("op")
            if op == "log":
                if not _charged(meter, LOG_UNIT_NAME):
                    continue  # the run ends with budget_exceeded (_metered)
                rec = scope.mask.data(msg["msg"])
                rec["t_ms"] = round((time.monotonic() - started) * 1000, 3)
                logs.append(rec)
                if on_log is not None:
                    with contextlib.suppress(Exception):
                        on_log(rec)
            elif op == "call":
                calls += 1
                call = msg["msg"]
                note = deprecated.get(call.get("name")) if deprecated else None
                if note and call["name"] not in warned:
                    warned.add(call["name"])
                    rec = _deprecation_log(call["name"], note, started)
                    logs.append(rec)
                    if on_log is not None:
                        with contextlib.suppress(Exception):
                            on_log(rec)
                deadline_left = hard_deadline - _KILL_GRACE_SEC - time.monotonic()
                began = time.monotonic()
                if _charged(meter, call.get("name")):
                    ok, reply = self._answer_call(call, limits, scope, host, deadline_left)
                else:
                    # fatal: the prelude ends the run with it, whatever the script catches
                    ok, reply = False, _fatal(meter.exceeded) if meter else b""
                if journal is not None:
                    _journal(journal, call, ok, reply, began, scope.mask)
                try:
                    # The payload (JSON text from orjson: no raw newline)
                    # follows the header as it is.
                    runner.send(
                        b'{"op":"reply","run":%d,"id":%d,"ok":%s}\n%s'
                        % (run_id, int(call["id"]), b"true" if ok else b"false", reply)
                    )
                except OSError:
                    pass  # the runner is gone; its EOF comes next
            elif op == "hit":
                if hits is not None and len(hits) < MAX_HITS:
                    # a secret the run read is masked in captured values, as in logs
                    hits.append(scope.mask.data(msg["msg"]) if scope.mask else msg["msg"])
            elif op == "done":
                return _masked(self._finish(runner, msg, tail, logs, t0, calls), scope.mask)

    def _finish(
        self,
        runner: RunnerProcess,
        msg: dict[str, Any],
        result_json: bytes,
        logs: list[dict[str, Any]],
        t0: float,
        calls: int,
    ) -> RunResult:
        body = msg["msg"]
        stats = dict(msg.get("stats") or {})
        stats["host_calls"] = max(calls, int(body.get("calls") or 0))
        stats["logs_dropped"] = int(body.get("logsDropped") or 0)
        if "hitsDropped" in body:
            stats["hits_dropped"] = int(body["hitsDropped"] or 0)
        stats["total_ms"] = round((time.monotonic() - t0) * 1000, 3)
        stats.setdefault("heap_peak_bytes", 0)
        if int(msg.get("rss") or 0) > self.config.recycle_rss_mb * 1024 * 1024:
            runner.runs = self.config.recycle_after_runs  # replaced on release
        if body.get("ok"):
            return RunResult(True, result_json=result_json or b"null", logs=logs, stats=stats)
        err = ScriptError.from_dict(body.get("error") or {})
        if err.code in ("timeout", "cpu_limit", "memory_limit", "internal_error"):
            # The runner ends itself after these; wait for it so that nothing
            # the script started keeps running after we report.
            runner.end_reason = "crashed" if err.code == "internal_error" else "limit"
            runner.wait_exit(1.0)
        return RunResult(False, error=err, logs=logs, stats=stats)

    def _crashed(
        self, runner: RunnerProcess, logs: list[dict[str, Any]], t0: float, calls: int
    ) -> RunResult:
        code = runner.wait_exit(1.0)
        runner.end_reason = runner.end_reason or "crashed"
        if code is not None and code == -24:  # SIGXCPU: the RLIMIT_CPU backstop
            runner.end_reason = "limit"
            err = ScriptError("cpu_limit", "the run used more CPU time than allowed")
        else:
            err = ScriptError(
                "sandbox_crashed", "the script runner crashed (V8 aborted); a new runner took over"
            )
        tail = runner.stderr_tail.decode(errors="replace").strip().splitlines()
        fatal = [line for line in tail if line.startswith("# Fatal")] or tail[-1:] or ["no output"]
        _logger.warning(
            "script runner %s ended during a run (exit %s): %s", runner.pid, code, fatal[-1][:300]
        )
        return RunResult(False, error=err, logs=logs, stats=_empty_stats(t0, calls))

    def _answer_call(
        self,
        call: dict[str, Any],
        limits: Limits,
        scope: _Scope,
        host: Mapping[str, HostFunction],
        deadline_left: float,
    ) -> tuple[bool, bytes]:
        """Serves one sdk call and tells the observer (``sdk_call``, and
        ``sdk_call_begin``/``sdk_call_end`` around it for a tracer)."""
        observer = self._observer
        if observer is None:
            return self._serve_call(call, limits, scope, host, deadline_left)[:2]
        name, args = call.get("name"), call.get("args")
        token = notify(
            observer, "sdk_call_begin", sdk_call_name(name), args if isinstance(args, list) else []
        )
        try:
            ok, reply, value = self._serve_call(call, limits, scope, host, deadline_left)
        except BaseException:
            # a host that raised past _serve_call (an abort of the process): the
            # tracer's span still ends, and its context leaves the thread
            if token is not None:
                notify(observer, "sdk_call_end", token, "internal_error", None)
            raise
        namespace, outcome = sdk_call_labels(name, None if ok else orjson.loads(reply).get("code"))
        notify(observer, "sdk_call", namespace, outcome)
        if token is not None:
            # a secret's value never reaches a tracer
            shown = value if ok and name != "secrets.get" else None
            notify(observer, "sdk_call_end", token, outcome, shown)
        return ok, reply

    def _trace_headers(self) -> Mapping[str, str] | None:
        """The observer's trace-context headers for the ``sdk.http`` request sent now."""
        return notify(self._observer, "trace_headers") if self._observer is not None else None

    def _serve_call(
        self,
        call: dict[str, Any],
        limits: Limits,
        scope: _Scope,
        host: Mapping[str, HostFunction],
        deadline_left: float,
    ) -> tuple[bool, bytes, Any]:
        """``(ok, reply, value)``: the reply frame's payload and what the host
        function returned (None when the call failed)."""
        name = call.get("name")
        args = call.get("args")
        if not isinstance(name, str) or not isinstance(args, list):
            return False, _error("invalid_argument", "malformed sdk call"), None
        if deadline_left <= 0:
            return False, _error("timeout", "the run's deadline has passed"), None
        try:
            if scope.caps is not None:
                scope.caps.check(name, args)
            if scope.mask and name in _MASKED_ARGUMENTS:
                # they become other runs' input and events: records the run leaves
                args = scope.mask.data(args)
            fn = host.get(name) or self._builtin(name, limits, scope.owner, deadline_left)
            if fn is None:
                if name in host_names():
                    ns = name.split(".")[0]
                    reply = _error("not_available", f"sdk.{ns} is not available on this host")
                    return False, reply, None
                return False, _error("not_available", f"unknown sdk function {name!r}"), None
            value = fn(args)
            if name == "secrets.get" and args and isinstance(args[0], str):
                scope.mask.add(args[0], value)
            # b"" resolves undefined in the prelude: only for calls declared void
            if value is None and name in void_host_names():
                reply = b""
            else:
                reply = orjson.dumps(value)
            if len(reply) > limits.max_reply_bytes:
                return (
                    False,
                    _error(
                        "response_too_large",
                        f"the answer of {name} is larger than {limits.max_reply_bytes} bytes",
                    ),
                    None,
                )
            return True, reply, value
        except ScriptError as e:
            return False, _error(e.code, e.message), None
        except (TypeError, orjson.JSONEncodeError):
            _logger.exception("host function %s returned a value that is not JSON", name)
            return False, _error("internal_error", f"{name} failed on the host"), None
        except Exception:
            _logger.exception("host function %s failed", name)
            return False, _error("internal_error", f"{name} failed on the host"), None

    def _builtin(
        self,
        name: str,
        limits: Limits,
        owner: tuple[str, str | None, str | None],
        deadline_left: float,
    ) -> HostFunction | None:
        if name == "http.fetch":
            from . import _http

            policy = _http.HttpPolicy(
                allow_hosts=limits.allow_hosts,
                timeout_sec=max(0.001, min(limits.http_timeout_sec, deadline_left)),
                max_response_bytes=limits.max_response_bytes,
                proxy_url=self.config.http_proxy_url,
            )
            return lambda args: _http_fetch(policy, args, self._trace_headers())
        if name.startswith("cache."):
            return _cache_function(self._cache(owner), name)
        return None

    def _cache(self, owner: tuple[str, str | None, str | None]) -> Any:
        """The cache of (tenant, user, namespace): keys per user and declared
        namespace, one quota per tenant."""
        cache = self._caches.get(owner)
        if cache is None:
            from ._cache import CacheLimits, open_cache

            tenant, user, declared = owner
            scope = tuple(tenant.split("/"))
            namespace = scope if user is None else (*scope, "user", user)
            if declared is not None and declared != DEFAULT_CACHE_NAMESPACE:
                namespace = (*namespace, "ns", declared)
            limits = CacheLimits(
                quota_max_bytes=self.config.cache_quota_bytes,
                quota_max_keys=self.config.cache_quota_keys,
            )
            cache = open_cache(self.config.redis_url, namespace, limits=limits, quota_scope=scope)
            self._caches[owner] = cache
        return cache


def _instrumented(payload: dict[str, Any], key: str, bps: Sequence[Breakpoint]) -> str:
    """Adds ``bps`` to a run's payload; returns its own context key (never the plain source's)."""
    payload["breakpoints"] = [b.to_dict() for b in bps]
    payload["limits"]["prelude"].update(
        breakpoints=len(bps),
        maxHits=MAX_HITS,
        maxHitsPerBreakpoint=MAX_HITS_PER_BREAKPOINT,
        captureDepth=CAPTURE_DEPTH,
        captureNodes=CAPTURE_NODES,
        captureString=CAPTURE_STRING,
    )
    payload["key"] = f"{key}\x00bp:{digest(bps)}"
    return str(payload["key"])


def _journal(
    journal: Journal,
    call: dict[str, Any],
    ok: bool,
    reply: bytes,
    began: float,
    mask: SecretMask,
) -> None:
    """Writes one served call into ``journal`` (its answer read back from the reply
    frame), the run's secrets masked in its arguments and answer."""
    ended = time.monotonic()
    try:
        answer = _loads(reply) if reply else None
    except ValueError:
        answer = None
    args = mask.data(call.get("args"))
    journal.record(call.get("name"), args, ok, mask.data(answer), began, ended)


#: Host calls whose arguments are masked too: what they carry is stored as
#: another run's input or an event's payload. ``http.*`` (the secret's purpose)
#: and ``db.*`` (the script's own data) get the value as it is.
_MASKED_ARGUMENTS = frozenset({"events.emit", "scripts.enqueue"})


def _masked(result: RunResult, mask: SecretMask) -> RunResult:
    """``result`` with the run's secrets masked in its result and error (logs are masked as they come)."""
    if not mask:
        return result
    if result.result_json is not None:
        result.result_json = mask.json(result.result_json)
        result._result = _UNPARSED
    if result.error is not None:
        result.error = mask.error(result.error)
    return result


def _charged(meter: Meter | None, name: Any) -> bool:
    """Charges one call (or log line) to ``meter``; False when a budget ran out."""
    if meter is None or not isinstance(name, str):
        return True
    try:
        meter.charge(name)
    except ScriptError:
        return False
    except KeyError:
        return True  # an unknown sdk function: refused by _serve_call, at no cost
    return True


def _fatal(error: ScriptError | None) -> bytes:
    err = error or ScriptError("budget_exceeded", "a budget ran out")
    return orjson.dumps({"code": err.code, "message": err.message, "fatal": True})


def _metered(result: RunResult, meter: Meter | None) -> RunResult:
    """``result`` with the units used; ``budget_exceeded`` once a budget ran out."""
    if meter is None:
        return result
    stats = dict(result.stats or {})
    stats["units"] = meter.used
    if meter.exceeded is not None:
        return RunResult(False, error=meter.exceeded, logs=result.logs, stats=stats)
    result.stats = stats
    return result


def _answered(res: Mapping[str, Any], code: str, message: str) -> ScriptError | None:
    """None when a runner's answer to a check is ok, else its error (``code`` and
    ``message`` when it names none), with the line and column it gave."""
    if res.get("ok"):
        return None
    return ScriptError(
        res.get("code", code),
        res.get("message", message),
        line=res.get("line"),
        column=res.get("column"),
    )


def _denying(host: Mapping[str, HostFunction], deny: Mapping[str, str]) -> dict[str, HostFunction]:
    """``host`` where every sdk call that ``deny`` covers answers ``access_denied``."""

    def refuse(name: str, why: str) -> HostFunction:
        def refused(args: list[Any]) -> Any:
            raise ScriptError("access_denied", f"`sdk.{name}` is not allowed by {why}")

        return refused

    out = dict(host)
    for name in host_names():
        for path, why in deny.items():
            if name == path or name.startswith(path + "."):
                out[name] = refuse(name, why)
                break
    return out


def _loads(frame: bytes) -> Any:
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        # The prelude replaces lone surrogates before a message leaves V8
        # (see ``wellFormed`` there). Should one still arrive as a "\\ud800"
        # escape (orjson refuses it, the stdlib accepts it), it becomes U+FFFD
        # here, so no text that is not Unicode reaches a caller; anything else
        # is a broken runner (ValueError).
        text = json.dumps(json.loads(frame), ensure_ascii=False)
        return orjson.loads(valid_text(text))


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (pairs are joined)."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _run_frame(payload: dict[str, Any]) -> tuple[bytes, ...]:
    """A run frame's parts: its header as JSON, a newline, the ctx JSON, a newline, the input JSON.

    The runner hands ctx and input to V8 as they are (see ``_runner``); the
    parts go out as they are, never copied into one buffer.
    """
    head = {k: v for k, v in payload.items() if k not in ("input", "ctx")}
    return orjson.dumps(head), b"\n", payload["ctx"], b"\n", payload["input"]


def _empty_stats(t0: float, calls: int = 0) -> dict[str, Any]:
    ms = round((time.monotonic() - t0) * 1000, 3)
    return {"wall_ms": ms, "cpu_ms": 0.0, "heap_peak_bytes": 0, "host_calls": calls, "total_ms": ms}


def _arg(
    args: list[Any], i: int, kind: type | tuple[type, ...], name: str, required: bool = True
) -> Any:
    v = args[i] if i < len(args) else None
    if v is None:
        if required:
            raise ScriptError("invalid_argument", f"{name} is required")
        return None
    if not isinstance(v, kind) or (
        isinstance(v, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise ScriptError("invalid_argument", f"{name} has the wrong type")
    return v


def _http_fetch(
    policy: Any, args: list[Any], trace_headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    from . import _http

    url = _arg(args, 0, str, "url")
    init = _arg(args, 1, dict, "init", required=False) or {}
    known = {"method", "headers", "body", "timeoutSec", "idempotencyKey", "json"}
    unknown = sorted(set(init) - known)
    if unknown:
        raise ScriptError("invalid_argument", f"unknown fetch option(s): {', '.join(unknown)}")
    headers = init.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ScriptError("invalid_argument", "headers must be an object of strings")
    if init.get("json") and not any(k.lower() == "content-type" for k in headers):
        headers = {**headers, "Content-Type": "application/json"}
    body = init.get("body")
    if body is not None and not isinstance(body, str):
        raise ScriptError("invalid_argument", "body must be a string (objects are sent as JSON)")
    timeout = init.get("timeoutSec")
    if timeout is not None and (
        not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise ScriptError("invalid_argument", "timeoutSec must be a positive number")
    method = init.get("method") or "GET"
    if not isinstance(method, str):
        raise ScriptError("invalid_argument", "method must be a string")
    key = init.get("idempotencyKey")
    if key is not None and not isinstance(key, str):
        raise ScriptError("invalid_argument", "idempotencyKey must be a string")
    res = _http.fetch(
        policy,
        url,
        method=method.upper(),
        headers=headers,
        body=body,
        timeout_sec=timeout,
        idempotency_key=key,
        trace_headers=trace_headers,
    )
    return res.to_dict()


def _deprecation_log(name: str, note: str, started: float) -> dict[str, Any]:
    return {
        "level": "warn",
        "message": f"sdk.{name} is deprecated ({note})",
        "fields": {"deprecated": f"sdk.{name}"},
        "t_ms": round((time.monotonic() - started) * 1000, 3),
    }


def _cache_function(cache: Any, name: str) -> HostFunction | None:
    def get(args: list[Any]) -> Any:
        text = cache.get(_arg(args, 0, str, "key"))
        return None if text is None else orjson.loads(text)

    def set_(args: list[Any]) -> None:
        key = _arg(args, 0, str, "key")
        if len(args) < 2:
            raise ScriptError("invalid_argument", "value is required")
        ttl = _arg(args, 2, (int, float), "ttlSec", required=False)
        cache.set(key, orjson.dumps(args[1]).decode(), ttl)

    def delete(args: list[Any]) -> bool:
        return bool(cache.delete(_arg(args, 0, str, "key")))

    def incr(args: list[Any]) -> int:
        key = _arg(args, 0, str, "key")
        by = _arg(args, 1, int, "by", required=False)
        ttl = _arg(args, 2, (int, float), "ttlSec", required=False)
        return int(cache.incr(key, 1 if by is None else by, ttl))

    return {"cache.get": get, "cache.set": set_, "cache.delete": delete, "cache.incr": incr}.get(
        name
    )


_default_engine: Engine | None = None
_default_pid: int | None = None
_default_lock = threading.Lock()


def get_engine(config: EngineConfig | None = None) -> Engine:
    """The process-wide engine, created on first use (and again after a fork).

    With a ``config`` different from the current engine's, the current engine
    is closed (its busy runners end when their runs do) and a new one made.
    """
    global _default_engine, _default_pid
    with _default_lock:
        current = _default_engine if _default_pid == os.getpid() else None
        if current is not None and config is not None and config != current.config:
            current.close()
            current = None
        if current is None:
            current = Engine(config)
            _default_engine, _default_pid = current, os.getpid()
        return current
