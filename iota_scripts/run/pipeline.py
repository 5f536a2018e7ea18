"""The run path: one :class:`~.request.RunRequest` in, one execution out.

The steps, each a small function of its own::

    run / run_root   the site switch and the run chain (tools/chain.py)
    execute          resolve the version and the user     (start.py)
                     open the execution                   (start.py)
                     refuse a bad signature               (signature.py)
                     the version's capabilities           (capabilities_of)
                     build the sdk hosts                  (sdk_host/builder.py)
                     build the context and the journal    (build_context, new_journal)
                     run, in a lazy savepoint, metered    (run_engine, units.py)
                     record the outcome, announce it      (record.py)
                     keep the secrets it read             (sdk_host/secrets.py)

``execute`` is one span of the traces (tools/observability/tracing.py).

Runs happen in the caller's transaction and never raise for script faults
(the execution tells). A failed run leaves nothing behind: the savepoint
around its host calls is rolled back, and the runs it triggered are dropped.
A manual run raises a ``UserError`` when it cannot start, so the person who
pressed Run sees why; other triggers skip quietly or record why on the
claimed queued run.

Thread: all on the thread that owns the cursor. The engine serves host calls
on the thread that called ``Engine.run``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from typing import Any

from iota_scripts_sdk import Journal, Limits, RunResult, ScriptError
from iota_scripts_sdk.capabilities import Capabilities, parse
from odoo import _
from odoo.exceptions import UserError

from .. import sdk_host
from ..tools import chain as run_chain
from ..tools.lazy_savepoint import LazySavepoint
from ..tools.observability import json_logs, sentry, tracing
from ..tools.settings import get_engine, get_setting, scripts_enabled
from . import record, signature, start, units
from .request import RunRequest

_logger = logging.getLogger(__name__)


def run(Execution: Any, req: RunRequest) -> Any:
    """Runs ``req`` now, or queues it behind the running script of this transaction.

    Returns the execution, or the empty recordset when the run was queued in
    the chain, guarded away or skipped (see :mod:`..tools.chain`)."""
    if not scripts_enabled():
        if req.loud:
            raise UserError(_("Scripts are disabled on this server (IOTA_SCRIPTS_ENABLED)."))
        _logger.info("iota.script %s not run: scripts are disabled on this server", req.script.id)
        return Execution.browse()
    chain = run_chain.current(Execution.env.cr)
    req = _unguarded(req, chain)
    if req is None:
        return Execution.browse()
    if chain is None:
        return run_root(Execution, req)
    if req.loud:
        raise UserError(_("A script cannot start another script by hand, or dry-run one."))
    generation = chain.generation + 1
    _mark_done(chain, req)
    if generation > get_setting(Execution.env, "max_depth"):
        return record.record_too_deep(Execution, req, generation)
    chain.queue.append(
        run_chain.QueuedRun(generation, lambda: Execution._execute(req, generation, chain))
    )
    return Execution.browse()


def run_root(Execution: Any, req: RunRequest, generation: int = 1) -> Any:
    """Runs ``req`` as the root of a new chain, then the runs it triggered."""
    cr = Execution.env.cr
    chain = run_chain.begin(cr)
    try:
        _mark_done(chain, req)
        execution = Execution._execute(req, generation, chain)
        if req.dry_run is not None:
            # the runs its writes triggered are counted, not run (they would
            # send their HTTP calls for real)
            req.dry_run.triggered_runs += len(chain.queue)
            chain.queue.clear()
        while chain.queue:
            chain.queue.popleft().start()
    finally:
        run_chain.end(cr, chain)
    return execution


def _unguarded(req: RunRequest, chain: run_chain.Chain | None) -> RunRequest | None:
    """``req`` without the records its guard already ran on in this chain; ``None``
    when none is left."""
    if req.guard is None or req.records is None:
        return req
    done = chain.done if chain else set()
    todo = req.records.filtered(lambda r: (req.guard, r._name, r.id) not in done)
    if req.records and not todo:
        return None
    return req.replace(records=todo)


def _mark_done(chain: run_chain.Chain, req: RunRequest) -> None:
    if req.guard is not None and req.records is not None:
        chain.done.update((req.guard, r._name, r.id) for r in req.records)


def execute(Execution: Any, req: RunRequest, generation: int, chain: run_chain.Chain) -> Any:
    """Runs ``req`` now, as generation ``generation`` of ``chain``; returns its execution.

    Traced as one span, its sdk calls as children (``tools/observability/tracing.py``)."""
    with tracing.run_span(req):
        return _execute(Execution, req, generation, chain)


def _execute(Execution: Any, req: RunRequest, generation: int, chain: run_chain.Chain) -> Any:
    # the columns a run reads, from the per-registry cache (iota_script_run_cache.py)
    script = req.script.sudo()._iota_warm()
    version, reason = start.resolve_version(Execution, req, script)
    if reason:
        return start.skip(Execution, req, reason)
    # From here on, whatever this run causes (its execution record, its
    # sdk.db writes) triggers runs of the next generation.
    chain.generation = generation
    started, reason = start.open_execution(Execution, req, script, version, generation)
    if reason:
        return start.skip(Execution, req, reason)
    if req.live is not None:
        req.live.start(started.execution)
    caps, refused = _refusal(script, started)
    if refused is not None:
        # a bad signature fails the script (an endpoint answers 500, as for a
        # crash); a run-as user who may not run it, or an undeclared script,
        # never started
        ran = refused.code == "signature_invalid"
        return record.announce(
            record.record(req, started, RunResult(False, error=refused), ran=ran)
        )
    # the run's fields of the JSON log lines (tools/observability/json_logs.py)
    with json_logs.running(
        script.company_id.id, script.key, version.number, started.execution.id or None
    ):
        hosts = sdk_host.builder.build(
            started.run_env, script, started.execution, req.dry_run, caps
        )
        # what a replay needs (run/replay.py): the ctx and every sdk call with its answer
        ctx, journal = build_context(Execution.env, req, started), new_journal(Execution.env)
        result = run_engine(Execution.env, req, started, hosts, chain, ctx, journal)
        execution = record.announce(record.record(req, started, result, replay=(ctx, journal)))
        hosts.secrets.flush(execution)
        _logger.debug(
            "iota.script %s: execution %s ended %s",
            script.id,
            started.execution.id,
            "ok" if result.ok else result.error and result.error.code,
        )
        return execution


def capabilities_of(script: Any, version: Any) -> tuple[Capabilities | None, ScriptError | None]:
    """``(capabilities, refusal)`` of a run of ``version``: what it declared when it
    was saved (None: no declaration), or why it may not run (its company requires
    a declaration, or the stored one does not parse). A script may always enqueue
    itself."""
    text = version.sudo().capabilities_json
    if text:
        try:
            caps = parse(text)
            # enqueuing itself (a retry) reaches nothing it does not declare already
            return dataclasses.replace(caps, scripts=(*caps.scripts, script.key)), None
        except ScriptError as e:
            return None, ScriptError(
                "capabilities_required",
                f"the capabilities of {script.key} v{version.number} are not valid: {e.message}",
            )
    if script.company_id.iota_capabilities_required:
        return None, ScriptError(
            "capabilities_required",
            f"the script {script.key} declares no capabilities, and its company requires them",
        )
    return None, None


def _refusal(script: Any, started: start.Started) -> tuple[Capabilities | None, ScriptError | None]:
    """``(capabilities, refusal)`` of a run whose execution is open: why it must
    not start (the run-as user may not run it: ``start.refusal``; the version's
    signature does not hold where the company requires signed versions:
    ``signature.py``, and the responsible user is told; no capabilities where
    they are required: :func:`capabilities_of`), or the capabilities it declared."""
    refused = start.refusal(script, started.user)
    if refused is None:
        refused = signature.refusal(script, started.version)
        if refused is not None:
            script._iota_signature_refused(started.version, refused)
    if refused is not None:
        return None, refused
    return capabilities_of(script, started.version)


def build_context(env: Any, req: RunRequest, started: start.Started) -> dict[str, Any]:
    """``ctx`` as the script sees it."""
    script = started.script
    ctx: dict[str, Any] = {
        "trigger": req.trigger,
        "script": {"id": script.id, "key": script.key, "version": started.version.number},
        "company": {"id": script.company_id.id, "name": started.company_name},
        "execution": {"id": started.execution.id},
    }
    if started.records_ctx is not None:
        ctx["records"] = started.records_ctx
    if req.request is not None:
        ctx["request"] = req.request
    if req.queued and req.queued.sudo().delivery_id:
        # read with the other runs of the worker's group (prefetch)
        ctx["event"] = req.queued.sudo().delivery_id._ctx_event()
    elif req.trigger.get("delivery_id"):
        delivery = env["iota.script.delivery"].sudo().browse(req.trigger["delivery_id"])
        if delivery.exists():
            ctx["event"] = delivery._ctx_event()
    return ctx


def new_journal(env: Any) -> Journal | None:
    """The journal of a run's sdk calls (``journal_max_bytes``; 0: none)."""
    max_bytes = get_setting(env, "journal_max_bytes")
    return Journal(max_bytes) if max_bytes > 0 else None


def run_engine(
    env: Any,
    req: RunRequest,
    started: start.Started,
    hosts: sdk_host.builder.Hosts,
    chain: run_chain.Chain,
    ctx: dict[str, Any],
    journal: Journal | None = None,
) -> RunResult:
    """Runs the version in a runner; keeps or rolls back what its host calls did.

    ``journal`` records its sdk calls (``iota_scripts_sdk.journal``)."""
    mark = len(chain.queue)
    # Opened by the first sdk.db / sdk.events call only (tools/lazy_savepoint.py).
    savepoint = LazySavepoint(env.cr)
    functions = savepoint.wrap(hosts.functions)
    if started.pending is not None:
        # outside the savepoint's wrapper: the row is created before it opens
        functions = started.pending.wrap(functions, savepoint)
    try:
        result = _engine_run(env, req, started, ctx, functions, hosts.db.caps, journal)
    except BaseException:
        savepoint.close(rollback=True)
        raise
    if result.ok:
        savepoint.close(rollback=False)
    else:
        # A failed run leaves nothing behind: its writes and events go, and
        # so do the runs it triggered.
        savepoint.close(rollback=True)
        if started.pending is not None:
            started.pending.rolled_back()
        while len(chain.queue) > mark:
            chain.queue.pop()
    if hosts.db.abort is not None:
        # Let Odoo retry the transaction (and this run) from the start.
        raise hosts.db.abort
    return result


def _breakpoints(env: Any, req: RunRequest, started: start.Started) -> list[Any] | None:
    """The run's breakpoints: the request's, else the script's (all of them in a
    dry-run, the armed ones in a live run: the run counts against them)."""
    if req.breakpoints is not None:
        return list(req.breakpoints)
    bps = env["iota.script.breakpoint"]._iota_for_run(
        started.script, started.version, req.dry_run is not None
    )
    return bps or None


def _engine_failed(started: start.Started) -> RunResult:
    """An engine fault (a bug, not the script's): logged with its stack, told to
    Sentry, and an ``internal_error`` that names no detail for the run."""
    _logger.exception(
        "iota.script %s: the engine failed on execution %s",
        started.script.id,
        started.execution.id,
    )
    sentry.module_failure("engine_failed", "the engine raised during a run")
    return RunResult(
        False,
        error=ScriptError("internal_error", "the engine failed; the details are in the server log"),
    )


def _engine_run(
    env: Any,
    req: RunRequest,
    started: start.Started,
    ctx: dict[str, Any],
    functions: dict,
    caps: Capabilities | None,
    journal: Journal | None = None,
) -> RunResult:
    """``Engine.run`` of the version; an engine fault is an ``internal_error`` result.

    ``caps``: checked by the engine on every sdk call; its hosts are the
    allow-list (no declaration: no outbound HTTP)."""
    script, version, live = started.script, started.version, req.live
    limits = Limits(timeout_sec=script.timeout_sec, memory_mb=script.memory_mb)
    # What policy rules forbid and the AST cannot see (sdk["ht" + "tp"]). Read
    # here, before streaming: in test mode the live wrapper lends the cursor
    # to the test's other thread while the engine runs.
    deny = env["iota.script.policy.rule"]._iota_deny(script)
    breakpoints = _breakpoints(env, req, started)
    try:  # the npm bundles the version pinned, from the store (never the registry)
        modules = env["iota.script.package"]._iota_modules(version)
    except ScriptError as e:
        return RunResult(False, error=e)
    # governance units: the trigger's run budget, the company's daily pool
    meter = units.meter(env, req, script)
    if live:
        live.meter = meter
    try:
        # The live wrapper goes outside: in test mode it takes the test lock
        # back before the savepoint's own SQL runs.
        engine = get_engine(env)
        # the profile run mode: the same run, instrumented (run/profiling.py)
        run = engine.run if req.profile is None else functools.partial(req.profile.run, engine)
        with live.streaming(env) if live else contextlib.nullcontext():
            return run(
                version.source,
                input=req.input,
                ctx=ctx,
                limits=limits,
                tenant=f"{env.cr.dbname}/{script.company_id.id}",
                # sdk.cache keys per run-as user, the quota per company
                user=str(started.user.id),
                version=f"{version.id}:{version.sha256}",
                host=live.wrap_host(functions) if live else functions,
                on_log=live.on_log if live else None,
                cancel=live.cancel if live else req.cancel,
                deny=deny,
                breakpoints=breakpoints,
                modules=modules,
                capabilities=caps,
                journal=journal,
                meter=meter,
            )
    except Exception:  # noqa: BLE001 - logged with its stack in _engine_failed
        return _engine_failed(started)
    finally:
        meter.close()  # what it reserved from the pool and did not use goes back
