"""The deliverer's retry deadline, on a fake clock: one budget per batch, bisected or not."""

from __future__ import annotations

import random
from typing import Any

from consumer.core.batching import Batch
from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.delivery import Deliverer
from consumer.settings import DeliverySettings
from consumer.stats import RunStats
from tests.component.test_delivery import _batch

REJECTED = GraphVerdict(Kind.INVALID, 400, 100, 2804019, "Invalid parameter")
UNAVAILABLE = GraphVerdict(Kind.RETRY, 503, 2, None, "Service temporarily unavailable")


class FakeTime:
    """A clock that only ``sleep`` moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class CeilingRng(random.Random):
    """Full jitter at its ceiling: every backoff is the longest allowed."""

    def uniform(self, a: float, b: float) -> float:
        return b


class RejectedThenDown:
    """Rejects the first (whole) batch, so it is bisected; then Meta is down for good."""

    def __init__(self) -> None:
        self.requests = 0

    async def post(self, batch: Batch[Any]) -> GraphVerdict:
        self.requests += 1
        return REJECTED if self.requests == 1 else UNAVAILABLE


class TestDeadline:
    async def test_bisected_halves_share_the_batch_deadline(self) -> None:
        """Halves of a rejected batch retry within what is left of the batch's deadline."""
        clock = FakeTime()
        settings = DeliverySettings(retry_base_s=1, retry_cap_s=1, retry_deadline_s=10)
        deliverer = Deliverer[int](
            RejectedThenDown(),
            settings,
            RunStats(),
            clock=clock,
            rng=CeilingRng(),
            sleep=clock.sleep,
        )

        report = await deliverer.deliver(_batch("1", 2))

        reasons = {failure.reason for _token, failure in report.failed}
        assert ({"retries_exhausted"}, True) == (reasons, clock.now <= 10)
