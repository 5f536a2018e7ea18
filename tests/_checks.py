"""Assertions every hostile case makes about an error (see shared HOSTILE.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

from iota_scripts_sdk import CODES

_LEAKS = re.compile(
    r"Traceback \(most recent call|File \"/|site-packages|/usr/|/root/|\.py\b|SELECT |INSERT |UPDATE "
)


def assert_clean_error(error: dict, code: str) -> None:
    assert error is not None, "expected an error"
    assert error["code"] == code, error
    assert error["code"] in CODES
    text = " ".join(str(v) for v in error.values())
    assert not _LEAKS.search(text), f"error leaks host internals: {text[:300]}"


def run_cli(tmp_path, source: str, *extra: str, timeout: float = 5.0) -> tuple[dict, float, int]:
    """Runs ``source`` with ``iota-scripts run --json``: (output, seconds, exit status).

    Asserts the CLI's contract that stdout holds exactly one JSON object.
    """
    script = tmp_path / "script.js"
    script.write_text(source)
    t0 = time.monotonic()
    proc = spawn_cli(
        [
            sys.executable,
            "-m",
            "iota_scripts_sdk.cli",
            "run",
            str(script),
            "--json",
            "--timeout",
            str(timeout),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        proc.stdout, proc.stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    elapsed = time.monotonic() - t0
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected exactly one JSON line, got {proc.stdout!r}"
    return json.loads(lines[0]), elapsed, proc.returncode


#: The command-line processes this suite started: their runners are this
#: suite's, whatever else runs on the machine (a runner names its host's pid
#: in its configuration, the last argument of its command line; runners get
#: no environment from their host to mark them with).
_CLI_PIDS: set[int] = set()


def spawn_cli(args: list[str], **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(args, **kwargs)``, remembered for :func:`runner_pids`."""
    proc = subprocess.Popen(args, **kwargs)
    _CLI_PIDS.add(proc.pid)
    return proc


def runner_pids() -> set[int]:
    """Live runner processes started by this suite's command-line runs."""
    pids = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().rstrip(b"\0").split(b"\0")
            if (
                b"iota_scripts_sdk._runner" in argv
                and json.loads(argv[-1])["host_pid"] in _CLI_PIDS
            ):
                pids.add(int(pid))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return pids


def concurrent_checks(limiter, n: int, key: str, limit: int, period_sec: float) -> list:
    """``n`` threads call ``limiter.check(key, limit, period_sec)`` at once
    (released by one barrier); returns their decisions, raising the first error."""
    barrier = threading.Barrier(n)
    decisions: list = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            decision = limiter.check(key, limit, period_sec)
            with lock:
                decisions.append(decision)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if errors:
        raise errors[0]
    assert len(decisions) == n, f"{n - len(decisions)} attempts did not finish"
    return decisions
