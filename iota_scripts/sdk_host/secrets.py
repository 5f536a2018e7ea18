"""The Odoo side of ``sdk.secrets``: a company's secrets, for the scripts that declare them.

``sdk.secrets.get(name)`` answers the value of the secret ``name`` of the
*script's* company (``models/iota_script_secret.py``), decrypted with the
server's key, when the capabilities of the running version name it. The
engine checks the declaration on every call already; this host checks it
again, so that a host used without the engine's check (or a version without
a declaration, which the engine does not restrict) never reads a secret.

Errors: ``access_denied`` (not declared), ``not_found`` (no such secret in
the company: another company's secret is the same as none),
``secret_unreadable`` (no configured key opens it), ``invalid_argument``.

Every read is remembered and written by :meth:`SecretsHost.flush` after the
run, outside the run's savepoint: a failed run still leaves its reads. The
engine masks the value in everything the run shows (``masking.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iota_scripts_sdk.masking import SecretMask
from odoo import fields

from ..tools.sentinel import as_engine
from .args import HostArgs, declared, denied, invalid


class SecretsHost:
    """``sdk.secrets`` for one run of ``script`` (``caps``: its version's capabilities)."""

    def __init__(self, env: Any, script: Any, execution: Any, caps: Any) -> None:
        self.env = env
        self.script = script
        self.execution = execution
        self.caps = caps
        self.reads: list[dict[str, Any]] = []
        #: name -> value of the secrets this run read, for :meth:`mask` (never stored)
        self._values: dict[str, str] = {}

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {"secrets.get": declared("secrets.get", self.get)}

    def get(self, args: HostArgs) -> str:
        name = args["name"]
        if not isinstance(name, str) or not name or len(name) > 64:
            raise invalid("a secret name is a string of 1 to 64 characters")
        if self.caps is None or name not in self.caps.secrets:
            raise denied(f"capability {'secrets.' + name!r} not declared")
        Secret = self.env["iota.script.secret"]
        secret, value = Secret._iota_value(name, self.script.company_id)
        self.reads.append(
            {
                "secret_id": secret.id,
                "name": name,
                "company_id": self.script.company_id.id,
                "script_id": self.script.id,
                "user_id": self.env.uid,
                "date": fields.Datetime.now(),
            }
        )
        self._values[name] = value
        return value

    def mask(self) -> SecretMask:
        """The values this run read, as the engine masks them (for what the engine
        does not see: a dry-run's captured requests and writes)."""
        mask = SecretMask()
        for name, value in self._values.items():
            mask.add(name, value)
        return mask

    def flush(self, execution: Any) -> None:
        """Writes the reads of the run (``execution``: its record, empty when not kept)."""
        if not self.reads:
            return
        run = execution.sudo() if execution else None
        for vals in self.reads:
            vals["execution_id"] = run.id if run else False
            vals["triggered_by_id"] = run.triggered_by_id.id if run else False
        as_engine(self.env["iota.script.secret.read"]).sudo().create(self.reads)
        self.reads = []
