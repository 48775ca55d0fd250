"""Every delivery fault makes a warning line, and a storm makes only a few (CAPI emulator)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog

from consumer import fault_log
from consumer.core.batching import Batch
from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.delivery import Deliverer
from consumer.devstack.emulator import EmulatorClient
from consumer.settings import DeliverySettings
from consumer.stats import RunStats
from tests.component.test_delivery import _batch, _deliverer
from tests.fixtures.emulator import PIXEL_PLAIN


def warnings_of(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The warning-level entries of captured logs."""
    return [entry for entry in logs if entry["log_level"] == "warning"]


@pytest.fixture(name="emulator")
def _emulator(emulator_client: EmulatorClient) -> EmulatorClient:
    return emulator_client


async def test_a_meta_stall_is_logged_while_it_lasts(emulator: EmulatorClient) -> None:
    """A request held by Meta past the stall bound logs capi.request_stalled, then unstalled."""
    fault_log.configure(3, 0.5)
    deliverer, sender, _ = _deliverer(emulator.base_url)
    emulator.inject("stall", PIXEL_PLAIN, count=1)
    try:
        with structlog.testing.capture_logs() as logs:
            delivery = asyncio.create_task(deliverer.deliver(_batch(PIXEL_PLAIN, 3)))
            await asyncio.sleep(1.2)
            stalled_before_end = [e["event"] for e in warnings_of(logs)]
            await asyncio.to_thread(emulator.clear_faults)
            report = await delivery
    finally:
        await sender.close()
    stalled = next(e for e in logs if e["event"] == "capi.request_stalled")

    assert ["capi.request_stalled"] == stalled_before_end
    assert (PIXEL_PLAIN, 3, 1) == (
        stalled["pixel_id"],
        stalled["events"],
        stalled["requests_in_flight"],
    )
    assert stalled["outstanding_s"] >= 0.5
    assert "capi.request_unstalled" in [e["event"] for e in logs]
    assert 3 == len(report.sent)


async def test_a_5xx_storm_warns_with_its_cause(emulator: EmulatorClient) -> None:
    """Retries of 503s log capi.retrying with cause 5xx, rate-limited to a few lines."""
    deliverer, sender, stats = _deliverer(emulator.base_url)
    emulator.inject("http_5xx", PIXEL_PLAIN, count=8, status=503)
    try:
        with structlog.testing.capture_logs() as logs:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
    finally:
        await sender.close()
    retrying = [e for e in warnings_of(logs) if e["event"] == "capi.retrying"]

    assert 8 == stats.retries
    assert 3 == len(retrying)  # 8 retries, 3 lines: the rest are counted for the next line
    assert {("5xx", PIXEL_PLAIN, "2")} == {(e["cause"], e["pixel_id"], e["code"]) for e in retrying}
    assert 2 == len(report.sent)


async def test_a_timeout_warns_with_its_cause(emulator: EmulatorClient) -> None:
    """An answer slower than meta.request_timeout_s (2 s here): capi.retrying, cause timeout."""
    deliverer, sender, _ = _deliverer(emulator.base_url)
    emulator.inject("latency", PIXEL_PLAIN, count=1, ms=2500)
    try:
        with structlog.testing.capture_logs() as logs:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 1))
    finally:
        await sender.close()

    assert ["timeout"] == [e["cause"] for e in logs if e["event"] == "capi.retrying"]
    assert 1 == len(report.sent)


async def test_a_connection_failure_warns_with_its_cause() -> None:
    """Nothing listening: capi.retrying with cause connection."""
    deliverer, sender, _ = _deliverer("http://127.0.0.1:1")
    try:
        with structlog.testing.capture_logs() as logs:
            await deliverer.deliver(_batch(PIXEL_PLAIN, 1))
    finally:
        await sender.close()

    assert {"connection"} == {e["cause"] for e in logs if e["event"] == "capi.retrying"}


async def test_throttling_warns_with_the_new_concurrency(emulator: EmulatorClient) -> None:
    """A throttled pixel logs capi.throttled with the halved concurrency limit."""
    deliverer, sender, _ = _deliverer(emulator.base_url)
    emulator.inject("throttle", PIXEL_PLAIN, count=1, code=17)
    try:
        with structlog.testing.capture_logs() as logs:
            await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
    finally:
        await sender.close()
    throttled = [e for e in warnings_of(logs) if e["event"] == "capi.throttled"]

    assert [(PIXEL_PLAIN, 2, "17/2446079")] == [
        (e["pixel_id"], e["concurrency"], e["code"]) for e in throttled
    ]


async def test_a_pixel_held_for_auth_warns(emulator: EmulatorClient) -> None:
    """After an auth failure, the next batch of that pixel is held: pixel.held_for_auth."""
    deliverer, sender, _ = _deliverer(emulator.base_url, token="wrong-token")
    try:
        with structlog.testing.capture_logs() as logs:
            await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
            await deliverer.deliver(_batch(PIXEL_PLAIN, 4))
    finally:
        await sender.close()
    held = [e for e in warnings_of(logs) if e["event"] == "pixel.held_for_auth"]

    assert [(PIXEL_PLAIN, 4)] == [(e["pixel_id"], e["events"]) for e in held]
    assert held[0]["remaining_s"] > 0


class _Failing:
    """A poster whose every answer is a 503 (no HTTP: ten thousand retries in a second)."""

    async def post(self, batch: Batch[Any]) -> GraphVerdict:
        return GraphVerdict(Kind.RETRY, status=503, code=2, message="server error")


async def test_ten_thousand_retries_make_a_bounded_number_of_lines() -> None:
    """10,000 retries in one storm (well under a minute of real time): 3 capi.retrying lines."""
    now = [0.0]

    def clock() -> float:
        return now[0]

    async def sleep(seconds: float) -> None:
        now[0] += 0.001  # the deliverer's clock: 1 ms per retry, so the deadline allows ~10,500

    settings = DeliverySettings(retry_base_s=0.001, retry_cap_s=0.001, retry_deadline_s=10.5)
    deliverer: Deliverer[int] = Deliverer(
        _Failing(), settings, RunStats(), clock=clock, sleep=sleep
    )
    with structlog.testing.capture_logs() as logs:
        await deliverer.deliver(_batch(PIXEL_PLAIN, 1))
    retries = deliverer._stats.retries
    lines = [e for e in logs if e["event"] == "capi.retrying"]

    assert 10_000 <= retries <= 11_000
    assert 3 == len(lines)
