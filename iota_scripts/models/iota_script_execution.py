"""Executions: one record per run, written only by the engine path.

How a run goes (``_run_script``)
--------------------------------
1. The site switch (``IOTA_SCRIPTS_ENABLED``) and the run chain
   (:mod:`..tools.chain`) decide whether the run starts now, is queued behind
   the running script, or is dropped (already done in this chain, too deep).
2. The execution's values are prepared (the run-as user, the company, the
   trigger, the records that user can see) and its id reserved: the run is
   written once, with its outcome (see "Written once" below). Manual runs,
   live or not, are created first (state ``running``); a queued run already
   exists.
3. Inside a savepoint, the engine runs the current version in a V8 runner
   process. ``sdk.db``/``sdk.events`` calls come back to this thread and run
   on this cursor as the run-as user, pinned to the script's company.
4. When the run fails, the savepoint is rolled back: nothing the script
   wrote survives, and the runs it triggered are dropped. The execution is
   then written with the outcome, logs and resource use, or, when the
   recording policy does not keep this run (a success), counted in
   ``iota.script.run.stat`` (``models/iota_script_record_policy.py``).

Written once
------------
A run that is neither manual nor queued is one INSERT after the run, not an
INSERT before it and an UPDATE after: its id is reserved from the sequence
first (``ctx.execution.id``), and the row is created with that id and the
outcome. A run that emits an event or queues a run creates its row before
the first such call (those rows name it), and is then always kept. The
gateway adds the HTTP status and latency through ``outcome["answer"]``
before the row is written.

Runs happen in the caller's transaction and never raise for script faults
(the execution tells). Executions are written with the engine sentinel:
``create`` and ``write`` from anywhere else (RPC included) are refused.
Old executions are pruned daily (``iota_scripts.retention_days``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import timedelta

from iota_scripts_sdk import Limits, RunResult, ScriptError
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools import chain as run_chain
from ..tools.lazy_savepoint import LazySavepoint
from ..tools.sdk_db import RUN_CONTEXT_KEY, DbHost, EventsHost, scope_records
from ..tools.sdk_scripts import ScriptsHost
from ..tools.sentinel import as_engine, is_engine
from ..tools.settings import get_engine, get_setting, scripts_enabled
from ..tools.storable_text import storable_text
from .iota_script_record_policy import keeps

_logger = logging.getLogger(__name__)

#: Stored input, result and logs are cut at this many characters of JSON.
MAX_STORED_CHARS = 64 * 1024
MAX_STORED_LOG_CHARS = 256 * 1024

_STATE_BY_CODE = {"timeout": "timed_out", "cpu_limit": "timed_out", "cancelled": "cancelled"}


class _PendingExecution:
    """An execution whose id is reserved and whose row is not written yet.

    ``vals`` are its create values, ``id`` included; ``policy`` is ``(record_policy,
    sample_every)``. ``materialise()`` creates the row (state ``running``)
    when a host call needs it to exist; ``written`` tells whether it does.
    """

    __slots__ = ("in_savepoint", "model", "policy", "vals", "written")

    def __init__(self, model, vals, policy):
        self.model = model
        self.vals = vals
        self.policy = policy
        self.written = False
        self.in_savepoint = False

    @property
    def record(self):
        return self.model.browse(self.vals["id"])

    def materialise(self, savepoint):
        if not self.written:
            as_engine(self.model).create(dict(self.vals))
            self.written = True
            self.in_savepoint = savepoint.opened

    def wrap(self, functions, savepoint):
        """``functions`` with ``events.*`` and ``scripts.*`` creating the row first."""

        def needing_row(fn):
            def call(*args, **kwargs):
                self.materialise(savepoint)
                return fn(*args, **kwargs)

            return call

        return {
            name: needing_row(fn) if name.startswith(("events.", "scripts.")) else fn
            for name, fn in functions.items()
        }

    def rolled_back(self):
        """After the run's savepoint was rolled back: a row created inside it is gone."""
        if self.written and self.in_savepoint:
            self.written = False


def _capped(value, cap=MAX_STORED_CHARS):
    """``value`` as JSON text of at most ``cap`` characters, and whether it was cut."""
    text = storable_text(json.dumps(value, ensure_ascii=False, default=str))
    if len(text) <= cap:
        return text, False
    return text[:cap], True


class IotaScriptExecution(models.Model):
    _name = "iota.script.execution"
    _description = "Script Execution"
    _order = "id desc"

    script_id = fields.Many2one(
        "iota.script", required=True, index=True, ondelete="cascade", readonly=True
    )
    version_id = fields.Many2one(
        "iota.script.version",
        string="Script Version",
        index=True,
        ondelete="set null",
        readonly=True,
    )
    version_number = fields.Integer(related="version_id.number", string="Version")
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    user_id = fields.Many2one(
        "res.users",
        string="Run As",
        readonly=True,
        ondelete="set null",
        context={"active_test": False},
    )
    triggered_by_id = fields.Many2one(
        "res.users",
        string="Triggered By",
        readonly=True,
        ondelete="set null",
        context={"active_test": False},
    )
    trigger = fields.Selection(
        [
            ("manual", "Manual"),
            ("automation", "Automation Rule"),
            ("cron", "Scheduled Action"),
            ("endpoint", "Endpoint"),
            ("event", "Event"),
            ("script", "Another Script"),
        ],
        required=True,
        readonly=True,
        index=True,
    )
    trigger_json = fields.Text(string="Trigger Details", readonly=True)
    generation = fields.Integer(
        readonly=True,
        default=1,
        help="1 for a run started from outside; n+1 for a run triggered by a run of generation n.",
    )
    res_model = fields.Char(string="Model", readonly=True, index=True)
    res_ids = fields.Text(
        string="Record IDs", readonly=True, help="JSON list of the ids in ctx.records."
    )
    state = fields.Selection(
        [
            ("queued", "Queued"),
            ("running", "Running"),
            ("succeeded", "Succeeded"),
            ("failed", "Failed"),
            ("timed_out", "Timed Out"),
            ("cancelled", "Cancelled"),
            ("dead", "Dead"),
        ],
        required=True,
        default="queued",
        readonly=True,
        index=True,
    )
    date_start = fields.Datetime(string="Started", readonly=True)
    date_end = fields.Datetime(string="Ended", readonly=True)
    wall_ms = fields.Float(string="Wall Time (ms)", readonly=True, aggregator="avg")
    cpu_ms = fields.Float(string="CPU Time (ms)", readonly=True, aggregator="avg")
    heap_peak_bytes = fields.Integer(string="Peak Heap (bytes)", readonly=True, aggregator="max")
    host_calls = fields.Integer(string="sdk Calls", readonly=True, aggregator="sum")
    input_json = fields.Text(string="Input", readonly=True)
    input_truncated = fields.Boolean(readonly=True)
    result_json = fields.Text(string="Result", readonly=True)
    result_truncated = fields.Boolean(readonly=True)
    log_json = fields.Text(string="Logs (JSON)", readonly=True)
    log_count = fields.Integer(string="Log Lines", readonly=True)
    logs_dropped = fields.Integer(
        readonly=True, help="Lines over the per-run cap, or cut when stored."
    )
    log_text = fields.Text(string="Logs", compute="_compute_log_text")
    error_code = fields.Char(readonly=True, index=True)
    error_message = fields.Text(readonly=True)
    error_line = fields.Integer(readonly=True)
    error_column = fields.Integer(readonly=True)
    error_stack = fields.Text(readonly=True)
    # endpoint calls (trigger "endpoint")
    endpoint_id = fields.Many2one(
        "iota.script.endpoint", readonly=True, index="btree_not_null", ondelete="set null"
    )
    http_method = fields.Char(string="HTTP Method", readonly=True)
    http_path = fields.Char(string="HTTP Path", readonly=True)
    http_status = fields.Integer(string="HTTP Status", readonly=True, aggregator=None)
    latency_ms = fields.Float(string="Latency (ms)", readonly=True, aggregator="avg")
    request_body = fields.Text(
        readonly=True, help="Kept only when the endpoint stores request bodies; capped."
    )
    request_body_truncated = fields.Boolean(readonly=True)

    # ---- display ----------------------------------------------------------------
    @api.depends("script_id.name")
    def _compute_display_name(self):
        for execution in self:
            execution.display_name = f"{execution.script_id.name or ''} #{execution.id or ''}"

    @api.depends("log_json")
    def _compute_log_text(self):
        for execution in self:
            try:
                lines = json.loads(execution.log_json or "[]")
            except ValueError:
                lines = []
            out = []
            for line in lines if isinstance(lines, list) else []:
                text = f"{line.get('t_ms', 0):>9.1f} ms  {str(line.get('level', '')).upper():<5}  {line.get('message', '')}"
                if line.get("fields"):
                    text += "  " + json.dumps(line["fields"], ensure_ascii=False)
                out.append(text)
            execution.log_text = "\n".join(out)

    # ---- the sentinel -----------------------------------------------------------
    @api.model
    def _prepare_create_values(self, vals_list):
        # The engine creates a run with the id it reserved before the run
        # (_PendingExecution); the ORM drops "id" from create values otherwise.
        result = super()._prepare_create_values(vals_list)
        if is_engine(self.env):
            for vals, given in zip(result, vals_list, strict=True):
                if given.get("id"):
                    vals["id"] = given["id"]
        return result

    def _check_engine_context(self):
        if not is_engine(self.env):
            raise UserError(_("Executions are written by the script engine only."))

    @api.model_create_multi
    def create(self, vals_list):
        self._check_engine_context()
        return super().create(vals_list)

    def write(self, vals):
        self._check_engine_context()
        return super().write(vals)

    # ---- running ----------------------------------------------------------------
    @api.model
    def _run_script(
        self,
        script,
        trigger,
        records=None,
        input_value=None,
        guard=None,
        run_as=None,
        extra_ctx=None,
        extra_vals=None,
        outcome=None,
        live=None,
    ):
        """Runs ``script`` for a trigger; returns the execution (maybe empty).

        ``trigger`` is ``ctx.trigger`` (``{"type": ..., ...}``). ``records``
        becomes ``ctx.records``, restricted to what the run-as user can read.
        ``guard`` (a hashable naming the trigger, e.g. a server action) makes
        the run happen at most once per record within a run chain. While a
        script is running, the run is queued and the empty recordset returned.

        For endpoint calls: ``run_as`` replaces the script's run-as user,
        ``extra_ctx`` is merged into ``ctx`` (``ctx.request``), ``extra_vals``
        into the execution, and ``outcome["result"]`` receives the
        ``RunResult`` (the stored result is capped; the HTTP answer is not).
        The caller may set ``outcome["record_policy"]`` (``(policy,
        sample_every)``, instead of the script's) and ``outcome["answer"]``,
        a function ``(result, execution_id) -> dict`` called once the run
        ended, whose values are written with the execution.
        ``live`` (a :class:`..tools.live.LiveRun`) streams this run's logs.
        """
        endpoint_kw = {
            "run_as": run_as,
            "extra_ctx": extra_ctx,
            "extra_vals": extra_vals,
            "outcome": outcome,
        }
        manual = trigger["type"] == "manual"
        if not scripts_enabled():
            if manual:
                raise UserError(_("Scripts are disabled on this server (IOTA_SCRIPTS_ENABLED)."))
            _logger.info("iota.script %s not run: scripts are disabled on this server", script.id)
            return self.browse()
        cr = self.env.cr
        chain = run_chain.current(cr)
        if guard is not None and records is not None:
            done = chain.done if chain else set()
            todo = records.filtered(lambda r: (guard, r._name, r.id) not in done)
            if records and not todo:
                return self.browse()
            records = todo
        if chain is not None:
            if manual:
                raise UserError(_("A script cannot start another script by hand."))
            generation = chain.generation + 1
            self._mark_done(chain, guard, records)
            if generation > get_setting(self.env, "max_depth"):
                return self._record_too_deep(script, trigger, records, generation)
            chain.queue.append(
                run_chain.QueuedRun(
                    generation,
                    lambda: self._execute(
                        script, trigger, records, input_value, generation, chain, **endpoint_kw
                    ),
                )
            )
            return self.browse()
        chain = run_chain.begin(cr)
        try:
            self._mark_done(chain, guard, records)
            execution = self._execute(
                script, trigger, records, input_value, 1, chain, live=live, **endpoint_kw
            )
            while chain.queue:
                chain.queue.popleft().start()
        finally:
            run_chain.end(cr, chain)
        return execution

    @api.model
    def _mark_done(self, chain, guard, records):
        if guard is not None and records is not None:
            chain.done.update((guard, r._name, r.id) for r in records)

    @api.model
    def _run_env(self, script, user):
        """The environment sdk.db runs in: the run-as user, no superuser, pinned company."""
        return self._run_start(script, user)[0]

    @api.model
    def _run_start(self, script, user, reserve_id=False, version=None):
        """``(run env, company name, reserved execution id or None)`` in one query.

        The run env is the environment sdk.db runs in (see ``_run_env``).
        With ``reserve_id``, an id is drawn from the executions' sequence
        for a run written once (:class:`_PendingExecution`). With
        ``version``, the columns of it that the run reads come along, into
        the transaction's cache."""
        # Two columns of the partner; reading user.lang through the ORM fetches
        # every column of res_users and then of res_partner, on each endpoint call.
        # The company's name (ctx.company), the id and the version's source come
        # with them: one round trip.
        self.env["res.partner"].flush_model(["lang", "tz"])
        self.env["res.users"].flush_model(["partner_id"])
        self.env["res.company"].flush_model(["name"])
        Version = self.env["iota.script.version"]
        version_fields = [Version._fields[f] for f in ("source", "number", "sha256", "script_id")]
        cache = self.env.cache
        if version is not None and all(cache.contains(version, f) for f in version_fields):
            version = None  # this transaction has them already
        if version is not None:
            Version.flush_model([f.name for f in version_fields])
        self.env.cr.execute(
            SQL(
                """SELECT p.lang, p.tz, c.name, %s, v.source, v.number, v.sha256, v.script_id
                     FROM res_users u JOIN res_partner p ON p.id = u.partner_id
                          JOIN res_company c ON c.id = %s
                          LEFT JOIN iota_script_version v ON v.id = %s
                    WHERE u.id = %s""",
                SQL("nextval('iota_script_execution_id_seq')") if reserve_id else None,
                script.company_id.id,
                version.id if version is not None else None,
                user.id,
            )
        )
        row = self.env.cr.fetchone() or (None,) * 8
        lang, tz, company_name, execution_id = row[:4]
        if version is not None and row[7] is not None:
            for field, value in zip(version_fields, row[4:], strict=True):
                if not cache.contains(version, field):
                    cache.set(version, field, value)
        if company_name is None:
            company_name = script.company_id.name
        run_env = self.env(
            user=user.id,
            su=False,
            context={
                "allowed_company_ids": [script.company_id.id],
                "lang": lang or self.env.lang or "en_US",
                "tz": tz or "UTC",
                # access errors name no record (see models/ir_rule.py)
                RUN_CONTEXT_KEY: True,
            },
        )
        if reserve_id and execution_id is None:  # the user's row is gone: draw it alone
            self.env.cr.execute("SELECT nextval('iota_script_execution_id_seq')")
            execution_id = self.env.cr.fetchone()[0]
        return run_env, company_name, execution_id

    @api.model
    def _execute(
        self,
        script,
        trigger,
        records,
        input_value,
        generation,
        chain,
        run_as=None,
        extra_ctx=None,
        extra_vals=None,
        outcome=None,
        queued=None,
        cancel=None,
        live=None,
    ):
        """Runs ``script`` now and returns its execution (see the module docstring).

        ``queued`` is a claimed run of the queue (``models/iota_script_queue.py``):
        it becomes the execution instead of a new one, and a run that cannot
        start is recorded on it as cancelled. ``cancel`` (a ``threading.Event``)
        kills the runner when set. ``live`` streams the logs (see ``tools/live.py``).
        """
        # the columns a run reads, from the per-registry cache (iota_script_run_cache.py)
        script = script.sudo()._iota_warm()
        manual = trigger["type"] == "manual"
        if not script.active or (
            script.state != "active" and not (manual and script.state == "draft")
        ):
            if manual:
                raise UserError(_("Script %s is archived or disabled.", script.display_name))
            return (
                queued._abandon("not run: the script is archived or disabled")
                if queued
                else self.browse()
            )
        version = script.version_id
        pinned = self.env.context.get("iota_pinned_version_id")
        if pinned and trigger["type"] == "endpoint":
            # an endpoint that runs as its caller runs the version an administrator
            # approved (models/iota_script_endpoint.py), never a newer one; the key
            # counts for the gateway's runs only (an RPC context could carry it too)
            version = self.env["iota.script.version"].sudo().browse(pinned)
            if version.script_id != script:
                version = version.browse()
        if not version:
            if manual:
                raise UserError(_("Script %s has no source yet.", script.display_name))
            return queued._abandon("not run: the script has no source") if queued else self.browse()
        # From here on, whatever this run causes (its execution record, its
        # sdk.db writes) triggers runs of the next generation.
        chain.generation = generation
        user = run_as or script.run_as_user_id or script.company_id._iota_scripts_runner_user()
        written_once = not queued and not manual and live is None
        run_env, company_name, execution_id = self._run_start(
            script, user, reserve_id=written_once, version=version
        )
        records_ctx = None
        if records is not None:
            records = records.exists()  # a queued run may find them deleted
            visible = (
                scope_records(records.with_env(run_env)._filtered_access("read"), script.company_id)
                if user.company_ids & script.company_id
                else records.browse()
            )
            if records and not visible and not manual:
                # The records belong to another company, or the run-as user
                # cannot read them: this script has no business with them.
                if queued:
                    return queued._abandon("not run: the run-as user cannot read the records")
                return self.browse()
            records_ctx = {"model": records._name, "ids": visible.ids}
        start_vals = {}
        pending = None
        if queued:
            execution = queued
            # written with the outcome (one UPDATE): a worker that dies mid-run
            # rolls both back anyway
            start_vals = {
                "version_id": version.id,
                "user_id": user.id,
                "date_start": fields.Datetime.now(),
                "res_ids": records_ctx and json.dumps(records_ctx["ids"]),
            }
        else:
            input_text, input_cut = _capped(input_value)
            vals = {
                "script_id": script.id,
                "version_id": version.id,
                "company_id": script.company_id.id,
                "user_id": user.id,
                "triggered_by_id": self.env.uid,
                "trigger": trigger["type"],
                "trigger_json": json.dumps(trigger),
                "generation": generation,
                "res_model": records_ctx and records_ctx["model"],
                "res_ids": records_ctx and json.dumps(records_ctx["ids"]),
                "state": "running",
                "date_start": fields.Datetime.now(),
                "input_json": input_text,
                "input_truncated": input_cut,
                **(extra_vals or {}),
            }
            if not written_once:
                execution = as_engine(self).create(vals)
            else:
                policy = (outcome or {}).get("record_policy") or (
                    script.record_policy,
                    script.record_sample_every,
                )
                pending = _PendingExecution(self, {**vals, "id": execution_id}, policy)
                execution = pending.record
        if live is not None:
            live.start(execution)
            cancel = live.cancel
        # _get_company_ids is ormcached (cleared when a user's companies change).
        if script.company_id.id not in user._get_company_ids():
            return execution._finish(
                RunResult(
                    False,
                    error=ScriptError(
                        "access_denied",
                        f"the run-as user {user.login} may not work in {script.company_id.name}",
                    ),
                ),
                start_vals,
                pending=pending,
                outcome=outcome,
            )
        ctx = {
            "trigger": trigger,
            "script": {"id": script.id, "key": script.key, "version": version.number},
            "company": {"id": script.company_id.id, "name": company_name},
            "execution": {"id": execution.id},
        }
        if records_ctx is not None:
            ctx["records"] = records_ctx
        ctx.update(extra_ctx or {})
        if queued and queued.sudo().delivery_id:
            # read with the other runs of the worker's group (prefetch)
            ctx["event"] = queued.sudo().delivery_id._ctx_event()
        elif trigger.get("delivery_id"):
            delivery = self.env["iota.script.delivery"].sudo().browse(trigger["delivery_id"])
            if delivery.exists():
                ctx["event"] = delivery._ctx_event()
        db_host = DbHost(run_env)
        host = {
            **db_host.functions(),
            **EventsHost(
                run_env, script, execution, get_setting(self.env, "max_events_per_run")
            ).functions(),
            **ScriptsHost(
                run_env, script, execution, get_setting(self.env, "max_enqueues_per_run")
            ).functions(),
        }
        limits = Limits(
            timeout_sec=script.timeout_sec,
            memory_mb=script.memory_mb,
            allow_hosts=tuple(script._allowed_hosts()),
        )
        mark = len(chain.queue)
        # Opened by the first sdk.db / sdk.events call only (tools/lazy_savepoint.py).
        savepoint = LazySavepoint(self.env.cr)
        # The live wrapper goes outside: in test mode it takes the test lock
        # back before the savepoint's own SQL runs.
        run_host = savepoint.wrap(host)
        if pending is not None:
            # outside the savepoint's wrapper: the row is created before it opens
            run_host = pending.wrap(run_host, savepoint)
        try:
            with live.streaming(self.env) if live else contextlib.nullcontext():
                result = get_engine(self.env).run(
                    version.source,
                    input=input_value,
                    ctx=ctx,
                    limits=limits,
                    tenant=f"{self.env.cr.dbname}/{script.company_id.id}",
                    # sdk.cache keys per run-as user, the quota per company
                    user=str(user.id),
                    version=f"{version.id}:{version.sha256}",
                    host=live.wrap_host(run_host) if live else run_host,
                    on_log=live.on_log if live else None,
                    cancel=cancel,
                )
        except Exception:
            _logger.exception(
                "iota.script %s: the engine failed on execution %s", script.id, execution.id
            )
            result = RunResult(
                False,
                error=ScriptError(
                    "internal_error", "the engine failed; the details are in the server log"
                ),
            )
        except BaseException:
            savepoint.close(rollback=True)
            raise
        if result.ok:
            savepoint.close(rollback=False)
        else:
            # A failed run leaves nothing behind: its writes and events
            # go, and so do the runs it triggered.
            savepoint.close(rollback=True)
            if pending is not None:
                pending.rolled_back()
            while len(chain.queue) > mark:
                chain.queue.pop()
        if db_host.abort is not None:
            # Let Odoo retry the transaction (and this run) from the start.
            raise db_host.abort
        if outcome is not None:
            outcome["result"] = result
        return execution._finish(result, start_vals, pending=pending, outcome=outcome)

    def _finish(self, result, start_vals=None, pending=None, outcome=None):
        """Stores the outcome of the run (and ``start_vals``) on the execution.

        With ``pending`` (a :class:`_PendingExecution` not written yet), the
        row is created with the outcome, or, when its recording policy does
        not keep this run, the run is counted in ``iota.script.run.stat`` and
        the empty recordset is returned. ``outcome["answer"]`` (see
        ``_run_script``) adds its values first."""
        self.ensure_one()
        stats = result.stats or {}
        vals = {
            **(start_vals or {}),
            "date_end": fields.Datetime.now(),
            "wall_ms": stats.get("wall_ms") or 0.0,
            "cpu_ms": stats.get("cpu_ms") or 0.0,
            "heap_peak_bytes": int(stats.get("heap_peak_bytes") or 0),
            "host_calls": int(stats.get("host_calls") or 0),
        }
        logs, dropped = [], int(stats.get("logs_dropped") or 0)
        size = 2
        for line in result.logs or []:
            text = json.dumps(line, ensure_ascii=False, default=str)
            if size + len(text) + 1 > MAX_STORED_LOG_CHARS:
                dropped += 1
                continue
            size += len(text) + 1
            logs.append(line)
        vals.update(
            log_json=storable_text(json.dumps(logs, ensure_ascii=False, default=str)),
            log_count=len(logs),
            logs_dropped=dropped,
        )
        if result.ok:
            text, cut = _capped(result.result)
            vals.update(state="succeeded", result_json=text, result_truncated=cut)
        else:
            error = result.error or ScriptError("internal_error", "the run failed")
            vals.update(
                state=_STATE_BY_CODE.get(error.code, "failed"),
                error_code=error.code,
                error_message=storable_text(error.message),
                error_line=error.line or 0,
                error_column=error.column or 0,
                error_stack=storable_text(error.stack) or False,
            )
        answer = (outcome or {}).get("answer")
        if answer is not None:
            vals.update(answer(result, self.id))
        if pending is not None and not pending.written:
            if not keeps(*pending.policy, succeeded=result.ok):
                return self._count_unrecorded({**pending.vals, **vals})
            as_engine(self).create({**pending.vals, **vals})
        else:
            as_engine(self).write(vals)
        script = self.sudo().script_id
        as_engine(self.env["iota.script.event"])._record(
            "script.executed" if result.ok else "script.failed",
            {
                "script_id": script.id,
                "key": script.key,
                "execution_id": self.id,
                "state": vals["state"],
                "error_code": vals.get("error_code"),
            },
            script=script,
            execution=self,
            user=self.sudo().user_id,
            origin="system",
            deferrable=True,
        )
        return self

    @api.model
    def _count_unrecorded(self, vals):
        """A successful run its policy does not keep: counted, and announced
        (``script.executed``, without an execution) only to subscribers."""
        Event = self.env["iota.script.event"]
        if Event._has_subscribers(
            "script.executed", self.env["res.company"].browse(vals["company_id"])
        ):
            script = self.env["iota.script"].sudo().browse(vals["script_id"])
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
                user=self.env["res.users"].browse(vals["user_id"]),
                origin="system",
                deferrable=True,
            )
        self.env["iota.script.run.stat"]._iota_count(vals)
        return self.browse()

    @api.model
    def _record_too_deep(self, script, trigger, records, generation):
        """A trigger past ``max_depth``: recorded as cancelled, not run."""
        script = script.sudo()
        max_depth = get_setting(self.env, "max_depth")
        # This record must not fire rules in turn (an automation rule on
        # executions would otherwise add a cancelled run per cancelled run).
        return (
            as_engine(self)
            .with_context(iota_scripts_no_trigger=True)
            .create(
                {
                    "script_id": script.id,
                    "version_id": script.version_id.id,
                    "company_id": script.company_id.id,
                    "user_id": script.run_as_user_id.id,
                    "triggered_by_id": self.env.uid,
                    "trigger": trigger["type"],
                    "trigger_json": json.dumps(trigger),
                    "generation": generation,
                    "res_model": records is not None and records._name,
                    "res_ids": records is not None and json.dumps(records.ids),
                    "state": "cancelled",
                    "date_start": fields.Datetime.now(),
                    "date_end": fields.Datetime.now(),
                    "error_code": "budget_exceeded",
                    "error_message": f"not run: scripts triggering scripts may chain at most {max_depth} runs deep",
                }
            )
        )

    # ---- retention ------------------------------------------------------------------
    @api.model
    def _cron_prune(self, batch_size=1000):
        """Deletes executions (and dispatched events) older than ``retention_days``."""
        days = get_setting(self.env, "retention_days")
        if days <= 0:
            return
        limit = fields.Datetime.now() - timedelta(days=days)
        old = self.sudo().search([("create_date", "<", limit)], limit=batch_size)
        remaining = self.sudo().search_count([("create_date", "<", limit)]) - len(old)
        old.unlink()
        self.env["iota.script.event"].sudo()._prune(limit, batch_size)
        self.env["iota.script.run.stat"].sudo()._prune(limit, batch_size)
        self.env["ir.cron"]._notify_progress(done=len(old), remaining=remaining)
