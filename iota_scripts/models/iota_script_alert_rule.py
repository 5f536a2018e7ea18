"""Alert rules: tell a script's responsible user when its runs keep failing.

What a rule says
----------------
A rule watches one script, or every script of its company (no script set),
over a sliding window of ``window_min`` minutes of finished runs
(``date_start`` in the window; states succeeded / failed / timed_out / dead;
the runs a recording policy did not keep count by the minute they started):

- ``error_rate``: more than ``error_rate_pct`` percent of the finished runs
  failed, counting only when at least ``min_runs`` runs finished;
- ``failures``: at least ``failure_count`` runs failed.

How it fires
------------
The scheduled action "IOTA Scripts: evaluate alert rules" (every 5 minutes)
checks every active rule, script by script. When a condition holds and the
same rule has not fired for the same script within ``cooldown_min`` minutes,
it records an ``iota.script.alert`` (the history, and the cool-down), posts a
note on the script and schedules a to-do (``mail.activity``) for the script's
responsible user (``user_id``, else its creator). A failed run also wakes the
job (``ir.cron._trigger``, once per transaction, only when the company has
active rules), so an alert does not wait for the next interval.

The job runs as superuser and scopes each rule by hand to the rule's company
(``company_id`` in every domain).
"""

from __future__ import annotations

from datetime import timedelta

from markupsafe import Markup
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..tools.run_states import ERROR_STATES, FINISHED_STATES

CRON_XMLID = "iota_scripts.iota_script_alert_rule_cron"


class IotaScriptAlertRule(models.Model):
    _name = "iota.script.alert.rule"
    _description = "Script Alert Rule"
    _order = "company_id, name, id"
    _check_company_auto = True

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    script_id = fields.Many2one(
        "iota.script",
        string="Script",
        index=True,
        ondelete="cascade",
        check_company=True,
        help="Leave empty to watch every script of the company.",
    )
    kind = fields.Selection(
        [("error_rate", "Error rate above a threshold"), ("failures", "Failed N times")],
        string="Condition",
        required=True,
        default="failures",
    )
    window_min = fields.Integer(string="Window (min)", required=True, default=60)
    error_rate_pct = fields.Float(string="Error Rate Above (%)", default=50.0)
    min_runs = fields.Integer(
        string="Minimum Runs",
        default=5,
        help="The error rate only counts once this many runs finished in the window.",
    )
    failure_count = fields.Integer(string="Failures", default=3)
    cooldown_min = fields.Integer(
        string="Cool-down (min)",
        required=True,
        default=60,
        help="After firing for a script, the rule stays quiet for that script this long.",
    )
    alert_ids = fields.One2many("iota.script.alert", "rule_id", string="Alerts")
    alert_count = fields.Integer(compute="_compute_alert_count")

    def _compute_alert_count(self):
        counts = dict(
            self.env["iota.script.alert"]._read_group(
                [("rule_id", "in", self.ids)], ["rule_id"], ["__count"]
            )
        )
        for rule in self:
            rule.alert_count = counts.get(rule, 0)

    @api.constrains("window_min", "cooldown_min", "error_rate_pct", "min_runs", "failure_count")
    def _check_thresholds(self):
        for rule in self:
            if not 1 <= rule.window_min <= 7 * 24 * 60:
                raise ValidationError(_("The window must be from 1 minute to 7 days."))
            if rule.cooldown_min < 0:
                raise ValidationError(_("The cool-down cannot be negative."))
            if rule.kind == "error_rate" and not 0 <= rule.error_rate_pct < 100:
                raise ValidationError(_("The error rate threshold must be from 0 to 99.99 %."))
            if rule.kind == "error_rate" and rule.min_runs < 1:
                raise ValidationError(_("The minimum number of runs must be at least 1."))
            if rule.kind == "failures" and rule.failure_count < 1:
                raise ValidationError(_("The number of failures must be at least 1."))

    # ---- evaluation ----------------------------------------------------------------
    @api.model
    def _cron_evaluate(self):
        """Evaluates every active rule; returns the alerts that fired."""
        rules = self.sudo().search([])
        alerts = self.env["iota.script.alert"].sudo()
        for rule in rules:
            alerts |= rule._evaluate()
        return alerts

    def _evaluate(self, now=None):
        """Fires this rule for every script that meets its condition (see the module doc)."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        Execution = self.env["iota.script.execution"].sudo()
        domain = [
            ("company_id", "=", self.company_id.id),
            ("date_start", ">=", now - timedelta(minutes=self.window_min)),
            ("state", "in", FINISHED_STATES),
        ]
        if self.script_id:
            domain.append(("script_id", "=", self.script_id.id))
        stats = {}
        for script, state, count in Execution._read_group(
            domain, ["script_id", "state"], ["__count"]
        ):
            runs, errors = stats.get(script, (0, 0))
            stats[script] = (runs + count, errors + (count if state in ERROR_STATES else 0))
        # the runs their recording policy did not keep (by the minute they started)
        since_minute = (now - timedelta(minutes=self.window_min)).replace(second=0, microsecond=0)
        stat_domain = [("bucket", ">=", since_minute)] + [
            term for term in domain if term[0] != "date_start"
        ]
        for script, state, count in (
            self.env["iota.script.run.stat"]
            .sudo()
            ._read_group(stat_domain, ["script_id", "state"], ["runs:sum"])
        ):
            runs, errors = stats.get(script, (0, 0))
            stats[script] = (runs + count, errors + (count if state in ERROR_STATES else 0))
        quiet_since = now - timedelta(minutes=self.cooldown_min)
        recent = set(
            self.env["iota.script.alert"]
            .sudo()
            .search([("rule_id", "=", self.id), ("create_date", ">", quiet_since)])
            .script_id.ids
        )
        fired = self.env["iota.script.alert"].sudo()
        for script, (runs, errors) in stats.items():
            if script.id in recent or not self._holds(runs, errors):
                continue
            fired |= self._fire(script, runs, errors)
        return fired

    def _holds(self, runs, errors):
        if self.kind == "failures":
            return errors >= self.failure_count
        return runs >= self.min_runs and 100.0 * errors / runs > self.error_rate_pct

    def _fire(self, script, runs, errors):
        """Records the alert, posts on the script and gives its responsible a to-do."""
        script = script.sudo()
        if self.kind == "failures":
            message = _(
                "%(errors)s of %(runs)s runs failed in the last %(window)s minutes "
                "(alert rule: %(rule)s, at least %(count)s failures).",
                errors=errors,
                runs=runs,
                window=self.window_min,
                rule=self.name,
                count=self.failure_count,
            )
        else:
            message = _(
                "%(rate)s %% of the runs failed in the last %(window)s minutes "
                "(%(errors)s of %(runs)s; alert rule: %(rule)s, above %(threshold)s %%).",
                rate=round(100.0 * errors / runs, 1),
                window=self.window_min,
                errors=errors,
                runs=runs,
                rule=self.name,
                threshold=self.error_rate_pct,
            )
        alert = (
            self.env["iota.script.alert"]
            .sudo()
            .create(
                {
                    "rule_id": self.id,
                    "script_id": script.id,
                    "company_id": script.company_id.id,
                    "runs": runs,
                    "errors": errors,
                    "message": message,
                }
            )
        )
        script.message_post(body=message, subtype_xmlid="mail.mt_note")
        responsible = script._responsible()
        if responsible and responsible.active and not responsible.share:
            alert.activity_id = script.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("Script failing: %s", script.name),
                note=Markup("<p>%s</p>") % message,
                user_id=responsible.id,
            )
        return alert


class IotaScriptAlert(models.Model):
    """One firing of an alert rule for one script (history and cool-down)."""

    _name = "iota.script.alert"
    _description = "Script Alert"
    _order = "id desc"

    rule_id = fields.Many2one(
        "iota.script.alert.rule", required=True, index=True, ondelete="cascade", readonly=True
    )
    script_id = fields.Many2one(
        "iota.script", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    runs = fields.Integer(readonly=True)
    errors = fields.Integer(readonly=True)
    message = fields.Text(readonly=True)
    activity_id = fields.Many2one("mail.activity", readonly=True, ondelete="set null")
