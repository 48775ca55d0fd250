"""Start and stop local helper processes by PID, for the embedded dev stack."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from consumer.errors import DevStackError

__all__ = ["ManagedProcess", "free_port", "port_open"]

_POLL_INTERVAL = 0.05  # readiness checks are cheap; 50 ms keeps startup snappy without spinning
_LOG_TAIL = 2000  # characters of a failed process's log quoted in the error


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ManagedProcess:
    """One child process: started with a readiness check, stopped by PID (TERM, then KILL).

    Output goes to a log file whose tail is quoted when the process fails to become ready.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self._own_log = log_path is None  # a temp log is removed after a clean stop
        self.log_path = log_path or Path(tempfile.mkstemp(prefix=f"capi-{name}-", suffix=".log")[1])
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, ready: Callable[[], bool], timeout: float = 20.0) -> None:
        """Spawn the process and wait until ``ready()`` is true, or raise DevStackError."""
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DevStackError(
                    f"{self.name} exited with {self._proc.returncode}: {self._tail()}"
                )
            if ready():
                return
            time.sleep(_POLL_INTERVAL)
        self.stop()
        raise DevStackError(f"{self.name} not ready after {timeout:.0f}s: {self._tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process by PID, wait up to ``timeout``, then SIGKILL. Idempotent."""
        proc, self._proc = self._proc, None
        if self._own_log:
            self.log_path.unlink(missing_ok=True)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the process by PID at once (crash tests)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
