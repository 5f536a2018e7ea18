"""The runner's operating-system sandbox: after start-up a runner needs only its pipes.

:func:`apply` runs in the runner process once it has read every file it
needs and initialised V8 (``_runner.Runner.setup``). Each layer is applied
when the kernel allows it and reported either way; none fails silently.
The report (``{layer: "on: ..." | "off: why"}``) reaches the host in the
runner's ``ready`` frame; the engine logs it once per process and shows it
in ``iota-scripts bench --json`` and ``Engine.sandbox()``.

Layers, in the order they are applied (the order is forced by the kernel):

``env``
    The process environment is emptied (``os.environ.clear()`` unsets each
    variable in libc too). The host already passes a short environment.
``nofile``
    ``RLIMIT_NOFILE`` = the highest open descriptor + a small margin: V8
    opens nothing after start-up, so a new descriptor means a bug or an escape.
``no_new_privs``
    ``PR_SET_NO_NEW_PRIVS``: no set-uid binary or file capability can raise
    privileges again. Also what lets an unprivileged process use Landlock
    and seccomp.
``network``
    A new, empty network namespace (``unshare(CLONE_NEWNET)``, as root, or
    inside a new user namespace otherwise): no interface but a loopback that
    is down, so every ``connect`` fails (ENETUNREACH). Where the kernel
    refuses both, a seccomp filter (libseccomp through ``pyseccomp``) fails
    ``socket()`` for every family but ``AF_UNIX`` and ``io_uring_setup``
    with EACCES.
``filesystem``
    The working directory is an empty, read-only folder; ``RLIMIT_FSIZE`` 0
    (SIGXFSZ ignored: a write fails with EFBIG instead of killing the
    process); and a Landlock ruleset that handles every file-system right
    with no rule, so that no path can be opened, listed, created or
    executed. Descriptors opened before (the pipes, ``/proc/self/statm``)
    keep working.
``uid``
    When the host runs as root: no supplementary groups, and the group and
    user ids of ``nobody`` (65534). PR_SET_PDEATHSIG is armed again after
    it, since the kernel clears it when the ids change.

Trap: coverage measurement. A runner measured by the tests
(``COVERAGE_PROCESS_START``) must write its data file when it exits. Then
Landlock lets it write in the data file's folder only, ``RLIMIT_FSIZE``
stays unlimited and the uid stays (``nobody`` could not write there); the
report says so. The sandbox tests run their runners unmeasured.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import signal
import socket
import sys
from typing import Any

__all__ = ["LAYERS", "apply", "probe"]

LAYERS = ("env", "nofile", "no_new_privs", "network", "filesystem", "uid")

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_NOBODY = 65534
#: Descriptors allowed beyond those open at start-up.
_NOFILE_MARGIN = 8

# Landlock (linux/landlock.h); syscall numbers are the same on x86_64 and aarch64.
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
#: Every file-system right of each Landlock ABI version: 13 rights in ABI 1, then
#: REFER (2), TRUNCATE (3), none new in 4 (network rights), IOCTL_DEV (5 and later).
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_RIGHTS_LATEST = (1 << 16) - 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _coverage_dir() -> str | None:
    """The folder of the running coverage measurement's data file, or None."""
    coverage = sys.modules.get("coverage")
    current = coverage.Coverage.current() if coverage is not None else None
    if current is None:
        return None
    try:
        name = current.get_data().data_filename()
    except Exception:  # noqa: BLE001 - no data file: nothing to keep writable
        return None
    return os.path.dirname(os.path.abspath(name))


def apply(options: dict[str, Any], host_pid: int | None, empty_dir: str) -> dict[str, str]:
    """Applies every layer this kernel allows; returns ``{layer: "on: ..." | "off: why"}``.

    ``options``: ``{"network": "auto" | "seccomp"}`` (seccomp: skip the
    namespace, for the tests of the fallback). ``empty_dir``: an empty,
    read-only folder made by the host, which becomes the working directory.
    """
    libc = _libc()
    measured = _coverage_dir()
    report: dict[str, str] = {}
    os.environ.clear()
    report["env"] = "on: emptied"
    report["nofile"] = _limit_descriptors()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        report["no_new_privs"] = "on: PR_SET_NO_NEW_PRIVS"
    else:
        report["no_new_privs"] = f"off: prctl failed ({os.strerror(ctypes.get_errno())})"
    report["network"] = _isolate_network(libc, options.get("network", "auto"))
    report["filesystem"] = _close_file_system(libc, empty_dir, measured)
    report["uid"] = _drop_uid(libc, host_pid, measured)
    return report


def _limit_descriptors() -> str:
    try:
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        highest = 64
    limit = highest + 1 + _NOFILE_MARGIN
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    except (OSError, ValueError) as e:
        return f"off: {e}"
    return f"on: {limit}"


def _isolate_network(libc: Any, mode: str) -> str:
    if mode != "seccomp":
        if os.geteuid() == 0 and libc.unshare(_CLONE_NEWNET) == 0:
            return "on: empty network namespace"
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
            return "on: empty network namespace (user namespace)"
    try:
        import pyseccomp as seccomp  # type: ignore[import-untyped]

        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        refuse = seccomp.ERRNO(errno.EACCES)
        rules.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
        rules.add_rule(refuse, "io_uring_setup")
        rules.load()
    except Exception as e:  # noqa: BLE001 - no libseccomp, or the kernel refused: report it
        return f"off: no network namespace and no seccomp filter ({type(e).__name__}: {e})"
    return "on: seccomp (socket() only for AF_UNIX)"


def _close_file_system(libc: Any, empty_dir: str, measured: str | None) -> str:
    parts = []
    try:
        os.chdir(empty_dir)
        parts.append("empty working directory")
    except OSError as e:
        return f"off: cannot enter {empty_dir!r} ({e.strerror})"
    if measured is None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        parts.append("RLIMIT_FSIZE 0")
    landlock = _landlock(libc, measured)
    if landlock is None:
        parts.append("Landlock" + (" (coverage data folder writable)" if measured else ""))
        return "on: " + ", ".join(parts)
    return f"{'on' if parts else 'off'}: {', '.join(parts)}; Landlock off ({landlock})"


def _landlock(libc: Any, writable: str | None) -> str | None:
    """Restricts this process with Landlock; None when done, else why not."""
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        return f"not available: {os.strerror(ctypes.get_errno())}"
    rights = _FS_RIGHTS_BY_ABI.get(abi, _FS_RIGHTS_LATEST)
    attr = _RulesetAttr(rights)
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset < 0:
        return f"create_ruleset failed: {os.strerror(ctypes.get_errno())}"
    try:
        if writable is not None:
            folder = os.open(writable, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(rights, folder)
                if libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH,
                                ctypes.byref(rule), 0) != 0:  # fmt: skip
                    return f"add_rule failed: {os.strerror(ctypes.get_errno())}"
            finally:
                os.close(folder)
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            return f"restrict_self failed: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return None


def _drop_uid(libc: Any, host_pid: int | None, measured: str | None) -> str:
    if os.geteuid() != 0:
        return f"on: not root (uid {os.geteuid()})"
    if measured is not None:
        return "off: coverage measurement (the data folder is not writable by nobody)"
    try:
        os.setgroups([])
        os.setresgid(_NOBODY, _NOBODY, _NOBODY)
        os.setresuid(_NOBODY, _NOBODY, _NOBODY)
    except OSError as e:
        return f"off: {e.strerror}"
    # The kernel clears the parent-death signal when the ids change.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if host_pid is not None and os.getppid() != host_pid:
        os._exit(0)
    return f"on: uid {_NOBODY}"


def probe(port: int) -> dict[str, Any]:
    """Tries what the sandbox forbids, from inside the runner; returns what happened.

    Fixed actions, no input but a loopback port to connect to: a TCP
    connection, a file written in /tmp and in the working directory, a file
    read, the ids, the no_new_privs flag, the descriptor limit and the
    environment's size. Each outcome is ``"ok"`` or the errno's name.
    """

    def attempt(action: Any) -> str:
        try:
            action()
        except OSError as e:
            return errno.errorcode.get(e.errno or 0, str(e.errno))
        return "ok"

    def tcp() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(("127.0.0.1", port))

    def write(path: str) -> Any:
        def go() -> None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"escaped")
            finally:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(path)

        return go

    def read() -> None:
        with open("/etc/hostname", "rb") as f:
            f.read()

    return {
        "tcp": attempt(tcp),
        # a fixed, world-writable place on purpose: the probe must be refused there
        "write_tmp": attempt(write(f"/tmp/iota-runner-probe-{os.getpid()}")),  # noqa: S108 - the probe must fail here
        "write_cwd": attempt(write(f"probe-{os.getpid()}")),
        "read_file": attempt(read),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "no_new_privs": _libc().prctl(_PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "env": len(os.environ),
    }
