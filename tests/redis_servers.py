"""Redis for the tests: the machine's server, and private ones a test may kill.

The machine's Redis (127.0.0.1:6379, or ``IOTA_TEST_REDIS_URL``) is a
prerequisite of the suite: tests that need it fail, never skip, without it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REDIS_URL = os.environ.get("IOTA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.exceptions.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    """A private redis-server that a test may kill, freeze and restart."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if redis_reachable(self.url):
                return
            time.sleep(0.02)
        raise RuntimeError("own redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0:
        pytest.fail("redis-server is not installed (a prerequisite of the suite)")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def main_redis() -> Iterator[redis.Redis]:
    if not redis_reachable(REDIS_URL):
        pytest.fail(f"no Redis at {REDIS_URL} (a prerequisite of the suite)")
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def namespace() -> Iterator[str]:
    """A unique key namespace (limiters, caches); its Redis keys are removed after the test."""
    name = f"iota:test:{uuid.uuid4().hex[:12]}"
    yield name
    if redis_reachable(REDIS_URL):
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
