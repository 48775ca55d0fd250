"""Crash safety: SIGKILL the consumer at random moments during a 100k-event run, restart it.

Every event reaches the emulator at least once (none lost); repeats come only from the crash
window, bounded by what can be unsettled or uncommitted at a kill.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.devstack.sample import produce_bulk_orders
from tests.fixtures.pipeline import ConsumerRig

EVENTS = 100_000
KILLS = 3
IN_FLIGHT = 2_000
COMMIT_INTERVAL_S = 0.2


def _start(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--config", str(config)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.parametrize("backend", ["embedded", "redis"])
def test_sigkill_loses_nothing(
    consumer_rig: ConsumerRig,
    tmp_path: Path,
    backend: str,
    redis_url: str,
    unique_name: Callable[..., str],
) -> None:
    """Three SIGKILLs mid-run, then a clean finish: all 100k delivered; repeats bounded.

    With a persistent dedup store, a repeat can only be an event that was in flight (sent,
    not yet confirmed) at a kill, so there are at most KILLS x IN_FLIGHT of them.
    """
    produce_bulk_orders(
        consumer_rig.bootstrap, consumer_rig.registry_url, consumer_rig.topics["orders"], EVENTS
    )
    settings = consumer_rig.settings(
        kafka={"commit_interval_s": COMMIT_INTERVAL_S},
        delivery={"max_in_flight_events": IN_FLIGHT},
        dedup={
            "backend": backend,
            "path": str(tmp_path / "dedup"),
            "redis_url": redis_url,
            "redis_prefix": unique_name("crash") + ":",
        },
        batch={"max_events": 500},
    )
    env = consumer_rig.write_config(tmp_path / "config.yaml", settings)
    rng = random.Random(20261126)
    emulator = consumer_rig.emulator.client
    for _ in range(KILLS):
        process = _start(tmp_path / "config.yaml", env, tmp_path / "consumer.log")
        time.sleep(rng.uniform(3.0, 7.0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    consumer_rig.run(until=lambda p: bool(p.assigned) and p.idle_for() > 3.0, settings=settings)

    counts = Counter(event["event"]["event_id"] for event in emulator.events())
    repeats = sum(count - 1 for count in counts.values())
    print(f"{EVENTS} events, {KILLS} kills: {repeats} repeats (backend {backend})")
    assert EVENTS == len(counts)
    assert repeats <= KILLS * IN_FLIGHT
