"""The consumer as a process: graceful shutdown on SIGTERM loses nothing and re-sends nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from consumer.devstack.sample import build_sample, expected_of
from tests.fixtures.pipeline import ConsumerRig


def _start(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--config", str(config)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_sigterm_drains_commits_and_exits_zero(consumer_rig: ConsumerRig, tmp_path: Path) -> None:
    """SIGTERM mid-run: exit 0; a restarted consumer completes the rest; no event is sent twice."""
    records = build_sample(orders=1500, leads=300, seed=11)
    expected = expected_of(records)
    consumer_rig.produce(records)
    settings = consumer_rig.settings(
        batch={"max_events": 50, "linger_s": 0.05},
        # Slow requests and a small in-flight budget: SIGTERM lands mid-run with work left.
        delivery={"max_concurrent_requests": 1, "max_in_flight_events": 200},
    )
    env = consumer_rig.write_config(tmp_path / "config.yaml", settings)
    consumer_rig.emulator.client.inject("latency", "*", count=-1, ms=250)

    process = _start(tmp_path / "config.yaml", env, tmp_path / "consumer.log")
    try:
        _wait_for(lambda: len(consumer_rig.received_ids()) >= 100, timeout=60)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    consumer_rig.emulator.client.clear_faults()
    sent_before_restart = len(consumer_rig.received_ids())

    consumer_rig.run(until=lambda p: bool(p.assigned) and p.idle_for() > 3.0, settings=settings)

    log = (tmp_path / "consumer.log").read_text()
    assert 0 == code, log[-3000:]
    assert "shutdown.drained" in log
    assert sent_before_restart < len(expected.sent)
    # An event is (name, id): an order's AppendAttribution shares its Purchase's event_id.
    counts = Counter(
        (e["event"]["event_name"], e["event"]["event_id"])
        for e in consumer_rig.emulator.client.events()
    )
    assert {(name, event_id) for _, name, event_id in expected.sent} == set(counts)
    assert [] == [key for key, count in counts.items() if count > 1]
