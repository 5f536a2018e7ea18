"""Replay every delivery of an event type (``*`` allowed) in a time range."""

from odoo import _, fields, models


class IotaScriptReplayWizard(models.TransientModel):
    _name = "iota.script.replay.wizard"
    _description = "Replay Script Events"

    event_type = fields.Char(required=True, default="*", help="e.g. partner.created or partner.*")
    date_from = fields.Datetime(
        string="From",
        required=True,
        default=lambda self: fields.Datetime.now().replace(hour=0, minute=0, second=0),
    )
    date_to = fields.Datetime(string="To", required=True, default=fields.Datetime.now)
    include_delivered = fields.Boolean(
        help="Also replay deliveries that succeeded (handlers see the same ctx.event.id)."
    )

    def action_replay(self):
        self.ensure_one()
        states = ("dead", "done") if self.include_delivered else ("dead",)
        deliveries = self.env["iota.script.delivery"]._replay_range(
            self.event_type, self.date_from, self.date_to, states=states
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success" if deliveries else "warning",
                "message": _("%s deliveries queued again.", len(deliveries)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
