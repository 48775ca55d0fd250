"""Avro input through the whole consumer: every framing, and a registry outage mid-stream.

Real components: the embedded broker, the registry double (over HTTP, read by the real
confluent-kafka client), the CAPI emulator; records produced by confluent-kafka's AvroSerializer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from consumer.app import run_consumer
from consumer.devstack.broker import create_topics
from consumer.devstack.emulator import EmbeddedEmulator
from consumer.devstack.emulator_client import EmulatorClient
from consumer.devstack.framing import ConfluentFramer, encode_raw, encode_single_object
from consumer.devstack.registry import EmbeddedRegistry
from consumer.pipeline import Pipeline
from consumer.schemas import load_schema_file
from consumer.settings import Settings
from consumer.stats import RunStats
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN
from tests.fixtures.factories import make_order

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ORDER_TEXT = (SCHEMAS / "order_event.avsc").read_text()
ORDER = load_schema_file(SCHEMAS / "order_event.avsc")
UniqueName = Callable[..., str]


def newer_order_schema() -> str:
    """Our order schema plus a field only newer producers know: a second registry id."""
    schema = json.loads(ORDER_TEXT)
    schema["fields"].append({"name": "coupon_code", "type": ["null", "string"], "default": None})
    return json.dumps(schema)


def order(order_id: str, **extra: Any) -> dict[str, Any]:
    """A paid order for the emulator's plain pixel, a minute old by the real clock."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        **make_order(
            order_id=order_id, pixel_id=PIXEL_PLAIN, occurred_at=now - dt.timedelta(minutes=1)
        ),
        **extra,
    }


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Produce ``values`` to ``topic`` and wait for the acks."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=value)
    assert 0 == producer.flush(15)


def consumer_settings(  # one place that wires a test consumer
    *,
    bootstrap: str,
    overrides: dict[str, str],
    unique_name: UniqueName,
    registry_url: str,
    emulator_url: str,
    topics: dict[str, dict[str, Any]],
    **registry: Any,
) -> Settings:
    """Settings for one test consumer on its own group and topics."""
    return Settings(
        kafka={
            "bootstrap_servers": bootstrap,
            "group_id": unique_name("g"),
            "topics": topics,
            "retry_topic": unique_name("retry"),
            "consumer": {k.replace(".", "_"): v for k, v in overrides.items()},
            "commit_interval_s": 0.5,
        },
        schema_registry={"url": registry_url, **registry},
        meta={"base_url": emulator_url},
        pixels={p: {"access_token": a["access_token"]} for p, a in EMULATOR_PIXELS.items()},
        batch={"linger_s": 0.05},
        dedup={"backend": "memory"},  # a fresh window per test
    )


class Running:
    """A consumer running in a task; ``pipeline`` is the live pipeline, seen each loop turn."""

    def __init__(self, settings: Settings) -> None:
        self.stop = asyncio.Event()
        self.pipeline: Pipeline | None = None
        self.assignments: list[frozenset[tuple[str, int]]] = []
        self.task: asyncio.Task[RunStats] = asyncio.create_task(
            run_consumer(settings, stop=self.stop, stop_when=self._observe)
        )

    def _observe(self, pipeline: Pipeline) -> bool:
        self.pipeline = pipeline
        if not self.assignments or self.assignments[-1] != pipeline.assigned:
            self.assignments.append(pipeline.assigned)
        return False

    @property
    def live(self) -> Pipeline:
        assert self.pipeline is not None
        return self.pipeline

    async def until(self, condition: Callable[[], bool], within_s: float = 60.0) -> None:
        """Wait until ``condition`` holds (the consumer must not have died)."""
        deadline = time.monotonic() + within_s
        while not condition():
            if self.task.done():
                self.task.result()
                raise AssertionError("consumer stopped")
            assert time.monotonic() < deadline, "condition not reached in time"
            await asyncio.sleep(0.05)

    async def finish(self) -> RunStats:
        """Stop the consumer and return its counters."""
        self.stop.set()
        return await self.task


async def sent_ids(client: EmulatorClient) -> set[str]:
    """The event ids the emulator accepted."""
    events = await asyncio.to_thread(client.events)
    return {e["event"]["event_id"] for e in events}


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking test setup off the event loop."""
    result: Awaitable[Any] = asyncio.to_thread(fn, *args)
    return await result


class TestFramingsEndToEnd:
    async def test_every_framing_reaches_meta(
        self,
        kafka_bootstrap: str,
        kafka_consumer_overrides: dict[str, str],
        registry_url: str,
        capi_emulator: EmbeddedEmulator,
        emulator_client: EmulatorClient,
        unique_name: UniqueName,
    ) -> None:
        """Confluent, single-object, raw and auto-detected records on their topics are all sent."""
        names = {kind: unique_name(kind) for kind in ("confluent", "so", "raw", "auto")}
        await in_thread(create_topics, kafka_bootstrap, list(names.values()))
        framer = ConfluentFramer(registry_url)
        try:
            values = {
                "confluent": [framer.encode(names["confluent"], order("C-1"), ORDER_TEXT)],
                "so": [encode_single_object(order("S-1"), ORDER)],
                "raw": [encode_raw(order("R-1"), ORDER)],
                "auto": [
                    framer.encode(names["auto"], order("A-1"), ORDER_TEXT),
                    encode_single_object(order("A-2"), ORDER),
                    encode_raw(order("A-3"), ORDER),
                ],
            }
        finally:
            framer.close()
        for kind, batch in values.items():
            await in_thread(produce, kafka_bootstrap, names[kind], batch)
        raw_writer = SCHEMAS / "order_event.avsc"
        settings = consumer_settings(
            bootstrap=kafka_bootstrap,
            overrides=kafka_consumer_overrides,
            unique_name=unique_name,
            registry_url=registry_url,
            emulator_url=capi_emulator.url,
            topics={
                names["confluent"]: {"event_type": "order"},
                names["so"]: {"event_type": "order", "framing": "single_object"},
                names["raw"]: {
                    "event_type": "order",
                    "framing": "raw",
                    "writer_schema": raw_writer,
                },
                names["auto"]: {
                    "event_type": "order",
                    "framing": "auto",
                    "writer_schema": raw_writer,
                },
            },
        )
        running = Running(settings)
        await running.until(
            lambda: running.pipeline is not None and running.live.stats.settled >= 6
        )
        stats = await running.finish()

        assert (
            {"sent": 6},
            {"order_C-1", "order_S-1", "order_R-1", "order_A-1", "order_A-2", "order_A-3"},
        ) == (
            dict(stats.outcomes),
            await sent_ids(emulator_client),
        )


class TestRegistryOutage:
    async def test_outage_pauses_keeps_membership_and_loses_nothing(
        self,
        kafka_bootstrap: str,
        kafka_consumer_overrides: dict[str, str],
        embedded_registry_factory: Callable[..., EmbeddedRegistry],
        capi_emulator: EmbeddedEmulator,
        emulator_client: EmulatorClient,
        unique_name: UniqueName,
        tmp_path: Path,
    ) -> None:
        """Registry down mid-stream: cached-schema records flow, new-schema records wait and the
        consumer pauses without leaving its group; when it returns, every record is sent."""
        registry = embedded_registry_factory(state_file=tmp_path / "registry.json")
        topic = unique_name("orders")
        await in_thread(create_topics, kafka_bootstrap, [topic])
        framer = ConfluentFramer(registry.url)
        try:
            v1 = [framer.encode(topic, order(f"V1-{i}"), ORDER_TEXT) for i in range(8)]
            v2 = [
                framer.encode(topic, order(f"V2-{i}", coupon_code="X"), newer_order_schema())
                for i in range(4)
            ]
        finally:
            framer.close()
        overrides = {**kafka_consumer_overrides, "max.poll.interval.ms": "4000"}
        settings = consumer_settings(
            bootstrap=kafka_bootstrap,
            overrides=overrides,
            unique_name=unique_name,
            registry_url=registry.url,
            emulator_url=capi_emulator.url,
            topics={topic: {"event_type": "order"}},
            max_awaiting_records=3,
        )
        running = Running(settings)
        await in_thread(produce, kafka_bootstrap, topic, v1[:4])
        await running.until(
            lambda: running.pipeline is not None and running.live.stats.settled >= 4
        )

        await in_thread(registry.stop)
        await in_thread(produce, kafka_bootstrap, topic, v2[:2])  # uncached id: these wait
        await running.until(lambda: running.live.in_flight >= 2)
        await in_thread(produce, kafka_bootstrap, topic, v1[4:])  # cached id: these flow
        await running.until(lambda: running.live.stats.settled >= 8)
        flowed_while_down = running.live.stats.settled
        await in_thread(produce, kafka_bootstrap, topic, v2[2:])  # a third waiter: pause
        await running.until(lambda: running.live.paused)
        await asyncio.sleep(6.0)  # past max.poll.interval.ms: a blocked poll loop would be kicked
        still_paused, settled_while_down = running.live.paused, running.live.stats.settled

        await in_thread(registry.start)
        await running.until(lambda: running.live.stats.settled >= 12)
        await running.until(lambda: not running.live.paused)
        stats = await running.finish()
        expected_ids = {f"order_V1-{i}" for i in range(8)} | {f"order_V2-{i}" for i in range(4)}

        assert (8, True, 8, 1, {"sent": 12}, expected_ids) == (
            flowed_while_down,
            still_paused,
            settled_while_down,
            len(running.assignments) - 1,  # one change: empty -> assigned, never revoked
            dict(stats.outcomes),
            await sent_ids(emulator_client),
        )
