"""The "profile" run mode (run/profiling.py): a run by hand, instrumented, whose
time per function is kept with its execution and drawn as a flame graph
(``profile_json``, the ``iota_scripts_flame_graph`` field widget)."""

from __future__ import annotations

import json

from odoo import fields, models

from ..run.profiling import ProfileCapture


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    profile_json = fields.Text(
        string="Profile",
        readonly=True,
        help="Time per function of a profiled run: a call tree (name, value in ms, "
        "calls, children), drawn as a flame graph.",
    )


class IotaScript(models.Model):
    _inherit = "iota.script"

    def action_profile(self, input_value=None):
        """The Run panel's "Profile": runs the current version by hand, instrumented;
        returns the panel's values of the execution with ``profile`` (the call tree)."""
        self.ensure_one()
        capture = ProfileCapture()
        execution = self._run_by_hand(input_value, profile=capture)
        values = execution._run_panel_values()
        values["profile"] = json.loads(execution.sudo().profile_json or "null")
        return values
