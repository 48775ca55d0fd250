"""Readiness tells the truth on the embedded stack: registry down, broker hung, stale assignment.

Each case asserts the ``/readyz`` body (reason first), the ``capi_not_ready{reason}`` gauge and
the ``readiness.failing`` / ``readiness.restored`` log lines, while a real consumer runs
in-process against its own broker (and, for the registry case, its own registry double).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog

from consumer.app import run_consumer
from consumer.devstack.broker import EmbeddedBroker, create_topics
from consumer.devstack.registry import EmbeddedRegistry
from consumer.devstack.sample import DEMO_PIXELS, build_sample, produce_sample
from consumer.settings import Settings
from consumer.stats import RunStats
from tests.integration.test_observability import (
    TOPICS,
    consumer_settings,
    get,
    scrape,
    settled,
    until,
)

pytestmark = pytest.mark.integration


@dataclass
class Seen:
    """What a background watcher saw: every /readyz body and every failing gauge reason."""

    bodies: list[str] = field(default_factory=list)
    gauges: set[str] = field(default_factory=set)


@contextlib.asynccontextmanager
async def watching(settings: Settings) -> AsyncIterator[Seen]:
    """Poll /readyz and the gauge every 50 ms in the background (short states are caught too)."""
    seen = Seen()

    async def poll() -> None:
        while True:
            with contextlib.suppress(OSError, asyncio.TimeoutError, ValueError):
                status, body = await get(settings, "/readyz")
                if status == 503:
                    seen.bodies.append(body)
                found = await scrape(settings)
                seen.gauges |= {
                    dict(labels)["reason"]
                    for (name, labels), value in found.items()
                    if name == "capi_not_ready" and value == 1
                }
            await asyncio.sleep(0.05)

    task = asyncio.create_task(poll())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def with_bounds(settings: Settings, **bounds: float) -> Settings:
    """``settings`` with other observability bounds."""
    observability = settings.observability.model_copy(update=bounds)
    return settings.model_copy(update={"observability": observability})


def readiness_lines(logs: list[dict[str, Any]], event: str) -> list[str]:
    """The reasons of the captured ``readiness.failing`` or ``readiness.restored`` lines."""
    return [entry["reason"] for entry in logs if entry["event"] == event]


async def gauge(settings: Settings, reason: str) -> float:
    """The current value of ``capi_not_ready{reason}``."""
    return (await scrape(settings))[("capi_not_ready", (("reason", reason),))]


@pytest.fixture(name="tokens")
def fixture_tokens() -> dict[str, str]:
    """A token per demo pixel."""
    return {pixel: secrets.token_urlsafe(24) for pixel in DEMO_PIXELS}


@pytest.fixture(name="emulator_url")
def fixture_emulator_url(emulator_factory: Callable[..., Any], tokens: dict[str, str]) -> str:
    """An emulator that knows the demo pixels' tokens."""
    emulator = emulator_factory(
        {p: {"access_token": t, "app_secret": None} for p, t in tokens.items()}
    )
    return str(emulator.url)


async def test_unready_while_records_wait_on_the_registry(
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    embedded_registry_factory: Callable[..., EmbeddedRegistry],
    emulator_url: str,
    tokens: dict[str, str],
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
    tmp_path: Path,
) -> None:
    """Registry stopped while records need its schemas: 503 ``registry``, gauge 1, wait lines;
    ready again and everything settled once it is back."""
    broker = embedded_broker_factory()
    create_topics(broker.bootstrap, TOPICS)
    registry = embedded_registry_factory(state_file=tmp_path / "registry.json")
    sample = build_sample(orders=20, leads=5, seed=5)
    produce_sample(broker.bootstrap, registry.url, sample)
    registry.stop()
    settings = consumer_settings(
        broker.bootstrap, registry.url, emulator_url, tokens, unique_name("g"),
        kafka_consumer_overrides,
    )  # fmt: skip
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(run_consumer(settings, stop=stop))
        await until(lambda: _body_has(settings, "registry: "), "/readyz names the registry")
        waiting_gauge = await gauge(settings, "registry")
        status, body = await get(settings, "/readyz")
        await until(lambda: _logged(logs, "registry", "failing"), "readiness.failing logged")
        await asyncio.to_thread(registry.start)
        await until(lambda: settled(settings, len(sample)), "every record settled")
        await until(lambda: _ready(settings), "ready again")
        await until(lambda: _logged(logs, "registry"), "readiness.restored logged")
        restored_gauge = await gauge(settings, "registry")
        stop.set()
        await task
    events = [entry["event"] for entry in logs]

    assert (503, 1.0, 0.0) == (status, waiting_gauge, restored_gauge)
    assert "records with a schema id we have not cached" in body
    assert "registry" in readiness_lines(logs, "readiness.failing")
    assert "registry" in readiness_lines(logs, "readiness.restored")
    assert events.index("registry.wait_started") < events.index("registry.wait_ended")


async def test_unready_while_the_broker_is_hung(
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    registry_url: str,
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
) -> None:
    """A SIGSTOPped broker keeps its connection (librdkafka says UP), yet the group session is
    lost (``group``) and /readyz fails with ``broker`` once nothing answered for the bound;
    SIGCONT makes it ready again."""
    broker = embedded_broker_factory()
    create_topics(broker.bootstrap, TOPICS)
    settings = with_bounds(
        consumer_settings(
            broker.bootstrap, registry_url, "http://127.0.0.1:1",
            dict.fromkeys(DEMO_PIXELS, "unused"), unique_name("g"), kafka_consumer_overrides,
        ),
        broker_silent_after_s=3.0,
    )  # fmt: skip
    stop = asyncio.Event()
    assert broker.pid is not None
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(run_consumer(settings, stop=stop))
        await until(lambda: _ready(settings), "ready after the first assignment")
        failing_at_start = readiness_lines(logs, "readiness.failing")
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            await until(lambda: _body_has(settings, "broker: "), "/readyz names the broker")
            status, body = await get(settings, "/readyz")
            hung_gauge = await gauge(settings, "broker")
            silence = (await scrape(settings))[("capi_kafka_silence_seconds", ())]
            await until(lambda: _logged(logs, "broker", "failing"), "readiness.failing logged")
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        await until(lambda: _ready(settings), "ready again after SIGCONT")
        await until(lambda: _logged(logs, "broker"), "readiness.restored logged")
        restored_gauge = await gauge(settings, "broker")
        stop.set()
        await task

    assert [] == failing_at_start  # a normal start is quiet
    assert (503, 1.0, 0.0) == (status, hung_gauge, restored_gauge)
    assert "no Kafka broker answered for" in body
    assert silence >= 3.0
    # The session timeout (2 s here) is shorter than the silence bound: the group goes too.
    assert {"group", "broker"} <= set(readiness_lines(logs, "readiness.failing"))
    assert "partitions.lost" in [entry["event"] for entry in logs]
    assert "broker" in readiness_lines(logs, "readiness.restored")


async def test_a_stale_empty_assignment_is_reported_and_healed(
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    registry_url: str,
    emulator_url: str,
    tokens: dict[str, str],
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
) -> None:
    """The broker restarts empty and the topics come back after the group re-formed: the
    consumer sits at [] until the bound, then says so, re-subscribes and consumes, same run."""
    broker = embedded_broker_factory()
    create_topics(broker.bootstrap, TOPICS)
    settings = with_bounds(
        consumer_settings(
            broker.bootstrap, registry_url, emulator_url, tokens, unique_name("g"),
            kafka_consumer_overrides,
        ),
        no_partitions_after_s=4.0,
    )  # fmt: skip
    sample = build_sample(orders=15, leads=5, seed=9)
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(run_consumer(settings, stop=stop))
        await until(lambda: _ready(settings), "ready after the first assignment")
        assigned_before = _empty_assignments(logs)
        async with watching(settings) as seen:
            await asyncio.to_thread(broker.restart)
            await until(
                lambda: _later_empty_assignment(logs, assigned_before), "an empty assignment"
            )
            await asyncio.to_thread(create_topics, broker.bootstrap, TOPICS)
            await asyncio.to_thread(produce_sample, broker.bootstrap, registry_url, sample)
            await until(lambda: settled(settings, len(sample)), "the sample consumed")
        await until(lambda: _logged(logs, "no_partitions"), "readiness.restored logged")
        stats: RunStats = await _stop(stop, task)

    assert len(sample) == stats.settled
    assert any(body.startswith("no_partitions: ") for body in seen.bodies)
    assert "no_partitions" in seen.gauges
    assert 1 == [entry["event"] for entry in logs].count("partitions.resubscribing")
    assert "no_partitions" in readiness_lines(logs, "readiness.failing")
    assert "no_partitions" in readiness_lines(logs, "readiness.restored")


async def _stop(stop: asyncio.Event, task: asyncio.Task[RunStats]) -> RunStats:
    stop.set()
    return await task


def _empty_assignments(logs: list[dict[str, Any]]) -> int:
    return sum(
        1 for entry in logs if entry["event"] == "partitions.assigned" and not entry["partitions"]
    )


async def _later_empty_assignment(logs: list[dict[str, Any]], before: int) -> bool:
    return _empty_assignments(logs) > before


async def _logged(logs: list[dict[str, Any]], reason: str, what: str = "restored") -> bool:
    return reason in readiness_lines(logs, f"readiness.{what}")


async def _ready(settings: Settings) -> bool:
    return 200 == (await get(settings, "/readyz"))[0]


async def _body_has(settings: Settings, text: str) -> bool:
    status, body = await get(settings, "/readyz")
    return status == 503 and text in body
