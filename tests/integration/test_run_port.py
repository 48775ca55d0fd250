"""``capi-consumer run`` refuses to run blind: a health/metrics port it cannot bind is fatal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from consumer.devstack.procs import free_port

pytestmark = pytest.mark.integration

PIXEL = "1000000000000001"


def _config(tmp_path: Path, bootstrap: str, port: int) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        f"""
kafka:
  bootstrap_servers: {bootstrap}
  group_id: run-port-{port}
  topics: {{orders: {{event_type: order}}}}
schema_registry: {{url: "http://127.0.0.1:1"}}
pixels: {{"{PIXEL}": {{}}}}
dedup: {{backend: embedded, path: "{tmp_path / "dedup"}"}}
observability: {{port: {port}, log_format: json}}
"""
    )
    return path


def test_a_taken_health_port_stops_run_with_one_line(tmp_path: Path, kafka_bootstrap: str) -> None:
    """The port is held by another socket: exit 1, the last stderr line names the address and
    the fix, no traceback."""
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "consumer",
                "run",
                "--config",
                str(_config(tmp_path, kafka_bootstrap, port)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN": "unused-token"},
            check=False,
        )
    last = result.stderr.strip().splitlines()[-1]

    assert 1 == result.returncode
    assert last.startswith(
        f"capi-consumer: error: cannot serve health and metrics on 127.0.0.1:{port}"
    )
    assert "observability.port" in last
    assert "Traceback" not in result.stderr
