"""Policy rules of a company: what its scripts' source may not contain (issue 10 §1).

Rules are data, per company. The engine checks them on the AST
(``iota_scripts_sdk.policy``, with the parser of the runners, the one the
editor's check uses):

* at save (a script's source: create and write), at activation, and when an
  administrator approves an endpoint's version (publishing it to callers):
  a violation is a refused save, "Line 4, column 3: `sdk.http` is not allowed
  by policy 'No outbound HTTP in automation scripts'";
* in the editor, as markers (``controllers/editor.py``);
* at run time, for ``member`` rules on ``sdk.*`` paths: the AST cannot see
  ``sdk["ht" + "tp"]``, so the host refuses such calls with
  ``access_denied`` naming the rule (``run/pipeline.py``).

A rule applies to every script of its company, or, with tags, to the
scripts that have one of them. Each company gets the recommended set
(:data:`RECOMMENDED`), active; an administrator switches rules off
(archives them) or adds their own. Rules that change take effect for the
next save, activation and run; saved sources are not re-checked until then.
"""

from __future__ import annotations

from iota_scripts_sdk import PolicyRule, ScriptError
from iota_scripts_sdk.policy import SYNTAX, denied_calls
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..tools.ormcache import ormcache
from ..tools.settings import get_engine, scripts_enabled

#: (name, kind, value, description): created active for every company.
RECOMMENDED = (
    (
        "No Function constructor",
        "identifier",
        "Function",
        "Code generation from strings is disabled in the sandbox; say so at save, not at run time.",
    ),
    ("No debugger statements", "syntax", "debugger", "Left-over debugging code."),
    (
        "Nesting depth at most 8",
        "max_depth",
        "8",
        "Blocks and functions nested more than 8 deep are hard to review.",
    ),
    (
        "The default export is a function",
        "default_export",
        "",
        "Every trigger calls the default export with ctx.",
    ),
)
#: Kinds whose value is a number.
NUMERIC = ("max_depth", "max_bytes")


class IotaScriptPolicyRule(models.Model):
    _name = "iota.script.policy.rule"
    _inherit = ["iota.script.audited"]  # who added, changed or switched off a rule
    _description = "IOTA Script Policy Rule"
    # (the rule's value is logged by field name: "value" keys are refused in audit values)
    _iota_audit_values = frozenset({"active", "name", "kind"})
    _order = "company_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    kind = fields.Selection(
        [
            ("identifier", "Forbidden identifier"),
            ("member", "Forbidden member path"),
            ("syntax", "Forbidden syntax"),
            ("max_depth", "Maximum nesting depth"),
            ("max_bytes", "Maximum source size (bytes)"),
            ("default_export", "Default export is a function"),
            ("jsdoc_header", "JSDoc header required"),
        ],
        required=True,
    )
    value = fields.Char(
        help="identifier: a name (eval); member: a dotted path (sdk.http, Reflect.construct); "
        f"syntax: one of {', '.join(SYNTAX)}; maximum depth or size: a number.",
    )
    description = fields.Text()
    tag_ids = fields.Many2many(
        "iota.script.tag",
        string="Only for Tags",
        help="Empty: every script of the company. Else the scripts with one of these tags.",
    )
    recommended = fields.Boolean(readonly=True, help="Part of the recommended set.")

    @api.constrains("kind", "value", "name")
    def _check_rule(self):
        for rule in self:
            rule._engine_rule()

    def _engine_rule(self) -> PolicyRule:
        """This record as the engine's rule (ValidationError, naming the problem, when invalid)."""
        self.ensure_one()
        value: str | int | None = (self.value or "").strip() or None
        if self.kind in NUMERIC:
            try:
                value = int(value or "")
            except ValueError:
                raise ValidationError(
                    _("Policy rule '%(name)s': the value must be a whole number.", name=self.name)
                ) from None
        try:
            return PolicyRule(self.name, self.kind, value)
        except ScriptError as e:
            raise ValidationError(e.message) from None

    # ---- the rules of a script ---------------------------------------------------------
    @api.model
    @ormcache("company_id")
    def _iota_company_rules(self, company_id):
        """((rule, tag ids), ...) of the company's active rules: read once per registry."""
        rules = self.sudo().search([("company_id", "=", company_id)])
        return tuple((rule._engine_rule(), frozenset(rule.tag_ids.ids)) for rule in rules)

    @api.model
    def _iota_rules_for(self, company, tags) -> list[PolicyRule]:
        """The rules that apply to a script of ``company`` with ``tags``."""
        return _applicable(self._iota_company_rules(company.id), set(tags.ids))

    @api.model
    def _iota_deny(self, script) -> dict[str, str]:
        """``Engine.run(deny=...)`` for a run of ``script``."""
        rules = self._iota_company_rules(script.company_id.id)
        # The script's tags matter only to rules limited to some tags: without
        # such a rule, the run path does not read them (a query per endpoint call).
        tag_ids = set(script.tag_ids.ids) if any(only for _, only in rules) else set()
        return denied_calls(_applicable(rules, tag_ids))

    @api.model
    def _iota_violations(self, source, company, tags, library=False):
        """The violations of ``source`` (``iota_scripts_sdk.PolicyViolation``), in source order.

        A library script (``library``) has no default export: that rule does not apply.
        """
        rules = self._iota_rules_for(company, tags)
        if library:
            rules = [r for r in rules if r.kind != "default_export"]
        if not rules:
            return []
        return get_engine(self.env).check_policies(source, rules)

    # ---- the recommended set, per company ---------------------------------------------------
    @api.model
    def _iota_install_recommended_all(self):
        """Data hook (install and update): the recommended set for every company without it."""
        self._iota_install_recommended(self.env["res.company"].sudo().search([]))

    @api.model
    def _iota_install_recommended(self, companies):
        """Creates the recommended rules for ``companies`` that have none of them yet."""
        have = set(
            self.sudo()
            .with_context(active_test=False)
            .search([("recommended", "=", True), ("company_id", "in", companies.ids)])
            .mapped("company_id")
            .ids
        )
        self.sudo().create(
            [
                {
                    "name": name,
                    "kind": kind,
                    "value": value,
                    "description": description,
                    "company_id": company.id,
                    "recommended": True,
                    "sequence": index,
                }
                for company in companies
                if company.id not in have
                for index, (name, kind, value, description) in enumerate(RECOMMENDED)
            ]
        )

    # ---- CRUD: the cache -------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        self.env.registry.clear_cache()
        return rules

    def write(self, vals):
        res = super().write(vals)
        self.env.registry.clear_cache()
        return res

    def unlink(self):
        res = super().unlink()
        self.env.registry.clear_cache()
        return res


class IotaScript(models.Model):
    _inherit = "iota.script"

    def _check_policies(self):
        """Refuses (ValidationError) a source that breaks its company's policy rules.

        At save, activation and approval of an endpoint's version; see
        ``models/iota_script_policy_rule.py``. Every violation is listed:
        "Line 4, column 3: `sdk.http` is not allowed by policy '...'".
        """
        if not scripts_enabled():
            return  # nothing can parse here; runs are refused anyway
        Rules = self.env["iota.script.policy.rule"]
        for script in self:
            source = script.sudo().source or ""
            try:
                violations = Rules._iota_violations(
                    source, script.company_id, script.tag_ids, library=script.is_library
                )
            except ScriptError as e:
                raise ValidationError(
                    _("The policies could not be checked: %(message)s", message=e.message)
                ) from None
            if violations:
                raise ValidationError("\n".join(str(v) for v in violations[:10]))


def _applicable(rules, tag_ids: set[int]) -> list[PolicyRule]:
    """The rules of ``((rule, tag ids), ...)`` that apply to a script with ``tag_ids``
    (a rule without tags applies to every script)."""
    return [rule for rule, only in rules if not only or only & tag_ids]
