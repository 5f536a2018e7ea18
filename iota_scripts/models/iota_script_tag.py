from random import randint

from odoo import fields, models


class IotaScriptTag(models.Model):
    _name = "iota.script.tag"
    _description = "Script Tag"
    _order = "name"

    def _default_color(self):
        return randint(1, 11)  # noqa: S311 - a tag's display colour, not a secret

    name = fields.Char(required=True, translate=True)
    color = fields.Integer(default=_default_color)
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("name_uniq", "unique (name)", "A tag with this name already exists."),
    ]
