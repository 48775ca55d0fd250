"""An embedded ``redis-server`` on a loopback port, with no persistence (the dedup store in tests).

The Debian package provides the binary (``apt-get install -y --no-install-recommends
redis-server``, 7.0); it does not auto-start, so the dev stack starts its own instance.
"""

from __future__ import annotations

import shutil
import socket

from consumer.devstack.procs import ManagedProcess, free_port
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


class EmbeddedRedis:
    """A ``redis-server`` child process: no RDB, no AOF, so a restart starts empty."""

    def __init__(self, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self.url = f"redis://{host}:{self.port}/0"
        self._proc: ManagedProcess | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running server, if any."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.running

    def start(self, timeout: float = 10.0) -> str:
        """Start the server and wait until it answers PING; returns the ``redis://`` URL."""
        if self.running:
            return self.url
        argv = [find_redis_server(), "--bind", self.host, "--port", str(self.port)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self._proc = ManagedProcess("redis-server", argv)
        self._proc.start(lambda: _pong(self.host, self.port), timeout=timeout)
        return self.url

    def stop(self) -> None:
        """SIGTERM the server (it exits at once without persistence), SIGKILL if not. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stop()

    def kill(self) -> None:
        """SIGKILL the server at once (outage tests). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()

    def restart(self, timeout: float = 10.0) -> str:
        """Stop and start again on the same port; the data is gone (no persistence)."""
        self.stop()
        return self.start(timeout=timeout)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
