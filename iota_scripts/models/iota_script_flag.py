"""Feature flags: named switches that scripts read with ``sdk.flags.enabled(name)``.

A flag belongs to one company (its name is unique there): a script only
ever reads the flags of its own company (``sdk_host/flags.py``), and the
record rule shows a user the flags of the companies they work in. A flag is
on for:

- every run triggered by a user of its allow-list (``user_ids``);
- ``percent`` % of the keys, drawn by a hash salted with the flag's id
  (``tools/rollout.py``): sticky, the same user (or the key the script
  passes, e.g. a record) gets the same answer each time; 100 % is on for
  everyone, 0 % only for the allow-list.

An archived flag, or a name the company has no flag for, is *off*
(``false``, not an error): a script can test a flag before it is created.

IOTA Scripts administrators manage flags (Configuration > Feature Flags);
Developers read them. Every change is tracked in the flag's chatter and
logged in the audit trail (``iota.script.audited``: name, state and
percentage with their values, the allow-list by name).
"""

from __future__ import annotations

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..tools.rollout import FLAG_NAME


class IotaScriptFlag(models.Model):
    _name = "iota.script.flag"
    _description = "Script Feature Flag"
    # every create, edit, archive and delete goes to the audit trail
    _inherit = ["mail.thread", "iota.script.audited"]
    _iota_audit_values = frozenset({"name", "active", "percent"})
    _order = "company_id, name, id"
    _check_company_auto = True

    name = fields.Char(
        required=True,
        tracking=True,
        help="What scripts ask for: sdk.flags.enabled(name). Lower-case letters, digits, "
        "'_', '.', ':' and '-'.",
    )
    description = fields.Text()
    active = fields.Boolean(default=True, tracking=True, help="An archived flag is off.")
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        tracking=True,
        default=lambda self: self.env.company,
    )
    percent = fields.Float(
        string="On For (%)",
        default=0.0,
        tracking=True,
        help="The share of users (or of the keys a script passes) the flag is on for, "
        "sticky per user or key. 0: only the allow-list; 100: everyone.",
    )
    user_ids = fields.Many2many(
        "res.users",
        "iota_script_flag_user_rel",
        "flag_id",
        "user_id",
        string="Always On For",
        domain="[('share', '=', False), ('company_ids', 'in', company_id)]",
        help="Runs triggered by these users see the flag on, whatever the percentage.",
    )

    _sql_constraints = [
        (
            "name_company_uniq",
            "unique (company_id, name)",
            "A flag name is unique per company.",
        ),
    ]

    @api.constrains("name", "percent")
    def _check_flag(self):
        for flag in self:
            if not FLAG_NAME.match(flag.name or ""):
                raise ValidationError(
                    _(
                        "The flag name %(name)r may contain only lower-case letters, digits, "
                        "'_', '.', ':' and '-' (64 characters at most).",
                        name=flag.name,
                    )
                )
            if not 0 <= flag.percent <= 100:
                raise ValidationError(_("The percentage must be from 0 to 100."))
