"""Named errors of the engine.

Every failure that leaves the engine is an :class:`ScriptError` with a stable
``code``. The codes are part of the public contract: the Odoo addon stores them
on executions, the command line prints them, and scripts see them as
``err.code``. Messages are written for script authors: they never contain a
Python traceback, a host path or SQL.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CODES", "ScriptError"]

#: Every code the engine may produce, with a one-line meaning.
CODES: dict[str, str] = {
    "timeout": "the run passed its wall-clock deadline",
    "cpu_limit": "the run used more CPU time than allowed",
    "memory_limit": "the run passed its memory cap",
    "sandbox_crashed": "the V8 runner died; a new one took over",
    "result_too_large": "the result is larger than allowed",
    "result_too_deep": "the result is nested deeper than allowed",
    "budget_exceeded": "too many host calls, log lines or events, or a units budget ran out",
    "argument_too_large": "an argument to an sdk call is larger than allowed",
    "invalid_argument": "an argument to an sdk call is not valid",
    "destination_blocked": "the HTTP destination is not allowed",
    "scheme_not_allowed": "only http and https URLs are allowed",
    "too_many_redirects": "the HTTP request was redirected too many times",
    "response_too_large": "the HTTP response is larger than allowed",
    "http_error": "the HTTP request failed (connection, TLS or protocol)",
    "not_available": "this host does not provide that sdk function",
    "cache_unavailable": "the cache backend cannot be reached",
    "quota_exceeded": "the company's cache quota (keys or bytes) is used up",
    "cache_full": "the cache server is nearly full; writes are refused",
    "access_denied": "the run's user may not do that",
    "priority_reserved": "queue priorities 0 to 9 are reserved to IOTA Scripts administrators",
    "not_found": "no such record (e.g. no script with that key in the run's company)",
    "not_active": "the script exists but is archived, not active or has no source",
    "secret_unreadable": "the secret cannot be decrypted with the server's keys",
    "capabilities_required": "the company requires a capabilities declaration and the script has none",
    "syntax_error": "the script does not parse",
    "invalid_breakpoint": "a breakpoint is on a line without a statement, or its condition or log message is not valid",
    "script_error": "the script threw an exception",
    "source_too_large": "the script source is larger than allowed",
    "busy": "no runner became free in time",
    "signature_invalid": "the version is unsigned, or its source or capabilities changed after approval",
    "cancelled": "the run was cancelled",
    "not_installed": "a third-party file the engine needs is missing or altered: run `npm ci`",
    "integrity_error": "a stored package or bundle does not match its recorded hash",
    "registry_unavailable": "the npm registry cannot be reached or answered an error",
    "package_refused": "the npm package failed its security scan",
    "internal_error": "the engine failed; the details are in the server log",
    "replay_diverged": "a replayed run made an sdk call the recorded run has no answer for",
    "journal_truncated": "the recorded run's journal was cut at its size cap: no replay",
}


class ScriptError(Exception):
    """A failure with a stable ``code`` and a message fit for a script author.

    ``line``/``column`` (1-based) and ``stack`` are set for errors that point
    into the script's own source.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        stack: str | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.stack = stack

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by the protocol, the CLI and the addon."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.line is not None:
            out["line"] = self.line
        if self.column is not None:
            out["column"] = self.column
        if self.stack:
            out["stack"] = self.stack
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScriptError:
        code = data.get("code")
        if code not in CODES:
            code = "internal_error"
        return cls(
            code,
            str(data.get("message") or CODES[code]),
            line=data.get("line"),
            column=data.get("column"),
            stack=data.get("stack"),
        )

    def __repr__(self) -> str:
        return f"ScriptError({self.code!r}, {self.message!r})"
