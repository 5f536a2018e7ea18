"""Assertions every hostile case makes about an error (see shared HOSTILE.md)."""

from __future__ import annotations

import re

from iota_scripts_sdk import CODES

_LEAKS = re.compile(
    r"Traceback \(most recent call|File \"/|site-packages|/usr/|/root/|\.py\b|SELECT |INSERT |UPDATE "
)


def assert_clean_error(error: dict, code: str) -> None:
    assert error is not None, "expected an error"
    assert error["code"] == code, error
    assert error["code"] in CODES
    text = " ".join(str(v) for v in error.values())
    assert not _LEAKS.search(text), f"error leaks host internals: {text[:300]}"
