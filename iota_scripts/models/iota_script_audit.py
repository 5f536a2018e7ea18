"""The audit trail: who did what to scripts and their triggers, append-only and hash-chained.

What is recorded
----------------
One entry per action on one record: ``create``, ``edit``, ``activate``,
``disable``, ``draft``, ``archive``, ``unarchive``, ``delete`` (the
``iota.script.audited`` mixin, inherited by scripts, endpoints, schedules and
subscriptions), ``run`` (a run by hand), ``replay`` (a dead letter sent again),
and whatever other code logs through :meth:`IotaScriptAudit._log` (export,
import, flags, capabilities, secrets: names, never values). An entry keeps
the time, the user and company (ids and the user's name as they were: the
ids are plain integers, not foreign keys, because deleting a user must not
rewrite a sealed entry), the action, the target (model, id, name), and
``changes``: a small JSON of the changed field *names* plus non-sensitive
values (state, active, a source's sha256; never a source, never a secret).

How it is chained (and why after commit)
-----------------------------------------
One chain per database (simple to verify and to export; entries carry their
company, and a record rule shows administrators their companies' entries).
``_log`` inserts *pending* rows (no ``seq``, no hash) in the caller's
transaction: they commit or roll back with what they describe, so a rolled
back or replayed transaction (Odoo retries a request on a serialization
failure) leaves no entry and no hole. After the commit, ``_seal`` chains the
pending rows in a transaction of its own: it takes a PostgreSQL advisory
transaction lock (one sealer at a time), reads the head (``seq``, ``hash``
in ``iota_script_audit_head``), gives each pending row the next ``seq``, the
head's hash as ``prev_hash`` and its own hash (``iota_scripts_sdk.audit``),
and moves the head. Sealing cannot happen in the caller's transaction: Odoo
runs at REPEATABLE READ, whose snapshot predates the lock, so two
transactions would read the same head and fork the chain (or one would fail
with a serialization error and replay the whole request, a run by hand
included). The sealer runs at READ COMMITTED, so it reads the head as the
previous sealer committed it. A process that dies between the commit and the
seal leaves rows pending: the next seal (any later audited commit, the
"Verify" button, the daily vacuum) takes them, in id order.

The head is kept apart so that deleting the *last* entries is seen too (the
chain would end before the head). Verification: :meth:`action_verify` (the
"Verify audit trail" button) and ``iota-scripts audit verify --db NAME``.

Append-only: ``create``, ``write`` and ``unlink`` through the ORM raise
:class:`AuditAppendOnly`, whoever asks; only administrators read.
"""

from __future__ import annotations

import json
import logging
import re

from iota_scripts_sdk import audit as chain
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.modules import module as odoo_module
from odoo.sql_db import TestCursor

_logger = logging.getLogger(__name__)

#: pg_advisory_xact_lock key of the sealer ("iota_aud" in ASCII).
_LOCK_KEY = 0x696F74615F617564
#: One postcommit seal per transaction.
_SEAL_HOOK = "iota_scripts.audit.seal"

_ACTION = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
#: ``values`` keys that look like something that must never be logged.
_SENSITIVE = re.compile(r"secret|password|passwd|token|api_?key|credential|^source$|^value$")
_MAX_VALUE_CHARS = 200
_MAX_NAME_CHARS = 256


class AuditAppendOnly(UserError):
    """The audit trail is append-only: no create, write or unlink through the ORM."""


class IotaScriptAudit(models.Model):
    _name = "iota.script.audit"
    _description = "Script Audit Entry"
    _order = "id desc"
    _log_access = False  # the entry's own time and user are hashed; no write_* columns

    seq = fields.Integer(readonly=True, index=True, help="Position in the chain (empty: pending).")
    logged_at = fields.Datetime(string="Time", readonly=True, index=True)
    user_id = fields.Integer(string="User ID", readonly=True)
    user_name = fields.Char(string="User", readonly=True)
    company_id = fields.Integer(string="Company ID", readonly=True, index=True)
    company_name = fields.Char(string="Company", compute="_compute_company_name")
    action = fields.Char(readonly=True, index=True)
    res_model = fields.Char(string="Model", readonly=True, index=True)
    res_id = fields.Integer(string="Record ID", readonly=True)
    res_name = fields.Char(string="Record", readonly=True)
    changes = fields.Text(readonly=True, help="Changed fields and non-sensitive values (JSON).")
    prev_hash = fields.Char(string="Previous Hash", readonly=True)
    hash = fields.Char(string="Hash", readonly=True)

    _sql_constraints = [("seq_uniq", "unique (seq)", "An audit position is used once.")]

    def init(self):
        super().init()
        self.env.cr.execute(
            """
            CREATE TABLE IF NOT EXISTS iota_script_audit_head (
                id integer PRIMARY KEY CHECK (id = 1),
                seq integer NOT NULL,
                hash varchar NOT NULL
            );
            INSERT INTO iota_script_audit_head (id, seq, hash) VALUES (1, 0, %s)
            ON CONFLICT (id) DO NOTHING;
            """,
            [chain.GENESIS],
        )

    def _compute_company_name(self):
        names = dict(
            self.env["res.company"]
            .sudo()
            .browse({a.company_id for a in self if a.company_id})
            .exists()
            .mapped(lambda c: (c.id, c.name))
        )
        for entry in self:
            entry.company_name = names.get(entry.company_id, "")

    # ---- append-only ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        raise AuditAppendOnly(_("Audit entries are written by IOTA Scripts only (append-only)."))

    def write(self, vals):
        raise AuditAppendOnly(_("Audit entries cannot be changed (append-only)."))

    def unlink(self):
        raise AuditAppendOnly(_("Audit entries cannot be deleted (append-only)."))

    # ---- the API other code calls -----------------------------------------------------
    @api.model
    def _log(self, action, records=None, fields=(), values=None, name=None):
        """Appends one entry per record of ``records`` (one entry without a target when empty/None).

        ``action``: a short lower-case name (``create``, ``edit``, ``export``,
        ``secret.set``, ...). ``fields``: the names of the changed fields.
        ``values``: non-sensitive values worth keeping (``{"state": "active"}``,
        ``{"source_sha256": ...}``); keys that look sensitive (secret, password,
        token, api key, ``source``, ``value``) raise ValueError: log a secret's
        *name* as the target, never its value. ``name`` overrides the target's
        display name. The entries belong to the caller's transaction and are
        chained after it commits (module docstring). Returns nothing.
        """
        if not _ACTION.match(action or ""):
            raise ValueError(f"audit action {action!r} is not a short lower-case name")
        values = dict(values or {})
        for key in values:
            if _SENSITIVE.search(str(key).lower()):
                raise ValueError(f"audit values must not hold {key!r}: log names, not values")
        changes = {"fields": sorted({str(f) for f in fields or ()})}
        if values:
            changes["values"] = {str(k): _small(v) for k, v in values.items()}
        changes_json = json.dumps(
            changes, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        user = self.env.user
        targets = list(records) if records else [None]
        rows = []
        for record in targets:
            if record is None:
                res_model = records._name if records is not None else None
                res_id, res_name, company_id = None, name, self.env.company.id
            else:
                res_model, res_id = record._name, record.id
                res_name = name or record.sudo().display_name
                company = record.sudo()["company_id"] if "company_id" in record._fields else None
                company_id = company.id if company else self.env.company.id
            rows.append(
                (
                    user.id,
                    user.sudo().name,
                    company_id,
                    action,
                    res_model,
                    res_id,
                    (res_name or "")[:_MAX_NAME_CHARS] or None,
                    changes_json,
                )
            )
        for row in rows:
            self.env.cr.execute(
                """
                INSERT INTO iota_script_audit
                    (logged_at, user_id, user_name, company_id, action, res_model, res_id,
                     res_name, changes)
                VALUES (date_trunc('second', now() at time zone 'UTC'),
                        %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                row,
            )
        self._seal_after_commit()

    def _seal_after_commit(self):
        data = self.env.cr.postcommit.data
        if data.get(_SEAL_HOOK):
            return
        data[_SEAL_HOOK] = True
        registry = self.env.registry

        @self.env.cr.postcommit.add
        def seal():
            try:
                with registry.cursor() as cr:
                    _seal(cr, fresh=True)
            except (
                Exception
            ):  # the entries are committed: they stay pending, the next seal takes them
                _logger.warning(
                    "iota_scripts: audit entries stay pending (sealing failed)", exc_info=True
                )

    # ---- verification -------------------------------------------------------------------
    def _in_test(self):
        # Tests never commit: seal and read in their own transaction.
        return isinstance(self.env.cr, TestCursor) or bool(odoo_module.current_test)

    @api.model
    def _seal_pending(self):
        """Chains the pending entries now, on a cursor of its own (committed); returns how many."""
        if self._in_test():
            return _seal(self.env.cr, fresh=False)
        with self.env.registry.cursor() as cr:
            return _seal(cr, fresh=True)

    @api.model
    def _verify(self):
        """Seals what is pending, then checks the whole chain: an ``iota_scripts_sdk.audit.Report``.

        The chain is read on a new cursor: its snapshot starts after the seal
        (the request's may be older) and holds the head and the entries as one
        consistent picture.
        """
        self._seal_pending()
        if self._in_test():
            return _read_and_verify(self.env.cr)
        with self.env.registry.cursor() as cr:
            return _read_and_verify(cr)

    @api.model
    def action_verify(self):
        """The "Verify audit trail" button: a notification saying intact, or the first broken entry."""
        if not self.env.user.has_group("iota_scripts.iota_scripts_group_admin"):
            raise AuditAppendOnly(_("Only IOTA Scripts administrators verify the audit trail."))
        report = self._verify()
        broken = report.first_break
        if broken is None:
            kind = "success"
            message = _(
                "The audit trail is intact: %(count)s entries, head %(head)s.",
                count=report.count,
                head=report.head_hash[:16],
            )
        else:
            kind = "danger"
            reasons = {
                chain.HASH_MISMATCH: _("hash mismatch (the entry was changed)"),
                chain.BROKEN_LINK: _("broken link (the previous entry was changed or replaced)"),
                chain.GAP: _("gap (entries were removed)"),
            }
            message = _(
                "The audit trail is broken at entry %(id)s (seq %(seq)s, %(at)s): %(reason)s.",
                id=broken.id,
                seq=broken.seq,
                at=broken.at,
                reason=reasons.get(broken.reason, broken.reason),
            )
        _logger.info("iota_scripts: audit verification by uid %s: %s", self.env.uid, message)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Audit trail"),
                "type": kind,
                "message": message,
                "sticky": broken is not None,
            },
        }

    @api.autovacuum
    def _gc_seal_pending(self):
        """Seals entries left pending by a process that died between its commit and the seal."""
        self._seal_pending()


def _small(value):
    """A JSON-ready value, cut to a few hundred characters."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, models.BaseModel):
        return value.ids
    if isinstance(value, list | tuple):
        return [_small(v) for v in value[:20]]
    return str(value)[:_MAX_VALUE_CHARS]


def _read_and_verify(cr):
    cr.execute("SELECT seq, hash FROM iota_script_audit_head WHERE id = 1")
    head = cr.fetchone()
    columns = ("id", *chain.FIELDS, "prev_hash", "hash")
    cr.execute(
        f"SELECT {', '.join(columns)} FROM iota_script_audit ORDER BY seq NULLS LAST, id"  # noqa: S608 - constant columns
    )
    rows = [dict(zip(columns, row, strict=True)) for row in cr.fetchall()]
    return chain.verify(rows, head=head)


def _seal(cr, fresh):
    """Chains the pending entries after the head, under the sealer's lock; returns how many.

    ``fresh``: ``cr`` has run nothing yet in this transaction (then it reads at
    READ COMMITTED, see the module docstring).
    """
    if fresh:
        # first statement of this transaction: read what other sealers committed
        cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cr.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    cr.execute("SELECT seq, hash FROM iota_script_audit_head WHERE id = 1 FOR UPDATE")
    head_seq, head_hash = cr.fetchone()
    columns = ("id", *chain.FIELDS)
    cr.execute(
        f"SELECT {', '.join(columns)} FROM iota_script_audit WHERE seq IS NULL ORDER BY id FOR UPDATE"  # noqa: S608 - constant columns
    )
    pending = [dict(zip(columns, row, strict=True)) for row in cr.fetchall()]
    if not pending:
        return 0
    sealed = chain.seal(pending, head_seq, head_hash)
    for entry_id, seq, prev_hash, digest in sealed:
        cr.execute(
            "UPDATE iota_script_audit SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [seq, prev_hash, digest, entry_id],
        )
    _entry_id, seq, _prev, digest = sealed[-1]
    cr.execute("UPDATE iota_script_audit_head SET seq = %s, hash = %s WHERE id = 1", [seq, digest])
    return len(sealed)
