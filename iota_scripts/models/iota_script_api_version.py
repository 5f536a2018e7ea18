"""The sdk API version a script was written for (``api_version``).

Each script declares it; new scripts take the engine's current version
(``iota_scripts_sdk.api.API_VERSION``). The compatibility policy
(docs/guide/versions.md): within one major version the API only grows; a
function deprecated in major N keeps working through major N+1, with one
``warn`` log line per run that calls it and a strike-through in the editor.
A script declaring a version this server does not know (a newer minor, or
another major) is refused at save with a named error.
"""

import re

from iota_scripts_sdk.api import API_VERSION
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

_VERSION = re.compile(r"^([1-9][0-9]*)\.([0-9]+)$")


def _parts(version):
    match = _VERSION.match(version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


class IotaScript(models.Model):
    _inherit = "iota.script"

    api_version = fields.Char(
        string="sdk API Version",
        default=API_VERSION,
        required=True,
        help="The sdk API version the script was written for (MAJOR.MINOR). Deprecated "
        "functions keep working for at least one more major version, with a warning.",
    )

    @api.constrains("api_version")
    def _check_api_version(self):
        current = _parts(API_VERSION)
        for script in self:
            declared = _parts(script.api_version)
            if declared is None:
                raise ValidationError(
                    _("The sdk API version must read MAJOR.MINOR, e.g. %s.", API_VERSION)
                )
            if declared[0] != current[0] or declared > current:
                raise ValidationError(
                    _(
                        "This server runs sdk API %(current)s: a script written for %(declared)s "
                        "cannot run here.",
                        current=API_VERSION,
                        declared=script.api_version,
                    )
                )
