"""Run states as the dashboard and the alert rules count them.

A run is *finished* when it succeeded or failed, and it *failed* in any of
``ERROR_STATES``. Queued, running and cancelled runs are neither.
"""

ERROR_STATES = ("failed", "timed_out", "dead")
FINISHED_STATES = ("succeeded", *ERROR_STATES)
