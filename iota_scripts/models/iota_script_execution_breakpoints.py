"""The breakpoint hits of an execution (issue 12 §4; ``iota_script_breakpoint.py``).

``breakpoint_hits_json`` is the list the engine returned (``RunResult.hits``,
see ``iota_scripts_sdk/breakpoints.py``): each hit's line, captured locals
and ``this`` (capped, secrets masked), the script's own call stack, or a
logpoint's message, or a note when a condition failed. Stored only for runs
that had breakpoints; at most 256 KB (``run/record.py``), the rest counted in
``breakpoint_hits_dropped``. Developers only: captured values may hold data
the run-as user could read.
"""

from __future__ import annotations

import json

from odoo import fields, models

from .iota_script import GROUP_DEVELOPER


class IotaScriptExecutionBreakpoints(models.Model):
    _inherit = "iota.script.execution"

    breakpoint_hits_json = fields.Text(
        string="Breakpoint Hits", readonly=True, groups=GROUP_DEVELOPER
    )
    breakpoint_hit_count = fields.Integer(string="Hits", readonly=True)
    breakpoint_hits_dropped = fields.Integer(
        string="Hits Dropped",
        readonly=True,
        help="Hits past the caps (per breakpoint, per run, stored size): counted, not kept.",
    )

    def _run_panel_values(self):
        """The Run panel's values (``iota_script_run.py``) with the hits, for a developer."""
        values = super()._run_panel_values()
        hits = []
        if self.env.user.has_group(GROUP_DEVELOPER) and self.sudo().breakpoint_hits_json:
            try:
                hits = json.loads(self.sudo().breakpoint_hits_json)
            except ValueError:
                hits = []
        values["hits"] = hits if isinstance(hits, list) else []
        return values
