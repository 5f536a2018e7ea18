"""The baseline of ``bench/observability.py``: IOTA Scripts without its metrics
and tracing hooks.

Imported only when ``IOTA_BENCH_STRIP_OBSERVABILITY=1`` (that benchmark's
baseline server). Every hook the run path, the gateway and the engine call
for metrics (``tools/observability/metrics.py``) and traces
(``tools/observability/tracing.py``) is replaced by nothing, and the engine
gets no observer: what is left is the product as it was before them. The
benchmark compares it with the shipped code, both with no exporter and no
metrics token configured, to show what the hooks cost when they are off.
"""

from odoo.addons.iota_scripts.run import record
from odoo.addons.iota_scripts.tools import observability
from odoo.addons.iota_scripts.tools.observability import metrics, tracing


def _nothing(*_args, **_kwargs):
    # the smallest stand-in for a `with` block: the shipped hooks' own no-op
    return tracing._OFF


def _none(*_args, **_kwargs):
    return None


tracing.endpoint_span = _nothing
tracing.run_span = _nothing
tracing.run_ended = _none
tracing.carrier = lambda: (False, False)
metrics.endpoint_answered = _none
metrics.ratelimit_refused = _none
record.measure = _none
# the engine then runs with no observer at all (tools/settings.py get_engine);
# Sentry's runner-crash reports go with it, off in both servers anyway
observability.engine_observer = _none
