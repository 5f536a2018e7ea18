"""The signature step: under *Require Signed Versions*, a version runs only when its signature holds.

Every trigger passes here (``pipeline._execute``, once the execution is
open), so manual runs, automation rules, schedules, endpoints, event
deliveries and queued runs refuse alike. The check is the engine's
(``iota_scripts_sdk.signing.verify_version``) on the source the run is about
to execute, against the public keys of ``iota.script.signing.key``. A refused
run ends ``failed`` with ``signature_invalid`` without starting, and the
script's responsible user is told (``_iota_signature_refused``).
"""

from __future__ import annotations

from typing import Any

from iota_scripts_sdk import ScriptError


def refusal(script: Any, version: Any) -> ScriptError | None:
    """Why ``version`` of ``script`` (sudo) must not run, or None."""
    if not script.company_id.iota_scripts_require_signed:
        return None
    return version.sudo()._iota_signature_error()
