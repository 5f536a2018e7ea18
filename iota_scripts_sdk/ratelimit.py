"""Rate limiting for the engine's hosts: the public surface.

Two algorithms behind one :class:`RateLimiter` (GCRA, and an exact sliding-window
log bounded by :data:`MAX_WINDOW_LIMIT`), atomic in Redis or in-process, with a
named policy for a Redis outage (:data:`ON_UNAVAILABLE`). Hosts import from here;
the modules behind it are private and may move.
"""

from ._ratelimit import ALGORITHMS, ON_UNAVAILABLE, RateDecision, RateLimiter
from ._ratewindow import MAX_WINDOW_LIMIT

__all__ = ["ALGORITHMS", "MAX_WINDOW_LIMIT", "ON_UNAVAILABLE", "RateDecision", "RateLimiter"]
