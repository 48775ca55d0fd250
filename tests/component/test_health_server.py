"""The health server over real HTTP: status codes, reasons and the metrics content type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from consumer.health import Check, HealthServer, Problem
from consumer.metrics import Metrics
from consumer.settings import ObservabilitySettings
from consumer.stats import RunStats


@dataclass
class Served:
    """The server's base URL and the probe results it will report (set by the test)."""

    url: str = ""
    probes: tuple[Check, Check] = (Check(), Check())


@pytest.fixture(name="served")
async def fixture_served() -> AsyncIterator[Served]:
    """A HealthServer on a free loopback port reporting ``served.probes``."""
    served = Served()
    server = HealthServer(
        ObservabilitySettings(port=0), Metrics(RunStats(consumed=3)), lambda: served.probes
    )
    served.url = f"http://127.0.0.1:{await server.start()}"
    try:
        yield served
    finally:
        await server.stop()


async def fetch(url: str) -> tuple[int, str, str]:
    """Status, body and content type of a GET."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(), response.headers["Content-Type"]


async def test_passing_probes_answer_200(served: Served) -> None:
    """Both probes pass: 200 with a short body."""
    assert (200, "ok\n") == (await fetch(f"{served.url}/livez"))[:2]
    assert (200, "ok\n") == (await fetch(f"{served.url}/readyz"))[:2]


async def test_failing_probe_answers_503_with_its_reasons(served: Served) -> None:
    """A failing readiness check answers 503 and names each problem on its own line."""
    served.probes = (
        Check(),
        Check((Problem("broker", "no Kafka broker connected"), Problem("dedup", "waiting"))),
    )

    assert (503, "broker: no Kafka broker connected\ndedup: waiting\n") == (
        await fetch(f"{served.url}/readyz")
    )[:2]
    assert 200 == (await fetch(f"{served.url}/livez"))[0]


async def test_metrics_are_prometheus_text(served: Served) -> None:
    """/metrics serves the text exposition format with the run's counters."""
    status, body, content_type = await fetch(f"{served.url}/metrics")

    assert (200, "text/plain") == (status, content_type.split(";")[0])
    assert "capi_records_consumed_total 3.0" in body
