"""The handle every embedded dev-stack service shares: start with a readiness check, stop by PID.

A subclass names its process, builds its command line and says when it is ready; this class
owns the child process (``ManagedProcess``), restarts on the same port, and the context manager.
"""

from __future__ import annotations

import os
from typing import ClassVar, Self

from consumer.devstack.procs import ManagedProcess, free_port

__all__ = ["EmbeddedService"]


class EmbeddedService:
    """One service as a child process on ``host:port`` (a free port by default), kept on restarts."""

    process_name: ClassVar[str] = "service"
    stop_grace_s: ClassVar[float] = 5.0  # SIGTERM, then SIGKILL after this long
    start_timeout_s: ClassVar[float] = 20.0

    def __init__(self, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self._proc: ManagedProcess | None = None

    @property
    def address(self) -> str:
        """What ``start`` returns: the URL or bootstrap string clients use."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """PID of the running process, if any."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.running

    def start(self, timeout: float | None = None) -> str:
        """Start the process unless it runs, wait until it is ready; return the address."""
        if not self.running:
            argv, env = self._command()
            try:
                self._proc = ManagedProcess(self.process_name, argv, env=env)
                self._proc.start(self._ready, timeout=timeout or self.start_timeout_s)
            finally:
                self._launched()
        return self.address

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after the grace period. Idempotent."""
        self._halt()

    def kill(self) -> None:
        """SIGKILL at once (crash and outage tests). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()

    def restart(self, timeout: float | None = None) -> str:
        """Stop and start again on the same port."""
        self._halt()
        return self.start(timeout)

    def _halt(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stop(timeout=self.stop_grace_s)

    def _command(self) -> tuple[list[str], dict[str, str]]:
        """The child's argv and environment."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """True once the service answers."""
        raise NotImplementedError

    def _launched(self) -> None:
        """Called once a start attempt is over, ready or not: drop what only the launch needed."""

    @staticmethod
    def _environment() -> dict[str, str]:
        return dict(os.environ)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
