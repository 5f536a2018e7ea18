"""npm packages a company approved for its scripts (``import { format } from "date-fns"``).

An administrator adds a package by name and version range and approves it
(:meth:`IotaScriptPackage.action_approve`): the engine (``iota_scripts_sdk.npm``)
resolves the range against the npm registry to an exact version and its
dependency tree, fetches every tarball once and checks its sha512 integrity,
scans it (install scripts listed and never run; Node built-ins and native
addons refused, with the reason; advisories; each bundled file against the
company's policy rules) and bundles it with esbuild into one ES module.

The bundle is an ``ir.attachment`` named after its sha256, shared by every
company that pins the same bytes (``_iota_store_bundle``); each company still
approves on its own: the record is per company, and a company sees only its
own (record rule). Approving, refusing and upgrading go to the audit trail.

A script version pins the bundles it imports when it is saved
(``iota.script.version.package_pins``): it keeps them when the package is
upgraded later, until it is saved again. ``_iota_modules`` gives a run its
pinned bundles from the store, checked against their hash (a mismatch is
``integrity_error``), kept per process by hash so that warm runs neither read
nor hash them again. Runs never reach the registry.
"""

from __future__ import annotations

import json
import logging

from iota_scripts_sdk import ScriptError
from iota_scripts_sdk.npm import Module, Registry, prepare, valid_specifier
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..tools.sentinel import as_engine
from ..tools.settings import get_engine, get_setting

_logger = logging.getLogger(__name__)

GROUP_ADMIN = "iota_scripts.iota_scripts_group_admin"
#: attachments of bundles: res_model, and name prefix + sha256
BUNDLE_MODEL = "iota.script.package"
BUNDLE_PREFIX = "iota-npm-bundle-"
#: verified modules of this process, by (sha256, attachment checksum)
_MODULES: dict[tuple[str, str], Module] = {}
_MAX_MODULES = 128


class IotaScriptPackage(models.Model):
    _name = "iota.script.package"
    _inherit = ["iota.script.audited"]
    _description = "npm package approved for scripts"
    _order = "name"
    _check_company_auto = True
    _iota_audit_values = frozenset({"state", "version", "version_range", "bundle_sha256"})

    name = fields.Char(required=True, help="The npm package name, as scripts import it.")
    version_range = fields.Char(
        string="Version Range",
        required=True,
        default="latest",
        help="An npm range: ^4.1.0, ~10.4, 4.1.0, latest.",
    )
    version = fields.Char(readonly=True, help="The exact version the range resolved to.")
    integrity = fields.Char(
        readonly=True, help="The tarball's sha512, as the registry publishes it."
    )
    license = fields.Char(readonly=True)
    size_bytes = fields.Integer(string="Bundle Size (bytes)", readonly=True)
    unpacked_bytes = fields.Integer(string="Unpacked Size (bytes)", readonly=True)
    dependency_count = fields.Integer(string="Dependencies", readonly=True)
    lock = fields.Text(readonly=True, help="The resolved tree, as package-lock.json records it.")
    state = fields.Selection(
        [("draft", "To approve"), ("approved", "Approved"), ("refused", "Refused")],
        default="draft",
        required=True,
        readonly=True,
    )
    refusal_reason = fields.Text(readonly=True)
    scan_result = fields.Text(readonly=True, help="The security scan, as JSON.")
    install_scripts = fields.Text(
        readonly=True, help="Install scripts the tarballs declare: never run."
    )
    advisories_note = fields.Char(readonly=True)
    advisory_count = fields.Integer(readonly=True)
    approver_id = fields.Many2one(
        "res.users", string="Approved By", readonly=True, ondelete="set null"
    )
    approved_on = fields.Datetime(readonly=True)
    bundle_sha256 = fields.Char(string="Bundle SHA-256", readonly=True, index=True)
    exports = fields.Text(readonly=True, help="The names the bundle exports, one a line.")
    types = fields.Text(readonly=True, prefetch=False, help="The package's .d.ts files, as JSON.")
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    active = fields.Boolean(default=True)
    script_ids = fields.Many2many(
        "iota.script", compute="_compute_script_ids", string="Scripts Using It"
    )

    _sql_constraints = [
        ("name_company_uniq", "unique(name, company_id)", "A company approves a package once."),
    ]

    @api.constrains("name")
    def _check_name(self):
        for package in self:
            if not valid_specifier(package.name) or package.name.startswith("lib:"):
                raise UserError(_("'%s' is not an npm package name.", package.name))

    def _compute_script_ids(self):
        # sudo: who reads the package sees which scripts of its company use it
        # (their names), whatever the versions' record rules say about sources
        Version = self.env["iota.script.version"].sudo()
        for package in self:
            versions = Version.search(
                [
                    ("company_id", "=", package.company_id.id),
                    ("package_names", "like", f",{package.name},"),
                ]
            )
            scripts = versions.script_id.filtered(lambda s, vs=versions: s.version_id in vs)
            package.script_ids = [(6, 0, scripts.ids)]

    # ---- approval ------------------------------------------------------------------------
    def action_approve(self):
        """Resolves, fetches, scans and bundles the range (see the module's docstring).

        A package the scan refuses is stored as refused, with the reasons; a
        registry that cannot be reached is a UserError and changes nothing.
        """
        if not self.env.user.has_group(GROUP_ADMIN):
            raise AccessError(_("Only IOTA Scripts administrators approve npm packages."))
        for package in self:
            package._approve_one()
        return True

    def _iota_prepare(self):
        """Resolves, fetches, scans and bundles the range (``npm.prepare``); UserError
        when the registry cannot be reached or the range does not resolve."""
        self.ensure_one()
        registry = Registry(get_setting(self.env, "npm_registry"))
        try:
            return prepare(
                registry,
                self.name,
                (self.version_range or "latest").strip(),
                esbuild=get_setting(None, "esbuild"),
                policy_check=self._policy_check(),
            )
        except ScriptError as e:
            raise UserError(_("%(name)s: %(message)s", name=self.name, message=e.message)) from None

    def _approve_one(self):
        self.ensure_one()
        prepared = self._iota_prepare()
        root = prepared.resolution.root
        findings = prepared.findings
        vals = {
            "version": root.version,
            "integrity": root.integrity,
            "license": root.license,
            "unpacked_bytes": prepared.unpacked_bytes,
            "dependency_count": len(prepared.resolution.packages) - 1,
            "lock": json.dumps(prepared.resolution.lock(), indent=1),
            "scan_result": json.dumps(findings, indent=1),
            "install_scripts": "\n".join(
                f"{s['package']}: {s['script']}: {s['command']}"
                for s in findings["install_scripts"]
            )
            or False,
            "advisories_note": findings.get("advisories_note"),
            "advisory_count": len(findings.get("advisories") or []),
        }
        previous = self.version if self.state == "approved" else None
        if not prepared.ok:
            vals.update(state="refused", refusal_reason="\n".join(prepared.refusals))
            as_engine(self).write(vals)
            self.env["iota.script.audit"]._log(
                "package.refuse", self, values={"version": root.version}
            )
            return
        self._iota_store_bundle(prepared.code, prepared.sha256)
        vals.update(
            state="approved",
            refusal_reason=False,
            approver_id=self.env.uid,
            approved_on=fields.Datetime.now(),
            bundle_sha256=prepared.sha256,
            size_bytes=len(prepared.code.encode()),
            exports="\n".join(prepared.exports),
            types=json.dumps(prepared.types) if prepared.types else False,
        )
        as_engine(self).write(vals)
        action = "package.upgrade" if previous and previous != root.version else "package.approve"
        self.env["iota.script.audit"]._log(
            action,
            self,
            values={
                "version": root.version,
                "previous": previous,
                "bundle_sha256": prepared.sha256,
            },
        )

    def _policy_check(self):
        """The company's policy rules, as ``prepare(policy_check=...)`` calls them per file."""
        # the rules on code (not on a script's shape: default export, header, size)
        rules = [
            r
            for r in self.env["iota.script.policy.rule"]._iota_rules_for(
                self.company_id, self.env["iota.script.tag"]
            )
            if r.kind in ("identifier", "member", "syntax", "max_depth")
        ]
        if not rules:
            return None
        engine = get_engine(self.env)

        def check(path, source):
            try:
                return [str(v) for v in engine.check_policies(source, rules)]
            except ScriptError as e:
                return [f"not checked: {e.message}"]

        return check

    @api.model
    def _iota_store_bundle(self, code, sha256):
        """The shared attachment of a bundle, made once per hash (any company)."""
        Attachment = self.env["ir.attachment"].sudo()
        name = BUNDLE_PREFIX + sha256 + ".mjs"
        found = Attachment.search(
            [("res_model", "=", BUNDLE_MODEL), ("res_id", "=", 0), ("name", "=", name)], limit=1
        )
        if found:
            return found
        return Attachment.create(
            {
                "name": name,
                "res_model": BUNDLE_MODEL,
                "res_id": 0,
                "raw": code.encode("utf-8"),
                "mimetype": "text/javascript",
                "company_id": False,
            }
        )

    # ---- scripts -------------------------------------------------------------------------
    @api.model
    def _iota_approved(self, company):
        """{name: package} of ``company``'s approved packages (whatever the user may read)."""
        packages = self.sudo().search([("company_id", "=", company.id), ("state", "=", "approved")])
        return {p.name: p for p in packages}

    @api.model
    def _iota_check_source(self, scripts, source):
        """``Engine.check`` of ``source`` for ``scripts`` (one record, or an empty set
        made by ``iota.script._iota_for_source_check``): None or the ScriptError."""
        ctx = scripts.env.context
        one = len(scripts) == 1
        company = scripts.company_id if one else scripts.env.company
        library = scripts.is_library if one else ctx.get("iota_scripts_library")
        exclude = scripts.ids or ctx.get("iota_scripts_self") or []
        packages = self._iota_importable(company, exclude=exclude)
        return get_engine(self.env).check(source, packages, module=bool(library))

    @api.model
    def _iota_libraries(self, company, exclude=()):
        """{"lib:<key>": script} of ``company``'s library scripts that have a version."""
        scripts = (
            self.env["iota.script"]
            .sudo()
            .search(
                [
                    ("company_id", "=", company.id),
                    ("is_library", "=", True),
                    ("version_id", "!=", False),
                    ("id", "not in", list(exclude)),
                ]
            )
        )
        return {f"lib:{s.key}": s for s in scripts}

    @api.model
    def _iota_importable(self, company, exclude=()):
        """What a script of ``company`` may import: approved packages and library scripts."""
        return sorted(self._iota_approved(company)) + sorted(self._iota_libraries(company, exclude))

    @api.model
    def _iota_pins(self, source, company, exclude=(), library=False):
        """``{name: {"version", "sha256"}}`` of the packages and libraries ``source`` imports.

        A library pin also names its version record (``version_id``): the
        importing version keeps that library version until it is saved again.
        """
        if "import" not in (source or ""):
            return {}
        approved = self._iota_approved(company)
        libraries = self._iota_libraries(company, exclude)
        try:
            names = get_engine(self.env).imports(source, [*approved, *libraries], module=library)
        except ScriptError as e:
            # the save check passed a moment ago: only an engine fault gets here
            _logger.warning("npm pins of a source of company %s: %s", company.id, e.message)
            return {}
        pins = {}
        for n in names:
            if n in approved:
                pins[n] = {"version": approved[n].version, "sha256": approved[n].bundle_sha256}
            elif n in libraries:
                version = libraries[n].version_id
                pins[n] = {
                    "version": str(version.number),
                    "sha256": version.sha256,
                    "version_id": version.id,
                }
        return pins

    @api.model
    def _iota_modules(self, version, _seen=None):
        """The ``Module`` list of ``version``'s pins, dependencies first (ScriptError:
        no longer approved, integrity)."""
        pins = json.loads(version.package_pins or "{}")
        if not pins:
            return []
        approved = self._iota_approved(version.company_id)
        Attachment = self.env["ir.attachment"].sudo()
        modules = []
        seen = _seen if _seen is not None else set()
        for name, pin in pins.items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("lib:"):
                modules += self._iota_library_modules(version, name, pin, seen)
                continue
            if name not in approved:
                raise ScriptError(
                    "access_denied", f"package '{name}' is no longer approved for this company"
                )
            sha = pin["sha256"]
            att = Attachment.search(
                [
                    ("res_model", "=", BUNDLE_MODEL),
                    ("res_id", "=", 0),
                    ("name", "=", BUNDLE_PREFIX + sha + ".mjs"),
                ],
                limit=1,
            )
            if not att:
                raise ScriptError(
                    "integrity_error", f"the bundle of '{name}' is missing from the store"
                )
            key = (sha, att.checksum or "")
            module = _MODULES.get(key)
            if module is None or module.specifier != name:
                module = Module(name, att.raw.decode("utf-8", "replace"), sha)
                if len(_MODULES) >= _MAX_MODULES:
                    _MODULES.pop(next(iter(_MODULES)))
                _MODULES[key] = module
            modules.append(module)
        return modules

    @api.model
    def _iota_library_modules(self, version, name, pin, seen):
        """A library script's pinned version as a module, after the modules it imports."""
        lib = self.env["iota.script.version"].sudo().browse(pin.get("version_id")).exists()
        if not lib or lib.company_id != version.company_id:
            raise ScriptError("not_found", f"the library script '{name[4:]}' is gone")
        return [*self._iota_modules(lib, seen), Module(name, lib.source or "", lib.sha256)]

    @api.model
    def _iota_editor_libs(self):
        """Monaco extra libs of the current company's packages: their .d.ts, else their exports."""
        libs = []
        for name, package in sorted(self._iota_approved(self.env.company).items()):
            types = json.loads(package.types or "{}")
            if types:
                for rel, content in types.items():
                    libs.append({"path": f"file:///node_modules/{name}/{rel}", "content": content})
                continue
            names = [n for n in (package.exports or "").split() if n != "default"]
            body = "".join(f"  export const {n}: any;\n" for n in names if n.isidentifier())
            libs.append(
                {
                    "path": f"file:///iota/npm/{name}.d.ts",
                    "content": f'declare module "{name}" {{\n{body}  const _default: any;\n  export default _default;\n}}\n',
                }
            )
        return libs


class IotaScript(models.Model):
    _inherit = "iota.script"

    is_library = fields.Boolean(
        string="Library",
        tracking=True,
        help="A shared library: its named exports are what the company's other scripts "
        'import with `import { total } from "lib:<key>"`, pinned to the version saved '
        "with them. It has no default export and is not run by itself.",
    )

    def _iota_for_source_check(self, vals):
        """An empty ``iota.script`` that checks a source as ``self`` would with ``vals``
        written: its company (what it may import) and whether it is a library."""
        company = vals.get("company_id") or (self.company_id[:1] or self.env.company).id
        library = vals.get("is_library", any(self.mapped("is_library")))
        return (
            self.browse()
            .with_company(company)
            .with_context(iota_scripts_library=bool(library), iota_scripts_self=self.ids)
        )


class IotaScriptVersion(models.Model):
    _inherit = "iota.script.version"

    # what this version imports, pinned when it is saved: {name: {"version", "sha256"}}
    # (library scripts also "version_id"); package_names ",a,b," to find who uses one
    package_pins = fields.Text(readonly=True, default="{}")
    package_names = fields.Char(readonly=True, index=True)

    @api.model_create_multi
    def create(self, vals_list):
        Package = self.env["iota.script.package"]
        for vals in vals_list:
            if "package_pins" in vals or not vals.get("script_id"):
                continue
            script = self.env["iota.script"].sudo().browse(vals["script_id"])
            pins = Package._iota_pins(
                vals.get("source") or "", script.company_id, script.ids, script.is_library
            )
            vals["package_pins"] = json.dumps(pins, sort_keys=True)
            vals["package_names"] = f",{','.join(sorted(pins))}," if pins else False
        versions = super().create(vals_list)
        # "Scripts Using It" has no field dependencies to follow
        Package.invalidate_model(["script_ids"])
        return versions
