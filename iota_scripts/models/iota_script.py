"""Scripts: JavaScript modules owned by a company, with an immutable history.

A script's ``source`` is what a developer edits. Every save that changes it
creates an ``iota.script.version`` (number, sha256, author, note) and points
``version_id`` at it; runs always execute ``version_id.source``. A source is
refused at save when it is too large (``iota_scripts.max_source_bytes``) or
does not parse (checked by the engine in a runner, reported as
"Line L, column C: message").

Runs happen as ``run_as_user_id``: by default the company's dedicated
least-privilege user (see ``res.company._iota_scripts_runner_user``), never
the author and never the superuser. Only IOTA Scripts administrators may
choose another user.

A script that runs as another user than its company's runner is
*privileged*: it acts with that user's rights. Only that user or an IOTA
Scripts administrator may then change what it does or when it runs
(``_check_may_change``): its fields (source, capabilities, state, limits,
input schema, run-as user, ...; only ``PRESENTATION_FIELDS`` stay free), a
restored version, and the subscriptions, schedules, endpoints and server
actions (automation rules, scheduled actions) that run it. A Developer would
otherwise run code, or a record filter, as that user.

Archiving a script (``active``) is its soft delete: it keeps its versions and
executions, and no trigger runs it.
"""

from __future__ import annotations

import logging
import re

from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools.sentinel import as_engine, is_engine
from ..tools.settings import ENGINE_MAX_SOURCE_BYTES, get_setting, scripts_enabled

_logger = logging.getLogger(__name__)

GROUP_USER = "iota_scripts.iota_scripts_group_user"
GROUP_DEVELOPER = "iota_scripts.iota_scripts_group_developer"
GROUP_ADMIN = "iota_scripts.iota_scripts_group_admin"

_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

#: Fields of a privileged script that anyone who may edit the script may change:
#: they change neither what it does nor when it runs.
PRESENTATION_FIELDS = frozenset({"name", "description", "tag_ids", "user_id"})

DEFAULT_SOURCE = """\
// ctx.input: the run's input; ctx.trigger: what started the run;
// ctx.records: {model, ids} when records triggered it.
export default async function (ctx) {
  sdk.log.info("hello", { trigger: ctx.trigger.type });
  return { ok: true };
}
"""


class IotaScript(models.Model):
    _name = "iota.script"
    _description = "Script"
    _inherit = ["mail.thread", "iota.script.audited"]
    _order = "name, id"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    key = fields.Char(
        required=True,
        compute="_compute_key",
        store=True,
        readonly=False,
        precompute=True,
        copy=False,
        tracking=True,
        help="Technical name, unique per company: lower-case letters, digits, '_', '.' and '-'.",
    )
    description = fields.Text()
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        tracking=True,
        default=lambda self: self.env.company,
    )
    run_as_user_id = fields.Many2one(
        "res.users",
        string="Run As",
        tracking=True,
        copy=False,
        ondelete="restrict",
        context={"active_test": False},
        domain="[('share', '=', False), ('company_ids', 'in', company_id)]",
        help="The user whose access rights and record rules apply to sdk.db. "
        "By default, the company's dedicated scripts user (internal user, no other group).",
    )
    state = fields.Selection(
        [("draft", "Draft"), ("active", "Active"), ("disabled", "Disabled")],
        default="draft",
        required=True,
        tracking=True,
        help="Triggers (automation rules, scheduled actions) only run active scripts; "
        "draft scripts can be run by hand.",
    )
    source = fields.Text(groups=GROUP_DEVELOPER, default=DEFAULT_SOURCE)
    version_id = fields.Many2one(
        "iota.script.version",
        string="Current Version",
        readonly=True,
        copy=False,
        tracking=True,
        ondelete="set null",
    )
    version_number = fields.Integer(related="version_id.number", string="Version")
    version_ids = fields.One2many("iota.script.version", "script_id", string="Versions")
    version_count = fields.Integer(compute="_compute_version_count")
    timeout_sec = fields.Float(
        string="Timeout (s)",
        tracking=True,
        default=lambda self: get_setting(self.env, "default_timeout_sec"),
    )
    memory_mb = fields.Integer(
        string="Memory (MB)",
        tracking=True,
        default=lambda self: get_setting(self.env, "default_memory_mb"),
    )
    tag_ids = fields.Many2many("iota.script.tag", string="Tags")
    active = fields.Boolean(default=True, tracking=True)
    execution_ids = fields.One2many("iota.script.execution", "script_id", string="Executions")
    execution_count = fields.Integer(compute="_compute_execution_count")
    last_execution_id = fields.Many2one(
        "iota.script.execution", compute="_compute_last_execution_id", string="Last Run"
    )
    last_execution_state = fields.Selection(
        lambda self: self.env["iota.script.execution"]._fields["state"].selection,
        compute="_compute_last_execution_id",
        string="Last Run State",
    )
    schedule_ids = fields.One2many(
        "iota.script.schedule", "script_id", string="Schedules", context={"active_test": False}
    )
    waiting_schedule_count = fields.Integer(
        compute="_compute_waiting_schedule_count",
        help="Active schedules of this script while it is not active: their slots are missed.",
    )
    recent_execution_ids = fields.One2many(
        "iota.script.execution", compute="_compute_recent_execution_ids", string="Recent Runs"
    )
    server_action_ids = fields.One2many(
        "ir.actions.server", "iota_script_id", string="Server Actions"
    )
    server_action_count = fields.Integer(compute="_compute_server_action_count")

    _sql_constraints = [
        (
            "key_company_uniq",
            "unique (company_id, key)",
            "The key of a script must be unique per company.",
        ),
    ]

    # ---- computes ---------------------------------------------------------------
    @api.depends("name")
    def _compute_key(self):
        for script in self:
            # keys are stable identifiers: only a script without one gets it from its name
            slug = re.sub(r"[^a-z0-9]+", "_", (script.name or "").lower()).strip("_")[:64]
            script.key = script.key or slug or False

    def _compute_version_count(self):
        counts = dict(
            self.env["iota.script.version"]._read_group(
                [("script_id", "in", self.ids)], ["script_id"], ["__count"]
            )
        )
        for script in self:
            script.version_count = counts.get(script, 0)

    def _compute_execution_count(self):
        counts = dict(
            self.env["iota.script.execution"]._read_group(
                [("script_id", "in", self.ids)], ["script_id"], ["__count"]
            )
        )
        for script in self:
            script.execution_count = counts.get(script, 0)

    def _compute_last_execution_id(self):
        Execution = self.env["iota.script.execution"]
        last_ids = dict(
            Execution._read_group([("script_id", "in", self.ids)], ["script_id"], ["id:max"])
        )
        for script in self:
            last = Execution.browse(last_ids.get(script))
            script.last_execution_id = last
            script.last_execution_state = last.state

    def _compute_recent_execution_ids(self):
        Execution = self.env["iota.script.execution"]
        for script in self:
            script.recent_execution_ids = Execution.search(
                [("script_id", "=", script.id)] if script.id else [("id", "=", 0)], limit=20
            )

    def _compute_server_action_count(self):
        for script in self:
            script.server_action_count = len(script.server_action_ids)

    # ---- constraints ----------------------------------------------------------------
    @api.constrains("key")
    def _check_key(self):
        for script in self:
            if not _KEY.match(script.key or ""):
                raise ValidationError(
                    _(
                        "The key %(key)r may contain only lower-case letters, digits, '_', '.' "
                        "and '-' (64 characters at most).",
                        key=script.key,
                    )
                )

    @api.constrains("timeout_sec", "memory_mb")
    def _check_limits(self):
        max_timeout = get_setting(self.env, "max_timeout_sec")
        max_memory = get_setting(self.env, "max_memory_mb")
        for script in self:
            if not 0 < script.timeout_sec <= max_timeout:
                raise ValidationError(
                    _(
                        "The timeout must be more than 0 and at most %(max)s seconds.",
                        max=max_timeout,
                    )
                )
            if not 16 <= script.memory_mb <= max_memory:
                raise ValidationError(
                    _("The memory cap must be from 16 to %(max)s MB.", max=max_memory)
                )

    @api.constrains("run_as_user_id", "company_id")
    def _check_run_as_user(self):
        for script in self.sudo():
            user = script.run_as_user_id
            if not user:
                continue
            if user.id == SUPERUSER_ID:
                raise ValidationError(_("Scripts never run as the superuser."))
            if user.share:
                raise ValidationError(_("Scripts run as internal users only."))
            if script.company_id not in user.company_ids:
                raise ValidationError(
                    _(
                        "%(user)s cannot run scripts of %(company)s: the company is not one of the user's.",
                        user=user.name,
                        company=script.company_id.name,
                    )
                )

    # ---- CRUD -------------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "version_id" in vals and not is_engine(self.env):
                raise UserError(_("The current version is set by saving the source."))
            if vals.get("source"):
                self._iota_for_source_check(vals)._check_source_text(vals["source"])
        scripts = super().create(vals_list)
        for script, vals in zip(scripts, vals_list, strict=True):
            if vals.get("run_as_user_id"):
                script._check_run_as_permission(vals["run_as_user_id"])
            else:
                runner = script.company_id._iota_scripts_runner_user()
                super(IotaScript, script).write({"run_as_user_id": runner.id})
            if script.sudo().source:
                script._create_version(
                    self.env.context.get("iota_scripts_version_note") or _("Created")
                )
        scripts.filtered(lambda s: s.sudo().source)._check_policies()
        for script in scripts:
            script._emit_domain_event("script.created")
        return scripts

    def write(self, vals):
        if "version_id" in vals and not is_engine(self.env):
            raise UserError(_("The current version is set by saving the source."))
        if "company_id" in vals and any(s.company_id.id != vals["company_id"] for s in self):
            raise UserError(_("A script cannot move to another company; duplicate it instead."))
        if set(vals) - PRESENTATION_FIELDS:
            self._check_may_change()
        if vals.get("run_as_user_id"):
            self._check_run_as_permission(vals["run_as_user_id"])
        if vals.get("source"):
            self._iota_for_source_check(vals)._check_source_text(vals["source"])
        res = super().write(vals)
        if vals.get("source") or "tag_ids" in vals:
            self._check_policies()
        if "source" in vals:
            note = self.env.context.get("iota_scripts_version_note")
            for script in self:
                source = script.sudo().source
                if source and source != script._iota_last_saved().sudo().source:
                    script._create_version(note)
        return res

    def unlink(self):
        has_endpoints = bool(
            self.env["iota.script.endpoint"]
            .sudo()
            .with_context(active_test=False)
            .search_count([("script_id", "in", self.ids)], limit=1)
        )
        res = super().unlink()
        if has_endpoints:
            # their endpoints went with them (ON DELETE CASCADE, no ORM unlink)
            self.env.registry.clear_cache()
        return res

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        for script, vals in zip(self, vals_list, strict=True):
            if "name" not in (default or {}):
                vals["name"] = _("%s (copy)", script.name)
            if "key" not in (default or {}):
                vals["key"] = script._free_key(f"{script.key}_copy")
        return vals_list

    # ---- helpers ------------------------------------------------------------------------
    def _free_key(self, base):
        self.ensure_one()
        taken = set(
            self.with_context(active_test=False)
            .search([("company_id", "=", self.company_id.id), ("key", "=like", f"{base}%")])
            .mapped("key")
        )
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}_{n}"
        return key

    def _check_run_as_permission(self, user_id):
        """Only administrators choose who scripts run as (anyone else: the company's runner)."""
        if self.env.su or self.env.user.has_group(GROUP_ADMIN):
            return
        for script in self:
            if user_id != script.company_id._iota_scripts_runner_user().id:
                raise AccessError(
                    _("Only IOTA Scripts administrators may choose the user scripts run as.")
                )

    def _check_may_change(self):
        """Refuses (AccessError) to change a privileged script, unless its run-as user or an admin asks.

        Privileged: it runs as another user than its company's runner user.
        Call it before changing what a script does or when it runs, from the
        script or from any record that runs it. Superuser mode and the engine
        path pass (the server acting on its own, e.g. the scheduler).
        """
        if self.env.su or is_engine(self.env) or self.env.user.has_group(GROUP_ADMIN):
            return
        Company = self.env["res.company"]
        for script in self.sudo():
            run_as = script.run_as_user_id.id
            if not run_as or run_as == self.env.uid:
                continue
            if run_as != Company._iota_scripts_runner_uid(script.company_id.id):
                raise AccessError(
                    _(
                        "The script %(script)s runs as %(user)s: only that user or an IOTA "
                        "Scripts administrator may change what it does or when it runs.",
                        script=script.name,
                        user=script.run_as_user_id.name,
                    )
                )

    @api.model
    def _check_source_text(self, source):
        """Refuses a source that is too large or does not parse (ValidationError)."""
        problem = self._source_problem(source)
        if problem is None:
            return
        if problem["line"] is not None:
            raise ValidationError(
                _(
                    "Line %(line)s, column %(column)s: %(message)s",
                    line=problem["line"],
                    column=problem["column"],
                    message=problem["message"],
                )
            )
        raise ValidationError(problem["message"])

    @api.model
    def _source_problem(self, source) -> dict | None:
        """Why ``source`` would be refused at save, or None.

        ``{"message", "line", "column"}``: line and column are 1-based, or
        None when the problem has no position (size, NUL, engine trouble).
        The editor shows these as markers (``controllers/editor.py``).
        """
        if not isinstance(source, str):
            return {"message": _("The source must be text."), "line": None, "column": None}
        if "\x00" in source:
            return {
                "message": _("The source contains a NUL character."),
                "line": None,
                "column": None,
            }
        max_bytes = min(get_setting(self.env, "max_source_bytes"), ENGINE_MAX_SOURCE_BYTES)
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            message = _(
                "The source is %(size)s bytes; at most %(max)s are allowed.",
                size=size,
                max=max_bytes,
            )
            return {"message": message, "line": None, "column": None}
        if not scripts_enabled():
            # No runner may start on this server, so nothing can parse the
            # source; runs are refused anyway until scripts are enabled.
            return None
        # what the script may import: its company's approved packages and libraries
        error = self.env["iota.script.package"]._iota_check_source(self, source)
        if error is None:
            return None
        if error.line is not None:
            return {"message": error.message, "line": error.line, "column": error.column or 1}
        return {
            "message": _("The source could not be checked: %(message)s", message=error.message),
            "line": None,
            "column": None,
        }

    def _create_version(self, note=None):
        """A new version, published unless the company requires approval (a draft)."""
        self.ensure_one()
        approval = self.company_id.iota_scripts_require_approval
        version = as_engine(self.env["iota.script.version"]).create(
            {
                "script_id": self.id,
                "source": self.sudo().source,
                # what its runs may touch, as reviewed with it (iota_script_capabilities.py)
                "capabilities_json": self.capabilities_json,
                "note": note or False,
                "author_id": self.env.uid,
                "state": "draft" if approval else "published",
            }
        )
        if not approval:
            self._iota_publish_version(version)
        if version.number > 1:
            self._emit_domain_event("script.updated", {"version": version.number})
        return version

    def _iota_publish_version(self, version):
        """Makes ``version`` current: the one publish point (a gradual rollout makes
        it the candidate: ``iota_script_rollout.py``). Under *Require Approval*, only
        an approved version (``iota_script_version_approval.py``)."""
        self._iota_check_publishable(version)
        self._iota_mark_published(version)
        as_engine(self).write({"version_id": version.id})

    def _emit_domain_event(self, event_type, payload=None):
        self.ensure_one()
        as_engine(self.env["iota.script.event"])._record(
            event_type,
            {"script_id": self.id, "key": self.key, **(payload or {})},
            script=self,
            user=self.env.user,
            origin="system",
        )

    # ---- actions --------------------------------------------------------------------------
    def action_run(self, input=None, records=None, background=False):
        """Runs the current version now and returns the ``iota.script.execution``.

        ``input`` becomes ``ctx.input`` (JSON); ``records`` (a recordset) becomes
        ``ctx.records``. The run happens in the caller's transaction, as the
        script's run-as user, and never raises for script faults: the
        execution says how it went. With ``background``, the run is queued
        instead (state ``queued``) and a queue worker runs it after commit.
        ``ctx.trigger.type`` is ``manual``: the caller does not choose it
        (a script may trust ``cron`` or ``automation`` to come from the server).
        """
        return self._run_by_hand(input, records=records, background=background)

    def action_open_run_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Run %s", self.name),
            "res_model": "iota.script.run.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_script_id": self.id},
        }

    @api.depends("state", "active", "schedule_ids.active")
    def _compute_waiting_schedule_count(self):
        for script in self:
            waiting = not (script.active and script.state == "active")
            script.waiting_schedule_count = (
                len(script.schedule_ids.filtered("active")) if waiting else 0
            )

    def action_activate(self):
        # the company's rules may have changed since the source was saved
        self._check_policies()
        self.write({"state": "active"})

    def action_disable(self):
        self.write({"state": "disabled"})

    def action_draft(self):
        self.write({"state": "draft"})

    def action_view_versions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "iota_scripts.iota_script_version_action"
        )
        action["domain"] = [("script_id", "=", self.id)]
        action["context"] = {"default_script_id": self.id}
        return action

    def action_view_executions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "iota_scripts.iota_script_execution_action"
        )
        action["domain"] = [("script_id", "=", self.id)]
        action["context"] = {"search_default_script_id": self.id}
        return action

    def action_add_automation_rule(self):
        """Opens the "Add Automation Rule" dialog (wizard/iota_script_automation_wizard.py)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Add Automation Rule"),
            "res_model": "iota.script.automation.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_script_id": self.id},
        }

    def action_publish_endpoint(self):
        """Opens a new endpoint of this script (Endpoints), unsaved."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Publish Endpoint"),
            "res_model": "iota.script.endpoint",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
            "context": {"default_script_id": self.id},
        }

    def action_view_server_actions(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Triggers"),
            "res_model": "ir.actions.server",
            "view_mode": "list,form",
            "domain": [("iota_script_id", "=", self.id)],
            "context": {"default_state": "iota_script", "default_iota_script_id": self.id},
            "help": _(
                "<p class='o_view_nocontent_smiling_face'>No automation rule or scheduled action runs this script yet</p>"
                "<p>Go back to the script and press <b>Add Automation Rule</b> to run it when records "
                "are saved, deleted or archived. To run it on a schedule, use its <b>Schedules</b> tab.</p>"
            ),
        }
