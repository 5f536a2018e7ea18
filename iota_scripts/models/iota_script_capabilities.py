"""Capabilities of scripts and versions: what a script declares it may touch.

``capabilities_json`` holds the declaration (``iota_scripts_sdk.capabilities``)
as canonical JSON (sorted keys and lists, no spaces): empty means *no
declaration*. It is validated with the engine's JSON Schema at save, with the
path of the first error ("Capabilities: models.res.partner: 'delete' is not one
of ..."), and stored canonical, so that equal declarations are equal text.

Versions carry their own copy, made when the version is created
(``iota.script._create_version``); a change of the declaration alone makes a new
version, like a change of the source. A run enforces the capabilities of the
*version* it runs (what was reviewed), on top of the run-as user's access
rights: the engine checks every sdk call (``run/pipeline.py``).

``allowed_hosts`` is the declaration's ``http`` list, one host per line, for
the callers that knew it before it moved here (bundles, old RPC clients):
writing hosts on a script that has no declaration declares what its source
uses (:meth:`_iota_suggest`) with exactly these hosts, as the upgrade does.

The company switch ``iota_capabilities_required`` makes scripts without a
declaration refuse to run (``capabilities_required``).
"""

from __future__ import annotations

import json
import logging

from iota_scripts_sdk import ScriptError
from iota_scripts_sdk.capabilities import SCHEMA, Capabilities, canonical, parse
from jsonschema.exceptions import best_match
from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools import json_schema
from ..tools.settings import get_engine, scripts_enabled

_logger = logging.getLogger(__name__)

_HELP = (
    "What the script may touch, as JSON: models and their operations (read, create, "
    "write, unlink), http hosts, events it may emit, scripts it may enqueue, secrets it "
    "may read, its cache namespace. Empty: no declaration. Checked on every sdk call, on "
    "top of the run-as user's access rights."
)


def canonical_or_error(text):
    """``text`` as the canonical declaration (False when empty); ValidationError naming the problem."""
    if not text or not str(text).strip():
        return False
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValidationError(_("Capabilities: not JSON (%(error)s).", error=e)) from None
    error = best_match(json_schema.validator(SCHEMA).iter_errors(data))
    if error is not None:
        where = "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        ).lstrip(".")
        raise ValidationError(
            _(
                "Capabilities: %(where)s: %(error)s",
                where=where or _("declaration"),
                error=error.message,
            )
        )
    try:
        return canonical(data)
    except ScriptError as e:
        raise ValidationError(_("Capabilities: %(error)s", error=e.message)) from None


class IotaScript(models.Model):
    _inherit = "iota.script"

    capabilities_json = fields.Text(string="Capabilities", tracking=True, copy=True, help=_HELP)
    allowed_hosts = fields.Text(
        compute="_compute_allowed_hosts",
        inverse="_inverse_allowed_hosts",
        help="The http hosts of the capabilities, one per line (api.example.com, "
        "*.example.com, or * for any public host).",
    )

    @api.depends("capabilities_json")
    def _compute_allowed_hosts(self):
        for script in self:
            caps = script._iota_capabilities()
            script.allowed_hosts = "\n".join(caps.http) if caps and caps.http else False

    def _inverse_allowed_hosts(self):
        for script in self:
            hosts = [h.strip().lower() for h in (script.allowed_hosts or "").splitlines()]
            hosts = [h for h in hosts if h]
            caps = script._iota_capabilities()
            if caps is None and not hosts:
                continue  # no declaration, no host: nothing changes
            if caps is None:
                data = script._iota_suggest(script.sudo().source or "")["capabilities"]
            else:
                data = caps.to_dict()
            data["http"] = sorted(set(hosts))
            script.capabilities_json = json.dumps(data)
            # the text as stored (canonical), not as written
            self.env.cache.update(
                script, self._fields["allowed_hosts"], ["\n".join(sorted(set(hosts)))]
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "capabilities_json" in vals:
                vals["capabilities_json"] = canonical_or_error(vals["capabilities_json"])
        return super().create(vals_list)

    def write(self, vals):
        if "capabilities_json" in vals:
            vals = {**vals, "capabilities_json": canonical_or_error(vals["capabilities_json"])}
        res = super().write(vals)
        if "capabilities_json" in vals:
            # a new declaration is a new version, as a new source is (a script
            # being created gets its first version from create, with it)
            note = self.env.context.get("iota_scripts_version_note") or _("Capabilities changed")
            for script in self:
                if (
                    script.version_id
                    and script.sudo().source
                    and (script.capabilities_json != script.version_id.capabilities_json)
                ):
                    script._create_version(note)
        return res

    def _iota_capabilities(self) -> Capabilities | None:
        """The script's declaration, parsed; None when it has none."""
        self.ensure_one()
        return parse(self.capabilities_json) if self.capabilities_json else None

    def _allowed_hosts(self) -> list[str]:
        caps = self._iota_capabilities()
        return list(caps.http) if caps else []

    @api.model
    def _iota_suggest(self, source, extra_hosts=()):
        """``{"capabilities": {...}, "unresolved": [...]}``: what ``source`` uses, by AST.

        Raises ``UserError`` when the source does not parse or no runner can read it."""
        if not scripts_enabled():
            raise UserError(_("Scripts are disabled on this server (IOTA_SCRIPTS_ENABLED)."))
        try:
            found = get_engine(self.env).suggest_capabilities(source or "", list(extra_hosts))
        except ScriptError as e:
            where = _("Line %(line)s, column %(column)s: ", line=e.line, column=e.column)
            raise UserError((where if e.line else "") + e.message) from None
        return {"capabilities": found.capabilities.to_dict(), "unresolved": list(found.unresolved)}

    def action_suggest_capabilities(self):
        """Button: proposes the capabilities the source uses (a wizard to review, then apply)."""
        self.ensure_one()
        caps = self._iota_capabilities()
        found = self._iota_suggest(self.sudo().source or "", caps.http if caps else ())
        wizard = self.env["iota.script.capabilities.wizard"].create(
            {
                "script_id": self.id,
                "suggested_json": json.dumps(found["capabilities"], indent=2, sort_keys=True),
                "unresolved": "\n".join(
                    _("Line %(line)s, column %(column)s: %(call)s (%(why)s)", **u)
                    for u in found["unresolved"]
                ),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "name": _("Suggested capabilities"),
            "res_model": wizard._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
        }

    @api.model
    def _iota_declare_missing(self, legacy_hosts=None):
        """Gives every script and version without a declaration the one its source
        uses (plus its former allowed hosts), says so in the script's chatter and
        the log; returns the number of scripts declared. The upgrade calls it
        (``migrations/``); ``legacy_hosts``: {script id: [host, ...]}."""
        legacy_hosts = legacy_hosts or {}
        Script = self.sudo().with_context(active_test=False, tracking_disable=True)
        done = 0
        for script in Script.search([]):
            hosts = legacy_hosts.get(script.id, [])
            for version in script.version_ids.filtered(lambda v: not v.capabilities_json):
                declared = script._iota_declaration_for(version.source or "", hosts)
                version._iota_set_capabilities(declared)
            if script.capabilities_json:
                continue
            declared = script._iota_declaration_for(script.source or "", hosts)
            models.Model.write(script, {"capabilities_json": declared})
            script.message_post(
                body=_(
                    "Upgrade: this script had no capabilities declaration; it now declares "
                    "what its source uses, with exactly its former allowed hosts: %(caps)s. "
                    "Review it.",
                    caps=declared,
                )
            )
            done += 1
        _logger.info("iota_scripts upgrade: declared the capabilities of %s script(s)", done)
        return done

    def _iota_declaration_for(self, source, hosts):
        """What ``source`` uses, with exactly ``hosts`` as its http hosts: the
        hosts were the allow-list, and an upgrade must not widen it to the
        hosts the source names."""
        try:
            data = self._iota_suggest(source)["capabilities"]
        except UserError:
            data = {}  # a source that no longer parses: its hosts only, for a person to complete
        data["http"] = sorted(set(hosts))
        return canonical(data)


class IotaScriptVersion(models.Model):
    _inherit = "iota.script.version"

    capabilities_json = fields.Text(
        string="Capabilities",
        readonly=True,
        help="The script's capabilities when this version was saved: what its runs may touch.",
    )

    def _iota_capabilities(self) -> Capabilities | None:
        self.ensure_one()
        return parse(self.capabilities_json) if self.capabilities_json else None

    def _iota_set_capabilities(self, declared):
        from ..tools.sentinel import as_engine

        as_engine(self).write({"capabilities_json": declared})


class IotaScriptCapabilitiesWizard(models.TransientModel):
    _name = "iota.script.capabilities.wizard"
    _description = "Suggested capabilities"

    script_id = fields.Many2one("iota.script", required=True, ondelete="cascade")
    suggested_json = fields.Text(string="Suggested capabilities")
    unresolved = fields.Text(readonly=True, help="Calls whose target the AST cannot read.")

    def action_apply(self):
        self.ensure_one()
        self.script_id.write({"capabilities_json": self.suggested_json})
        return {"type": "ir.actions.act_window_close"}
