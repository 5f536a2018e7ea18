"""The last steps of a run: record the outcome, then announce it.

:func:`measured_values` and ``_kept_values`` turn a ``RunResult`` into the
execution's values (what every run counts; what only a kept row stores);
:func:`record` writes them (or, for a reserved row its recording policy does
not keep, counts the run in ``iota.script.run.stat``); :func:`announce`
records the ``script.executed`` / ``script.failed`` event and lets the
execution model react (``_iota_after_run``: alert rules, for one).
:func:`measure` counts every run that ends, kept or not, in the metrics;
:func:`track_failure` sends a failed one to Sentry (when a DSN is set).
"""

from __future__ import annotations

import json
from typing import Any

from iota_scripts_sdk import RunResult, ScriptError
from odoo import fields

from ..models.iota_script_record_policy import keeps
from ..tools.gateway_http import mask
from ..tools.observability import metrics, sentry, tracing
from ..tools.run_states import outcome_event_type
from ..tools.sentinel import as_engine
from ..tools.settings import get_setting
from ..tools.storable_text import storable_text
from .request import RunRequest
from .start import Started, capped

MAX_STORED_LOG_CHARS = 256 * 1024
MAX_STORED_HITS_CHARS = 256 * 1024

_STATE_BY_CODE = {"timeout": "timed_out", "cpu_limit": "timed_out", "cancelled": "cancelled"}


def _log_values(result: RunResult) -> dict[str, Any]:
    """The stored logs, capped at ``MAX_STORED_LOG_CHARS`` (later lines counted as dropped)."""
    logs, dropped = [], int((result.stats or {}).get("logs_dropped") or 0)
    size = 2
    for line in result.logs or []:
        text = json.dumps(line, ensure_ascii=False, default=str)
        if size + len(text) + 1 > MAX_STORED_LOG_CHARS:
            dropped += 1
            continue
        size += len(text) + 1
        logs.append(line)
    return {
        "log_json": storable_text(json.dumps(logs, ensure_ascii=False, default=str)),
        "log_count": len(logs),
        "logs_dropped": dropped,
    }


def breakpoint_values(result: RunResult) -> dict[str, Any]:
    """The hits of the run's breakpoints (``iota_script_execution_breakpoints.py``),
    capped at ``MAX_STORED_HITS_CHARS`` (later hits counted as dropped)."""
    dropped = int((result.stats or {}).get("hits_dropped") or 0)
    if not result.hits and not dropped:
        return {}
    hits, size = [], 2
    for hit in result.hits:
        text = json.dumps(hit, ensure_ascii=False)
        if size + len(text) + 1 > MAX_STORED_HITS_CHARS:
            dropped += 1
            continue
        size += len(text) + 1
        hits.append(hit)
    return {
        "breakpoint_hits_json": storable_text(json.dumps(hits, ensure_ascii=False)),
        "breakpoint_hit_count": len(hits),
        "breakpoint_hits_dropped": dropped,
    }


def measured_values(result: RunResult) -> dict[str, Any]:
    """What a run counts, kept or not: its state, end and use (``iota.script.run.stat``)."""
    stats = result.stats or {}
    error = None if result.ok else _error(result)
    return {
        "state": "succeeded" if error is None else _STATE_BY_CODE.get(error.code, "failed"),
        "date_end": fields.Datetime.now(),
        "wall_ms": stats.get("wall_ms") or 0.0,
        "cpu_ms": stats.get("cpu_ms") or 0.0,
        "heap_peak_bytes": int(stats.get("heap_peak_bytes") or 0),
        "host_calls": int(stats.get("host_calls") or 0),
        "units_used": int(stats.get("units") or 0),
    }


def _error(result: RunResult) -> ScriptError:
    """The error of a failed run (one without an error failed inside the engine)."""
    return result.error or ScriptError("internal_error", "the run failed")


def _kept_values(result: RunResult) -> dict[str, Any]:
    """What only a kept execution stores: the result or the error, the logs, the hits."""
    vals: dict[str, Any] = {**_log_values(result), **breakpoint_values(result)}
    if result.ok:
        text, cut = capped(result.result)
        vals.update(result_json=text, result_truncated=cut)
        return vals
    error = _error(result)
    vals.update(
        error_code=error.code,
        error_message=storable_text(error.message),
        error_line=error.line or 0,
        error_column=error.column or 0,
        error_stack=storable_text(error.stack) or False,
    )
    return vals


def _storable_ctx(req: RunRequest, ctx: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``(ctx as stored, whole)``: an endpoint call's body is kept only where the
    endpoint keeps request bodies (masked as its ``request_body``); without it the
    ctx is not whole and the run cannot be replayed."""
    request = ctx.get("request")
    if not isinstance(request, dict) or "body" not in request:
        return ctx, True
    if "request_body" not in req.execution_values:  # the endpoint keeps no bodies
        kept = {k: v for k, v in request.items() if k not in ("body", "json")}
        return {**ctx, "request": kept}, False
    masked = mask(request.get("json"))
    if masked == request.get("json"):
        return ctx, True
    body = json.dumps(masked, ensure_ascii=False)
    return {**ctx, "request": {**request, "json": masked, "body": body}}, True


def replay_values(req: RunRequest, replay: tuple[dict[str, Any], Any] | None) -> dict[str, Any]:
    """The execution's values that a replay needs (``run/replay.py``): the ctx the
    script saw (capped like the input) and the journal of its sdk calls."""
    if replay is None:
        return {}
    ctx, journal = replay
    stored, whole = _storable_ctx(req, ctx)
    text, cut = capped(stored)
    vals: dict[str, Any] = {"ctx_json": text, "ctx_truncated": cut or not whole}
    if journal is not None:
        stored = journal.to_dict()
        vals["journal_json"] = storable_text(json.dumps(stored, ensure_ascii=False, default=str))
        vals["journal_truncated"] = stored["truncated"]
    return vals


def record(
    req: RunRequest,
    started: Started,
    result: RunResult,
    *,
    ran: bool = True,
    replay: tuple[dict[str, Any], Any] | None = None,
) -> Any:
    """Writes the outcome on the run's execution and returns it (maybe empty).

    ``req.answer`` adds its values first (``None`` as the result when the run
    did not start, ``ran=False``). A reserved row that its recording policy
    does not keep is counted instead, and the empty recordset returned.
    ``replay`` is ``(ctx, journal)`` of the run (:func:`replay_values`)."""
    execution, pending = started.execution, started.pending
    # what only a kept row stores (result, logs, ctx, journal) is encoded for it only
    vals = {**started.start_vals, **measured_values(result)}
    if req.profile is not None and req.profile.tree is not None:
        vals["profile_json"] = json.dumps(req.profile.tree)
    if req.answer is not None:
        vals.update(req.answer(result if ran else None, execution.id))
    measure(execution.env, started.script, req.trigger["type"], vals["state"], result, ran)
    tracing.run_ended(started, vals["state"], result if ran else None)
    # a gradual rollout's counts, and its automatic rollback (iota_script_rollout.py)
    started.script._iota_rollout_ran(started.version, vals["state"])
    if vals["state"] in ("failed", "timed_out") and sentry.enabled():
        track_failure(req, started, result)
    unwritten = pending is not None and not pending.written
    # a run that hit a breakpoint is kept whatever the policy: the hits were asked for
    if unwritten and not keeps(*pending.policy, succeeded=result.ok) and not result.hits:
        return count_unrecorded(execution, {**pending.vals, **vals})
    vals = {**_kept_values(result), **replay_values(req, replay), **vals}
    if unwritten:
        as_engine(execution).create({**pending.row_values(), **vals})
    else:
        as_engine(execution).write(vals)
    return execution


def measure(env: Any, script: Any, trigger: str, state: str, result: Any, ran: bool) -> None:
    """Counts the run in the metrics (``tools/observability/metrics.py``), kept or not."""
    if metrics.enabled():
        stats = result.stats if ran and result is not None else None
        metrics.run_ended(env.cr.dbname, script.company_id.id, script.key, trigger, state, stats)


def track_failure(req: RunRequest, started: Started, result: RunResult) -> None:
    """A failed run to Sentry (``tools/observability/sentry.py``): the script's
    stack, and the values under secret-looking keys of its input and request
    replaced wherever they appear."""
    script, error = started.script, _error(result)
    sentry.script_failed(
        db=started.execution.env.cr.dbname,
        company_id=script.company_id.id,
        script_key=script.key,
        version=started.version.number,
        execution_id=started.execution.id or None,
        trigger=req.trigger["type"],
        error=error,
        secrets_from=(req.input, req.request),
    )


def announce(execution: Any) -> Any:
    """``script.executed`` or ``script.failed`` for a recorded run; then the model's
    ``_iota_after_run`` hook. Returns ``execution``."""
    if not execution:
        return execution
    run = execution.sudo()
    script = run.script_id
    as_engine(execution.env["iota.script.event"])._record(
        outcome_event_type(run.state),
        {
            "script_id": script.id,
            "key": script.key,
            "execution_id": execution.id,
            "state": run.state,
            "error_code": run.error_code or None,
        },
        script=script,
        execution=execution,
        user=run.user_id,
        origin="system",
        deferrable=True,
    )
    execution._iota_after_run()
    return execution


def count_unrecorded(execution: Any, vals: dict[str, Any]) -> Any:
    """A successful run its policy does not keep: counted, and announced
    (``script.executed``, without an execution) only to subscribers."""
    env = execution.env
    Event = env["iota.script.event"]
    if Event._has_subscribers("script.executed", env["res.company"].browse(vals["company_id"])):
        script = env["iota.script"].sudo().browse(vals["script_id"])
        as_engine(Event)._record(
            "script.executed",
            {
                "script_id": script.id,
                "key": script.key,
                "execution_id": None,
                "state": vals["state"],
                "error_code": None,
            },
            script=script,
            user=env["res.users"].browse(vals["user_id"]),
            origin="system",
            deferrable=True,
        )
    env["iota.script.run.stat"]._iota_count(vals)
    return execution.browse()


def record_too_deep(Execution: Any, req: RunRequest, generation: int) -> Any:
    """A trigger past ``max_depth``: recorded as cancelled, not run."""
    script = req.script.sudo()
    max_depth = get_setting(Execution.env, "max_depth")
    records = req.records
    now = fields.Datetime.now()
    measure(Execution.env, script, req.trigger["type"], "cancelled", None, False)
    # This record must not fire rules in turn (an automation rule on
    # executions would otherwise add a cancelled run per cancelled run).
    return (
        as_engine(Execution)
        .with_context(iota_scripts_no_trigger=True)
        .create(
            {
                "script_id": script.id,
                "version_id": script.version_id.id,
                "company_id": script.company_id.id,
                "user_id": script.run_as_user_id.id,
                "triggered_by_id": Execution.env.uid,
                "trigger": req.trigger["type"],
                "trigger_json": json.dumps(req.trigger),
                "generation": generation,
                "res_model": records is not None and records._name,
                "res_ids": records is not None and json.dumps(records.ids),
                "state": "cancelled",
                "date_start": now,
                "date_end": now,
                "error_code": "budget_exceeded",
                "error_message": "not run: scripts triggering scripts may chain at most "
                f"{max_depth} runs deep",
            }
        )
    )
