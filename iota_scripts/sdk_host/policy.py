"""What ``sdk.db`` lets a script reach: the policy tables, in one place.

These public names are the whole data-access policy of scripts; the host
(``db.py`` in this package), the record rules of a run (``models/ir_rule.py``) and
the generated TypeScript definitions (``tools/typings.py``) read them. The
security page, docs/security.md, lists the same tables: change both together.

* :data:`DENIED_MODELS`: never reachable, not even for reading.
* :data:`READ_ONLY_MODELS` (and every ``iota.script*`` model): readable, never
  created, written, deleted or called, neither directly nor through a nested
  x2many command or a related field of another model.
* :data:`ALLOWED_METHODS`: the methods generic to every model (those of
  ``BaseModel`` and of the ``base`` model that addons extend) that
  ``sdk.db.call`` accepts. Any other generic method is refused with
  ``access_denied``: it is a positive list, so a method that a new Odoo
  version or addon adds to every model stays refused until it is reviewed.
  Methods a model defines for itself (``action_confirm``, ``message_post``,
  ``address_get``, ...) are public business methods and may be called, as
  over RPC; what they search runs under the run's record rules, including
  :data:`SCOPED_MODELS`.
* :data:`SENSITIVE_FIELDS`: field names refused in reads, domains, orders
  and values.
* :data:`SCOPED_MODELS`: extra record rules of a run, where Odoo shares
  records across companies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: Never reachable from scripts, not even for reading.
DENIED_MODELS = frozenset(
    {
        "ir.config_parameter",
        "res.users.apikeys",
        "res.users.apikeys.description",
        "res.users.apikeys.show",
        "res.users.identitycheck",
        "res.users.deletion",
        "change.password.wizard",
        "change.password.user",
        "change.password.own",
        "auth_totp.device",
        "ir.logging",
        "ir.profile",
        "base.module.update",
        "base.module.upgrade",
        "base.module.uninstall",
        # settings: its fields write ir.config_parameter, groups and companies
        "res.config.settings",
        "res.config",
    }
)

#: Readable, but never created, written, deleted or called.
READ_ONLY_MODELS = frozenset(
    {
        "res.users",
        "res.groups",
        "res.company",
        "ir.rule",
        "ir.model",
        "ir.model.fields",
        "ir.model.access",
        "ir.model.data",
        "ir.module.module",
        "ir.ui.view",
        "ir.ui.menu",
        "ir.actions.actions",
        "ir.actions.server",
        "ir.actions.act_window",
        "ir.actions.client",
        "ir.actions.report",
        "ir.actions.act_url",
        "ir.actions.act_window.view",
        "ir.embedded.actions",
        "ir.cron",
        "ir.cron.trigger",
        "ir.cron.progress",
        "ir.asset",
        "ir.model.constraint",
        "ir.model.relation",
        "ir.model.fields.selection",
        "ir.model.inherit",
        "ir.module.category",
        "ir.ui.view.custom",
        "ir.default",
        "ir.mail_server",
        "ir.sequence",
        "base.automation",
        "fetchmail.server",
    }
)

#: Prefix of the models of this addon: all of them are read-only to scripts.
READ_ONLY_PREFIX = "iota.script"

#: The methods generic to every model that ``sdk.db.call`` accepts.
#: Every other method of ``BaseModel`` or of the ``base`` model is refused:
#: data access goes through ``db.read``/``db.search``/... (which apply the
#: checks of this module), environment changes (``sudo``, ``with_*``) and
#: ``update`` (a ``write`` without the link check) are never reachable.
ALLOWED_METHODS = frozenset(
    {
        "copy",  # its ``default`` values are checked like those of db.create
        "name_create",
        "exists",
        "fields_get",
        "default_get",
        "action_archive",
        "action_unarchive",
        "toggle_active",
        "has_access",
        "check_access",
    }
)

#: Field names that look like secrets.
SENSITIVE_FIELDS = re.compile(
    r"pass(word|wd)|secret|token|api_?key|totp|private_key|credential", re.I
)


def _partner_scope(company: Any) -> list[Any]:
    """Partners of the run's company, where Odoo shares them with every company.

    Odoo's rule shows every internal user's partner, whatever its company, and
    the partners of companies have no company: without this, a script would
    read the name, address, VAT and e-mail of the other companies and of their
    users. Kept: partners no internal user has (customers, suppliers, ...;
    Odoo's company rule applies to them), those of the company and its parent
    companies, and those of users who work in the company.
    """
    companies = company.sudo().search([])
    own = company | company.parent_ids
    return [
        ("id", "not in", (companies - own).partner_id.ids),
        "|",
        "|",
        ("partner_share", "=", True),
        ("id", "in", own.partner_id.ids),
        ("user_ids.company_ids", "in", company.ids),
    ]


#: Extra domains that keep a run inside its company where Odoo's own rules
#: share records across companies (every internal user, and so its partner,
#: is visible to every other internal user in standard Odoo). They are record
#: rules of the run environment (``models/ir_rule.py``): every search and
#: access check made as the run-as user applies them, those made inside model
#: methods (``im_search``, ``get_mention_suggestions``, ``name_search``)
#: included. Code that switches to superuser does not see them, and neither
#: does the name Odoo shows for a many2one value (read as superuser): a link
#: that someone else made to another company's user shows that user's name.
SCOPED_MODELS: dict[str, Callable[[Any], list[Any]]] = {
    "res.users": lambda company: [("company_ids", "in", company.ids)],
    "res.partner": _partner_scope,
}


def is_read_only(model_name: str) -> bool:
    """True when scripts may read ``model_name`` but never change it."""
    return model_name in READ_ONLY_MODELS or model_name.startswith(READ_ONLY_PREFIX)
