"""The one place the run path gets its sdk hosts from.

:func:`build` returns the host functions of one run (every namespace the
addon serves: ``db``, ``events``, ``scripts``, ``flags``, ``secrets``; the engine serves ``http``,
``cache`` and ``log`` itself, except in a dry-run) and the ``sdk.db`` host, whose ``abort`` the
run path re-raises after the run. A new namespace is one module in this
package and one line here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..tools.settings import get_setting
from .db import DbHost
from .dry_run import DryRun
from .events import EventsHost
from .flags import FlagsHost
from .scripts import ScriptsHost
from .secrets import SecretsHost

__all__ = ["Hosts", "build"]


@dataclasses.dataclass(frozen=True, slots=True)
class Hosts:
    """``functions``: host name -> function, for ``Engine.run(host=...)``."""

    functions: dict[str, Callable[[list[Any]], Any]]
    db: DbHost
    secrets: SecretsHost


def build(
    run_env: Any,
    script: Any,
    execution: Any,
    dry_run: DryRun | None = None,
    caps: Any = None,
) -> Hosts:
    """The hosts of one run of ``script`` recorded as ``execution``.

    ``caps``: the capabilities of the version that runs (None: no
    declaration). The engine checks each call against them; the hosts check
    what only Odoo can see (the models a write reaches besides the one named,
    the secrets of a version without a declaration).

    ``run_env`` is the pinned run environment (the run-as user, no superuser,
    the script's company only): every host call runs in it. With ``dry_run``,
    HTTP, events, enqueues and the cache are captured there instead
    (``dry_run.py``).
    """
    db = DbHost(run_env, caps)
    max_events = get_setting(run_env, "max_events_per_run")
    events = EventsHost(run_env, script, execution, max_events, dry_run)
    max_enqueues = get_setting(run_env, "max_enqueues_per_run")
    scripts = ScriptsHost(run_env, script, execution, max_enqueues, dry_run)
    flags = FlagsHost(run_env, script, execution)  # read-only: the same in a dry-run
    secrets = SecretsHost(run_env, script, execution, caps)
    functions = {
        **db.functions(),
        **events.functions(),
        **scripts.functions(),
        **flags.functions(),
        **secrets.functions(),
    }
    if dry_run is not None:
        functions.update(dry_run.functions())
        dry_run.mask = secrets.mask
    return Hosts(functions, db, secrets)
