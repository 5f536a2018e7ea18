"""The Odoo side of ``sdk.flags``: feature flags of the run's company.

``sdk.flags.enabled(name, key?)`` answers whether the flag ``name``
(``models/iota_script_flag.py``) of the *script's* company is on for this
run:

* a company with no flag of that name, or an archived one: ``false`` (not
  an error: a script may test a flag before anyone creates it). A flag of
  another company is the same as no flag: nothing tells it exists;
* the user who triggered the run is on the flag's allow-list: ``true``;
* else the flag's percentage, drawn for ``key`` (a string or a number the
  script passes, e.g. a customer id) or, without one, for the user who
  triggered the run (``user:<id>``), by a hash salted with the flag's id
  (``tools/rollout.py``): the same key gets the same answer every time.

A name that is not a string of at most 64 characters of ``[a-z0-9_.:-]`` is
``invalid_argument``, as is a key that is not a string (1 to 256 characters)
or an integer. A flag is read once per run: the answer for a name and key
does not change within a run.

The flags are read as superuser, scoped by hand to the script's company: the
run-as user (the company's least-privilege scripts user) has no rights on
them, and needs none to ask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from odoo.tools import SQL

from ..tools import rollout
from ..tools.rollout import FLAG_NAME
from .args import HostArgs, declared, invalid

MAX_KEY_CHARS = 256


class FlagsHost:
    """``sdk.flags`` for one run of ``script`` recorded as ``execution``."""

    def __init__(self, env: Any, script: Any, execution: Any) -> None:
        self.env = env
        self.script = script
        self.execution = execution
        self._flags: dict[str, tuple[int, float, frozenset[int]] | None] = {}
        self._caller_uid: int | None = None

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {"flags.enabled": declared("flags.enabled", self.enabled)}

    def enabled(self, args: HostArgs) -> bool:
        name, key = args["name"], args["key"]
        if not isinstance(name, str) or not FLAG_NAME.match(name):
            raise invalid("a flag name is 1 to 64 characters of a-z, 0-9, '_', '.', ':' and '-'")
        if key is not None:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise invalid("the key must be a string or an integer")
            key = str(key)
            if not 0 < len(key) <= MAX_KEY_CHARS:
                raise invalid(f"the key must have 1 to {MAX_KEY_CHARS} characters")
        flag = self._flag(name)
        if flag is None:
            return False
        flag_id, percent, user_ids = flag
        uid = self._caller()
        if uid in user_ids:
            return True
        return rollout.chosen(flag_id, f"key:{key}" if key is not None else f"user:{uid}", percent)

    def _flag(self, name: str) -> tuple[int, float, frozenset[int]] | None:
        if name not in self._flags:
            flag = (
                self.env["iota.script.flag"]
                .sudo()
                .search([("company_id", "=", self.script.company_id.id), ("name", "=", name)])
            )
            self._flags[name] = (
                (flag.id, flag.percent, frozenset(flag.user_ids.ids)) if flag else None
            )
        return self._flags[name]

    def _caller(self) -> int:
        """The user who triggered the run (the execution's "Triggered By")."""
        if self._caller_uid is None:
            # a run written once has no row yet: its trigger's user is its env's
            self.env.cr.execute(
                SQL(
                    "SELECT triggered_by_id FROM iota_script_execution WHERE id = %s",
                    self.execution.id,
                )
            )
            row = self.env.cr.fetchone()
            self._caller_uid = (row and row[0]) or self.execution.env.uid
        return self._caller_uid
