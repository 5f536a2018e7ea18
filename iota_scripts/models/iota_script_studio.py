"""What the script studio (the Monaco editor) needs from ``iota.script``.

* ``template``: "New script" offers starting points (``tools/templates.py``)
  in a gallery of cards (``iota_template_gallery`` gives their summaries);
  choosing one on a new script replaces its source.
* ``_iota_editor_typings()``: the live-schema declarations for the current
  user, cached per user, language and registry signature. ``ormcache`` is
  cleared with the registry caches (module install, ACL and group changes,
  custom fields), and ``registry_sequence`` in the key covers a registry
  reloaded by another worker.
"""

from __future__ import annotations

from odoo import api, fields, models, tools

from ..tools.templates import TEMPLATES
from ..tools.typings import model_typings


class IotaScript(models.Model):
    _inherit = "iota.script"

    template = fields.Selection(
        [(key, label) for key, (label, _source) in TEMPLATES.items()],
        store=False,
        help="Start from a template: replaces the source of this new script.",
    )

    @api.onchange("template")
    def _onchange_template(self):
        for script in self:
            if script.template and not script._origin.id:
                script.source = TEMPLATES[script.template][1]
                if not script.name:
                    labels = dict(self._fields["template"]._description_selection(self.env))
                    script.name = labels[script.template]

    @api.model
    def iota_template_gallery(self) -> dict[str, str]:
        """``{key: summary}`` of each template for the gallery: its opening comment lines."""
        summaries = {}
        for key, (_label, source) in TEMPLATES.items():
            lines = []
            for line in source.splitlines():
                if not line.startswith("//"):
                    break
                lines.append(line[2:].strip())
            summaries[key] = " ".join(lines)
        return summaries

    @api.model
    def _iota_editor_typings(self) -> dict:
        """``{"dts", "models", "truncated", "signature"}`` for the current user."""
        return dict(self._iota_editor_typings_cached())

    @tools.ormcache("self.env.uid", "self.env.lang", "self.env.registry.registry_sequence")
    def _iota_editor_typings_cached(self):
        # Read as the user (no sudo): has_access and fields_get apply their rights.
        typings = model_typings(self.env)
        typings["signature"] = f"{self.env.registry.registry_sequence}"
        return tuple(typings.items())
