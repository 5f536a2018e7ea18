"""Upgrade to capabilities (issue 10 §2): every script gets a declaration.

Before this version a script had ``allowed_hosts`` (one host per line) and
could call every sdk namespace. Its hosts move into the declaration's
``http``; the rest of the declaration is what its source uses, read from the
AST (``iota.script._iota_declare_missing``), for the script and for each of
its versions. Each script's chatter says so, and the log counts them. The
old column stays in the table (Odoo drops no column); it is no longer read.
"""

import logging

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'iota_script' AND column_name = 'allowed_hosts'"
    )
    hosts = {}
    if cr.fetchone():
        cr.execute("SELECT id, allowed_hosts FROM iota_script WHERE allowed_hosts IS NOT NULL")
        for script_id, text in cr.fetchall():
            hosts[script_id] = [h.strip().lower() for h in (text or "").splitlines() if h.strip()]
    env = api.Environment(cr, SUPERUSER_ID, {})
    done = env["iota.script"]._iota_declare_missing(hosts)
    _logger.info(
        "iota_scripts %s: %s script(s) now declare capabilities (from their source and "
        "their former allowed hosts); review them on the Capabilities tab",
        version,
        done,
    )
