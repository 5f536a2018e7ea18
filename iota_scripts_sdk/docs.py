"""The sdk API reference, rendered from the one declaration (:mod:`.api`).

:func:`markdown` renders every namespace and function of :data:`.api.API`:
signature, parameters with their types and docs, return type, the error codes
it may raise (its own and those of every call of its kind), the ``Limits``
that bound it with their engine defaults, and an example. The repository
commits the output as ``docs/reference/sdk.md``; a test fails when the two
disagree, as for ``sdk.d.ts``. Regenerate with::

    python3 -m iota_scripts_sdk.docs > docs/reference/sdk.md

Pure and cheap: no runner, no I/O but the standard output of ``main``.
"""

from __future__ import annotations

import dataclasses

from .api import _TYPES, API, API_VERSION, COMMON_ERRORS, COMMON_LIMITS, Function, _sig
from .errors import CODES
from .limits import Limits

__all__ = ["main", "markdown"]

_KIND_NAMES = {
    "host": "a host call (asynchronous)",
    "http": "an HTTP call through the host (asynchronous)",
    "log": "a log line (synchronous, no round trip to the host)",
}


def _code_link(code: str, troubleshooting: str) -> str:
    return f"[`{code}`]({troubleshooting}#{code})"


def _limit_default(name: str) -> str:
    value = {f.name: f.default for f in dataclasses.fields(Limits)}[name]
    if value is None:
        return "none"
    if value == ():
        return "empty"
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        kib = value // 1024
        return f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"
    return str(value)


def _function(ns: str, fn: Function, troubleshooting: str) -> list[str]:
    out = [f"### `sdk.{ns}.{fn.name}`", "", "```ts", f"sdk.{ns}.{_sig(fn)}", "```", ""]
    out += [fn.doc, ""]
    if fn.params:
        out += ["| parameter | type | required | description |", "| --- | --- | --- | --- |"]
        for p in fn.params:
            ts = p.ts_type.replace("|", "\\|")
            out.append(f"| `{p.name}` | `{ts}` | {'no' if p.optional else 'yes'} | {p.doc or ''} |")
        out.append("")
    out += [f"**Returns** `{fn.returns}`; {_KIND_NAMES[fn.kind]}.", ""]
    own = list(fn.errors)
    common = [c for c in COMMON_ERRORS[fn.kind] if c not in own]
    errors = ", ".join(_code_link(c, troubleshooting) for c in own)
    also = ", ".join(_code_link(c, troubleshooting) for c in common)
    if errors:
        out += [f"**Errors** {errors}; like every call of its kind, also {also}.", ""]
    else:
        out += [f"**Errors** like every call of its kind: {also}.", ""]
    limits = list(fn.limits) + [n for n in COMMON_LIMITS[fn.kind] if n not in fn.limits]
    shown = ", ".join(f"`{n}` ({_limit_default(n)})" for n in limits)
    out += [f"**Limits** {shown}.", ""]
    if fn.example:
        out += ["```js", fn.example, "```", ""]
    return out


def markdown(troubleshooting: str = "../troubleshooting.md") -> str:
    """The reference page. ``troubleshooting`` is the page whose anchors are the error codes."""
    named = {c for ns in API for fn in ns.functions for c in fn.errors}
    named |= {c for codes in COMMON_ERRORS.values() for c in codes}
    unknown = sorted(named - CODES.keys())
    if unknown:
        raise ValueError(f"api.py names unknown error codes: {', '.join(unknown)}")
    out = [
        "# sdk API reference",
        "",
        "<!-- generated from iota_scripts_sdk/api.py by "
        "`python3 -m iota_scripts_sdk.docs`: do not edit -->",
        "",
        f"API version **{API_VERSION}** (`sdk.version`). Scripts see one frozen global, "
        "`sdk`; its surface is declared once in `iota_scripts_sdk/api.py`, which also "
        "generates `sdk.d.ts` (`iota-scripts types`) and checks every call's arguments. "
        "Every error is an `sdk.SdkError` with a stable `code`: "
        f"see [Troubleshooting]({troubleshooting}).",
        "",
        "Limits are `Limits` fields with the engine's defaults; in Odoo a script's "
        "timeout and memory come from the script, bounded by the settings.",
        "",
        "| namespace | functions |",
        "| --- | --- |",
    ]
    for ns in API:
        names = ", ".join(f"[`{fn.name}`](#sdk{ns.name}{fn.name.lower()})" for fn in ns.functions)
        out.append(f"| [`sdk.{ns.name}`](#sdk{ns.name}) | {names} |")
    out.append("")
    for ns in API:
        out += [f"## `sdk.{ns.name}`", "", ns.doc, ""]
        for fn in ns.functions:
            out += _function(ns.name, fn, troubleshooting)
    out += [
        "## Types",
        "",
        "The types the signatures above name, as `sdk.d.ts` declares them.",
        "",
        "```ts",
        _TYPES.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    """Prints the reference page (``python3 -m iota_scripts_sdk.docs``)."""
    print(markdown(), end="")


if __name__ == "__main__":
    main()
