"""Isolating rejected events against the real CAPI emulator: requests counted by the emulator.

The bound: splitting a known-bad part of a batch sends its first half, and its second half only
when the first half was rejected too (an acknowledged first half puts the bad event in the second,
which is split unsent). The parts split are the nodes of k root-to-leaf paths in a binary tree
of depth d = ceil(log2 n): at most 2^(j+1) - 1 + k(d - j - 1) of them, j = floor(log2 k), each
costing at most two requests, plus the batch's own request. For n = 1000 that is 21 requests for
k = 1, 85 for k = 5 and 211 for k = 15 at worst (k·log2(n/k) is 10, 38 and 91); measured: 17,
65 and 148 (1.5-1.7x k·log2(n/k)), in about log2(n) + a few rounds, not one round per request.
"""

from __future__ import annotations

import math
import random
import time

import pytest

from consumer.delivery import Deliverer, DeliveryReport
from consumer.devstack.emulator import EmulatorClient
from tests.component.test_delivery import _batch, _deliverer
from tests.fixtures.emulator import PIXEL_PLAIN

EVENTS = 1000


def worst_case_requests(n: int, k: int) -> int:
    """The bound above: requests to isolate k rejected events among n, at worst."""
    depth, top = math.ceil(math.log2(n)), math.floor(math.log2(k))
    split_parts = 2 ** (top + 1) - 1 + k * max(0, depth - top - 1)
    return 1 + 2 * split_parts


def _requests(emulator: EmulatorClient) -> int:
    return int(emulator.stats()[PIXEL_PLAIN]["requests"])


async def _deliver_with_parts(
    deliverer: Deliverer[int], n: int
) -> tuple[DeliveryReport[int], list[tuple[float, DeliveryReport[int]]]]:
    parts: list[tuple[float, DeliveryReport[int]]] = []

    async def on_part(part: DeliveryReport[int]) -> None:
        parts.append((time.monotonic(), part))

    report = await deliverer.deliver(_batch(PIXEL_PLAIN, n), on_part=on_part)
    return report, parts


class TestIsolationBound:
    @pytest.mark.parametrize("bad_count", [1, 5, 15])
    async def test_requests_within_bound(
        self, emulator_client: EmulatorClient, bad_count: int
    ) -> None:
        """k rejected events among 1000: exactly those are dead-lettered, within the bound."""
        bad = sorted(random.Random(bad_count).sample(range(EVENTS), bad_count))
        emulator_client.inject(
            "reject_event", PIXEL_PLAIN, count=-1, event_ids=[f"order_{n}" for n in bad]
        )
        deliverer, sender, _ = _deliverer(emulator_client.base_url)
        try:
            report, _parts = await _deliver_with_parts(deliverer, EVENTS)
        finally:
            await sender.close()

        requests = _requests(emulator_client)
        print(
            f"{bad_count} bad in {EVENTS}: {requests} requests "
            f"(k·log2(n/k) = {bad_count * math.log2(EVENTS / bad_count):.0f}, "
            f"bound {worst_case_requests(EVENTS, bad_count)})"
        )
        assert bad == sorted(token for token, _ in report.failed)
        assert {"rejected"} == {failure.reason for _, failure in report.failed}
        assert EVENTS - bad_count == len(report.sent) == len(emulator_client.events(PIXEL_PLAIN))
        assert requests == report.requests
        assert requests <= worst_case_requests(EVENTS, bad_count)


class TestSettlement:
    async def test_acknowledged_parts_settle_before_the_search_ends(
        self, emulator_client: EmulatorClient
    ) -> None:
        """With Meta answering in 100 ms, the first acknowledged part settles long before the last."""
        emulator_client.inject("latency", PIXEL_PLAIN, count=-1, ms=100)
        emulator_client.inject("reject_event", PIXEL_PLAIN, count=-1, event_ids=["order_900"])
        deliverer, sender, _ = _deliverer(emulator_client.base_url)
        try:
            started = time.monotonic()
            _report, parts = await _deliver_with_parts(deliverer, EVENTS)
        finally:
            await sender.close()

        first_sent = next(at for at, part in parts if part.sent)
        last = parts[-1][0]
        assert (True, True) == (first_sent - started < 0.5, last - started > 0.8)

    async def test_halves_travel_concurrently(self, emulator_client: EmulatorClient) -> None:
        """15 rejected events among 1000 at 100 ms a request: far fewer rounds than requests."""
        bad = random.Random(15).sample(range(EVENTS), 15)
        emulator_client.inject("latency", PIXEL_PLAIN, count=-1, ms=100)
        emulator_client.inject(
            "reject_event", PIXEL_PLAIN, count=-1, event_ids=[f"order_{n}" for n in bad]
        )
        deliverer, sender, _ = _deliverer(emulator_client.base_url)
        try:
            started = time.monotonic()
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, EVENTS))
            elapsed = time.monotonic() - started
        finally:
            await sender.close()

        print(f"15 bad in {EVENTS} at 100 ms: {report.requests} requests in {elapsed:.1f}s")
        assert 15 == len(report.failed)
        assert elapsed < report.requests * 0.1 / 3


class TestWholeRequestRejections:
    @pytest.mark.parametrize(
        "params",
        [
            {"code": 2500, "message": "Unknown path components: /v0.1/1/events"},
            {"code": 100, "message": "(#100) param data must be an array of objects"},
        ],
        ids=["unknown-path", "names-no-event"],
    )
    async def test_not_split(
        self, emulator_client: EmulatorClient, params: dict[str, object]
    ) -> None:
        """A rejection about the request, not an event, fails the batch after one request."""
        emulator_client.inject("reject", PIXEL_PLAIN, count=-1, **params)
        deliverer, sender, _ = _deliverer(emulator_client.base_url)
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 100))
        finally:
            await sender.close()

        assert (1, 100, {"request_rejected"}) == (
            _requests(emulator_client),
            len(report.failed),
            {failure.reason for _, failure in report.failed},
        )
