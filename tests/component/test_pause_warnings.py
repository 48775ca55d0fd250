"""Pauses and dependency outages in the real pipeline each log their warning, with the reason."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from consumer.core.dedup import Claim, Verdict
from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.errors import InfrastructureError
from tests.component.test_dlq_reasons import FakeSource, FixedPoster
from tests.component.test_settlement import Store, records, run

ACCEPTED = GraphVerdict(Kind.OK, 200, events_received=1)


class ClaimDownThenUp(Store):
    """The first ``failures`` claims fail as if Redis were unreachable; then it answers."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        self.calls["claim"] += 1
        if self.calls["claim"] <= self.failures:
            raise InfrastructureError("dedup store (redis): ConnectionError")
        return await super().claim(claims)


async def test_a_dedup_outage_pauses_with_its_reason_and_resumes() -> None:
    """consumption.paused names the dedup store; resumed follows; the retries are rate-limited."""
    dedup = ClaimDownThenUp(failures=4)
    with structlog.testing.capture_logs() as logs:
        pipeline = await run(
            FakeSource(records(1)),
            dedup,
            FixedPoster(ACCEPTED),
            lambda p: p.stats.settled >= 1,
        )
    events = [entry["event"] for entry in logs]
    paused = next(entry for entry in logs if entry["event"] == "consumption.paused")

    assert 1 == pipeline.stats.settled
    assert (["dedup"], ["dedup"], "warning") == (
        paused["reasons"],
        paused["added"],
        paused["log_level"],
    )
    assert events.index("consumption.paused") < events.index("consumption.resumed")
    assert 3 == events.count("infrastructure.unavailable")  # 4 failures, 3 lines a minute
    assert 1 == events.count("infrastructure.recovered")
