"""Sentry events of IOTA Scripts, built and scrubbed without Odoo.

Two kinds of event leave the server (``sentry.py`` sends them):

* a **script failure**: a run that failed (``failed`` or ``timed_out``). Its
  stack is the *script's* JavaScript stack as the engine reports it
  (``ScriptError.stack``, V8 frames such as ``at inner (script.js:3:9)``),
  turned into Sentry frames whose file is ``<script key>@v<version>``; never
  the host's Python stack, which says nothing about the script and names host
  paths. Its fingerprint is database, company, script key, version and error
  code: one broken version of one script is one issue, whatever the message.
* a **module failure**: the module itself failed (a runner crashed, runners
  crash in a loop, a queue worker's run raised, a worker died holding runs).
  It carries the host's Python stack, without local variables.

Scrubbing (:func:`scrub`, the client's ``before_send``) runs on every event
before it is queued for sending: request bodies, cookies, headers and query
strings are dropped; a key that names a secret (password, token, secret,
authorization, cookie, signature, api key...) has its value replaced; the
``user`` is reduced to nothing; and in every remaining string, e-mail
addresses, ``Bearer``/``Basic`` credentials, ``key=value`` secrets and long
token-like words are replaced, as are the exact values the run's caller sent
under secret-looking keys (``hint["iota_secrets"]``, see :func:`secret_values`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: A V8 stack line as ``prelude.js`` keeps it: ``at fn (script.js:L:C)``,
#: ``at async fn (script.js:L:C)`` or ``at script.js:L:C``.
_V8_FRAME = re.compile(
    r"^\s*at (?:(?P<function>.+?) \()?(?P<file>[^\s()]*script\.js):(?P<line>\d+):(?P<column>\d+)\)?\s*$"
)
#: A script error's message is ``"<JS error name>: <message>"``.
_JS_ERROR = re.compile(r"^(?P<type>[A-Za-z_$][\w$]*): (?P<value>.*)$", re.S)

FILTERED = "[Filtered]"
#: Keys whose values are secrets, wherever they appear in an event.
SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|apikey|authori[sz]ation|cookie|session|"
    r"signature|credential|private[-_]?key|^x-.*-(signature|token|key)$",
    re.I,
)
#: Keys dropped whole: what a caller sent, and what identifies a person.
DROPPED_KEYS = frozenset(
    {
        "data",
        "body",
        "input",
        "payload",
        "request_body",
        "cookies",
        "headers",
        "query_string",
        "env",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|Token)\s+[^\s,;]+", re.I)
_KEY_VALUE = re.compile(
    r"\b(pass(?:word|wd)?|secret|token|api[-_]?key|apikey|signature|authorization)"
    r"(\s*[=:]\s*)[^\s,;&\"']+",
    re.I,
)
#: A word of 24+ letters, digits, ``_`` or ``-`` that mixes letters and digits:
#: API keys, signatures, session ids.
_TOKEN = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{24,}\b")


def js_frames(stack: str | None, filename: str) -> list[dict[str, Any]]:
    """Sentry frames of a V8 ``stack``, outermost call first (Sentry's order).

    ``filename`` names the script's source in Sentry (``<key>@v<version>``).
    Lines that are not frames of the script are left out (the engine keeps
    only the script's own frames anyway)."""
    frames = []
    for line in (stack or "").splitlines():
        match = _V8_FRAME.match(line)
        if match is None:
            continue
        function = (match.group("function") or "").strip()
        if function.startswith("async "):
            function = function[len("async ") :]
        frames.append(
            {
                "filename": filename,
                "abs_path": filename,
                "function": function or "<anonymous>",
                "lineno": int(match.group("line")),
                "colno": int(match.group("column")),
                "in_app": True,
                "platform": "javascript",
            }
        )
    frames.reverse()
    return frames


def script_failure_event(
    *,
    db: str,
    company_id: int,
    script_key: str,
    version: int,
    execution_id: int | None,
    trigger: str,
    code: str,
    message: str,
    stack: str | None = None,
    line: int | None = None,
    column: int | None = None,
) -> dict[str, Any]:
    """The Sentry event of a failed run (see the module docstring).

    With no JS frame in ``stack`` but a ``line``, the one frame is built from
    ``line``/``column`` (a syntax error, a timeout inside one function)."""
    filename = f"{script_key}@v{version}"
    frames = js_frames(stack, filename)
    if not frames and line:
        frames = [
            {
                "filename": filename,
                "abs_path": filename,
                "function": "<module>",
                "lineno": int(line),
                "colno": int(column or 0),
                "in_app": True,
                "platform": "javascript",
            }
        ]
    match = _JS_ERROR.match(message or "") if code == "script_error" else None
    exc_type, value = (match.group("type"), match.group("value")) if match else (code, message)
    exception: dict[str, Any] = {
        "type": exc_type,
        "value": value,
        "module": filename,
        "mechanism": {"type": "iota_scripts", "handled": False},
    }
    if frames:
        exception["stacktrace"] = {"frames": frames}
    company = str(company_id)
    return {
        "level": "error",
        "platform": "javascript",
        "logger": "iota_scripts.script",
        "exception": {"values": [exception]},
        # The database is in the fingerprint too: company ids repeat across databases.
        "fingerprint": ["iota-scripts", "script", db, company, script_key, str(version), code],
        "tags": {
            "iota.db": db,
            "iota.company": company,
            "iota.script": script_key,
            "iota.version": str(version),
            "iota.code": code,
            "iota.trigger": trigger,
        },
        "contexts": {
            "iota_script": {
                "execution": execution_id,
                "script": script_key,
                "version": version,
                "company": company_id,
                "trigger": trigger,
            }
        },
    }


def secret_values(*sources: Any) -> list[str]:
    """The string values found under secret-looking keys (:data:`SECRET_KEY`) in
    ``sources`` (a run's input, its request's JSON body and headers), at any
    depth: :func:`scrub` replaces them wherever they appear in an event."""
    found: list[str] = []

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, secret or bool(SECRET_KEY.search(str(key))))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, str) and len(value) >= 4:
            found.append(value)

    for source in sources:
        walk(source, False)
    return sorted(set(found), key=len, reverse=True)


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the secrets and personal data it may hold."""
    for secret in secrets:
        text = text.replace(secret, FILTERED)
    text = _EMAIL.sub("[email]", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {FILTERED}", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{FILTERED}", text)
    return _TOKEN.sub(FILTERED, text)


#: Keys whose values are our own identifiers (a script key, a code path, a
#: frame's function), kept as they are: a long script key is no token.
_IDENTIFIERS = frozenset(
    {"filename", "abs_path", "module", "function", "type", "platform", "script", "trigger"}
)


def _scrub_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if key in DROPPED_KEYS or key == "vars":
                continue
            if SECRET_KEY.search(str(key)):
                out[key] = FILTERED
            elif key in _IDENTIFIERS and isinstance(item, str):
                out[key] = item
            else:
                out[key] = _scrub_value(item, secrets)
        return out
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item, secrets) for item in value]
    return value


#: Event keys scrubbed as data; the others (level, platform, ids, timestamps,
#: sdk) are the client's own and left as they are.
_SCRUBBED = (
    "message",
    "logentry",
    "exception",
    "threads",
    "extra",
    "contexts",
    "breadcrumbs",
    "tags",
)


def scrub(event: dict[str, Any], hint: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The client's ``before_send``: ``event`` without secrets or personal data.

    ``hint["iota_secrets"]`` lists exact values to replace (see
    :func:`secret_values`). Fingerprints are kept (they are our own
    identifiers), and so are our ``iota.*`` tags; other tags' values are scrubbed."""
    secrets = list((hint or {}).get("iota_secrets") or ())
    event.pop("user", None)
    event.pop("server_name", None)
    request = event.get("request")
    if isinstance(request, Mapping):
        url = str(request.get("url") or "").split("?", 1)[0]
        event["request"] = {k: v for k, v in (("method", request.get("method")), ("url", url)) if v}
    for key in _SCRUBBED:
        if key in event:
            if key == "tags" and isinstance(event[key], Mapping):
                event[key] = {
                    k: v if str(k).startswith("iota.") else _scrub_value(v, secrets)
                    for k, v in event[key].items()
                }
            else:
                event[key] = _scrub_value(event[key], secrets)
    return event


def module_failure_fingerprint(kind: str) -> list[str]:
    """One issue per kind of module failure (``runner_crashed``, ``worker_failed``...)."""
    return ["iota-scripts", "module", kind]
