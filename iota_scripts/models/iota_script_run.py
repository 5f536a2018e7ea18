"""The Run panel's server side: a script's input schema, live runs, and Cancel.

``iota.script.action_run_live(input_value, token)`` runs the current version
now, in the RPC's transaction (like ``action_run``), while its log lines are
streamed over the bus to the caller (``tools/live.py``), and returns what the
panel shows (``iota.script.execution._run_panel_values``).

``iota.script.execution.action_cancel_live(execution_id)`` records a cancel
request for a live run in the RPC's own transaction. The run's execution is
not committed yet (its transaction is still going), so who may cancel it is
read from ``iota_script_execution_live``, which the live run commits on the
side when it starts: the user who started it, or an IOTA Scripts
administrator.
"""

from __future__ import annotations

import json

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..run.dry_run import dry_run as run_dry_run
from ..run.request import RunRequest
from ..tools import json_schema
from ..tools.live import LiveRun
from .iota_script import GROUP_ADMIN, GROUP_USER

#: An input schema may be at most this many characters of JSON.
MAX_SCHEMA_CHARS = 64 * 1024


class IotaScript(models.Model):
    _inherit = "iota.script"

    input_schema = fields.Text(
        tracking=True,
        help="JSON Schema (draft 2020-12) of ctx.input for runs by hand. The Run panel "
        "generates a form from its properties and checks the input against it.",
    )

    @api.constrains("input_schema")
    def _check_input_schema(self):
        for script in self:
            if script.input_schema:
                script._input_schema()

    def _input_schema(self):
        """The parsed input schema (None when empty); ValidationError when invalid."""
        self.ensure_one()
        if not (self.input_schema or "").strip():
            return None
        if len(self.input_schema) > MAX_SCHEMA_CHARS:
            raise ValidationError(
                _("The input schema is longer than %s characters.", MAX_SCHEMA_CHARS)
            )
        try:
            schema = json.loads(self.input_schema)
            if not isinstance(schema, dict):
                raise ValueError("the schema must be a JSON object")
            # named codes: invalid_schema, remote_reference (never fetched)
            json_schema.check(schema)
        except json_schema.SchemaError as e:
            raise ValidationError(
                _(
                    "The input schema is not a valid JSON Schema (%(code)s): %(why)s",
                    code=e.code,
                    why=e,
                )
            ) from None
        except (ValueError, RecursionError) as e:
            raise ValidationError(
                _("The input schema is not a valid JSON Schema: %s", str(e)[:300])
            ) from None
        return schema

    def _check_run_input(self, input_value):
        """Raises a UserError naming each place where the input breaks the schema."""
        schema = self._input_schema()
        if schema is None:
            return
        try:
            errors = sorted(
                json_schema.validator(schema).iter_errors(input_value),
                key=lambda e: [str(p) for p in e.path],
            )
        except json_schema.Unresolvable:
            raise UserError(
                _("The input schema refers to a schema outside itself (remote_reference).")
            ) from None
        except RecursionError:
            raise UserError(_("The input is nested too deeply to be checked.")) from None
        if errors:
            lines = [
                f"{'/'.join(str(p) for p in e.path) or _('input')}: {e.message[:200]}"
                for e in errors[:5]
            ]
            raise UserError(
                _("The input does not match the script's input schema:\n%s", "\n".join(lines))
            )

    def _run_by_hand(
        self, input_value, records=None, background=False, live=None, dry_run=None, profile=None
    ):
        """The one manual entry point: the form's Run dialog, the Run panel, ``action_run``.

        One permission check (an IOTA Scripts user who can read the script) and
        one input check (the script's input schema) for every way of running
        by hand; then the run happens in the caller's transaction (or is
        queued with ``background``). ``ctx.trigger.type`` is ``manual``, set
        here: the caller does not choose it.

        ``dry_run`` (a dict, maybe empty) makes it a dry-run (``run/dry_run.py``)
        and returns its report instead of an execution: ``version`` (a version
        of this script, default the current one) and ``trigger`` (the
        ``ctx.trigger`` of the trigger being tried, e.g. an automation rule's;
        nothing it runs is kept, so it may choose).

        ``profile`` (a ``run/profiling.py`` ``ProfileCapture``) runs it in the
        profile run mode: instrumented, its time per function kept.
        """
        self.ensure_one()
        if not (self.env.su or self.env.user.has_group(GROUP_USER)):
            raise AccessError(_("Only IOTA Scripts users may run scripts."))
        self.check_access("read")
        if records is not None and not isinstance(records, models.BaseModel):
            raise UserError(_("records must be a recordset."))
        self._check_run_input(input_value)
        Execution = self.env["iota.script.execution"]
        request = RunRequest(self, {"type": "manual"}, records=records, input=input_value)
        if dry_run is not None:
            version = dry_run.get("version") or self.version_id
            trigger = dry_run.get("trigger") or request.trigger
            return run_dry_run(
                Execution, request.replace(trigger=trigger, pinned_version_id=version.id)
            )
        if background:
            execution = Execution._enqueue(request)
        else:
            execution = Execution._run(request.replace(live=live, profile=profile))
        self.env["iota.script.audit"]._log(
            "run",
            self,
            values={
                "background": bool(background),
                # a run that its recording policy did not keep has no id
                "execution_id": execution.id if isinstance(execution.id, int) else None,
            },
        )
        return execution

    def action_dry_run(self, input_value=None, version_id=None):
        """The Run panel's "Dry run": runs now, rolls everything back, and returns
        the panel's values with ``dry_run`` (the write diff and the captured
        calls). ``version_id``: a version of this script (default: the current one).
        """
        self.ensure_one()
        version = self.env["iota.script.version"].browse(version_id or [])
        if version_id and version.sudo().script_id != self:
            raise UserError(_("The version to dry-run is not one of this script's."))
        return self._run_by_hand(input_value, dry_run={"version": version})

    def action_run_live(self, input_value=None, token=""):
        """Runs now with live log streaming; returns the panel's values of the execution.

        ``token`` (chosen by the client) is echoed in every bus message, so a
        panel follows its own run only.
        """
        live = LiveRun(self.env, token)
        try:
            execution = self._run_by_hand(input_value, live=live)
            live.finish(execution.state)
        finally:
            live.finish(None)  # on errors; a no-op after the line above
        return execution._run_panel_values()


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    def init(self):
        super().init()
        # Not a model: rows are committed on the side while the run's own
        # transaction (which created the execution) is still going.
        self.env.cr.execute(
            """
            CREATE TABLE IF NOT EXISTS iota_script_execution_live (
                execution_id integer PRIMARY KEY,
                user_id integer NOT NULL,
                token varchar(64),
                started_at timestamp NOT NULL DEFAULT (now() at time zone 'UTC')
            )
            """
        )
        # the script's company: an administrator cancels the runs of their companies only
        self.env.cr.execute(
            "ALTER TABLE iota_script_execution_live ADD COLUMN IF NOT EXISTS company_id integer"
        )

    @api.model
    def action_cancel_live(self, execution_id):
        """Asks the live run ``execution_id`` to stop; False when it is not running.

        Who may: the user who started it, or an IOTA Scripts administrator of
        the script's company (one of the administrator's companies).
        """
        if not isinstance(execution_id, int) or isinstance(execution_id, bool):
            raise UserError(_("The run to cancel is named by its id, a number."))
        self.env.cr.execute(
            "SELECT user_id, company_id FROM iota_script_execution_live WHERE execution_id = %s",
            [execution_id],
        )
        row = self.env.cr.fetchone()
        if not row:
            return False
        self._check_may_cancel(*row)
        self.env.cr.execute(
            "INSERT INTO iota_script_execution_cancel (execution_id) VALUES (%s) "
            "ON CONFLICT DO NOTHING",
            [execution_id],
        )
        return True

    @api.model
    def _check_may_cancel(self, starter_uid, company_id):
        """Refuses (AccessError) unless the user started the run or administers its company."""
        if self.env.su or starter_uid == self.env.uid:
            return
        user = self.env.user
        if not (user.has_group(GROUP_ADMIN) and company_id in user.company_ids.ids):
            raise AccessError(
                _(
                    "Only the user who started a run, or an administrator of its company, may cancel it."
                )
            )

    @api.autovacuum
    def _gc_live_runs(self):
        """Forgets live runs of workers that died (a live run lasts minutes at most)."""
        self.env.cr.execute(
            "DELETE FROM iota_script_execution_live "
            "WHERE started_at < now() at time zone 'UTC' - interval '1 day'"
        )

    def _run_panel_values(self):
        """What the Run panel shows of a finished run (JSON-ready)."""
        self.ensure_one()
        execution = self.sudo()
        result = None
        if execution.result_json:
            try:
                result = json.loads(execution.result_json)
            except ValueError:  # cut when stored
                result = execution.result_json
        try:
            logs = json.loads(execution.log_json or "[]")
        except ValueError:
            logs = []
        error = False
        if execution.error_code:
            error = {
                "code": execution.error_code,
                "message": execution.error_message or "",
                "line": execution.error_line or 0,
                "column": execution.error_column or 0,
            }
        return {
            "id": execution.id,
            "state": execution.state,
            "version_number": execution.version_number,
            "result": result,
            "result_truncated": execution.result_truncated,
            "error": error,
            "logs": logs if isinstance(logs, list) else [],
            "logs_dropped": execution.logs_dropped,
            "wall_ms": execution.wall_ms,
            "cpu_ms": execution.cpu_ms,
            "heap_peak_bytes": execution.heap_peak_bytes,
            "host_calls": execution.host_calls,
            "units_used": execution.units_used,
        }
