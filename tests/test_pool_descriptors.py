"""The host side of the runner pipes works with descriptors past 1024.

An Odoo process serving many connections (or a long test run) holds more
than 1024 file descriptors; ``select()`` cannot watch those, so a runner's
pipe numbered above 1024 must still be read (``_pool.py`` polls it).
"""

from __future__ import annotations

import os
import resource

import pytest

from iota_scripts_sdk import Engine, EngineConfig


def test_runners_start_and_answer_when_the_host_holds_many_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1400:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < 1400")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1400), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) > 1024
        engine = Engine(EngineConfig(runners=1))
        try:
            result = engine.run("export default () => 6 * 7;")
            assert (result.ok, result.result) == (True, 42)
        finally:
            engine.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
