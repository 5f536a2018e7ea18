"""The Odoo side of ``sdk.events``: a run emits domain events into the outbox.

``sdk.events.emit(type, payload?)`` writes an ``iota.script.event`` in the
run's transaction (origin ``script``, naming the emitting script and
execution) and returns its uuid. The dispatcher delivers it after commit; a
run that fails is rolled back with its events.

Refused: a type outside ``[a-z][a-z0-9_.:-]{0,63}`` (``invalid_argument``),
the reserved ``script.*`` types (``access_denied``), a payload over
:data:`MAX_EVENT_PAYLOAD_BYTES` (``argument_too_large``) and more than
``max_events_per_run`` events in one run (``budget_exceeded``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from iota_scripts_sdk import ScriptError

from ..tools.sentinel import as_engine
from .args import HostArgs, declared, denied, invalid, to_json

#: Largest JSON payload of one event.
MAX_EVENT_PAYLOAD_BYTES = 64 * 1024
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")


class EventsHost:
    """``sdk.events`` for one run: writes outbox records in the run's transaction."""

    def __init__(
        self, env: Any, script: Any, execution: Any, max_events: int, dry_run: Any = None
    ) -> None:
        self.env = env
        #: a dry-run's capture (sdk_host/dry_run.py): events recorded there, not written
        self.dry_run = dry_run
        self.script = script
        self.execution = execution
        self.max_events = max_events
        self.count = 0

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {"events.emit": declared("events.emit", self.emit)}

    def emit(self, args: HostArgs) -> str:
        event_type = args["type"]
        if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
            raise invalid("the event type must match [a-z][a-z0-9_.:-]{0,63}")
        if event_type.startswith("script."):
            raise denied("event types starting with 'script.' are reserved")
        payload = json.dumps(to_json(args["payload"]), ensure_ascii=False)
        if len(payload.encode()) > MAX_EVENT_PAYLOAD_BYTES:
            raise ScriptError(
                "argument_too_large",
                f"an event payload may have at most {MAX_EVENT_PAYLOAD_BYTES} bytes",
            )
        if self.count >= self.max_events:
            raise ScriptError("budget_exceeded", f"a run may emit at most {self.max_events} events")
        self.count += 1
        if self.dry_run is not None:
            return self.dry_run.event(event_type, json.loads(payload))
        event = as_engine(self.env["iota.script.event"])._record(
            event_type,
            payload,
            script=self.script,
            execution=self.execution,
            user=self.env.user,
            origin="script",
        )
        return event.uuid
