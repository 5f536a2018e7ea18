"""Shared fixtures: one real engine (real V8 runner processes) per test session."""

from __future__ import annotations

import pytest

from iota_scripts_sdk import Engine, EngineConfig


@pytest.fixture(scope="session")
def engine():
    eng = Engine(EngineConfig(runners=2, max_source_bytes=64 * 1024 * 1024))
    yield eng
    eng.close()


# Redis fixtures (the machine's server, private servers a test may kill).
from redis_servers import main_redis, namespace, own_redis  # noqa: E402, F401
