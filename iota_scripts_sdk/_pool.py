"""The pool of runner processes.

Runners are started lazily, on first use, with ``subprocess`` (a fresh
interpreter, never a fork of the host, which may hold an Odoo cursor, a
2.5 GiB RLIMIT_AS and threads). The pool remembers the pid that created it:
after a fork the child forgets the parent's runners and starts its own.

A runner runs one script at a time. Callers wait for a free one in a bounded
queue; past ``max_waiting`` they get ``busy`` at once. A runner that died,
timed out, or passed ``recycle_after_runs``/``recycle_rss_mb`` is replaced in
the background so the next caller does not pay for its start.

An :class:`~.observer.EngineObserver` (``observer``) hears of every change
of the runner counts, every start, and why each runner ended.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ._protocol import FrameReader, SharedArea, widen_pipe, write_frame
from ._vendor import acorn_path
from .errors import ScriptError
from .limits import EngineConfig
from .observer import EngineObserver, notify

_T = TypeVar("_T")

_logger = logging.getLogger(__name__)

_START_TIMEOUT_SEC = 60.0
#: The only variables a runner gets from its host's environment: what starts
#: Python on this package, and the tests' coverage measurement. No secret of
#: the host (database passwords, API tokens, proxies) reaches a runner.
_RUNNER_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "COVERAGE_PROCESS_START", "COVERAGE_FILE")

_empty_dir: tuple[int, str] | None = None
_sandbox_logged: int | None = None


def _runner_cwd() -> str:
    """An empty, read-only folder: the runners' working directory.

    One per user of the machine (``<tmp>/iota-runner-cwd-<uid>``), shared by
    every process and never removed, so that Odoo's recycled workers leave no
    folder behind. /tmp is writable by all: a path someone else made (a
    symlink, another owner, another mode, anything inside) is not used, and
    this process makes a private one instead.
    """
    global _empty_dir
    with _spawner_lock:
        # (made again when someone removed it: a runner cannot start in a
        # folder that is gone, and /tmp cleaners remove empty folders)
        if _empty_dir is None or _empty_dir[0] != os.getpid() or not os.path.isdir(_empty_dir[1]):
            _empty_dir = (os.getpid(), _shared_empty_dir() or _private_empty_dir())
        return _empty_dir[1]


def _shared_empty_dir() -> str | None:
    import stat
    import tempfile

    path = os.path.join(tempfile.gettempdir(), f"iota-runner-cwd-{os.geteuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
        # read and enter for all: runners run as nobody; no one may write
        os.chmod(path, 0o555)  # noqa: S103 - read-only for all, on purpose
    try:
        st = os.lstat(path)
        empty = not os.listdir(path)
    except OSError:
        return None
    ours = stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
    return path if ours and stat.S_IMODE(st.st_mode) == 0o555 and empty else None


def _private_empty_dir() -> str:
    import atexit
    import tempfile

    path = tempfile.mkdtemp(prefix="iota-runner-cwd-")
    os.chmod(path, 0o555)  # noqa: S103 - as above
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _log_sandbox(report: dict[str, str]) -> None:
    """Logs the runners' sandbox layers once per process: INFO, or WARNING when one is off."""
    global _sandbox_logged
    if _sandbox_logged == os.getpid():
        return
    _sandbox_logged = os.getpid()
    text = "; ".join(f"{layer} {state}" for layer, state in report.items())
    off = [layer for layer, state in report.items() if not state.startswith("on")]
    if off:
        _logger.warning("runner sandbox: %s layer(s) off: %s", ", ".join(off), text)
    else:
        _logger.info("runner sandbox: %s", text)


_spawner: concurrent.futures.ThreadPoolExecutor | None = None
_spawner_pid: int | None = None
_spawner_lock = threading.Lock()


def _popen(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Starts a runner from one long-lived thread of this process.

    Runners arm PR_SET_PDEATHSIG, and Linux fires it when the *thread* that
    started the child ends, not the process: a runner started by a request
    thread would die with that thread. The spawner thread lives as long as
    the process, so runners die with their host and only then.
    """
    global _spawner, _spawner_pid
    with _spawner_lock:
        if _spawner is None or _spawner_pid != os.getpid():
            _spawner = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="iota-runner-spawner"
            )
            _spawner_pid = os.getpid()
        spawner = _spawner

    # A typed wrapper: submit(subprocess.Popen, ...) makes mypy pick Popen[str].
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, **kwargs)  # noqa: S603 - argv is this interpreter and our runner module, never user input

    return spawner.submit(start).result()


class RunnerProcess:
    """One runner: its process, pipes and what it has warm."""

    def __init__(self, config: EngineConfig) -> None:
        #: large run and done frames cross here (None: the pipe carries all)
        self.area = SharedArea.create()
        cfg = orjson.dumps(
            {
                "shared_fd": self.area.fd if self.area else None,
                # checked here, in the host: a missing or altered parser is a named
                # error (not_installed), never a runner that fails to start
                "acorn_path": str(acorn_path()),
                "memory_mb": config.runner_memory_mb,
                "contexts": config.contexts_per_runner,
                "contexts_heap_mb": config.contexts_heap_mb,
                "host_pid": os.getpid(),
                "sandbox": {"enabled": config.sandbox, "network": config.sandbox_network},
                "empty_dir": _runner_cwd(),
            }
        ).decode()
        env = {k: v for k, v in os.environ.items() if k in _RUNNER_ENV}
        env["PYTHONUNBUFFERED"] = "1"
        # The runner must load this very package, whatever is installed.
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        try:
            self.proc = self._start(config, cfg, env)
        finally:
            if self.area:
                self.area.close_fd()  # the runner has its own
        self.pid = self.proc.pid
        self.in_fd = self.proc.stdin.fileno()  # type: ignore[union-attr]
        self.out_fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        widen_pipe(self.in_fd)
        widen_pipe(self.out_fd)
        self.reader = FrameReader(self.out_fd, self.area)
        self.runs = 0
        self.keys: set[str] = set()
        #: hashes of the imported modules whose code this runner has (it keeps
        #: them for its life): later runs send the hash alone
        self.modules: set[str] = set()
        self.dead = False
        #: why it ended, once it did (observer.RUNNER_END_REASONS); set by
        #: the engine where it knows, else "killed" when it is found dead
        self.end_reason: str | None = None
        self.stderr_tail = b""
        self._stat: io.FileIO | None = None
        threading.Thread(
            target=self._drain_stderr, name=f"iota-runner-{self.pid}-stderr", daemon=True
        ).start()
        frame = self.read_frame(time.monotonic() + _START_TIMEOUT_SEC)
        if frame is None or orjson.loads(frame).get("op") != "ready":
            self.kill()
            raise ScriptError("sandbox_crashed", "the script runner failed to start")
        ready = orjson.loads(frame)
        self.v8_version = ready.get("v8")
        #: {layer: "on: ..." | "off: why"} as the runner applied them (see _sandbox)
        self.sandbox: dict[str, str] = ready.get("sandbox") or {}
        _log_sandbox(self.sandbox)

    def _start(
        self, config: EngineConfig, cfg: str, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        """Starts the runner's process, the shared area's descriptor passed to it."""
        return _popen(
            [config.python or sys.executable, "-m", "iota_scripts_sdk._runner", cfg],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # V8's fatal-error reports name host paths: they go to the server
            # log through _drain_stderr, never to a script author.
            stderr=subprocess.PIPE,
            close_fds=True,
            # Its own session: a Ctrl-C or SIGHUP meant for the host's terminal
            # does not reach runners; they end with their host (PDEATHSIG).
            start_new_session=True,
            pass_fds=(self.area.fd,) if self.area else (),
            env=env,
            cwd=_runner_cwd(),
        )

    def probe(self, port: int) -> dict[str, Any]:
        """What the runner gets when it tries what its sandbox forbids (``_sandbox.probe``).

        For the tests and ``iota-scripts check --sandbox``; only between runs.
        """
        self.send({"op": "probe", "port": port})
        frame = self.read_frame(time.monotonic() + 10)
        if frame is None:
            raise ScriptError("sandbox_crashed", "the runner ended during the sandbox probe")
        return dict(orjson.loads(frame)["res"])

    def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None  # noqa: S101 - Popen was made with stderr=PIPE: a programming error otherwise
        for line in iter(stream.readline, b""):
            # The whole report at DEBUG; the engine logs one WARNING that
            # quotes it when the runner dies during a run.
            self.stderr_tail = (self.stderr_tail + line)[-8192:]
            _logger.debug("runner %s: %s", self.pid, line.decode(errors="replace").rstrip()[:500])

    def send(self, obj: dict[str, object] | bytes, *more: bytes, shared: bool = False) -> None:
        """Sends one frame: ``obj`` (a dict as JSON), then ``more`` as they are.

        ``shared``: a large frame may cross in the shared area; only for a
        ``run`` frame (see ``SharedArea``)."""
        payload = obj if isinstance(obj, bytes) else orjson.dumps(obj)
        write_frame(self.in_fd, payload, *more, area=self.area if shared else None)

    def read_frame(self, deadline: float | None) -> bytes | None:
        """The next frame, or None at EOF. Raises TimeoutError at the deadline."""
        return self._read(self.reader.next, deadline)

    def read_message(self, deadline: float | None) -> tuple[bytes, bytes] | None:
        """The next frame as (header, tail) (``FrameReader.next_message``), or
        None at EOF. Raises TimeoutError at the deadline."""
        return self._read(self.reader.next_message, deadline)

    def _read(self, take: Callable[[], _T | None], deadline: float | None) -> _T | None:
        import select

        while True:
            frame = take()
            if frame is not None:
                return frame
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                # poll, not select: the host (an Odoo process serving many
                # connections) may hold descriptors past select's 1024
                poller = select.poll()
                poller.register(self.out_fd, select.POLLIN)
                if not poller.poll(max(1, math.ceil(remaining * 1000))):
                    raise TimeoutError
            if not self.reader.feed():
                return None

    def cpu_ms(self) -> float | None:
        """CPU time (user + system) the process used so far, in ms; None where /proc is missing.

        For runs the engine stops from outside (cancel, hard deadline): the
        runner's own stats never arrive, so the engine measures the difference.
        """
        try:
            # Read at the start of every run: one pread on a file kept open
            # (an open and a close cost twice the read). Once the process is
            # reaped the read fails (ESRCH), whoever takes its pid later.
            if self._stat is None:
                self._stat = open(f"/proc/{self.pid}/stat", "rb", buffering=0)
            # the command name may hold spaces: the fields start after its ")"
            fields = os.pread(self._stat.fileno(), 1024, 0).rsplit(b")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
            return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """Ends the process now (SIGKILL) and reaps it."""
        self.dead = True
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self._stat):
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]

    def wait_exit(self, timeout_sec: float) -> int | None:
        """Waits for a runner that is ending by itself; kills it if it does not."""
        try:
            code = self.proc.wait(timeout=timeout_sec)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode
        self.kill()
        return code


class RunnerPool:
    """Thread-safe pool of :class:`RunnerProcess`, bounded in size and waiters."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._pid = os.getpid()
        self._lock = threading.Condition()
        self._idle: list[RunnerProcess] = []
        self._count = 0  # live + starting runners
        self._waiting = 0
        self._closed = False
        self.observer: EngineObserver | None = None

    def _changed(self) -> None:
        """Tells the observer the counts; called with ``_lock`` held, so the
        observer hears them in the order they happened."""
        if self.observer is not None:
            notify(self.observer, "runners_changed", self._count, self._count - len(self._idle))

    def _after_fork(self) -> None:
        # Inherited runners belong to the parent process: forget, never kill.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.Condition()
            self._idle = []
            self._count = 0
            self._waiting = 0

    def acquire(self, key: str, timeout_sec: float | None = None) -> RunnerProcess:
        """A free runner: of those with ``key`` warm, the one released last;
        without one, the runner released last. May start one.

        Released last, not first: the runner that just ran still has its
        V8 heap and the host's pages in the CPU's caches. Taking the oldest
        instead spread a steady load over every runner, and cost each run
        about a fifth more of the runners' CPU (docs/operations/benchmarks.md).
        """
        self._after_fork()
        deadline = time.monotonic() + (timeout_sec or self.config.wait_timeout_sec)
        with self._lock:
            if self._closed:
                raise ScriptError("busy", "the engine is closed")
            if self._waiting >= self.config.max_waiting and not self._idle:
                raise ScriptError("busy", "too many runs are waiting for a runner")
            self._waiting += 1
            try:
                while True:
                    if self._idle:
                        found = next(
                            (r for r in reversed(self._idle) if key in r.keys), self._idle[-1]
                        )
                        self._idle.remove(found)
                        self._changed()
                        return found
                    if self._count < self.config.runners:
                        self._count += 1
                        self._changed()
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ScriptError("busy", "no script runner became free in time")
                    self._lock.wait(remaining)
            finally:
                self._waiting -= 1
        try:
            runner = RunnerProcess(self.config)
        except BaseException:
            with self._lock:
                self._count -= 1
                self._changed()
                self._lock.notify()
            raise
        notify(self.observer, "runner_started")
        return runner

    def release(self, runner: RunnerProcess) -> None:
        """Returns a runner; a dead or worn one is replaced in the background."""
        if os.getpid() != self._pid:
            return
        worn = runner.runs >= self.config.recycle_after_runs
        if worn and not runner.dead:
            runner.end_reason = "recycled"
            with contextlib.suppress(Exception):
                runner.send({"op": "exit"})
            runner.wait_exit(2.0)
        if runner.dead and not self._closed:
            notify(self.observer, "runner_ended", runner.end_reason or "killed")
        with self._lock:
            if runner.dead or self._closed:
                self._count -= 1
                respawn = not self._closed
            else:
                self._idle.append(runner)
                respawn = False
            self._changed()
            self._lock.notify()
        if respawn:
            threading.Thread(target=self._prespawn, name="iota-runner-respawn", daemon=True).start()

    def _prespawn(self) -> None:
        with self._lock:
            if self._closed or self._count >= self.config.runners:
                return
            self._count += 1
            self._changed()
        try:
            runner = RunnerProcess(self.config)
        except Exception:
            with self._lock:
                self._count -= 1
                self._changed()
                self._lock.notify()
                closed = self._closed
            # a respawn racing close() (or interpreter exit, which shuts the
            # spawner down) is no failure: nobody will wait for this runner
            if not closed:
                _logger.exception("could not start a script runner")
            return
        notify(self.observer, "runner_started")
        with self._lock:
            if self._closed:
                self._count -= 1
                self._changed()
                runner.kill()
                return
            self._idle.append(runner)
            self._changed()
            self._lock.notify()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"runners": self._count, "idle": len(self._idle), "waiting": self._waiting}

    def close(self) -> None:
        """Stops every idle runner; busy ones stop when released."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._changed()
            self._lock.notify_all()
        for r in idle:
            r.kill()
