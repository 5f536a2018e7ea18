"""Recording policies: which runs leave an execution record behind.

What each policy keeps (docs/recording-policies.md, "What a run leaves behind")
-----------------------------------------------------------
* ``all`` (the default): every run is an ``iota.script.execution``;
* ``sampled``: every run that did not succeed, and one in
  ``record_sample_every`` successful runs, drawn at random;
* ``failures``: every run that did not succeed, no successful run.

Whatever the policy, manual runs (Run from the UI, live or not), queued runs
(the queue row *is* the execution) and runs that emitted events or queued
other runs (those rows name their execution) are recorded. A successful run
that is not recorded is counted instead in ``iota.script.run.stat`` (count,
durations, CPU, peak heap, sdk calls, per minute), so the dashboard and the
alert rules count every run exactly.

Where the policy comes from: an endpoint's own policy for its calls; the
script's policy for every other trigger (automation rules, scheduled actions
run in the request, event handlers run in the request, another script).
"""

from __future__ import annotations

import random

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

POLICIES = (
    ("all", "Every run"),
    ("sampled", "Failures and a sample of successes"),
    ("failures", "Failures only"),
)
POLICY_KEYS = frozenset(key for key, _label in POLICIES)
MAX_SAMPLE_EVERY = 1_000_000


def keeps(policy: str, sample_every: int, succeeded: bool, rand=random.random) -> bool:
    """Whether a run with this outcome is recorded under ``policy`` (see the module doc)."""
    if not succeeded or policy == "all":
        return True
    if policy == "sampled":
        return rand() * max(1, sample_every) < 1
    return False


class IotaScriptRecordPolicy(models.AbstractModel):
    """The two fields of a recording policy, validated with a named error."""

    _name = "iota.script.record.policy"
    _description = "Script Recording Policy"

    record_policy = fields.Selection(
        list(POLICIES),
        string="Record Runs",
        required=True,
        default="all",
        help="Every run: each run is an execution. Failures and a sample: every run "
        "that did not succeed, and 1 in N successful runs. Failures only: no "
        "successful run is kept. Counts and durations on the dashboard stay exact.",
    )
    record_sample_every = fields.Integer(
        string="Keep 1 Success In",
        required=True,
        default=100,
        help="With 'Failures and a sample of successes': keep about one successful run in N.",
    )

    @api.model
    def _check_record_policy_vals(self, vals):
        """Refuses an unknown policy or a bad N before the ORM does (its own
        error is a bare ``ValueError`` that reaches the user as a server error)."""
        if "record_policy" in vals and vals["record_policy"] not in POLICY_KEYS:
            raise ValidationError(
                _(
                    "Unknown recording policy %(value)r: use one of %(keys)s.",
                    value=vals["record_policy"],
                    keys=", ".join(key for key, _label in POLICIES),
                )
            )

    @api.constrains("record_sample_every")
    def _check_record_sample_every(self):
        for record in self:
            if not 1 <= record.record_sample_every <= MAX_SAMPLE_EVERY:
                raise ValidationError(
                    _(
                        "Keep 1 success in N: N must be from 1 to %(max)s.",
                        max=MAX_SAMPLE_EVERY,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_record_policy_vals(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_record_policy_vals(vals)
        return super().write(vals)


class IotaScript(models.Model):
    _name = "iota.script"
    _inherit = ["iota.script", "iota.script.record.policy"]


class IotaScriptEndpoint(models.Model):
    _name = "iota.script.endpoint"
    _inherit = ["iota.script.endpoint", "iota.script.record.policy"]
