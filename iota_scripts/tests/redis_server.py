"""A private redis-server for addon tests that kill Redis and start it again.

The same idea as the engine tests' ``tests/redis_servers.py`` (which the
addon cannot import): a server on a free loopback port, no persistence,
started again on the same port after a kill, so clients that keep the URL
find it back.
"""

import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """``start()``, ``kill()``, ``start()`` again; ``close()`` kills it and removes its folder."""

    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server is not installed (a prerequisite of the tests)")
        self.port = _free_port()
        self.workdir = tempfile.mkdtemp(prefix="iota_redis_")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=0.5, decode_responses=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
