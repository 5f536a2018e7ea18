# Over 600 lines: the runner process is one program (pipe protocol, V8 context, limits), run alone.
"""The runner process: V8 isolates behind a pipe.

Started by the engine as ``python -m iota_scripts_sdk._runner CONFIG_JSON``,
a fresh interpreter (never a fork of the host). It talks frames on
stdin/stdout (see ``_protocol``) and writes nothing else there.

The bridge is a pump, not a callback: V8 is driven with tasks (calls of the
prelude's entry points ``__iota_begin`` and ``__iota_resume``, their data a
string in ``this``), and after every task that resumed the script comes a
call of ``__iota_take`` that collects the messages (host calls, log lines,
the result) the script queued as JSON text. V8 runs that take after the
microtasks of the previous task, so one take sees everything the script
could do until it waits again. No JS object ever reaches Python.

The pump runs on V8's own thread, in the callback of each take: it sends
the script's messages, waits for the host's replies and queues the next
resume and take, so a host call costs no switch between threads. The main
thread only watches the run's wall and CPU deadlines; past one it cancels
the running task (TerminateExecution) and the run ends. No script code runs
outside a task except microtasks, and a script that keeps V8 busy in
microtasks is caught by the same watch.

Limits: the runner raises the soft RLIMIT_AS it inherited (V8 reserves
terabytes of address space and aborts under Odoo's cap), and caps itself with
RLIMIT_DATA (heaps and ArrayBuffers together) and, per run, RLIMIT_CPU as a
backstop. Any run that passes its deadline, CPU or memory cap ends this
process after its error is reported: V8 microtasks cannot be interrupted
from outside, so a fresh process is the only clean state.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import os
import re
import resource
import secrets
import select
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import orjson

from ._sandbox import LAYERS, probe
from ._sandbox import apply as apply_sandbox

_HERE = Path(__file__).resolve().parent
V8_FLAGS = (
    "--single-threaded",
    # eval() and new Function(string) throw EvalError: see docs/guide/writing-scripts.md, "eval".
    "--disallow-code-generation-from-strings",
)
_SYNTAX_RE = re.compile(r"script\.js:(\d+): (SyntaxError: .*)")
_ERROR_LINE = re.compile(r"\b(?:[A-Z][A-Za-z]*)?Error: .*")
_TOKEN_BYTES = 16
#: mini-racer's type tag of a UTF-8 string value.
_STR_UTF8 = 5
#: The soft heap limit is the cap divided by this (see Runner._collect).
_SOFT_LIMIT_DIVISOR = 4
#: Runs that used more CPU than this get a heap sample after they end.
_GC_CHECK_CPU_MS = 20.0
#: Transformed module bodies a runner keeps (LRU).
_MAX_BODIES = 64


def _json_lit(text: str) -> str:
    """A JS string literal for ``text`` (JSON strings are JS strings)."""
    return orjson.dumps(text).decode()


class _Exit(Exception):
    pass


class _Limit(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Task:
    """One task queued on V8's thread; its callback sets ``value`` or ``error``, then ``done``."""

    __slots__ = ("callback_id", "done", "error", "task_id", "value")

    def __init__(self, callback_id: int) -> None:
        self.callback_id = callback_id
        self.task_id = 0
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


class _Context:
    """One V8 isolate with the prelude installed; holds at most one script."""

    def __init__(self, runner: Runner) -> None:
        from py_mini_racer import MiniRacer

        self.runner = runner
        self.mr = MiniRacer()
        self.token = secrets.token_hex(_TOKEN_BYTES)
        self.key: str | None = None
        self.source: str | None = None
        self.heap_bytes = 0
        self.heap_total = 0
        #: what the runs since the last full GC may have added to the heap,
        #: live or garbage: the growth of this process's RSS while they ran
        #: (see Runner._collect)
        self.grown = 0
        self.runs = 0
        self.abandoned: list[object] = []
        #: the hold on V8's thread's Python thread state (see _post)
        self.thread_state: int | None = None
        #: the tasks and handles of the last :meth:`call`
        self.pending: tuple[list[_Task], list[Any]] = ([], [])
        self.wrap_head = f'__iota_load("{self.token}", (async function ($$iota) {{"use strict";'
        config = {
            "token": self.token,
            "wrapColumnShift": len(self.wrap_head),
            "api": runner.api,
            "version": runner.api_version,
        }
        self.mr.eval(
            f"{runner.prelude_src}({_json_lit(orjson.dumps(config).decode())})\n//# sourceURL=iota:sdk\n",
            timeout_sec=10,
        )
        # Every run starts from the heap state a full GC leaves (see
        # Runner._collect): a fresh context too, or V8's GC timing, and so the
        # heap cap's verdict, would differ between a fresh and a warm context.
        self.mr.low_memory_notification()
        # The host drives a run by calling the prelude's entry points with
        # mr_call_function, data in ``this`` (a string made from the frame's
        # bytes): no source to scan or compile per step, unlike an eval.
        mr_ctx = self.mr._ctx
        self._fns = {
            name: _handle(self.mr.eval(f"__iota_{name}")) for name in ("begin", "resume", "take")
        }
        self._argv = _handle(self.mr.eval("[]"))
        self._token = mr_ctx._python_to_value_handle(self.token)

    def call(self, steps: tuple[tuple[str, bytes | None], ...], then: Callable[[], None]) -> None:
        """Queues calls of prelude entry points on V8's thread; returns at once.

        Each step is (entry point, ``this``): the bytes become a JS string
        (UTF-8, no parsing); None passes the context's token. V8 runs them in
        order, each after the microtasks of the one before. When the last is
        done, ``then`` runs on V8's thread; there :meth:`settled` gives the
        last step's value, and ``then`` may call this again: the next steps
        queue behind it without a switch of threads. :meth:`cancel` stops the
        steps that are still queued or running.
        """
        ctx = self.mr._ctx
        dll = ctx._get_dll()
        handles = []
        calls = []
        for name, data in steps:
            if data is None:
                this = self._token
            else:
                this = ctx._wrap_raw_handle(
                    dll.mr_alloc_string_val(ctx._ctx, data, len(data), _STR_UTF8)
                )
                handles.append(this)
            calls.append(
                (dll.mr_call_function, ctx._ctx, self._fns[name].raw, this.raw, self._argv.raw)
            )
        # The handles must outlive their tasks: ``pending`` keeps them until
        # the next call, made once these tasks are done.
        tasks: list[_Task] = []
        self.pending = (tasks, handles)
        self._post(calls, then, tasks)

    def settled(self) -> Any:
        """The last step's value (bytes for a string); raises the first step's error."""
        return self._settled(self.pending[0])

    def cancel(self) -> None:
        """Cancels the steps of the last :meth:`call` that are not done (from any thread)."""
        tasks, handles = self.pending
        self._cancel(list(tasks))
        self.abandoned.append(handles)  # cancelled tasks may still read them

    def load(self, key: str, body: str, timeout_sec: float) -> None:
        code = f"{self.wrap_head}{body}\n}}))\n//# sourceURL=script.js\n"
        self.eval(code, timeout_sec=timeout_sec)
        self.key = key

    def eval(self, *codes: str, timeout_sec: float) -> Any:
        """Evaluates ``codes`` in order; returns the last one's value.

        The evals are queued on V8's thread together, so a later one runs as
        soon as the earlier one and its microtasks are done, without a trip
        back to this thread in between. Raises the first one's exception, or
        JSTimeoutException when all have not finished within ``timeout_sec``.
        """
        from py_mini_racer import JSTimeoutException

        ctx = self.mr._ctx
        dll = ctx._get_dll()
        # The handles must outlive their tasks: a ValueHandle frees its V8
        # value when it is collected.
        handles = [ctx._python_to_value_handle(c) for c in codes]
        try:
            return self._wait([(dll.mr_eval, ctx._ctx, h.raw) for h in handles], timeout_sec)
        except JSTimeoutException:
            self.abandoned.append(handles)  # cancelled tasks may still read them
            raise

    def heap_stats(self, timeout_sec: float) -> dict[str, Any] | None:
        """V8 heap statistics, or None when V8 is still busy after timeout_sec."""
        ctx = self.mr._ctx
        try:
            return orjson.loads(self._wait([(ctx._get_dll().mr_heap_stats, ctx._ctx)], timeout_sec))
        except Exception:  # noqa: BLE001 - busy or failed: the caller drops the context
            return None

    # mini-racer's own task wrapper costs a future, a generator and a thread
    # switch per task, and at its timeout it cancels and then waits, without
    # limit, for the cancellation to land, which never happens while V8 is
    # stuck in microtasks. Here a task is a slot its callback fills on V8's
    # thread, and a timed-out task is cancelled and left behind: every caller
    # of a timed-out task ends this process.
    #
    # Trap: ctypes gives a thread that Python did not start a new Python
    # thread state for every callback and frees it afterwards (a 16 KiB frame
    # stack mapped and unmapped, the state built and torn down): a fifth of
    # the runner's CPU per host call. The first callback takes one more hold on
    # V8's thread's state (PyGILState_Ensure), so that it lives as long as
    # the context; close() lets it go.
    def _post(
        self, calls: list[tuple[Any, ...]], then: Callable[[], None], tasks: list[_Task]
    ) -> None:
        """Queues mini-racer tasks (a dll function and its arguments) into ``tasks``; ``then`` runs after the last."""
        from py_mini_racer._exc import JSEvalException

        ctx = self.mr._ctx
        registry = ctx._callback_registry
        last = len(calls) - 1
        for i, (dll_method, *args) in enumerate(calls):
            task = _Task(next(registry._next_callback_id))

            def callback(val_handle: Any, task: _Task = task, last: bool = i == last) -> None:
                if self.thread_state is None:
                    self.thread_state = ctypes.pythonapi.PyGILState_Ensure()
                    # A tracer (coverage, a debugger) follows the threads that
                    # ``threading`` starts; V8's thread, now with a lasting
                    # state, joins here. None outside those.
                    tracer = threading.gettrace()
                    if tracer is not None:
                        sys.settrace(tracer)
                raw = val_handle.raw.contents
                if raw.type == _STR_UTF8:
                    # bytes, as they go into a frame: no decode and encode
                    task.value = ctypes.string_at(raw.value.bytes_val, raw.len)
                else:
                    try:
                        task.value = ctx._value_handle_to_python(val_handle)
                    except JSEvalException as e:
                        task.error = e
                task.done = True
                if last:
                    then()

            registry._active_callbacks[task.callback_id] = callback
            tasks.append(task)
            task.task_id = dll_method(*args, task.callback_id)

    def _wait(self, calls: list[tuple[Any, ...]], timeout_sec: float) -> Any:
        """Queues ``calls`` (see :meth:`_post`), waits for them and returns the last one's value."""
        from py_mini_racer import JSTimeoutException

        # V8 runs the tasks in order: once the last is done, all are. Waiting
        # on the last one alone saves a thread wake-up per eval.
        finished = threading.Event()
        tasks: list[_Task] = []
        self._post(calls, finished.set, tasks)
        if not finished.wait(timeout_sec):
            self._cancel(tasks)
            raise JSTimeoutException
        return self._settled(tasks)

    def _cancel(self, tasks: list[_Task]) -> None:
        ctx = self.mr._ctx
        for task in tasks:
            if not task.done:
                ctx._get_dll().mr_cancel_task(ctx._ctx, task.task_id)

    def _settled(self, tasks: list[_Task]) -> Any:
        active = self.mr._ctx._callback_registry._active_callbacks
        for task in tasks:
            active.pop(task.callback_id, None)
            if task.error is not None:
                raise task.error
        return tasks[-1].value

    def close(self) -> None:
        if self.thread_state is not None:
            # On V8's thread: the hold taken by the first callback goes, and
            # the thread state with this callback. Best effort: a busy V8
            # thread keeps it (a few KiB until this process ends).
            hold, self.thread_state = self.thread_state, -1
            released = threading.Event()

            def release() -> None:
                ctypes.pythonapi.PyGILState_Release(hold)
                released.set()

            with contextlib.suppress(Exception):
                ctx = self.mr._ctx
                self._post([(ctx._get_dll().mr_heap_stats, ctx._ctx)], release, [])
                released.wait(1.0)
        with contextlib.suppress(Exception):
            self.mr.close()


class Runner:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.out_fd = sys.stdout.fileno()
        self.in_fd = sys.stdin.fileno()
        from ._protocol import FrameReader, SharedArea

        #: the host's shared area for large run and done frames (see SharedArea)
        fd = config.get("shared_fd")
        self.area = SharedArea.attach(int(fd)) if fd is not None else None
        self.reader = FrameReader(self.in_fd, self.area)
        self._send_lock = threading.Lock()
        self.contexts: OrderedDict[str, _Context] = OrderedDict()
        #: transformed bodies of imported modules, by hash (see _load_modules)
        self.bodies: OrderedDict[str, str] = OrderedDict()
        #: the code of every module the host sent, by hash, for this runner's life
        #: (bounded by approvals; the pool recycles runners on memory)
        self.module_code: dict[str, str] = {}
        self.spare: _Context | None = None
        self.runs = 0
        from .api import API_VERSION, prelude_config

        self.api = prelude_config()
        self.api_version = API_VERSION
        self.prelude_src = (_HERE / "prelude.js").read_text().strip()

    # ---- output -----------------------------------------------------------
    def send(self, payload: bytes, *more: bytes | memoryview, shared: bool = False) -> None:
        """Sends one frame: ``payload``, then ``more``, as they are (never joined).

        ``shared``: a large frame may cross in the shared area; only for a
        ``done`` frame (see ``SharedArea``)."""
        from ._protocol import write_frame

        try:
            # V8's thread sends while a run goes on (Runner._step) and
            # mostly its end; this thread sends the end after a heap sample,
            # or a limit that V8's thread, still sending, has not noticed
            # yet: one frame at a time.
            with self._send_lock:
                write_frame(self.out_fd, payload, *more, area=self.area if shared else None)
        except OSError:
            _exit()  # the host is gone

    def send_obj(self, obj: dict[str, Any]) -> None:
        self.send(orjson.dumps(obj))

    # ---- setup --------------------------------------------------------------
    def setup(self) -> None:
        _die_with_parent(self.config.get("host_pid"))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        data = int(self.config["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        from py_mini_racer import MiniRacer  # noqa: F401 - loads the library
        from py_mini_racer._dll import init_mini_racer

        init_mini_racer(flags=V8_FLAGS, ignore_duplicate_init=True)
        from py_mini_racer import MiniRacer as _MR

        self.compiler = _MR()
        self.compiler.set_hard_memory_limit(256 * 1024 * 1024)
        self.compiler.eval(Path(self.config["acorn_path"]).read_text(), timeout_sec=30)
        self.compiler.eval((_HERE / "compiler.js").read_text(), timeout_sec=30)
        self.compiler.eval((_HERE / "breakpoints.js").read_text(), timeout_sec=30)
        self.compiler.eval((_HERE / "profiler.js").read_text(), timeout_sec=30)
        self.spare = _Context(self)
        self.send_obj(
            {
                "op": "ready",
                "pid": os.getpid(),
                "v8": self.compiler.v8_version,
                "sandbox": self._sandbox(),
            }
        )

    def _sandbox(self) -> dict[str, str]:
        """Closes this process in (see ``_sandbox``) after everything it reads is read."""
        global _statm
        # Read after every run (see _collect): kept open, in or out of the sandbox.
        with contextlib.suppress(OSError):
            _statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        if not self.config.get("sandbox", {}).get("enabled", True):
            return {layer: "off: disabled in the engine's configuration" for layer in LAYERS}
        # What V8 and Python would otherwise load on first use, later, when no
        # file can be opened any more: the local time zone, and the modules
        # the run path imports lazily.
        # (ICU's data is mapped at start-up: formatting needs no file later,
        # but the local time zone is looked up once, on first use.)
        self.compiler.eval("new Date(0).toString()", timeout_sec=10)
        for module in ("concurrent.futures", "py_mini_racer._exc", "iota_scripts_sdk._protocol"):
            importlib.import_module(module)
        return apply_sandbox(
            self.config.get("sandbox", {}), self.config.get("host_pid"), self.config["empty_dir"]
        )

    # ---- compile --------------------------------------------------------------
    def transform(
        self,
        source: str,
        timeout_sec: float,
        packages: list[str] | None = None,
        entry: str = "__iota_transform",
    ) -> dict[str, Any]:
        """compiler.js's answer for ``source`` (a script, or a module with ``entry``)."""
        from py_mini_racer import JSTimeoutException

        try:
            out = self.compiler.eval(
                f"{entry}({_json_lit(source)}, {orjson.dumps(packages or []).decode()})",
                timeout_sec=timeout_sec,
            )
            if not isinstance(out, str):  # compiler.js answers JSON text, nothing else
                raise TypeError("the compiler did not answer JSON text")
        except JSTimeoutException:
            return {"ok": False, "code": "timeout", "message": "parsing the script took too long"}
        except Exception:  # noqa: BLE001 - parser blew up: report, keep the runner
            return {
                "ok": False,
                "code": "syntax_error",
                "message": "the script could not be parsed",
            }
        return orjson.loads(out)

    def instrument(self, source: str, breakpoints: list[Any], timeout_sec: float) -> dict[str, Any]:
        """``source`` with ``breakpoints`` inserted, by breakpoints.js (see ``breakpoints.py``)."""
        from py_mini_racer import JSTimeoutException

        try:
            out = self.compiler.eval(
                f"__iota_instrument({_json_lit(source)}, {_json_lit(orjson.dumps(breakpoints).decode())})",
                timeout_sec=timeout_sec,
            )
            if not isinstance(out, str):  # breakpoints.js answers JSON text, nothing else
                raise TypeError("the compiler did not answer JSON text")
        except JSTimeoutException:
            return {
                "ok": False,
                "code": "timeout",
                "message": "instrumenting the script took too long",
            }
        except Exception:  # noqa: BLE001 - parser blew up: report, keep the runner
            return {"ok": False, "message": "the script could not be instrumented"}
        res = dict(orjson.loads(out))
        if not res["ok"]:
            res.setdefault("code", "invalid_breakpoint")
        return res

    def policy(self, source: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        """The policy rules ``source`` breaks, by compiler.js (see ``policy.py``)."""
        return self._facts(f"__iota_policy({_json_lit(source)}, {orjson.dumps(rules).decode()})")

    def capability_facts(self, source: str) -> dict[str, Any]:
        """The sdk calls of ``source``, by compiler.js (see ``capabilities.py``)."""
        return self._facts(f"__iota_capabilities({_json_lit(source)})")

    def _facts(self, expression: str) -> dict[str, Any]:
        """compiler.js's JSON answer to ``expression`` (an AST question about a source)."""
        from py_mini_racer import JSTimeoutException

        try:
            out = self.compiler.eval(expression, timeout_sec=10.0)
            if not isinstance(out, str):  # compiler.js answers JSON text, nothing else
                raise TypeError("the compiler did not answer JSON text")
        except JSTimeoutException:
            return {"ok": False, "message": "reading the script took too long"}
        except Exception:  # noqa: BLE001 - parser blew up: report, keep the runner
            return {"ok": False, "message": "the script could not be parsed"}
        return dict(orjson.loads(out))

    def profile(self, source: str) -> dict[str, Any]:
        """``source`` instrumented for the profile run mode, by profiler.js (see ``profile.py``)."""
        from py_mini_racer import JSTimeoutException

        try:
            out = self.compiler.eval(f"__iota_profile({_json_lit(source)})", timeout_sec=10.0)
            if not isinstance(out, str):  # profiler.js answers JSON text, nothing else
                raise TypeError("the profiler did not answer JSON text")
        except JSTimeoutException:
            return {"ok": False, "message": "instrumenting the script took too long"}
        except Exception:  # noqa: BLE001 - parser blew up: report, keep the runner
            return {"ok": False, "message": "the script could not be parsed"}
        return dict(orjson.loads(out))

    # ---- main loop ------------------------------------------------------------
    def serve(self) -> None:
        while True:
            frame = self._next_frame(None)
            if frame is None:
                return
            nl = frame.find(b"\n")
            msg = orjson.loads(frame if nl == -1 else frame[:nl])
            op = msg.get("op")
            if op == "run":
                # the tail (ctx and input JSON) as a view: copied once, into V8's string
                self.run(msg, memoryview(frame)[nl + 1 :] if nl != -1 else b"")
            elif op == "check":
                entry = "__iota_transform_module" if msg.get("module") else "__iota_transform"
                res = self.transform(msg["source"], 10.0, msg.get("packages"), entry)
                self.send_obj(
                    {"op": "checked", "res": {k: v for k, v in res.items() if k != "body"}}
                )
            elif op == "instrument":
                res = self.instrument(msg["source"], msg["breakpoints"], 10.0)
                self.send_obj(
                    {"op": "instrumented", "res": {k: v for k, v in res.items() if k != "source"}}
                )
            elif op == "policy":
                self.send_obj({"op": "policy", "res": self.policy(msg["source"], msg["rules"])})
            elif op == "profile":
                self.send_obj({"op": "profiled", "res": self.profile(msg["source"])})
            elif op == "capabilities":
                self.send_obj({"op": "capabilities", "res": self.capability_facts(msg["source"])})
            elif op == "probe":
                self.send_obj({"op": "probed", "res": probe(int(msg["port"]))})
            elif op == "exit":
                return
            # stray replies of finished runs are ignored

    def _next_frame(self, timeout: float | None) -> bytes | None:
        """The next frame from the host; None at EOF. Blocks up to timeout."""
        while True:
            frame = self.reader.next()
            if frame is not None:
                return frame
            if timeout is not None:
                r, _, _ = select.select([self.in_fd], [], [], timeout)
                if not r:
                    raise TimeoutError
            if not self.reader.feed():
                return None

    def fail(
        self, run_id: int, code: str, message: str, t0: float, cpu0: float, **extra: Any
    ) -> None:
        err = {"code": code, "message": message, **extra}
        self.send_obj(
            {
                "op": "done",
                "run": run_id,
                "msg": {"ok": False, "error": err, "calls": 0, "logsDropped": 0},
                "stats": self._stats(t0, cpu0, 0),
                "rss": _rss_bytes(),
            }
        )

    def _stats(self, t0: float, cpu0: float, heap: int) -> dict[str, Any]:
        return {
            "wall_ms": round((time.monotonic() - t0) * 1000, 3),
            "cpu_ms": round((time.process_time() - cpu0) * 1000, 3),
            "heap_peak_bytes": heap,
        }

    def run(self, msg: dict[str, Any], data: bytes | memoryview) -> None:
        """One run. ``data`` is the frame's tail: ctx JSON, a newline, input JSON."""
        from py_mini_racer import JSParseException, JSTimeoutException

        t0 = time.monotonic()
        cpu0 = time.process_time()
        run_id = int(msg["run"])
        limits = msg["limits"]
        timeout = float(limits["timeout_sec"])
        deadline = t0 + timeout
        # Without its own CPU budget a run is bounded by the wall clock alone
        # (the +1 s keeps the two from racing at the same instant).
        cpu_sec = float(limits["cpu_sec"]) if limits.get("cpu_sec") else timeout + 1.0
        key = msg["key"]
        source = msg["source"]
        self.runs += 1
        # RLIMIT_CPU is the backstop when even the watchdog below cannot run.
        used = resource.getrusage(resource.RUSAGE_SELF)
        used_sec = used.ru_utime + used.ru_stime
        resource.setrlimit(
            resource.RLIMIT_CPU, (int(used_sec + cpu_sec + 2), resource.RLIM_INFINITY)
        )

        modules = msg.get("modules") or []
        for m in modules:
            # the host sends a module's code once per runner (RunnerProcess.modules)
            if "code" in m:
                self.module_code[m["hash"]] = m["code"]
        specs = [m["spec"] for m in modules]
        identity = source + "\x00" + ",".join(f"{m['spec']}@{m['hash']}" for m in modules)
        ctx = self.contexts.get(key)
        # Trap: a GC between runs (the heap sample makes a V8 context; see
        # _collect) that sees the heap over the cap asks V8 to terminate, and
        # V8 keeps that request for the next call into the context: the next
        # run would die at its first step, as a crashed runner. A run that
        # reaches the cap ends this process, so the flag set here was set
        # between runs.
        if ctx is not None and (ctx.source != identity or ctx.mr.was_hard_memory_limit_reached()):
            self._drop(key)
            ctx = None
        if ctx is None:
            compiled = source
            if msg.get("breakpoints"):
                res = self.instrument(
                    source, msg["breakpoints"], max(0.001, deadline - time.monotonic())
                )
                if not res["ok"]:
                    extra = {"line": res["line"]} if res.get("line") else {}
                    self.fail(run_id, res["code"], res["message"], t0, cpu0, **extra)
                    if res["code"] == "timeout":
                        raise _Exit
                    return
                compiled = res["source"]
            res = self.transform(compiled, max(0.001, deadline - time.monotonic()), specs)
            if not res["ok"]:
                code = res.get("code", "syntax_error")
                extra = {k: res[k] for k in ("line", "column") if res.get(k) is not None}
                if code == "timeout":
                    self.fail(run_id, "timeout", res["message"], t0, cpu0)
                    raise _Exit
                self.fail(run_id, code, res["message"], t0, cpu0, **extra)
                return
            ctx = self.spare if self.spare is not None else _Context(self)
            self.spare = None
            try:
                failed = self._load_modules(ctx, modules, deadline)
                if failed is not None:
                    ctx.close()
                    self.fail(run_id, failed[0], failed[1], t0, cpu0)
                    return
                ctx.load(key, res["body"], max(0.001, deadline - time.monotonic()))
            except JSParseException as e:
                ctx.close()
                m = _SYNTAX_RE.search(str(e))
                if m:
                    self.fail(run_id, "syntax_error", m.group(2), t0, cpu0, line=int(m.group(1)))
                else:
                    self.fail(run_id, "syntax_error", "the script does not compile", t0, cpu0)
                return
            except JSTimeoutException:
                self.fail(
                    run_id,
                    "timeout",
                    f"the run passed its {float(limits['deadline_sec']):g} s deadline",
                    t0,
                    cpu0,
                )
                raise _Exit from None
            ctx.source = identity
            self.contexts[key] = ctx
        self.contexts.move_to_end(key)

        cap = int(limits["memory_mb"]) * 1024 * 1024
        ctx.mr.set_hard_memory_limit(cap)
        # The soft limit is a cheap signal (a flag read, no V8 task): some GC
        # of this run saw the heap above a quarter of the cap, so the run may
        # leave garbage behind (see _collect). V8 also gets a memory-pressure
        # hint above it and starts marking sooner.
        ctx.mr.set_soft_memory_limit(cap // _SOFT_LIMIT_DIVISOR)
        cpu_deadline = cpu0 + cpu_sec
        done: tuple[bytes, bytes | memoryview, bool, bool] | None = None
        error: tuple[str, str] | None = None
        try:
            # JSON text never holds a raw newline: the prelude splits on them.
            start = b"%s\n%d\n%s\n%s" % (
                ctx.token.encode(),
                run_id,
                orjson.dumps(limits["prelude"]),
                data,
            )
            report = functools.partial(self._done_sender, ctx, run_id, t0, cpu0)
            rss = _rss_bytes()
            done = self._pump(ctx, run_id, start, (deadline, cpu_deadline), report)
            ctx.grown += max(0, _rss_bytes() - rss)
        except _Limit as e:
            error = (e.code, "")
        if error is not None or done is None:
            code = error[0] if error else "internal_error"
            if code in ("timeout", "internal_error") and ctx.mr.was_hard_memory_limit_reached():
                code = "memory_limit"
            message = {
                "timeout": f"the run passed its {float(limits['deadline_sec']):g} s deadline",
                "cpu_limit": f"the run used more than {cpu_sec:g} s of CPU",
                "memory_limit": f"the run passed its {limits['memory_mb']} MB heap cap",
            }.get(code, "the run ended without a result")
            self.fail(run_id, code, message, t0, cpu0)
            raise _Exit
        # The script's promise settled, and the take that brought the result
        # also ended the run (its globals are gone; see prelude ``take``).
        done_text, result_json, clean, reported = done
        ctx.runs += 1
        heap = None
        if not reported:
            # a heap sample was due (see _done_sender): V8's thread is free now
            wall_ms = (time.monotonic() - t0) * 1000
            heap = ctx.heap_stats(0.05)
            if heap is None:
                clean = False
            else:
                ctx.heap_bytes = int(heap["used_heap_size"])
                ctx.heap_total = int(heap["total_heap_size"])
            self._send_done(run_id, done_text, result_json, t0, cpu0, wall_ms, ctx.heap_total)
        if not clean:
            self._drop(key)
        else:
            self._collect(ctx, cap, heap, (time.process_time() - cpu0) * 1000)
            self._evict()
        if self.spare is None:
            self.spare = _Context(self)

    def _done_sender(
        self,
        ctx: _Context,
        run_id: int,
        t0: float,
        cpu0: float,
        done: tuple[bytes, bytes | memoryview, bool],
    ) -> Callable[[], None] | None:
        """On V8's thread as the run ends (:meth:`_pump`): what sends its done
        frame, or None when a heap sample is due, which needs V8's thread
        free (then :meth:`run` samples and sends).

        heap_stats costs ~0.5 ms: it is sampled on the first run of a
        context, after long runs, and every 256th run; stats report the last
        sample. Sending from V8's thread spares a wake of this one before the
        host has its answer.
        """
        wall_ms = (time.monotonic() - t0) * 1000
        if wall_ms > 20 or ctx.runs % 256 == 0:  # ctx.runs counts this run after it
            return None
        heap = ctx.heap_total
        return lambda: self._send_done(run_id, done[0], done[1], t0, cpu0, wall_ms, heap)

    def _send_done(
        self,
        run_id: int,
        done_text: bytes,
        result_json: bytes | memoryview,
        t0: float,
        cpu0: float,
        wall_ms: float,
        heap: int,
    ) -> None:
        stats = self._stats(t0, cpu0, heap)
        stats["wall_ms"] = round(wall_ms, 3)
        # The result JSON follows the header as it is (the host may keep it unparsed).
        self.send(
            b'{"op":"done","run":%d,"msg":%s,"stats":%s,"rss":%d}\n'
            % (run_id, done_text, orjson.dumps(stats), _rss_bytes() if self.runs % 32 == 1 else 0),
            result_json,
            shared=True,
        )

    def _load_modules(
        self, ctx: _Context, modules: list[dict[str, Any]], deadline: float
    ) -> tuple[str, str] | None:
        """Evaluates the run's imported modules in ``ctx``, in order; (code, message) on failure.

        Each module's transformed body is cached by its hash (``self.bodies``),
        so a second script importing the same bundle skips acorn; V8 still
        compiles it once per context (each context is its own isolate). The
        host checked every hash against its code (``packages.Module``).
        """
        from py_mini_racer import JSEvalException

        for i, m in enumerate(modules):
            body = self.bodies.get(m["hash"])
            if body is None:
                code = self.module_code.get(m["hash"])
                if code is None:
                    return "internal_error", f"the module '{m['spec']}' was not sent to this runner"
                res = self.transform(
                    code,
                    max(0.001, deadline - time.monotonic()),
                    [x["spec"] for x in modules[:i]],
                    "__iota_transform_module",
                )
                if not res["ok"]:
                    return (
                        res.get("code", "syntax_error"),
                        f"the module '{m['spec']}' does not compile: {res['message']}",
                    )
                body = res["body"]
                self.bodies[m["hash"]] = body
                while len(self.bodies) > _MAX_BODIES:
                    self.bodies.popitem(last=False)
            self.bodies.move_to_end(m["hash"])
            code = (
                f'__iota_module("{ctx.token}", {_json_lit(m["spec"])}, (function ($$iota) {{'
                f'"use strict";{body}\n}}))\n//# sourceURL=module.js\n'
            )
            try:
                ctx.eval(code, timeout_sec=max(0.001, deadline - time.monotonic()))
            except JSEvalException as e:
                # mini-racer's text: "module.js:LINE: TypeError: ...", the source line,
                # then the stack; keep the error's own line (no host path is in it)
                lines = str(e).strip().splitlines()
                found = next(
                    (_ERROR_LINE.search(ln) for ln in lines if _ERROR_LINE.search(ln)), None
                )
                why = found.group(0) if found else "an uncaught exception"
                return "script_error", f"the module '{m['spec']}' failed to load: {why[:300]}"
        return None

    def _collect(self, ctx: _Context, cap: int, heap: dict[str, Any] | None, cpu_ms: float) -> None:
        """Collects the garbage a finished run may have left in its warm context.

        The hard heap cap is checked by V8's GC epilogue, and the epilogue of
        a young-generation GC counts old-space garbage as used. Without this,
        garbage left by one run counts against the next: a script holding
        40 MB under a 64 MB cap passes, then fails, in the same warm context.
        After a full GC here every run starts from its live set and at most
        a quarter of the cap of garbage, so the same script with the same
        input gets the same verdict.

        Trap: V8 alone does not keep that bound. Its own full GCs follow its
        heuristics, not our cap: runs that allocate mostly in old space
        (large strings such as a 150 KB input or result, pretenured objects)
        and trigger no GC leave their garbage behind, and after a few
        thousand records runs V8 let it grow to 60 MB, run after run, until
        a GC's epilogue counted it against the cap (``memory_limit`` for a
        run that held 3 MB, or a terminated call and a crashed runner).
        A heap sample per run costs ~0.4 ms (mini-racer makes a V8 context
        for it); this process's RSS costs a read of ``/proc/self/statm``. The
        heap cannot grow, with live objects or garbage, past what it held
        after the last full GC plus the pages touched since, so the RSS
        growth of the runs since then (``ctx.grown``) bounds it.

        Runs here after ``done`` was sent: the caller already has its result.
        Cost: nothing for small runs (a flag read); ~0.4 ms for a heap sample
        after runs that used more than ``_GC_CHECK_CPU_MS`` of CPU; a full GC
        (milliseconds, proportional to what the context keeps) when the
        heap is above a quarter of the cap, or may be: once the runs since
        the last one grew the process by a quarter of the cap.
        """
        soft = cap // _SOFT_LIMIT_DIVISOR
        big = ctx.mr.was_soft_memory_limit_reached() or ctx.grown > soft
        if not big and cpu_ms > _GC_CHECK_CPU_MS:
            if heap is None:
                heap = ctx.heap_stats(0.05)
            big = heap is None or int(heap["used_heap_size"]) > soft
        if big:
            ctx.mr.low_memory_notification()
            ctx.grown = 0
            after = ctx.heap_stats(0.05)
            if after is not None:
                ctx.heap_bytes = int(after["used_heap_size"])
                ctx.heap_total = int(after["total_heap_size"])
            # The GCs above recomputed the soft flag: it stays set only when
            # the context keeps more than ``soft`` live between runs
            # (module-level state); then every run pays this GC, and the LRU
            # eviction counts what the context holds.

    def _pump(
        self,
        ctx: _Context,
        run_id: int,
        start: bytes,
        deadlines: tuple[float, float],
        report: Callable[[tuple[bytes, bytes | memoryview, bool]], Callable[[], None] | None],
    ) -> tuple[bytes, bytes | memoryview, bool, bool]:
        """Moves messages until the run reports done; returns (done text,
        result JSON, context clean, done frame sent).

        Each step calls what resumes the script (``begin``, then ``resume``
        with the host's replies) and then ``take``, which V8 runs after their
        microtasks. The steps chain on V8's thread (:meth:`_step`): a host
        call costs two switches between processes and none between threads.
        At the end, V8's thread sends the done frame that ``report`` makes
        (see :meth:`_done_sender`). This thread only watches the wall and CPU
        ``deadlines``, and raises :class:`_Limit`. Exactly one side ends a
        run: V8's thread by settling ``finished``, this one at a deadline by
        failing it first; the other then leaves it alone.
        """
        from concurrent.futures import Future, InvalidStateError
        from concurrent.futures import TimeoutError as FutureTimeout

        finished: Future[tuple[bytes, bytes | memoryview, bool, bool]] = Future()
        head = b"%s\n%d" % (ctx.token.encode(), run_id)
        deadline, cpu_deadline = deadlines

        def then() -> None:
            try:
                done = self._step(ctx, run_id)
                if done is None:
                    # Wait for the host's replies (or the deadline, if nothing
                    # can ever wake the script again, as with a promise that
                    # never settles). Every reply that has arrived goes into V8
                    # in one call: lines of "id ok payload" after the token and
                    # run id.
                    batch = b"\n".join([head, *self._replies(run_id, deadline)])
                    ctx.call((("resume", batch), ("take", None)), then)
                    return
                send = report(done)
                finished.set_result((*done, send is not None))
            except InvalidStateError:
                return  # this thread passed a deadline first: it reports
            except BaseException as e:  # noqa: BLE001 - every end of the run reaches the watcher
                with contextlib.suppress(InvalidStateError):
                    finished.set_exception(e)
                return
            if send is not None:
                send()

        ctx.call((("begin", start), ("take", None)), then)
        while True:
            wall_left = deadline - time.monotonic()
            cpu_left = cpu_deadline - time.process_time()
            if wall_left <= 0 or cpu_left <= 0:
                try:
                    finished.set_exception(_Limit("timeout" if wall_left <= 0 else "cpu_limit"))
                except InvalidStateError:
                    pass  # V8's thread ended the run first
                else:
                    # Work queued behind the cancelled step may still run: the
                    # caller ends this process.
                    ctx.cancel()
            try:
                # While V8 runs, CPU time and wall time advance together; while
                # the host answers, only wall time does: wait, then look again.
                return finished.result(timeout=min(wall_left, cpu_left))
            except FutureTimeout:
                continue

    def _step(self, ctx: _Context, run_id: int) -> tuple[bytes, bytes | memoryview, bool] | None:
        """On V8's thread, after a take: sends what the script queued; the run's end, if it came."""
        from py_mini_racer import JSEvalException, JSOOMException

        try:
            out = ctx.settled()
        except JSOOMException:
            raise _Limit("memory_limit") from None
        except JSEvalException:
            # A call (mr_call_function) that V8 terminated at the heap cap
            # comes back as a bare JSEvalException (message null), not as
            # JSOOMException like an eval: the cap is the verdict, never a
            # crashed runner.
            if ctx.mr.was_hard_memory_limit_reached():
                raise _Limit("memory_limit") from None
            raise
        if ctx.mr.was_hard_memory_limit_reached():
            raise _Limit("memory_limit")
        done: bytes | None = None
        result: bytes | memoryview = b""
        at, end = 0, len(out or b"")
        while at < end:
            nl = out.find(b"\n", at)
            if nl == -1:
                nl = end
            kind = out[at : at + 1]
            if kind == b"R":
                # the result, as a view: it goes into the done frame uncopied
                result = memoryview(out)[at + 1 : nl]
                at = nl + 1
                continue
            text = out[at + 1 : nl]
            at = nl + 1
            if kind == b"D":
                done = text
            elif kind == b"E" and done is not None:
                return done, result, text == b"1"
            elif kind == b"C":
                self.send(b'{"op":"call","run":%d,"msg":%s}' % (run_id, text))
            elif kind == b"L":
                self.send(b'{"op":"log","run":%d,"msg":%s}' % (run_id, text))
            elif kind == b"B":
                self.send(b'{"op":"hit","run":%d,"msg":%s}' % (run_id, text))
        return None

    def _replies(self, run_id: int, deadline: float) -> list[bytes]:
        """At least one reply for this run ("id ok payload"), or raises _Limit at the deadline."""
        out: list[bytes] = []
        while not out:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Limit("timeout")
            try:
                frame = self._next_frame(remaining)
            except TimeoutError:
                raise _Limit("timeout") from None
            if frame is None:
                raise _Exit
            while frame is not None:
                head, _, payload = frame.partition(b"\n")
                msg = orjson.loads(head)
                if msg.get("op") == "reply" and msg.get("run") == run_id:
                    out.append(b"%d %d %s" % (int(msg["id"]), 1 if msg["ok"] else 0, payload))
                frame = self.reader.next()
        return out

    def _drop(self, key: str) -> None:
        ctx = self.contexts.pop(key, None)
        if ctx is not None:
            ctx.close()

    def _evict(self) -> None:
        max_count = int(self.config["contexts"])
        max_heap = int(self.config["contexts_heap_mb"]) * 1024 * 1024
        while self.contexts and (
            len(self.contexts) > max_count
            or sum(c.heap_bytes for c in self.contexts.values()) > max_heap
        ):
            key = next(iter(self.contexts))
            self._drop(key)


def _handle(value: Any) -> Any:
    """The value handle of a JS object mini-racer returned (kept for mr_call_function)."""
    return value._handle


#: /proc/self/statm, opened before the sandbox closes the file system.
_statm: int | None = None
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    try:
        if _statm is not None:
            return int(os.pread(_statm, 128, 0).split()[1]) * _PAGE_SIZE
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def _die_with_parent(host_pid: int | None) -> None:
    """PR_SET_PDEATHSIG: the kernel kills this runner when its host dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    # The host may have died before the line above: then we were reparented.
    if host_pid is not None and os.getppid() != host_pid:
        _exit()


def _exit() -> NoReturn:
    """``os._exit(0)``, after saving coverage data when the tests measure runners.

    Trap: ``os._exit`` skips the atexit hook through which coverage saves what it
    measured, so a measured runner would always count as 0 %.
    """
    coverage = sys.modules.get("coverage")
    if coverage is not None:
        current = coverage.Coverage.current()
        if current is not None:
            with contextlib.suppress(Exception):
                current.stop()
                current.save()
    os._exit(0)


def _start_coverage() -> None:
    """Measures this runner when the tests ask (``COVERAGE_PROCESS_START``).

    Coverage's ``.pth`` hook normally starts it at interpreter start-up; this is
    the fallback when that hook is not installed (a no-op otherwise).
    """
    if os.environ.get("COVERAGE_PROCESS_START"):
        with contextlib.suppress(ImportError):
            importlib.import_module("coverage").process_startup()


def main() -> None:
    _start_coverage()
    config = orjson.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    config.setdefault("memory_mb", 2048)
    config.setdefault("contexts", 16)
    config.setdefault("contexts_heap_mb", 256)
    runner = Runner(config)
    try:
        runner.setup()
        runner.serve()
    except _Exit:
        pass
    # Never unwind through V8's thread or run destructors: just go.
    sys.stdout.flush()
    _exit()


if __name__ == "__main__":
    main()
