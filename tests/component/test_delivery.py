"""The deliverer and sender against the real CAPI emulator: retries, bisecting, auth, proofs."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from consumer.core.batching import Batch
from consumer.core.models import CapiEvent
from consumer.delivery import Deliverer
from consumer.devstack.emulator import EmulatorClient
from consumer.sender import CapiSender
from consumer.settings import DeliverySettings, MetaSettings, PixelSettings
from consumer.stats import RunStats
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN, PIXEL_PROOFED

EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"


def _event(pixel: str, n: int) -> CapiEvent:
    payload = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "event_id": f"order_{n}",
        "action_source": "physical_store",
        "user_data": {"em": [EM]},
        "custom_data": {"value": 10.5, "currency": "USD"},
    }
    return CapiEvent(
        pixel,
        None,
        "Purchase",
        f"order_{n}",
        payload["event_time"],
        "physical_store",
        payload,
        orjson.dumps(payload),
    )  # type: ignore[arg-type]


def _batch(pixel: str, count: int) -> Batch[int]:
    batch: Batch[int] = Batch((pixel, None), 0.0)
    for n in range(count):
        event = _event(pixel, n)
        batch.events.append(event)
        batch.tokens.append(n)
        batch.size_bytes += len(event.body) + 1
    return batch


def _deliverer(
    base_url: str, token: str | None = None
) -> tuple[Deliverer[int], CapiSender, RunStats]:
    pixels = {
        pixel: PixelSettings(
            access_token=token or auth["access_token"], app_secret=auth["app_secret"]
        )  # type: ignore[arg-type]
        for pixel, auth in EMULATOR_PIXELS.items()
    }
    sender = CapiSender(MetaSettings(base_url=base_url, request_timeout_s=2), pixels)
    stats = RunStats()
    settings = DeliverySettings(retry_base_s=0.01, retry_cap_s=0.05, retry_deadline_s=3)
    return Deliverer(sender, settings, stats), sender, stats


@pytest.fixture(name="emulator")
def _emulator(emulator_client: EmulatorClient) -> EmulatorClient:
    return emulator_client


class TestDelivery:
    async def test_sent_with_appsecret_proof(self, emulator: EmulatorClient) -> None:
        """A valid batch to a pixel that requires appsecret_proof is accepted in one request."""
        deliverer, sender, _ = _deliverer(emulator.base_url)
        try:
            report = await deliverer.deliver(_batch(PIXEL_PROOFED, 5))
        finally:
            await sender.close()

        assert ([0, 1, 2, 3, 4], [], 1) == (report.sent, report.failed, report.requests)
        assert 5 == len(emulator.events(PIXEL_PROOFED))

    @pytest.mark.parametrize(
        ("kind", "params"),
        [
            ("http_5xx", {"status": 503}),
            ("http_5xx", {"status": 502}),
            ("throttle", {"code": 4}),
            ("throttle", {"code": 17}),
            ("throttle", {"code": 613}),
            ("throttle", {"code": 80004}),
            ("drop", {}),
        ],
        ids=[
            "503",
            "502-html",
            "throttle-4",
            "throttle-17",
            "throttle-613",
            "throttle-80004",
            "dropped-connection",
        ],
    )
    async def test_transient_failures_retried(
        self, emulator: EmulatorClient, kind: str, params: dict[str, int]
    ) -> None:
        """Two transient failures in a row are retried and the batch is then delivered."""
        emulator.inject(kind, PIXEL_PLAIN, count=2, **params)
        deliverer, sender, stats = _deliverer(emulator.base_url)
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 3))
        finally:
            await sender.close()

        assert (3, 3, 2) == (len(report.sent), report.requests, stats.retries)

    async def test_retries_exhausted(self, emulator: EmulatorClient) -> None:
        """Transient failures past the deadline fail every event with retries_exhausted."""
        emulator.inject("http_5xx", PIXEL_PLAIN, count=-1)
        deliverer, sender, _ = _deliverer(emulator.base_url)
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
        finally:
            await sender.close()

        assert {"retries_exhausted"} == {failure.reason for _, failure in report.failed}
        assert 2 == len(report.failed)

    async def test_bisect_isolates_bad_event(self, emulator: EmulatorClient) -> None:
        """One rejected event in 1000: it alone is dead-lettered, its 999 neighbours are delivered."""
        emulator.inject(
            "reject_event", PIXEL_PLAIN, count=-1, event_ids=["order_637"], subcode=2804050
        )
        deliverer, sender, _ = _deliverer(emulator.base_url)
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 1000))
        finally:
            await sender.close()

        ((token, failure),) = report.failed
        assert (637, "rejected", "100", "2804050") == (
            token,
            failure.reason,
            failure.details["graph_code"],
            failure.details["graph_subcode"],
        )
        assert 999 == len(report.sent) == len(emulator.events(PIXEL_PLAIN))

    async def test_auth_failure_dead_letters(self, emulator: EmulatorClient) -> None:
        """A wrong token fails every event with reason auth and code 190, without retrying."""
        deliverer, sender, stats = _deliverer(emulator.base_url, token="wrong")
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 3))
        finally:
            await sender.close()

        assert ({"auth"}, {"190"}, 0) == (
            {failure.reason for _, failure in report.failed},
            {failure.details["graph_code"] for _, failure in report.failed},
            stats.retries,
        )


class TestAdaptive:
    async def test_slow_responses_time_out_and_retry(self, emulator: EmulatorClient) -> None:
        """A response slower than the request timeout is retried and then delivered."""
        emulator.inject("latency", PIXEL_PLAIN, count=1, ms=2500)
        deliverer, sender, stats = _deliverer(emulator.base_url)
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
        finally:
            await sender.close()

        assert (2, 1) == (len(report.sent), stats.retries)

    async def test_throttle_lowers_pixel_concurrency(self, emulator: EmulatorClient) -> None:
        """Two throttles take the pixel from 4 to 1 request in flight; the success adds one back."""
        emulator.inject("throttle", PIXEL_PLAIN, count=2, code=17)
        deliverer, sender, stats = _deliverer(emulator.base_url)
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
        finally:
            await sender.close()

        assert (2, 2, 2, {"17/2446079": 2}) == (
            len(report.sent),
            deliverer.pixel_limit(PIXEL_PLAIN).allowed,
            stats.pixel_limits[PIXEL_PLAIN],
            dict(stats.throttles),
        )

    async def test_throttled_pixel_does_not_block_others(self, emulator: EmulatorClient) -> None:
        """While one pixel is throttled for good, another pixel's batch is delivered."""
        emulator.inject("throttle", PIXEL_PLAIN, count=-1, code=4)
        deliverer, sender, _ = _deliverer(emulator.base_url)
        try:
            stuck = asyncio.create_task(deliverer.deliver(_batch(PIXEL_PLAIN, 2)))
            other = await deliverer.deliver(_batch(PIXEL_PROOFED, 2))
            assert (2, False) == (len(other.sent), stuck.done())
            stuck_report = await stuck
        finally:
            await sender.close()

        assert {"retries_exhausted"} == {failure.reason for _, failure in stuck_report.failed}

    async def test_auth_cooldown_stops_hammering(self, emulator: EmulatorClient) -> None:
        """After an auth failure, the pixel's next batches are dead-lettered without a request."""
        deliverer, sender, _ = _deliverer(emulator.base_url, token="wrong")
        try:
            first = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
            second = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
        finally:
            await sender.close()

        assert (1, 0) == (first.requests, second.requests)
        assert {"auth"} == {failure.reason for _, failure in first.failed + second.failed}
        assert 1 == len([r for r in emulator.requests() if r.get("pixel_id") == PIXEL_PLAIN])
