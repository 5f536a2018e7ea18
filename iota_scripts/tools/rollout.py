"""Deterministic draws for gradual rollouts and feature flags (no Odoo import).

A rollout sends a percentage of runs to a candidate version; a feature flag
is on for a percentage of users or records. Both must give the same answer
to the same caller every time (sticky), and independent answers for two
candidates or two flags. So the draw is a hash, never ``random()``:

    bucket = int(sha256(f"{salt}:{key}")[:8], 16) % 10000      # 0 .. 9999
    chosen = bucket < round(percent * 100)

``salt`` is the candidate version's id (a new candidate reshuffles who is in)
or the flag's id; ``key`` names the caller (``ip:…``, ``user:…``) or the
record (``res.partner:42``). A percentage has two decimals of resolution:
10 % is exactly the buckets 0 to 999.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["BUCKETS", "FLAG_NAME", "bucket", "chosen"]

#: Draws fall in ``range(BUCKETS)``: a percentage resolves to 0.01 %.
BUCKETS = 10_000

#: A feature flag's name (``models/iota_script_flag.py``, ``sdk_host/flags.py``).
FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")


def bucket(salt: object, key: str) -> int:
    """The bucket (``0 <= b < BUCKETS``) of ``key`` for ``salt``."""
    digest = hashlib.sha256(f"{salt}:{key}".encode("utf-8", "surrogatepass")).hexdigest()
    return int(digest[:8], 16) % BUCKETS


def chosen(salt: object, key: str, percent: float) -> bool:
    """Whether ``key`` falls in the first ``percent`` % of the buckets for ``salt``."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    return bucket(salt, key) < round(percent * BUCKETS / 100)
