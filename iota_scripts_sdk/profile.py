"""The "profile" run mode: time per function, by instrumentation, as a flame graph.

Usage::

    result, tree = profile_run(engine, source, input=..., limits=..., host=...)
    tree  # {"name": "(run)", "value": ms, "children": [{"name": "main (line 3)", ...}]}

How: :meth:`Engine.instrument` has ``profiler.js`` (in the runner's compiler
context, with acorn) wrap every function of the script so that it counts its
calls and wall time per call path; the instrumented source keeps every line
where it was (error lines stay right; columns move). The run then reports its
call tree in one log line (``$$iota_profile``) that :func:`profile_run` takes
out of the logs and turns into a tree in the format of d3-flame-graph
(``name``, ``value`` in ms, ``children``).

Limits: at most 400 distinct call paths (later ones are counted in
``over``); wall time from ``Date.now()`` (whole milliseconds per call,
summed), including the time an async function waits for an sdk call only
while it is suspended in that call's ``await`` (that time is not charged to
another function). A run that ends by a limit (timeout, memory) has no
profile. The instrumented source runs in a warm context of its own (its
digest differs from the version's).

Pure Python, no Odoo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engine import Engine, RunResult
from .errors import ScriptError

__all__ = ["PROFILE_LOG", "profile_run", "profile_tree"]

#: The message of the log line that carries the call tree.
PROFILE_LOG = "$$iota_profile"


def profile_tree(result: RunResult, functions: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Takes the call tree out of ``result.logs`` (the lines are removed); None when
    the run logged none (it ended by a limit before its entry function returned)."""
    raw = None
    kept = []
    for line in result.logs:
        if line.get("message") == PROFILE_LOG and isinstance(line.get("fields"), dict):
            raw = line["fields"]
        else:
            kept.append(line)
    result.logs[:] = kept
    if raw is None:
        return None
    nodes = raw.get("nodes") if isinstance(raw.get("nodes"), list) else []
    root: dict[str, Any] = {"name": "(run)", "value": 0.0, "calls": 1, "children": []}
    built: list[dict[str, Any]] = [root]
    for node in nodes:
        if not (isinstance(node, list) and len(node) == 4):
            continue
        fn_id, parent, calls, total_ms = node
        fn = functions[fn_id] if isinstance(fn_id, int) and 0 <= fn_id < len(functions) else {}
        entry: dict[str, Any] = {
            "name": f"{fn.get('name', '?')} (line {fn.get('line', '?')})",
            "line": fn.get("line"),
            "value": float(total_ms),
            "calls": int(calls),
            "children": [],
        }
        parent_entry = (
            built[parent] if isinstance(parent, int) and 0 <= parent < len(built) else root
        )
        parent_entry["children"].append(entry)
        built.append(entry)
    root["value"] = round(sum(c["value"] for c in root["children"]), 2)
    root["over"] = int(raw.get("over") or 0)
    return root


def profile_run(engine: Engine, source: str, **run_kwargs: Any) -> tuple[RunResult, dict | None]:
    """Runs ``source`` instrumented (``Engine.run`` keyword arguments, ``version``
    excepted); returns the result and its call tree (see :func:`profile_tree`).

    A source that does not parse gives the ``syntax_error`` result a plain run gives."""
    run_kwargs.pop("version", None)
    try:
        instrumented = engine.instrument(source)
    except ScriptError as e:
        return RunResult(False, error=e), None
    if not instrumented.get("ok"):
        return engine.run(source, **run_kwargs), None
    result = engine.run(instrumented["source"], **run_kwargs)
    return result, profile_tree(result, instrumented.get("functions") or [])
