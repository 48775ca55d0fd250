"""An embedded ``redis-server`` on a loopback port, with no persistence (the dedup store in tests).

The Debian package provides the binary (``apt-get install -y --no-install-recommends
redis-server``, 7.0); it does not auto-start, so the dev stack starts its own instance.
"""

from __future__ import annotations

import shutil
import socket

from consumer.devstack.service import EmbeddedService
from consumer.errors import DevStackError

__all__ = ["EmbeddedRedis", "find_redis_server"]

_PING = b"*1\r\n$4\r\nPING\r\n"  # RESP array: one bulk string, the PING command
_PONG = b"+PONG"


def find_redis_server() -> str:
    """Path of the ``redis-server`` binary on PATH, or DevStackError saying how to install it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise DevStackError(
            "redis-server not found on PATH: "
            "apt-get update && apt-get install -y --no-install-recommends redis-server"
        )
    return binary


def _pong(host: str, port: int) -> bool:
    """True when a Redis on ``host:port`` answers PING (a raw RESP round trip, no client)."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(_PING)
            return sock.recv(64).startswith(_PONG)
    except OSError:
        return False


class EmbeddedRedis(EmbeddedService):
    """A ``redis-server`` child process: no RDB, no AOF, so a restart starts empty."""

    process_name = "redis-server"
    start_timeout_s = 10.0

    @property
    def url(self) -> str:
        """``redis://host:port/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def address(self) -> str:
        return self.url

    def _command(self) -> tuple[list[str], dict[str, str]]:
        argv = [find_redis_server(), "--bind", self.host, "--port", str(self.port)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        return argv, self._environment()

    def _ready(self) -> bool:
        return _pong(self.host, self.port)
