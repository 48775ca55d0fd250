"""librdkafka's log lines reach stderr as structlog JSON events, from every kind of client we create."""

# Asserts read ``expected == actual`` (STYLE.md), which is exactly what SIM300 forbids.

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.devstack.broker import EmbeddedBroker, create_topics
from consumer.kafka_logs import EVENT

pytestmark = pytest.mark.integration

_REPO = Path(__file__).resolve().parents[2]
_RAW_LINE = re.compile(r"^%\d\|", re.MULTILINE)  # librdkafka's own stderr format
_CLIENTS = {"t-source", "t-dlq", "t-admin", "t-reader", "t-retry"}


def _run_clients(live: str, dead: str, topic: str, group: str, secret: str) -> str:
    """Run tests.integration.kafka_logs_runner and return its stderr."""
    argv = [sys.executable, "-m", "tests.integration.kafka_logs_runner"]
    done = subprocess.run(
        [*argv, live, dead, topic, group, secret],
        cwd=_REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "" == done.stdout
    return done.stderr


def _events(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as JSON (a line that is not JSON fails the test here)."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def test_every_client_logs_json_through_structlog(
    kafka_bootstrap: str,
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    unique_name: Callable[..., str],
) -> None:
    """Source, DLQ, admin, DLQ-reader and replay clients: JSON events, no raw lines, no secret."""
    stopped = embedded_broker_factory()
    stopped.stop()  # its port is closed now: every client against it fails and says so
    topic = unique_name("logs")
    create_topics(kafka_bootstrap, [topic])
    secret = "pw-" + secrets.token_urlsafe(12)

    stderr = _run_clients(kafka_bootstrap, stopped.bootstrap, topic, unique_name("g"), secret)

    assert [] == _RAW_LINE.findall(stderr)
    assert secret not in stderr
    events = [e for e in _events(stderr) if e["event"] == EVENT]
    assert _CLIENTS == {e["client"].split("#")[0] for e in events}
    failed = {
        e["client"].split("#")[0]
        for e in events
        if (e["facility"], e["level"]) == ("FAIL", "error")
    }
    assert _CLIENTS - {"t-source"} == failed
    source_debug = [
        e for e in events if e["client"].startswith("t-source#") and e["level"] == "debug"
    ]
    assert [] != [e for e in source_debug if e["facility"].startswith("CGRP")]
    conf_dump = [e["message"] for e in events if e["facility"] == "CONF"]
    assert [] != [line for line in conf_dump if "sasl.password" in line]
