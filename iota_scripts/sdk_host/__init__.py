"""The host side of the bridge: what ``sdk.db``, ``sdk.events``, ``sdk.scripts`` and ``sdk.secrets`` do in Odoo.

``builder.build`` gives the run path every host function of a run;
``policy`` holds the tables a security review reads; ``args`` the argument
check shared by every namespace, driven by ``iota_scripts_sdk.api``.
"""

from . import args, builder, db, events, policy, scripts, secrets
