"""The gateway's replay guard: idempotency keys and seen HMAC signatures.

Rows belong to their endpoint's company (``company_id``, stored) and a
record rule keeps them there: an administrator of one company neither reads
another's stored responses nor deletes its anti-replay rows. The gateway
reads and writes them as superuser.
"""

from __future__ import annotations

from datetime import timedelta

from odoo import api, fields, models


class IotaScriptEndpointReplay(models.Model):
    """Idempotency keys and seen HMAC signatures, kept 24 hours.

    ``kind='idempotency'`` rows hold the stored response of a POST carrying
    ``Idempotency-Key`` (status 0 while the first request is running);
    ``kind='signature'`` rows remember accepted HMAC signatures. The unique
    index is the lock: a concurrent duplicate fails to insert.
    """

    _name = "iota.script.endpoint.replay"
    _description = "Script Endpoint Replay Guard"

    endpoint_id = fields.Many2one(
        "iota.script.endpoint", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(
        "res.company", related="endpoint_id.company_id", store=True, index=True, readonly=True
    )
    kind = fields.Selection(
        [("idempotency", "Idempotency Key"), ("signature", "HMAC Signature")], required=True
    )
    client = fields.Char(required=True)
    key = fields.Char(required=True)
    request_sha256 = fields.Char()
    status = fields.Integer()
    headers_json = fields.Text()
    body = fields.Binary(attachment=False)

    _sql_constraints = [
        ("key_uniq", "unique (endpoint_id, kind, client, key)", "This key was already used."),
    ]

    @api.model
    def _iota_reserve(self, endpoint, kind, client, key, request_sha256=None):
        """Inserts the row unless it exists; returns it, or an empty recordset.

        ``ON CONFLICT DO NOTHING`` waits for a concurrent uncommitted insert of
        the same key, then yields nothing: no IntegrityError, no aborted
        transaction, no logged bad query.
        """
        self.env.cr.execute(
            """
            INSERT INTO iota_script_endpoint_replay
                (endpoint_id, company_id, kind, client, key, request_sha256, status,
                 create_uid, write_uid, create_date, write_date)
            VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s,
                    now() at time zone 'utc', now() at time zone 'utc')
            ON CONFLICT (endpoint_id, kind, client, key) DO NOTHING
            RETURNING id
            """,
            [
                endpoint.id,
                endpoint.company_id.id,
                kind,
                client,
                key,
                request_sha256,
                self.env.uid,
                self.env.uid,
            ],
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()

    @api.model
    def _cron_prune(self):
        limit = fields.Datetime.now() - timedelta(hours=24)
        self.sudo().search([("create_date", "<", limit)]).unlink()
