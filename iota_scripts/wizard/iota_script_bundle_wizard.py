"""The Export and Import dialogs of bundles (``models/iota_script_bundle.py`` does the work).

Export: the selected scripts (the list's "Export" action) or every script of
a company (Configuration > Export Scripts); the dialog then offers the zip.
Import: upload a bundle, see the preview (new, changed, unchanged, conflict
per script key, and warnings), then import, optionally leaving conflicting
scripts as they are.
"""

import base64
import binascii

from odoo import _, api, fields, models
from odoo.exceptions import UserError


class IotaScriptBundleExportWizard(models.TransientModel):
    _name = "iota.script.bundle.export.wizard"
    _description = "Export Scripts"

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    scope = fields.Selection(
        [("selected", "The selected scripts"), ("company", "Every script of the company")],
        required=True,
        default=lambda self: "selected" if self.env.context.get("active_ids") else "company",
    )
    script_ids = fields.Many2many(
        "iota.script",
        string="Scripts",
        context={"active_test": False},
        default=lambda self: self._default_scripts(),
    )
    bundle_file = fields.Binary(string="Bundle", readonly=True, attachment=False)
    bundle_name = fields.Char(readonly=True)
    state = fields.Selection([("choose", "Choose"), ("done", "Done")], default="choose")

    @api.model
    def _default_scripts(self):
        if self.env.context.get("active_model") != "iota.script":
            return False
        return [(6, 0, self.env.context.get("active_ids") or [])]

    def action_export(self):
        self.ensure_one()
        Bundle = self.env["iota.script.bundle"]
        if self.scope == "company":
            data = Bundle._export_company(self.company_id)
        else:
            if not self.script_ids:
                raise UserError(_("Select the scripts to export."))
            data = Bundle._export_bundle(self.script_ids, self.script_ids.company_id[:1])
        stamp = fields.Datetime.now().strftime("%Y%m%d-%H%M%S")
        self.write(
            {
                "bundle_file": base64.b64encode(data),
                "bundle_name": f"iota-scripts-{stamp}.zip",
                "state": "done",
            }
        )
        return self._reopen()

    def _reopen(self):
        return _reopen(self)


class IotaScriptBundleImportWizard(models.TransientModel):
    _name = "iota.script.bundle.import.wizard"
    _description = "Import Scripts"

    company_id = fields.Many2one(
        "res.company",
        string="Into Company",
        required=True,
        default=lambda self: self.env.company,
        domain=lambda self: [("id", "in", self.env.user.company_ids.ids)],
    )
    bundle_file = fields.Binary(string="Bundle", required=True, attachment=False)
    bundle_name = fields.Char()
    skip_conflicts = fields.Boolean(
        help="Import the other scripts and leave the conflicting ones as they are. "
        "Without it, a conflict refuses the whole import."
    )
    state = fields.Selection(
        [("upload", "Upload"), ("preview", "Preview"), ("done", "Done")], default="upload"
    )
    source_summary = fields.Char(string="Bundle Of", readonly=True)
    warnings = fields.Text(readonly=True)
    line_ids = fields.One2many("iota.script.bundle.import.line", "wizard_id", readonly=True)
    new_count = fields.Integer(readonly=True)
    changed_count = fields.Integer(readonly=True)
    unchanged_count = fields.Integer(readonly=True)
    conflict_count = fields.Integer(readonly=True)

    def _data(self):
        try:
            return base64.b64decode(self.bundle_file or b"", validate=True)
        except (binascii.Error, ValueError):
            raise UserError(_("The uploaded file could not be read.")) from None

    def _show(self, result, state):
        counts = result["counts"]
        source = result["source_company"]
        self.write(
            {
                "state": state,
                "source_summary": _(
                    "%(company)s, exported at %(when)s",
                    company=source.get("name"),
                    when=result["exported_at"],
                ),
                "warnings": "\n".join(result["warnings"]) or False,
                "new_count": counts["new"],
                "changed_count": counts["changed"],
                "unchanged_count": counts["unchanged"],
                "conflict_count": counts["conflict"],
                "line_ids": [(5, 0, 0)]
                + [
                    (
                        0,
                        0,
                        {
                            "key": line["key"],
                            "name": line["name"],
                            "status": line["status"],
                            "detail": line["detail"] or False,
                            "skipped": line["key"] in result.get("skipped", []),
                        },
                    )
                    for line in result["scripts"]
                ],
            }
        )
        return _reopen(self)

    def action_preview(self):
        self.ensure_one()
        result = self.env["iota.script.bundle"]._import_bundle(
            self._data(), self.company_id.id, dry_run=True
        )
        return self._show(result, "preview")

    def action_import(self):
        self.ensure_one()
        result = self.env["iota.script.bundle"]._import_bundle(
            self._data(),
            self.company_id.id,
            on_conflict="skip" if self.skip_conflicts else "refuse",
        )
        return self._show(result, "done")


class IotaScriptBundleImportLine(models.TransientModel):
    _name = "iota.script.bundle.import.line"
    _description = "Import Scripts: one script of the preview"
    _order = "id"

    wizard_id = fields.Many2one(
        "iota.script.bundle.import.wizard", required=True, ondelete="cascade"
    )
    key = fields.Char()
    name = fields.Char()
    status = fields.Selection(
        [
            ("new", "New"),
            ("changed", "Changed"),
            ("unchanged", "Unchanged"),
            ("conflict", "Conflict"),
        ]
    )
    detail = fields.Char()
    skipped = fields.Boolean()


def _reopen(wizard):
    """The action that shows ``wizard`` again in its dialog (the next step of the same record)."""
    return {
        "type": "ir.actions.act_window",
        "res_model": wizard._name,
        "res_id": wizard.id,
        "view_mode": "form",
        "views": [(False, "form")],
        "target": "new",
    }
