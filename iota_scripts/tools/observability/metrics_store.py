"""Where the metrics of every Odoo process meet: prometheus-client's multiprocess mode.

How it works
------------
Odoo's prefork server runs HTTP and cron workers in separate processes; a
scrape reaches one of them. So every process writes its series to its own
files in one directory (``prometheus_client`` "multiprocess mode"), and the
process that answers a scrape sums the files of all of them
(``MultiProcessCollector``). The threaded server (no ``--workers``) is one
process and uses the same directory.

The directory
-------------
1. ``PROMETHEUS_MULTIPROC_DIR`` when the environment sets it (the client's own
   variable; the operator then empties it at each start, as its docs say);
2. else ``<metrics_dir>/<server>`` where ``metrics_dir`` is the site setting
   (default ``<data_dir>/iota_scripts_metrics``) and ``<server>`` names this
   run of the server: the pid of its root process (the prefork master, or the
   threaded server itself) and that process's start time. A restart starts
   from an empty directory and never reads another run's files; old runs'
   directories are left for the operator (a few KiB each).

Processes and forks: nothing happens at import. The first series a process
touches creates the directory (``os.makedirs``) and sets
``PROMETHEUS_MULTIPROC_DIR`` for it, before ``prometheus_client`` makes a
value; a forked worker recomputes the same path (its root is its master).
``prometheus_client`` itself notices a fork and writes the child's own
files. A worker that died leaves its counters (they stay in the sums, as
they must) and its live gauges, which :func:`sweep_dead` removes with
``multiprocess.mark_process_dead`` at each scrape: a process is dead when it
is gone, or is no child of the root any more (a reused pid).

When the directory cannot be made (a read-only data_dir), the process keeps
its series in memory and logs it once: a scrape then sees the answering
process only.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from odoo.tools import config

_logger = logging.getLogger(__name__)

_ENV = "PROMETHEUS_MULTIPROC_DIR"
_lock = threading.Lock()
_dir_pid: int | None = None
_dir: str | None = None
_LIVE_FILE = re.compile(r"^gauge_live[a-z]*_(\d+)\.db$")


def _start_ticks(pid: int) -> str | None:
    """Start time of ``pid`` (clock ticks since boot, /proc field 22); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def root_pid() -> int:
    """The server's root process: the prefork master seen from a worker, else this process."""
    from odoo.service import server

    running = server.server
    return running.pid if running is not None else os.getpid()


def default_directory(base: str | None) -> str:
    """``<base or data_dir/iota_scripts_metrics>/<root pid>-<its start time>``."""
    base = base or os.path.join(config["data_dir"], "iota_scripts_metrics")
    root = root_pid()
    return os.path.join(base, f"{root}-{_start_ticks(root) or 0}")


def directory(metrics_dir: str | None) -> str | None:
    """The multiprocess directory of this process, made on first use; None when
    it cannot be made (then this process keeps its series in memory)."""
    global _dir_pid, _dir
    pid = os.getpid()
    if _dir_pid == pid:
        if _dir is not None and os.environ.get(_ENV) != _dir:
            # prometheus_client reads the variable whenever it opens a file
            # (a new label set, a fork): someone reset the environment
            os.environ[_ENV] = _dir
        return _dir
    with _lock:
        if _dir_pid == pid:
            return _dir
        path = os.environ.get(_ENV) or default_directory(metrics_dir)
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as e:
            _logger.warning(
                "iota_scripts metrics: cannot create %s (%s); this process's series stay in memory",
                path,
                e,
            )
            path = None
        from prometheus_client import values

        if path is not None:
            # before prometheus_client makes its first value in this process
            os.environ[_ENV] = path
            _use_multiprocess_values()
        elif getattr(values.ValueClass, "_multiprocess", False):
            # the environment named a folder we cannot use: values in memory
            values.ValueClass = values.MutexValue
        _dir, _dir_pid = path, pid
        return path


def _use_multiprocess_values() -> None:
    """``prometheus_client`` picks its value class when it is imported, from the
    environment; were it imported before we set ``PROMETHEUS_MULTIPROC_DIR``
    (another addon), pick again, so our series are written to files."""
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()


def _alive(pid: int, root: int) -> bool:
    """``pid`` is this server's: the root itself or one of its children, alive."""
    if pid == root or pid == os.getpid():
        return True
    return _start_ticks(pid) is not None and _parent(pid) == root


def sweep_dead(path: str) -> list[int]:
    """Removes the live gauges of this server's dead processes; returns their pids."""
    from prometheus_client import multiprocess

    root = root_pid()
    dead = set()
    for name in os.listdir(path):
        match = _LIVE_FILE.match(name)
        if match and not _alive(int(match.group(1)), root):
            dead.add(int(match.group(1)))
    for pid in sorted(dead):
        multiprocess.mark_process_dead(pid, path)
    return sorted(dead)


def render(path: str | None, local: Any, extra: list[Any]) -> bytes:
    """The text exposition of every process's series (``path``), or of this
    process's (``local``, a ``CollectorRegistry``), plus ``extra`` collectors."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry(auto_describe=False)
    if path is not None:
        sweep_dead(path)
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Forward(local))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Forward:
    """A collector that yields another registry's metrics."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self):
        return self.registry.collect()
