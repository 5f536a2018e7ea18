"""Adoption figures for the dashboard's "Adoption" tab: ``get_adoption_data(scope)``.

What it counts (the last ``ADOPTION_DAYS`` days where a period applies):

* active scripts by trigger type: an active script counts once under every
  kind of trigger it has (automation rule, scheduled action, schedule,
  endpoint, event subscription), and under ``manual`` when it has none;
* authors active: distinct users who saved a version in the period;
* runs per day by trigger: executions and the runs their recording policy
  counted without keeping (``iota.script.run.stat``), by day (UTC);
* the share of automation rules and scheduled actions that run scripts
  rather than Python code: among those whose server actions are of type
  "Run JavaScript script" or "Execute Code";
* migrated actions: scripts converted from Python server actions, by state
  (converted, shadowing, switched, rolled back; ``models/iota_script_migration.py``);
* the top scripts by runs and by failed runs in the period.

Scoping: everything is read through the ORM as the current user, so access
rights and record rules apply as on the dashboard. ``scope="company"`` pins the
companies to ``self.env.companies`` (the company switcher); ``scope="system"``
(IOTA Scripts administrators only) takes every company the user may work in.
Automation rules and scheduled actions are Odoo's own, readable by
administrators only: for other users that share is ``None``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..tools.run_states import ERROR_STATES

ADOPTION_DAYS = 30
TOP = 10
SCOPES = ("company", "system")
ADMIN_GROUP = "iota_scripts.iota_scripts_group_admin"
TRIGGER_KINDS = ("automation", "scheduled_action", "schedule", "endpoint", "event", "manual")


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    @api.model
    def get_adoption_data(self, scope="company"):
        """The adoption figures (see the module docstring) as a JSON-able dict:
        ``scope``, ``days``, ``companies``, ``scripts_by_trigger``, ``authors_active``,
        ``runs_per_day`` ({day: {trigger: runs}}), ``script_share`` ({automation,
        scheduled_action}: {scripts, python, share} or None), ``top_by_runs``,
        ``migrations`` ({converted, shadowing, switched, rolled_back}: scripts),
        ``top_by_failures``. Raises UserError for an unknown scope and
        AccessError for ``system`` without the administrator group."""
        if scope not in SCOPES:
            raise UserError(_("The scope must be one of %(scopes)s.", scopes=list(SCOPES)))
        env = self.env
        if scope == "system":
            if not env.user.has_group(ADMIN_GROUP):
                raise AccessError(_("Only IOTA Scripts administrators see every company."))
            env = env(context=dict(env.context, allowed_company_ids=env.user.company_ids.ids))
        companies = env.companies
        since = fields.Datetime.now() - timedelta(days=ADOPTION_DAYS)
        in_companies = [("company_id", "in", companies.ids)]
        runs = self._iota_adoption_runs(env, in_companies, since)
        return {
            "scope": scope,
            "days": ADOPTION_DAYS,
            "companies": [{"id": c.id, "name": c.name} for c in companies],
            "scripts_by_trigger": self._iota_scripts_by_trigger(env, in_companies),
            "authors_active": self._iota_authors_active(env, in_companies, since),
            "runs_per_day": runs["per_day"],
            "script_share": self._iota_script_share(env),
            "migrations": self._iota_migrations(env, in_companies),
            "top_by_runs": runs["top_by_runs"],
            "top_by_failures": runs["top_by_failures"],
        }

    @api.model
    def _iota_migrations(self, env, in_companies):
        """Scripts converted from Python actions, by state (converted, shadowing, switched,
        rolled back)."""
        groups = (
            env["iota.script"]
            .with_context(active_test=False)
            ._read_group(
                [*in_companies, ("migration_state", "!=", False)], ["migration_state"], ["__count"]
            )
        )
        counts = dict(groups)
        return {
            state: counts.get(state, 0)
            for state in ("converted", "shadowing", "switched", "rolled_back")
        }

    @api.model
    def _iota_authors_active(self, env, in_companies, since):
        # Versions hold sources a plain user may not read: their authors are
        # counted (sudo) for the scripts this user can see, nothing else.
        scripts = env["iota.script"].with_context(active_test=False).search(in_companies)
        versions = (
            env["iota.script.version"]
            .sudo()
            .search([("script_id", "in", scripts.ids), ("create_date", ">=", since)])
        )
        return len(versions.create_uid)

    @api.model
    def _iota_scripts_by_trigger(self, env, in_companies):
        scripts = env["iota.script"].search([*in_companies, ("state", "=", "active")])
        kinds = {script.id: set() for script in scripts}
        actions = env["ir.actions.server"].sudo().search([("iota_script_id", "in", scripts.ids)])
        automated = env["base.automation"].sudo().search([("action_server_ids", "in", actions.ids)])
        for action in automated.action_server_ids & actions:
            kinds[action.iota_script_id.id].add("automation")
        crons = env["ir.cron"].sudo().search([("ir_actions_server_id", "in", actions.ids)])
        for cron in crons:
            kinds[cron.ir_actions_server_id.iota_script_id.id].add("scheduled_action")
        for model, kind in (
            ("iota.script.schedule", "schedule"),
            ("iota.script.endpoint", "endpoint"),
            ("iota.script.subscription", "event"),
        ):
            for record in env[model].search([("script_id", "in", scripts.ids)]):
                kinds[record.script_id.id].add(kind)
        counts = Counter(kind for found in kinds.values() for kind in (found or {"manual"}))
        return {kind: counts.get(kind, 0) for kind in TRIGGER_KINDS}

    @api.model
    def _iota_adoption_runs(self, env, in_companies, since):
        per_day = defaultdict(Counter)
        runs, failures = Counter(), Counter()
        period = [*in_companies, ("date_start", ">=", since)]
        for day, trigger, script, state, count in (
            (g[0], g[1], g[2], g[3], g[4])
            for g in env["iota.script.execution"]._read_group(
                period, ["date_start:day", "trigger", "script_id", "state"], ["__count"]
            )
        ):
            per_day[fields.Date.to_string(day)][trigger] += count
            runs[script] += count
            if state in ERROR_STATES:
                failures[script] += count
        stats = [*in_companies, ("bucket", ">=", since)]
        for day, trigger, script, total in env["iota.script.run.stat"]._read_group(
            stats, ["bucket:day", "trigger", "script_id"], ["runs:sum"]
        ):
            per_day[fields.Date.to_string(day)][trigger] += total
            runs[script] += total

        def top(counter):
            return [
                {"id": script.id, "name": script.display_name, "count": n}
                for script, n in counter.most_common(TOP)
                if n
            ]

        return {
            "per_day": {day: dict(counts) for day, counts in sorted(per_day.items())},
            "top_by_runs": top(runs),
            "top_by_failures": top(failures),
        }

    @api.model
    def _iota_script_share(self, env):
        """Per kind, how many rules or scheduled actions run scripts, how many Python code."""
        if not env.user.has_group("base.group_system"):
            return None  # Odoo's automation rules and crons are administrators' records
        share = {}
        for kind, records, actions_of in (
            ("automation", env["base.automation"].search([]), lambda r: r.action_server_ids),
            ("scheduled_action", env["ir.cron"].search([]), lambda r: r.ir_actions_server_id),
        ):
            scripts = python = 0
            for record in records:
                states = set(actions_of(record).mapped("state"))
                if "iota_script" in states:
                    scripts += 1
                elif "code" in states:
                    python += 1
            share[kind] = {
                "scripts": scripts,
                "python": python,
                "share": round(100.0 * scripts / (scripts + python), 1)
                if scripts + python
                else None,
            }
        return share
