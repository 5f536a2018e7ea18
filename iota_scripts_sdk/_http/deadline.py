"""The one total deadline of a fetch (DNS, connect, TLS, every redirect and the body).

A deadline is a :func:`time.monotonic` value. Every blocking step asks :func:`remaining`
for its timeout, so the steps share one budget instead of each getting a fresh one.
"""

from __future__ import annotations

import time


class DeadlineExceededError(Exception):
    """The total deadline passed. Never leaves this package (``client.py`` makes it
    ``timeout``)."""


def remaining(deadline: float) -> float:
    """Seconds left before *deadline*; raises when none are left (so never 0 = non-blocking)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceededError
    return left
