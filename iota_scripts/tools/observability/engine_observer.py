"""The engine's one observer (``iota_scripts_sdk.observer``): metrics and traces.

The engine takes a single observer (``Engine.set_observer``, in
``tools/settings.py``). The metrics' methods (runners, ``sdk_call``) come from
``metrics.py``, the tracer's (``sdk_call_begin``/``sdk_call_end``,
``trace_headers``) from ``tracing.py``; each is idle while its feature is off.
"""

from __future__ import annotations

from .metrics import _EngineMetrics
from .tracing import EngineTracing

__all__ = ["ENGINE_OBSERVER"]


class _EngineObservers(_EngineMetrics, EngineTracing):
    """Metrics and traces: the two classes override disjoint methods."""


ENGINE_OBSERVER = _EngineObservers()
