"""Export and import of scripts as bundles (backup and restore).

The bundle format (zip, manifest, sections, validation) is the engine's:
``iota_scripts_sdk/bundle.py``. This model maps its records to Odoo's:

* :meth:`IotaScriptBundle._export_bundle` (one script, a selection, or
  :meth:`_export_company`): every version with its source, number, author and
  date, the script's settings, tags, endpoints, schedules, subscriptions and
  the alert rules tied to it. Never secrets' values (an HMAC endpoint gets a
  new secret on import), never executions, queue rows or events. Read as the
  calling user, without sudo: a bundle holds only what that user may read.
* :meth:`_import_preview`: per script key, ``new``, ``changed``,
  ``unchanged`` or ``conflict`` (the target holds a version that the bundle
  does not: a higher number, or the same number with another source).
* :meth:`_import_bundle`: validates, previews, then applies the new and
  changed scripts in one savepoint of the caller's transaction: any error
  undoes the whole import. Versions are immutable: an import only adds the
  missing ones, with their original numbers, dates and authors. It writes
  only into the chosen company, as the importing user, who must be an IOTA
  Scripts administrator of that company.

Audit: exports and imports each go through one method,
:meth:`_export_bundle` and :meth:`_import_bundle`.
"""

from __future__ import annotations

import logging

from iota_scripts_sdk.bundle import SCHEMA, BundleError, read_bundle, write_bundle
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools.sentinel import as_engine
from .iota_script import GROUP_ADMIN, GROUP_DEVELOPER

_logger = logging.getLogger(__name__)

#: Sections that belong to a script and are recreated as a whole when they differ.
_REPLACED = ("schedules", "subscriptions", "alert_rules")
_MODELS = {
    "endpoints": "iota.script.endpoint",
    "schedules": "iota.script.schedule",
    "subscriptions": "iota.script.subscription",
    "alert_rules": "iota.script.alert.rule",
}
#: Script fields copied as they are (the others are mapped by hand).
_SCRIPT_PLAIN = tuple(
    f
    for f in SCHEMA["scripts"]
    if f not in ("key", "tags", "run_as", "responsible", "current_version")
)


class BundleImportError(UserError):
    """A refused export or import, with a stable ``code`` (the engine's bundle codes,
    plus ``company_not_found``, ``access_denied``, ``conflict``, ``invalid_record``)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class IotaScriptBundle(models.AbstractModel):
    _name = "iota.script.bundle"
    _description = "Script bundles: export and import"

    # ---- export ------------------------------------------------------------------------
    @api.model
    def _export_company(self, company):
        """The bundle (zip bytes) of every script of ``company``, archived ones included."""
        scripts = (
            self.env["iota.script"]
            .with_context(active_test=False)
            .search([("company_id", "=", company.id)], order="key")
        )
        return self._export_bundle(scripts, company)

    @api.model
    def _export_bundle(self, scripts, company=None):
        """The bundle (zip bytes) of ``scripts``, all of one company. THE export:
        every export (UI, HTTP, CLI) goes through here."""
        company = company or scripts.company_id[:1] or self.env.company
        if len(scripts.company_id) > 1 or (scripts and scripts.company_id != company):
            raise BundleImportError(
                "invalid_record", _("A bundle holds the scripts of one company; select fewer.")
            )
        self._check_rights(company, GROUP_DEVELOPER)
        env = self._in(company)
        scripts = scripts.with_env(env)
        scripts.check_access("read")
        records = self.with_env(env)._records(scripts.sorted("key"))
        data = write_bundle(
            {"id": company.id, "name": company.name},
            records,
            generator=f"iota_scripts (Odoo) {self.env.cr.dbname}",
        )
        self.env["iota.script.audit"]._log("export", scripts, values={"bytes": len(data)})
        _logger.info(
            "iota_scripts: user %s exported %s scripts of company %s (%s bytes)",
            self.env.uid,
            len(scripts),
            company.id,
            len(data),
        )
        return data

    @api.model
    def _records(self, scripts):
        """``{section: [record]}`` of ``scripts`` in the bundle's shape (SCHEMA)."""
        records = {section: [] for section in SCHEMA}
        tags = scripts.tag_ids.sorted("name")
        records["tags"] = [{"name": t.name, "color": t.color} for t in tags]
        for script in scripts:
            records["scripts"].append(self._script_record(script))
            for version in script.version_ids.sorted("number"):
                records["versions"].append(
                    {
                        "script": script.key,
                        "number": version.number,
                        "source": version.source or "",
                        "note": version.note or None,
                        "author": self._author(version),
                        "saved_at": fields.Datetime.to_string(version.create_date),
                        "capabilities_json": version.sudo().capabilities_json or None,
                        "tests": version.sudo().tests or None,
                    }
                )
                signature = version.sudo()._iota_signature_record()
                if signature:
                    # checked offline by `iota-scripts verify` (the ids are this database's)
                    export = version._iota_signed_export()
                    records["signatures"].append(
                        {
                            "script": script.key,
                            "number": version.number,
                            "version_id": version.id,
                            "company_id": export["company_id"],
                            "capabilities_json": export["capabilities_json"],
                            **signature,
                        }
                    )
            for section, model in _MODELS.items():
                rows = (
                    self.env[model]
                    .with_context(active_test=False)
                    .search([("script_id", "=", script.id)])
                )
                records[section] += self._section_records(section, script, rows)
        return records

    def _author(self, version):
        if version.author_id:
            return {"login": version.author_id.login, "name": version.author_id.name}
        if version.imported_author:
            return {"login": None, "name": version.imported_author}
        return None

    def _script_record(self, script):
        record = {f: self._value(script, f) for f in _SCRIPT_PLAIN}
        runner = script.company_id._iota_scripts_runner_user()
        record.update(
            key=script.key,
            tags=sorted(script.tag_ids.mapped("name")),
            run_as=script.run_as_user_id.login
            if script.run_as_user_id and script.run_as_user_id != runner
            else None,
            responsible=script.user_id.login or None,
            current_version=script.version_id.number or None,
        )
        return record

    def _value(self, record, fname):
        value = record[fname]
        field = record._fields[fname]
        if field.type == "date":
            return fields.Date.to_string(value) if value else None
        if field.type in ("char", "text", "selection") and value is False:
            return None
        return value

    def _section_records(self, section, script, rows):
        out = []
        for row in rows:
            record = {"script": script.key}
            for fname in SCHEMA[section]:
                if fname == "script":
                    continue
                if fname == "group":
                    group = row.group_id
                    record[fname] = group.get_external_id().get(group.id) if group else None
                elif fname == "pinned_version":
                    record[fname] = row.sudo().pinned_version_id.number or None
                else:
                    record[fname] = self._value(row, fname)
            out.append(record)
        key = lambda r: repr(sorted(r.items()))  # noqa: E731
        return sorted(out, key=key)

    # ---- import ------------------------------------------------------------------------
    @api.model
    def _read(self, data):
        try:
            return read_bundle(data)
        except BundleError as e:
            raise BundleImportError(e.code, _("The bundle was refused (%s).", str(e))) from None

    @api.model
    def _target_company(self, company_id):
        company = self.env["res.company"].sudo().browse(company_id or self.env.company.id).exists()
        if not company:
            raise BundleImportError(
                "company_not_found", _("The company %s does not exist.", company_id)
            )
        return company

    def _check_rights(self, company, group):
        user = self.env.user
        if company not in user.company_ids or not (self.env.su or user.has_group(group)):
            raise BundleImportError(
                "access_denied",
                _(
                    "Only IOTA Scripts %(role)s of %(company)s may do that.",
                    role=_("administrators") if group == GROUP_ADMIN else _("developers"),
                    company=company.name,
                ),
            )

    @api.model
    def _import_preview(self, bundle, company):
        """``{"scripts": [{key, name, status, detail}], "counts", "warnings"}``.

        status: ``new``, ``changed``, ``unchanged`` or ``conflict`` (see the module doc).
        """
        Script = self.env["iota.script"].with_context(active_test=False)
        lines, warnings = [], self._warnings(bundle, company)
        for record in bundle.records["scripts"]:
            key = record["key"]
            target = Script.search([("company_id", "=", company.id), ("key", "=", key)])
            status, detail = "new", ""
            if target:
                status, detail = self._compare(bundle, record, target)
            lines.append({"key": key, "name": record["name"], "status": status, "detail": detail})
        counts = {s: 0 for s in ("new", "changed", "unchanged", "conflict")}
        for line in lines:
            counts[line["status"]] += 1
        return {
            "company": {"id": company.id, "name": company.name},
            "source_company": bundle.company,
            "exported_at": bundle.manifest["exported_at"],
            "scripts": lines,
            "counts": counts,
            "warnings": warnings,
        }

    def _compare(self, bundle, record, target):
        key = record["key"]
        theirs = {v.number: v.sha256 for v in target.sudo().version_ids}
        ours = {v["number"]: v["sha256"] for v in bundle.of_script("versions", key)}
        diverged = sorted(n for n in set(theirs) & set(ours) if theirs[n] != ours[n])
        newer = sorted(n for n in theirs if n > max(ours, default=0))
        if diverged or newer:
            detail = _("the target holds versions the bundle does not: %s", diverged + newer)
            return "conflict", detail
        current = self._records(target)
        changes = []
        missing = len(set(ours) - set(theirs))
        if missing:
            changes.append(_("%s new versions", missing))
        script_now = current["scripts"][0]
        company = target.company_id
        changes += [
            f for f in SCHEMA["scripts"] if script_now[f] != self._mapped(record, f, company)
        ]
        for section in ("endpoints", *_REPLACED):
            if current[section] != self._section_of(bundle, section, key):
                changes.append(section)
        if not changes:
            return "unchanged", ""
        return "changed", ", ".join(str(c) for c in changes)

    def _section_of(self, bundle, section, key):
        rows = [dict(r) for r in bundle.of_script(section, key)]
        return sorted(rows, key=lambda r: repr(sorted(r.items())))

    def _mapped(self, record, fname, company):
        """The value a script would hold after import (a user who is missing, or
        not of ``company``, maps to none: see :meth:`_apply_script`)."""
        value = record[fname]
        if fname in ("run_as", "responsible") and value:
            user = self._user(value)
            return value if user and company in user.company_ids else None
        if fname == "tags":
            return sorted(value)
        return value

    def _user(self, login):
        Users = self.env["res.users"].sudo().with_context(active_test=False)
        return Users.search([("login", "=", login)], limit=1)

    def _warnings(self, bundle, company):
        warnings = []
        for record in bundle.records["scripts"]:
            for fname in ("run_as", "responsible"):
                login = record[fname]
                user = login and self._user(login)
                if login and (not user or company not in user.company_ids):
                    warnings.append(
                        _(
                            "%(key)s: no user %(login)s in %(company)s; %(what)s.",
                            key=record["key"],
                            login=login,
                            company=company.name,
                            what=_("it runs as the company's scripts user")
                            if fname == "run_as"
                            else _("no responsible user"),
                        )
                    )
        Endpoint = self.env["iota.script.endpoint"].with_context(active_test=False)
        hmac = [
            e
            for e in bundle.records["endpoints"]
            if e["auth_mode"] == "hmac"
            and not Endpoint.search_count(
                [
                    ("company_id", "=", company.id),
                    ("script_id.key", "=", e["script"]),
                    ("api_version", "=", e["api_version"]),
                    ("path", "=", e["path"]),
                ],
                limit=1,
            )
        ]
        if hmac:
            warnings.append(
                _(
                    "%s HMAC endpoints get a new secret: give it to their callers.",
                    len(hmac),
                )
            )
        return warnings

    def _in(self, company):
        return self.with_company(company).with_context(allowed_company_ids=[company.id]).env

    @api.model
    def _import_bundle(self, data, company_id=None, *, on_conflict="refuse", dry_run=False):
        """Imports a bundle (zip bytes) into ``company_id`` (default: the current
        company). THE import: every import (UI, HTTP, CLI) goes through here.

        Returns the preview (:meth:`_import_preview`) plus ``applied`` (bool)
        and ``skipped`` (conflicting keys left as they are). ``on_conflict``:
        ``refuse`` (any conflict refuses the whole import) or ``skip``.
        Raises :class:`BundleImportError`; nothing is changed then.
        """
        bundle = self._read(data)
        company = self._target_company(company_id)
        self._check_rights(company, GROUP_ADMIN)
        bundler = self.with_env(self._in(company))
        preview = bundler._import_preview(bundle, company)
        conflicts = [line["key"] for line in preview["scripts"] if line["status"] == "conflict"]
        preview.update(applied=False, skipped=[])
        if dry_run:
            return preview
        if conflicts and on_conflict != "skip":
            raise BundleImportError(
                "conflict",
                _(
                    "The target company holds versions the bundle does not, for: %s. Nothing "
                    "was imported; import with the conflicts skipped, or resolve them first.",
                    ", ".join(conflicts),
                ),
            )
        self._verify_signatures(bundle, company)
        todo = [line["key"] for line in preview["scripts"] if line["status"] in ("new", "changed")]
        try:
            with self.env.cr.savepoint():
                for key in todo:
                    bundler._apply_script(bundle, company, key)
                self.env.flush_all()
        except (ValidationError, AccessError, UserError) as e:
            # the savepoint rolled back rows the ormcaches (routes, patterns) may have seen
            self.env.registry.clear_cache()
            if isinstance(e, BundleImportError):
                raise
            raise BundleImportError(
                "invalid_record", _("The import was undone: %s", e.args[0] if e.args else e)
            ) from None
        preview.update(applied=True, skipped=conflicts)
        imported = (
            bundler.env["iota.script"]
            .with_context(active_test=False)  # archived scripts are imported too
            .search([("key", "in", todo), ("company_id", "=", company.id)])
        )
        self.env["iota.script.audit"]._log("import", imported, values={"skipped": len(conflicts)})
        _logger.info(
            "iota_scripts: user %s imported %s scripts into company %s",
            self.env.uid,
            len(todo),
            company.id,
        )
        return preview

    def _verify_signatures(self, bundle, company):
        """Hook for governance. A bundle's ``signatures`` bind the *source*
        database's version ids and company, so they are exported (for
        ``iota-scripts verify``) but never imported: imported versions are
        unsigned here, and under *Require Signed Versions* run only once
        approved in this database (docs/operations/governance.md)."""
        return True

    def _apply_script(self, bundle, company, key):
        record = next(r for r in bundle.records["scripts"] if r["key"] == key)
        Script = self.env["iota.script"].with_context(active_test=False)
        script = Script.search([("company_id", "=", company.id), ("key", "=", key)])
        vals = {f: record[f] or False for f in _SCRIPT_PLAIN if f not in ("state", "active")}
        vals["record_sample_every"] = record["record_sample_every"]
        vals["tag_ids"] = [(6, 0, self._tags(bundle, record["tags"]).ids)]
        run_as = record["run_as"] and self._user(record["run_as"])
        if run_as and company in run_as.company_ids:
            vals["run_as_user_id"] = run_as.id
        else:
            vals["run_as_user_id"] = company._iota_scripts_runner_user().id
        responsible = record["responsible"] and self._user(record["responsible"])
        vals["user_id"] = (
            responsible.id if responsible and company in responsible.company_ids else False
        )
        if script:
            script.write(vals)
        else:
            script = Script.create({**vals, "key": key, "company_id": company.id, "source": False})
        self._add_versions(bundle, script)
        current = record["current_version"]
        if current and script.version_id.number != current:
            version = script.sudo().version_ids.filtered(lambda v: v.number == current)
            as_engine(script).write({"version_id": version.id})
        source = script.version_id.sudo().source
        if current and script.sudo().source != source:
            # the same source as the current version: no new version is made
            script.write({"source": source})
        if current and bundle.format_version >= 2:
            # the current version's declaration and tests (format 2), as saved: equal
            # to the version's, so no new version is made
            saved = script.version_id.sudo()
            script.write(
                {"capabilities_json": saved.capabilities_json, "tests": saved.tests or False}
            )
        script.write({"state": record["state"], "active": record["active"]})
        self._apply_endpoints(bundle, script)
        for section in _REPLACED:
            self._replace_section(bundle, script, section)

    def _tags(self, bundle, names):
        Tag = self.env["iota.script.tag"].with_context(active_test=False)
        colors = {t["name"]: t["color"] for t in bundle.records["tags"]}
        tags = Tag.browse()
        for name in names:
            tag = Tag.search([("name", "=", name)], limit=1) or Tag.create(
                {"name": name, "color": colors.get(name, 0)}
            )
            tags |= tag
        return tags

    def _add_versions(self, bundle, script):
        """Creates the versions the script lacks, with their numbers, dates and authors."""
        have = set(script.sudo().version_ids.mapped("number"))
        Version = as_engine(self.env["iota.script.version"])
        for record in sorted(bundle.of_script("versions", script.key), key=lambda v: v["number"]):
            if record["number"] in have:
                continue
            author = record["author"] or {}
            user = author.get("login") and self._user(author["login"])
            version = Version.create(
                {
                    "script_id": script.id,
                    "number": record["number"],
                    "source": record["source"],
                    "note": record["note"] or False,
                    "capabilities_json": record["capabilities_json"] or False,
                    "tests": record["tests"] or False,
                    "author_id": user.id if user else False,
                    "imported_author": False if user else (author.get("name") or False),
                }
            )
            if record["saved_at"]:
                # create_date is a log column the ORM sets itself: the original date is
                # written after the fact, so "Saved On" keeps the history's dates
                version.flush_recordset()
                self.env.cr.execute(
                    "UPDATE iota_script_version SET create_date = %s WHERE id = %s",
                    [record["saved_at"], version.id],
                )
                version.invalidate_recordset(["create_date"])

    def _row_vals(self, section, script, record):
        vals = {"script_id": script.id}
        for fname, value in record.items():
            if fname == "script":
                continue
            if fname == "group":
                group = value and self.env.ref(value, raise_if_not_found=False)
                if value and (not group or group._name != "res.groups"):
                    raise BundleImportError(
                        "invalid_record",
                        _("The group %s does not exist in this database.", value),
                    )
                vals["group_id"] = group.id if group else False
            elif fname == "pinned_version":
                numbers = {v.number: v.id for v in script.sudo().version_ids}
                vals["pinned_version_id"] = numbers.get(value, False) if value else False
            else:
                vals[fname] = value if value is not None else False
        return vals

    def _apply_endpoints(self, bundle, script):
        """Endpoints are matched on (API version, path): a kept endpoint keeps its HMAC secret."""
        Endpoint = self.env["iota.script.endpoint"].with_context(active_test=False)
        existing = {
            (e.api_version, e.path): e for e in Endpoint.search([("script_id", "=", script.id)])
        }
        wanted = bundle.of_script("endpoints", script.key)
        kept = {(r["api_version"], r["path"]) for r in wanted}
        # first the endpoints that go: a new path may overlap an old one
        Endpoint.browse([e.id for k, e in existing.items() if k not in kept]).unlink()
        for record in wanted:
            vals = self._row_vals("endpoints", script, record)
            endpoint = existing.get((record["api_version"], record["path"]))
            if not endpoint:
                Endpoint.create(vals)
            elif self._section_records("endpoints", script, endpoint)[0] != record:
                endpoint.write(vals)

    def _replace_section(self, bundle, script, section):
        Model = self.env[_MODELS[section]].with_context(active_test=False)
        rows = Model.search([("script_id", "=", script.id)])
        wanted = self._section_of(bundle, section, script.key)
        if self._section_records(section, script, rows) == wanted:
            return
        rows.unlink()
        extra = {"company_id": script.company_id.id} if section == "alert_rules" else {}
        for record in wanted:
            Model.create({**self._row_vals(section, script, record), **extra})
