"""Replay: a recorded run again, on any source, with its sdk calls answered from its journal.

A recorded execution keeps what a replay needs (``run/record.py``,
``replay_values``): the input, the ``ctx`` the script saw and the journal of
its sdk calls (``iota_scripts_sdk/journal.py``). :func:`replay` runs a source
(the same version, another one, or the unsaved draft of the editor) with that
input and ctx, and a :class:`~iota_scripts_sdk.ReplayHost` as its only host:
every sdk call, ``sdk.http`` and ``sdk.cache`` included, is answered from the
journal. What the source imports (npm bundles, library scripts) comes from the
store: a version's pins, or for a draft what saving it would pin now. Nothing live is touched: no database read or write, no HTTP, no
cache, no event, no execution row. ``ctx.trigger.replay`` is ``true``.

The report lists the divergences: the journal's (``different_call``,
``different_argument``, ``extra_call``, ``missing_calls``) and the outcome's
(``different_result``: another state, result or error code than recorded).

Breakpoints and logpoints (``iota_scripts_sdk/breakpoints.py``) apply to a
replay as to a dry-run: a replay of a saved version takes that version's
breakpoints (``iota.script.breakpoint``), and the report's ``hits`` hold what
they captured. A draft has no breakpoints of its own (they name lines of a
saved version): the caller passes them, or there are none.

:func:`behaviour_diff` replays the last real runs of a script on a new source
and tells which of them changed.

It works for every trigger alike (manual, automation, cron, endpoint, event):
they all record through the one run path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from iota_scripts_sdk import Limits, ReplayHost, RunResult, ScriptError
from odoo.exceptions import UserError

from ..tools.settings import get_engine

__all__ = ["behaviour_diff", "replay"]

#: Runs a behavioural diff replays at most.
MAX_DIFF_RUNS = 50


def _loads(env: Any, text: str | None, what: str) -> Any:
    _ = env._
    try:
        return json.loads(text) if text else None
    except ValueError:
        raise UserError(_("The recorded %s of this run cannot be read.", what)) from None


def replayable(execution: Any) -> str | None:
    """Why ``execution`` (sudo) cannot be replayed, or None."""
    _ = execution.env._
    if not execution.journal_json or not execution.ctx_json:
        return _(
            "this run was recorded without its sdk calls (it ran before replay existed, or journal_max_bytes is 0)"
        )
    if execution.endpoint_id and execution.ctx_truncated and not execution.request_body:
        return _("its endpoint does not keep request bodies (Store Request Body)")
    if execution.input_truncated or execution.ctx_truncated:
        return _("its input or context was cut when stored")
    if execution.journal_truncated:
        return _("its journal was cut at its size cap (journal_truncated)")
    return None


def _host(execution: Any) -> tuple[ReplayHost, Any, dict[str, Any]]:
    env = execution.env
    _ = env._
    why = replayable(execution)
    if why:
        raise UserError(
            _("Execution #%(id)s cannot be replayed: %(why)s.", id=execution.id, why=why)
        )
    try:
        host = ReplayHost(_loads(env, execution.journal_json, "sdk calls") or {})
    except ScriptError as e:
        raise UserError(
            _("Execution #%(id)s cannot be replayed: %(why)s", id=execution.id, why=e.message)
        ) from None
    ctx = _loads(env, execution.ctx_json, "context") or {}
    ctx["trigger"] = {**(ctx.get("trigger") or {}), "replay": True}
    return host, _loads(env, execution.input_json, "input"), ctx


def recorded_outcome(execution: Any) -> dict[str, Any]:
    """The recorded run's state, result and error code (as the report shows them)."""
    result = None
    if execution.result_json and not execution.result_truncated:
        result = _loads(execution.env, execution.result_json, "result")
    return {"state": execution.state, "result": result, "error_code": execution.error_code or None}


def _outcome(result: RunResult) -> dict[str, Any]:
    error = result.error
    state = (
        "succeeded"
        if result.ok
        else ("timed_out" if error and error.code in ("timeout", "cpu_limit") else "failed")
    )
    return {
        "state": state,
        "result": result.result if result.ok else None,
        "error_code": error.code if error else None,
        "error": error.to_dict() if error else None,
    }


def _result_divergence(
    recorded: dict[str, Any], replayed: dict[str, Any], result_kept: bool
) -> dict | None:
    same = (
        recorded["state"] == replayed["state"] and recorded["error_code"] == replayed["error_code"]
    )
    if same and result_kept:
        same = recorded["result"] == replayed["result"]
    if same:
        return None
    keys = ("state", "result", "error_code")
    return {
        "kind": "different_result",
        "recorded": {k: recorded[k] for k in keys},
        "replayed": {k: replayed[k] for k in keys},
    }


def _modules(script: Any, source: str, version: Any) -> list[Any]:
    """The npm bundles and libraries the replayed source imports: ``version``'s
    pins, or, for a draft, what a save would pin now (the approved versions)."""
    Package = script.env["iota.script.package"]
    if not version:
        pins = Package._iota_pins(source, script.company_id, script.ids, script.is_library)
        if not pins:
            return []
        version = script.env["iota.script.version"].new(
            {"script_id": script.id, "package_pins": json.dumps(pins)}
        )
    try:
        return Package._iota_modules(version)
    except ScriptError as e:
        raise UserError(script.env._("This source cannot be replayed: %s", e.message)) from None


def replay(
    execution: Any,
    source: str,
    label: str,
    version: Any = None,
    breakpoints: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Replays ``execution`` on ``source`` (``version``'s, or a draft's); returns the report.

    ``label`` names what ran (``v3``, ``draft``). ``breakpoints``
    (``iota_scripts_sdk.Breakpoint``) instrument the replay; None takes
    ``version``'s (none for a draft). Raises ``UserError`` when the run cannot
    be replayed (no journal, cut input, context or journal)."""
    run = execution.sudo()
    script = run.script_id
    host, input_value, ctx = _host(run)
    modules = _modules(script, source, version)
    if breakpoints is None and version:
        breakpoints = run.env["iota.script.breakpoint"]._iota_for_run(script, version, True)
    limits = Limits(timeout_sec=script.timeout_sec, memory_mb=script.memory_mb)
    result = get_engine(execution.env).run(
        source,
        input=input_value,
        ctx=ctx,
        limits=limits,
        tenant=f"{execution.env.cr.dbname}/{script.company_id.id}",
        user=str(run.user_id.id),
        version=f"{version.id}:{version.sha256}" if version else None,
        host=host.functions(),
        breakpoints=breakpoints or None,
        modules=modules or None,
    )
    divergences = host.finish()
    replayed = _outcome(result)
    changed = _result_divergence(recorded_outcome(run), replayed, not run.result_truncated)
    if changed:
        divergences.append(changed)
    return {
        "execution_id": run.id,
        "trigger": run.trigger,
        "ran": label,
        "recorded": recorded_outcome(run),
        **replayed,
        "logs": result.logs,
        "hits": result.hits,
        "hits_dropped": int((result.stats or {}).get("hits_dropped") or 0),
        "calls_recorded": len(host.recorded),
        "calls_served": host.served,
        "divergences": divergences,
        "divergences_dropped": host.divergences_dropped,
    }


def behaviour_diff(
    script: Any, source: str, label: str, limit: int, version: Any = None
) -> dict[str, Any]:
    """Replays the last ``limit`` replayable runs of ``script`` on ``source``.

    Returns ``{"ran", "runs": [{execution_id, trigger, recorded, state, changed,
    divergences}], "changed": n, "skipped": n}``: runs by hand are left out
    (they are tries, not real runs), as are runs that cannot be replayed."""
    limit = max(1, min(int(limit or 10), MAX_DIFF_RUNS))
    Execution = script.env["iota.script.execution"].sudo()
    candidates = Execution.search(
        [
            ("script_id", "=", script.id),
            ("trigger", "!=", "manual"),
            ("state", "in", ("succeeded", "failed", "timed_out")),
            ("journal_json", "!=", False),
        ],
        order="id desc",
        limit=limit * 2,
    )
    runs, skipped = [], 0
    for execution in candidates:
        if len(runs) >= limit:
            break
        if replayable(execution):
            skipped += 1
            continue
        report = replay(execution, source, label, version, breakpoints=())
        runs.append(
            {
                "execution_id": execution.id,
                "trigger": execution.trigger,
                "recorded": report["recorded"],
                "state": report["state"],
                "result": report["result"],
                "error_code": report["error_code"],
                "changed": bool(report["divergences"]),
                "divergences": report["divergences"],
            }
        )
    return {
        "ran": label,
        "runs": runs,
        "changed": sum(1 for r in runs if r["changed"]),
        "skipped": skipped,
    }
