"""Run states as the dashboard, the alert rules and the events count them.

A run is *finished* when it succeeded or failed, and it *failed* in any of
``ERROR_STATES``. Queued, running and cancelled runs are neither.

``outcome_event_type``: the event a run that ended announces:
``script.executed``, ``script.cancelled`` (stopped by a user, or never
started), or ``script.failed`` (any other end).
"""

ERROR_STATES = ("failed", "timed_out", "dead")
FINISHED_STATES = ("succeeded", *ERROR_STATES)


def outcome_event_type(state: str) -> str:
    """The event type announcing a run that ended in ``state``."""
    if state == "succeeded":
        return "script.executed"
    if state == "cancelled":
        return "script.cancelled"
    return "script.failed"
