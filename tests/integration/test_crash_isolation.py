"""SIGKILL while a rejected batch is being split: what Meta acknowledged is not sent again.

DESIGN.md §1.2 allows a repeat only in the unavoidable window (Meta acknowledged, the dedup store
has not recorded it yet). Each acknowledged part of a split batch is confirmed as soon as Meta
answers, so after a restart no event acknowledged more than a second before the kill reaches the
emulator twice (it records when it accepted each event).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from consumer.devstack.sample import DEMO_PIXELS, produce_bulk_orders
from tests.fixtures.pipeline import ConsumerRig
from tests.integration.test_crash import _start

EVENTS = 3000
PIXEL = DEMO_PIXELS[0]
BAD_ID = "order_BULK-0001-000001234"
LATENCY_MS = 300  # Meta's typical answer time: the search takes a few seconds
KILL_AFTER_S = 2.0  # after the first rejection: mid-search
WINDOW_S = 1.0  # an ack this long before the kill must have been recorded


def _first_rejection_at(rig: ConsumerRig, timeout_s: float = 60.0) -> float:
    """When (Unix time) the emulator first rejected a batch."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in rig.emulator.client.requests():
            if entry.get("error_code") == 100:
                return float(entry["received_at"])
        time.sleep(0.05)
    raise TimeoutError("the emulator never rejected a batch")


def test_sigkill_during_isolation_resends_nothing_acknowledged(
    consumer_rig: ConsumerRig, tmp_path: Path
) -> None:
    """Kill mid-search, restart: nothing acknowledged > 1 s before the kill is sent again."""
    produce_bulk_orders(
        consumer_rig.bootstrap,
        consumer_rig.registry_url,
        consumer_rig.topics["orders"],
        EVENTS,
        pixels=(PIXEL,),
    )
    emulator = consumer_rig.emulator.client
    emulator.inject("latency", PIXEL, count=-1, ms=LATENCY_MS)
    emulator.inject("reject_event", PIXEL, count=-1, event_ids=[BAD_ID])
    # Under 1 MiB a request: the restart runs in-process, where aiohttp's large-body warning
    # would be an error; that still makes batches of ~900 events.
    settings = consumer_rig.settings(
        batch={"max_events": 1000, "max_bytes": 1_000_000, "linger_s": 0.5}
    )
    env = consumer_rig.write_config(tmp_path / "config.yaml", settings)

    process = _start(tmp_path / "config.yaml", env, tmp_path / "consumer.log")
    try:
        rejected_at = _first_rejection_at(consumer_rig)
        time.sleep(max(0.0, rejected_at + KILL_AFTER_S - time.time()))
        killed_at = time.time()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(10)
    before_kill = emulator.events()
    emulator.clear_faults()
    emulator.inject("reject_event", PIXEL, count=-1, event_ids=[BAD_ID])

    consumer_rig.run(until=lambda p: bool(p.assigned) and p.idle_for() > 3.0, settings=settings)

    counts = Counter(consumer_rig.received_ids())
    settled_early = {
        event["event"]["event_id"]
        for event in before_kill
        if event["received_at"] < killed_at - WINDOW_S
    }
    parts = [e for e in before_kill if rejected_at + 0.1 < e["received_at"] < killed_at - WINDOW_S]
    resent = sorted(event_id for event_id in settled_early if counts[event_id] > 1)
    print(
        f"{len(settled_early)} acknowledged > {WINDOW_S}s before the kill, {len(parts)} of them "
        f"parts of the split batch; resent: {resent[:5]}"
    )
    assert len(parts) > 0  # the kill came mid-search, after some parts were acknowledged
    assert [] == resent
    assert EVENTS - 1 == len(counts)  # every event but the rejected one delivered
    assert BAD_ID not in counts
