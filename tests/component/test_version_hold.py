"""A Graph API version Meta refuses holds the pixel: no bisecting, no dead letters, then delivery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
import structlog

from consumer.core.batching import Batch
from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.core.models import CapiEvent
from consumer.delivery import Deliverer
from consumer.devstack.emulator import EmulatorClient
from consumer.sender import CapiSender
from consumer.settings import DeliverySettings, MetaSettings, PixelSettings
from consumer.stats import RunStats
from tests.component.test_delivery_deadline import CeilingRng, FakeTime
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN, PIXEL_PROOFED

EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
HOLD_S = 0.2


def _batch(pixel: str, count: int) -> Batch[int]:
    batch: Batch[int] = Batch((pixel, None), 0.0)
    for n in range(count):
        payload = {
            "event_name": "Purchase",
            "event_time": int(time.time()) - 60,
            "event_id": f"order_{n}",
            "action_source": "physical_store",
            "user_data": {"em": [EM]},
            "custom_data": {"value": 10.5, "currency": "USD"},
        }
        body = orjson.dumps(payload)
        event = CapiEvent(
            pixel,
            None,
            "Purchase",
            f"order_{n}",
            payload["event_time"],
            "physical_store",  # type: ignore[arg-type]
            payload,
            body,
        )
        batch.events.append(event)
        batch.tokens.append(n)
        batch.size_bytes += len(body) + 1
    return batch


def _deliverer(
    base_url: str, version: str, other_version: str | None = None
) -> tuple[Deliverer[int], CapiSender, RunStats]:
    """Both emulator pixels on ``version``, or the proofed one on ``other_version``."""
    versions = {PIXEL_PLAIN: version, PIXEL_PROOFED: other_version or version}
    pixels = {
        pixel: PixelSettings(
            access_token=auth["access_token"],
            app_secret=auth["app_secret"],
            api_version=versions[pixel],
        )  # type: ignore[arg-type]
        for pixel, auth in EMULATOR_PIXELS.items()
    }
    sender = CapiSender(MetaSettings(base_url=base_url, request_timeout_s=2), pixels)
    stats = RunStats()
    settings = DeliverySettings(
        retry_base_s=0.01, retry_cap_s=0.05, retry_deadline_s=1, version_hold_s=HOLD_S
    )
    deliverer = Deliverer(sender, settings, stats, api_versions=versions)
    return deliverer, sender, stats


async def _until_held(deliverer: Deliverer[int], pixel: str) -> None:
    for _ in range(200):
        if pixel in deliverer.held_pixels():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"pixel {pixel} never held")


@pytest.fixture(name="emulator")
def _emulator(emulator_client: EmulatorClient) -> EmulatorClient:
    return emulator_client


class TestVersionHold:
    async def test_refused_version_holds_then_delivers(self, emulator: EmulatorClient) -> None:
        """Refused (2635): the batch waits whole through several holds, then is delivered in full."""
        emulator.set_versions(refused=["v25.0"])
        deliverer, sender, stats = _deliverer(emulator.base_url, "v25.0")
        try:
            with structlog.testing.capture_logs() as logs:
                task = asyncio.create_task(deliverer.deliver(_batch(PIXEL_PLAIN, 6)))
                await _until_held(deliverer, PIXEL_PLAIN)
                await asyncio.sleep(HOLD_S * 4)  # several probes, all refused
                held_meanwhile = (task.done(), sorted(deliverer.held_pixels()))
                emulator.set_versions()  # Meta serves the version again
                report = await asyncio.wait_for(task, timeout=10)
        finally:
            await sender.close()

        assert (False, [PIXEL_PLAIN]) == held_meanwhile
        assert (list(range(6)), []) == (report.sent, report.failed)
        assert {} == deliverer.held_pixels()
        assert 6 == len(emulator.events(PIXEL_PLAIN))
        refused = [r for r in emulator.requests() if r["error_code"] == 2635]
        assert len(refused) >= 2
        assert {6} == {r["events"] for r in refused}  # never bisected: every probe carried all 6
        assert stats.request_errors[("version", "2635")] == len(refused)
        errors = [e for e in logs if e["event"] == "pixel.version_refused"]
        assert {"error"} == {e["log_level"] for e in errors}
        assert {(PIXEL_PLAIN, "v25.0")} == {(e["pixel_id"], e["api_version"]) for e in errors}
        assert len(errors) == stats.version_holds[PIXEL_PLAIN]
        assert len(errors) <= len(refused)
        assert 1 == sum(e["event"] == "pixel.version_accepted" for e in logs)

    async def test_hold_is_per_pixel(self, emulator: EmulatorClient) -> None:
        """A held pixel does not hold another one; the other's batch goes straight through."""
        emulator.set_versions(refused=["v25.0"])
        deliverer, sender, _ = _deliverer(emulator.base_url, "v25.0", other_version="v26.0")
        try:
            held = asyncio.create_task(deliverer.deliver(_batch(PIXEL_PLAIN, 2)))
            await _until_held(deliverer, PIXEL_PLAIN)
            report = await asyncio.wait_for(deliverer.deliver(_batch(PIXEL_PROOFED, 3)), 10)
            emulator.set_versions()
            await asyncio.wait_for(held, timeout=10)
        finally:
            await sender.close()

        assert ([0, 1, 2], []) == (report.sent, report.failed)


class Scripted:
    """Answers with the given verdicts in order (the last one repeats)."""

    def __init__(self, *verdicts: GraphVerdict) -> None:
        self.verdicts = list(verdicts)
        self.sizes: list[int] = []

    async def post(self, batch: Batch[Any]) -> GraphVerdict:
        self.sizes.append(len(batch))
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]


REFUSED = GraphVerdict(Kind.VERSION, 400, 2635, None, "(#2635) deprecated version")
UNAVAILABLE = GraphVerdict(Kind.RETRY, 503, 2, None, "Service temporarily unavailable")
OK = GraphVerdict(Kind.OK, 200, events_received=4)


class TestHoldOnAFakeClock:
    async def test_hold_longer_than_the_retry_deadline_does_not_exhaust_it(self) -> None:
        """Time spent held is not retry time: after two 400 s holds a 503 is still retried, and
        every request carries the whole batch (nothing bisected, nothing failed)."""
        clock = FakeTime()
        poster = Scripted(REFUSED, REFUSED, UNAVAILABLE, OK)
        settings = DeliverySettings(
            retry_base_s=1, retry_cap_s=1, retry_deadline_s=300, version_hold_s=400
        )
        deliverer = Deliverer[int](
            poster, settings, RunStats(), clock=clock, rng=CeilingRng(), sleep=clock.sleep
        )

        report = await deliverer.deliver(_batch(PIXEL_PLAIN, 4))

        assert ([0, 1, 2, 3], [], 4) == (report.sent, report.failed, report.requests)
        assert [4, 4, 4, 4] == poster.sizes
        assert 801.0 == clock.now  # two holds and one 1 s backoff
