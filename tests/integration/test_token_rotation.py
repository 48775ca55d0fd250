"""A pixel's token rotated mid-run through its mounted file: no restart, nothing dead-lettered.

The consumer runs against Kafka and the CAPI emulator with pixel 1's token in a Secret-volume
style file. Halfway, the file is updated the way the kubelet does it and the emulator starts
accepting only the new token. Events keep flowing in the same run.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consumer.devstack.sample import DEMO_PIXELS, SampleRecord, build_sample, expected_of
from consumer.pipeline import Pipeline
from consumer.stats import RunStats
from tests.fixtures.pipeline import ConsumerRig
from tests.fixtures.secret_volume import project_secret

PIXEL = DEMO_PIXELS[0]
NEW_TOKEN = "rotated-token-1"
WAIT_S = 60.0


def _second_wave(records: list[SampleRecord]) -> list[SampleRecord]:
    """``records`` as new orders and leads: ids renamed so the dedup window does not drop them."""

    def rename(text: str) -> str:
        return text.replace("ORD-", "ORD2-").replace("LEAD-", "LEAD2-").replace("crm-", "crm2-")

    renamed = []
    for record in records:
        value = record.value
        if isinstance(value, dict):
            value = {
                key: rename(item) if key in ("order_id", "lead_id", "event_id") and item else item
                for key, item in value.items()
            }
        event = record.event and (record.event[0], record.event[1], rename(record.event[2]))
        renamed.append(
            dataclasses.replace(record, key=rename(record.key), value=value, event=event)
        )
    return renamed


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_rotated_token_file_is_used_without_restart(
    consumer_rig: ConsumerRig, tmp_path: Path
) -> None:
    """Token file swapped mid-run, emulator on the new token only: every event is delivered in
    the same run (the refused batch is retried with the re-read token), none dead-lettered."""
    volume = tmp_path / "pixel-secret"
    project_secret(volume, {"token": consumer_rig.tokens[PIXEL]})
    settings = consumer_rig.settings(
        pixels={PIXEL: {"access_token_file": str(volume / "token")}},
        # No periodic look at the file during the test: the refusal alone must trigger the read.
        meta={"secret_file_check_s": 3600},
    )
    first = build_sample(orders=40, leads=10, seed=31)
    second = _second_wave(build_sample(orders=40, leads=10, seed=32))
    expected = expected_of(first + second)
    seen: dict[str, Any] = {}
    done = threading.Event()

    def until(pipeline: Pipeline) -> bool:
        seen["pipeline"] = pipeline
        return done.is_set() and pipeline.stats.settled >= expected.total

    def run() -> None:
        seen["stats"] = consumer_rig.run(until=until, settings=settings)

    consumer_rig.produce(first)
    runner = threading.Thread(target=run, name="consumer-run")
    runner.start()
    try:
        _wait(lambda: "pipeline" in seen and seen["pipeline"].stats.settled >= len(first), "wave 1")
        project_secret(volume, {"token": NEW_TOKEN})
        consumer_rig.emulator.client.set_pixel(PIXEL, NEW_TOKEN)
        consumer_rig.produce(second)
    finally:
        done.set()
        runner.join(timeout=WAIT_S * 2)
    stats: RunStats = seen["stats"]
    received = {
        (e["pixel_id"], e["event"]["event_name"], e["event"]["event_id"])
        for e in consumer_rig.emulator.client.events()
    }
    refused = [r for r in consumer_rig.emulator.client.requests() if r["status"] != 200]

    assert False is runner.is_alive()
    assert expected.sent == received
    assert dict(expected.outcomes) == dict(stats.outcomes)
    assert "auth" not in stats.dead_letter_reasons
    assert any(pixel == PIXEL for pixel, _, event_id in expected.sent if "2-" in event_id)
    assert expected.total == len(first) + len(second)
    assert [(PIXEL, 190)] == sorted({(r["pixel_id"], r["error_code"]) for r in refused})
