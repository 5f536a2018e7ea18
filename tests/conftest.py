"""Shared fixtures: one real engine (real V8 runner processes) per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iota_scripts_sdk import Engine, EngineConfig


def pytest_sessionstart(session):
    """One clear line instead of a failure per test when npm's files are not placed."""
    root = Path(__file__).resolve().parent.parent
    check = subprocess.run(
        [sys.executable, str(root / "scripts" / "place-js-deps"), "--check"],
        capture_output=True,
        text=True,
    )
    if check.returncode:
        pytest.exit(
            "third-party JavaScript is not installed: run `npm ci` (./scripts/test does)\n"
            + check.stderr,
            returncode=4,
        )


@pytest.fixture(scope="session")
def engine():
    eng = Engine(EngineConfig(runners=2, max_source_bytes=64 * 1024 * 1024))
    yield eng
    eng.close()


# Redis fixtures (the machine's server, private servers a test may kill).
from redis_servers import main_redis, namespace, own_redis  # noqa: E402, F401
