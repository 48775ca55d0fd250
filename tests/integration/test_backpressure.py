"""Backpressure: with Meta stalled and 500k records waiting, memory stays flat and the group holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from consumer.devstack.emulator import EmulatorClient
from consumer.devstack.sample import produce_bulk_orders
from tests.fixtures.pipeline import ConsumerRig

WAITING = 500_000
IN_FLIGHT_BUDGET = 5_000
STALL_S = (
    15.0  # longer than max.poll.interval.ms below: a consumer that stopped polling would be evicted
)
RSS_CEILING_MB = 250  # 500k records held in memory would be several hundred MB more


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _events(log: Path) -> list[str]:
    names = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            names.append(json.loads(line)["event"])
    return names


def test_stalled_meta_pauses_with_flat_memory(consumer_rig: ConsumerRig, tmp_path: Path) -> None:
    """Stall: consumption pauses at the budget, RSS stays low, no rebalance; recovery resumes."""
    produce_bulk_orders(
        consumer_rig.bootstrap, consumer_rig.registry_url, consumer_rig.topics["orders"], WAITING
    )
    emulator = consumer_rig.emulator.client
    emulator.inject("stall", "*", count=-1)
    settings = consumer_rig.settings(
        kafka={
            "consumer": {**consumer_rig.settings().kafka.consumer, "max_poll_interval_ms": 8000}
        },
        meta={"request_timeout_s": 60},
        delivery={"max_in_flight_events": IN_FLIGHT_BUDGET, "retry_deadline_s": 600},
        observability={"request_stall_after_s": 5},
    )
    env = consumer_rig.write_config(tmp_path / "config.yaml", settings)
    log = tmp_path / "consumer.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--config", str(tmp_path / "config.yaml")],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        peak = 0.0
        deadline = time.monotonic() + STALL_S
        while time.monotonic() < deadline:
            peak = max(peak, _rss_mb(process.pid))
            time.sleep(0.25)
        stalled_events = _events(log)
        emulator.clear_faults()
        recovered = _accepted_within(emulator, 20_000, timeout=90)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    print(
        f"peak RSS while stalled with {WAITING} records waiting: {peak:.0f} MB; recovered {recovered}"
    )
    assert peak < RSS_CEILING_MB, f"peak RSS {peak:.0f} MB while stalled"
    assert "consumption.paused" in stalled_events
    assert "capi.request_stalled" in stalled_events  # the stall is in the logs, not only /metrics
    assert (1, 0) == (
        stalled_events.count("partitions.assigned"),
        stalled_events.count("partitions.revoked"),
    )
    assert recovered >= 20_000
    assert 0 == code


def _accepted_within(emulator: EmulatorClient, wanted: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    accepted = 0
    while time.monotonic() < deadline:
        accepted = sum(pixel["accepted_events"] for pixel in emulator.stats().values())
        if accepted >= wanted:
            break
        time.sleep(0.5)
    return accepted
