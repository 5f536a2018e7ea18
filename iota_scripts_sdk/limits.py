"""Per-run limits and engine-wide settings.

Units live in the names. Every value is validated once, here; a bad value
raises ``ScriptError("invalid_argument")`` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .errors import ScriptError

__all__ = ["EngineConfig", "Limits"]

#: Hard ceilings no configuration may pass (they protect the host itself).
_MAX_DEPTH = 512  # the host's JSON parser recurses; keep well below its limit
_ARG_DEPTH = 64  # nesting allowed in sdk call arguments and log fields


#: Values of Limits already validated (Limits.__post_init__), at most _VALID_LIMITS_KEPT.
_VALID_LIMITS: set[tuple[object, ...]] = set()
_VALID_LIMITS_KEPT = 4096


def _check(obj: object, name: str, ok: bool, what: str) -> None:
    if not ok:
        raise ScriptError(
            "invalid_argument",
            f"{type(obj).__name__}.{name} must be {what}, got {getattr(obj, name)!r}",
        )


def _positive_number(obj: object, name: str) -> None:
    v = getattr(obj, name)
    _check(
        obj,
        name,
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
        "a positive number",
    )


def _positive_int(obj: object, name: str, maximum: int | None = None) -> None:
    v = getattr(obj, name)
    ok = isinstance(v, int) and not isinstance(v, bool) and v > 0
    if ok and maximum is not None:
        ok = v <= maximum
    _check(obj, name, ok, "a positive integer" + (f" <= {maximum}" if maximum else ""))


@dataclass(frozen=True)
class Limits:
    """What one run may use. Sizes count characters of JSON text."""

    timeout_sec: float = 5.0
    #: CPU time of the runner during the run; None means the same as timeout_sec.
    cpu_sec: float | None = None
    #: V8 heap cap of the run's context.
    memory_mb: int = 64
    max_input_bytes: int = 4 * 1024 * 1024
    max_result_bytes: int = 1024 * 1024
    max_result_depth: int = 64
    max_host_calls: int = 1000
    max_inflight_calls: int = 16
    max_arg_bytes: int = 1024 * 1024
    max_log_lines: int = 1000
    max_log_line_bytes: int = 16 * 1024
    #: Log text a run may keep in all; later lines are dropped and counted.
    max_log_bytes: int = 1024 * 1024
    #: Hosts ``sdk.http`` may reach: exact names, ``*.example.com``, or ``*``
    #: for every public host. Empty: all outbound HTTP is refused.
    allow_hosts: tuple[str, ...] = ()
    http_timeout_sec: float = 10.0
    max_response_bytes: int = 5 * 1024 * 1024
    #: Largest answer of one host call (``sdk.db`` results, ...), as JSON.
    max_reply_bytes: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        # Every run makes one or two Limits, mostly the same few: values (and
        # their types: True == 1) already found valid are not checked again.
        values = tuple(self.__dict__.values())
        key: tuple[object, ...] | None = (type(self), values, tuple(map(type, values)))
        try:
            if key in _VALID_LIMITS:
                return
        except TypeError:  # an unhashable value: the checks below name it
            key = None
        self._validate()
        if key is not None and len(_VALID_LIMITS) < _VALID_LIMITS_KEPT:
            _VALID_LIMITS.add(key)

    def _validate(self) -> None:
        _positive_number(self, "timeout_sec")
        if self.cpu_sec is not None:
            _positive_number(self, "cpu_sec")
        _positive_int(self, "memory_mb", 16384)
        for name in (
            "max_input_bytes",
            "max_result_bytes",
            "max_host_calls",
            "max_inflight_calls",
            "max_arg_bytes",
            "max_log_lines",
            "max_log_line_bytes",
            "max_log_bytes",
            "max_response_bytes",
            "max_reply_bytes",
        ):
            _positive_int(self, name)
        _positive_int(self, "max_result_depth", _MAX_DEPTH)
        _positive_number(self, "http_timeout_sec")
        _check(
            self,
            "allow_hosts",
            isinstance(self.allow_hosts, tuple)
            and all(isinstance(h, str) and h for h in self.allow_hosts),
            "a tuple of host names",
        )
        # The same parser sdk.http uses, so a bad entry fails here, by name.
        from ._http import HttpPolicy

        try:
            HttpPolicy(allow_hosts=self.allow_hosts)
        except ScriptError as e:
            message = e.message.removeprefix("invalid HttpPolicy: ")
            raise ScriptError("invalid_argument", f"Limits.allow_hosts: {message}") from None

    def for_prelude(self) -> dict[str, int]:
        """The caps enforced inside V8, in the prelude's names."""
        return {
            "maxHostCalls": self.max_host_calls,
            "maxInflight": self.max_inflight_calls,
            "maxArgChars": self.max_arg_bytes,
            "maxDepth": _ARG_DEPTH,
            "maxLogChars": self.max_log_line_bytes,
            "maxLogLines": self.max_log_lines,
            "maxLogTotalChars": self.max_log_bytes,
            "maxResultChars": self.max_result_bytes,
            "maxResultDepth": self.max_result_depth,
        }

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Limits:
        """Builds limits from a mapping, refusing unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScriptError("invalid_argument", f"unknown limit(s): {', '.join(unknown)}")
        values = dict(data)
        if "allow_hosts" in values and isinstance(values["allow_hosts"], list):
            values["allow_hosts"] = tuple(values["allow_hosts"])
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class EngineConfig:
    """Settings of one engine (one pool of runner processes)."""

    #: Runner processes; each runs one script at a time. Scale with processes.
    runners: int = 2
    #: Callers that may wait for a free runner; more get ``busy`` at once.
    max_waiting: int = 64
    wait_timeout_sec: float = 30.0
    #: RLIMIT_DATA of each runner: caps V8 heaps and ArrayBuffers together.
    runner_memory_mb: int = 2048
    #: A runner is replaced after this many runs...
    recycle_after_runs: int = 5000
    #: ...or when its resident memory passes this.
    recycle_rss_mb: int = 512
    #: Warm contexts kept per runner (one per tenant and script version), LRU.
    contexts_per_runner: int = 16
    #: Total V8 heap the warm contexts of one runner may hold before LRU eviction.
    contexts_heap_mb: int = 256
    #: Largest script source accepted.
    max_source_bytes: int = 256 * 1024
    #: Redis for ``sdk.cache``; None uses an in-process store.
    redis_url: str | None = None
    #: ``sdk.cache`` quota of one tenant (a company), all its run-as users together:
    #: writes past it throw ``quota_exceeded``.
    cache_quota_bytes: int = 16 * 1024 * 1024
    cache_quota_keys: int = 10_000
    #: The one egress proxy ``sdk.http`` may use (``http://host:port``);
    #: environment proxies are always ignored.
    http_proxy_url: str | None = None
    #: Python interpreter for runners (default: the current one).
    python: str | None = None
    #: The runners' operating-system sandbox (no network, no file system, an
    #: unprivileged uid...: see docs/security.md). Off only to debug a runner.
    sandbox: bool = True
    #: ``"auto"``: a network namespace where the kernel allows it, else a
    #: seccomp filter; ``"seccomp"``: the filter only.
    sandbox_network: str = "auto"

    def __post_init__(self) -> None:
        _positive_int(self, "runners", 256)
        _positive_int(self, "max_waiting")
        _positive_number(self, "wait_timeout_sec")
        _positive_int(self, "runner_memory_mb")
        _positive_int(self, "recycle_after_runs")
        _positive_int(self, "recycle_rss_mb")
        _positive_int(self, "contexts_per_runner", 1024)
        _check(self, "sandbox", isinstance(self.sandbox, bool), "True or False")
        _check(
            self,
            "sandbox_network",
            self.sandbox_network in ("auto", "seccomp"),
            "'auto' or 'seccomp'",
        )
        _positive_int(self, "contexts_heap_mb")
        _positive_int(self, "max_source_bytes")
        _positive_int(self, "cache_quota_bytes")
        _positive_int(self, "cache_quota_keys")
