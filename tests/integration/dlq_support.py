"""The DLQ scenario shared by the DLQ and replay integration tests: its own topics, groups and
config file on the session broker, a dedup window kept across consumer runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.app import run_consumer
from consumer.core.dedup import Claim, DedupStore, MemoryDedupStore, Verdict
from consumer.devstack.broker import create_topics
from consumer.devstack.emulator import EmbeddedEmulator, EmulatorClient
from consumer.dlq import DeadLetterWriter
from consumer.settings import Settings, load_settings
from consumer.stats import RunStats
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN
from tests.fixtures.factories import make_order

__all__ = [
    "GOOD_TOKEN",
    "TOKEN_ENV",
    "KeptDedup",
    "Scenario",
    "delivered_ids",
    "orders",
    "scenario_fixture",
]

UniqueName = Callable[..., str]
SCHEMA = (Path(__file__).resolve().parents[2] / "schemas" / "order_event.avsc").read_text()
GOOD_TOKEN = str(EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"])
TOKEN_ENV = f"CAPI_PIXELS__{PIXEL_PLAIN}__ACCESS_TOKEN"


class KeptDedup:
    """The dedup window shared by consecutive consumer runs: ``close`` keeps its entries
    (the memory backend forgets everything on close; the persisted backends would not)."""

    def __init__(self, store: DedupStore) -> None:
        self._store = store

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        return await self._store.claim(claims)

    async def confirm(self, claims: Sequence[Claim]) -> None:
        await self._store.confirm(claims)

    async def release(self, claims: Sequence[Claim]) -> None:
        await self._store.release(claims)

    async def close(self) -> None:
        """Keep the window for the next run."""


class Scenario:
    """One isolated setup: its own topics, groups and config file, sharing the session broker."""

    def __init__(
        self,
        bootstrap: str,
        registry: str,
        emulator: EmbeddedEmulator,
        name: UniqueName,
        overrides: dict[str, str],
        tmp_path: Path,
    ) -> None:
        self.bootstrap, self.registry = bootstrap, registry
        self.topic, self.retry = name("orders"), name("retry")
        self.dlq_topic = f"{self.topic}.dlq"
        self.group = name("group")
        self.config = tmp_path / "config.yaml"
        self.raw: dict[str, Any] = {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": self.group,
                "topics": {self.topic: {"event_type": "order"}},
                "retry_topic": self.retry,
                "commit_interval_s": 0.2,
                "consumer": {key.replace(".", "_"): value for key, value in overrides.items()},
            },
            "schema_registry": {"url": registry},
            "meta": {"base_url": emulator.url},
            "pixels": {PIXEL_PLAIN: {}},
            "batch": {"linger_s": 0.05},
            "delivery": {"auth_cooldown_s": 0},
            "dlq": {"replay_group_id": name("replay")},
        }
        self.write_config()
        self.dedup = KeptDedup(MemoryDedupStore(3600, 900, time.time))

    def write_config(self, **dlq: Any) -> None:
        self.raw["dlq"].update(dlq)
        self.config.write_text(yaml.safe_dump(self.raw))

    def settings(self) -> Settings:
        return load_settings(self.config)

    def produce(self, values: list[bytes | dict[str, Any]]) -> None:
        client = SchemaRegistryClient({"url": self.registry})
        serialize = AvroSerializer(client, SCHEMA)
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "message.max.bytes": 4_000_000,
            }
        )
        for index, value in enumerate(values):
            if not isinstance(value, bytes):
                value = serialize(value, SerializationContext(self.topic, MessageField.VALUE))
            producer.produce(self.topic, key=f"k{index}".encode(), value=value, partition=0)
        assert 0 == producer.flush(10)
        client.__exit__()

    def consume(self, settled: int, dlq_writer: DeadLetterWriter | None = None) -> RunStats:
        """Run the consumer until ``settled`` records got their outcome."""
        return asyncio.run(
            asyncio.wait_for(
                run_consumer(
                    self.settings(),
                    stop_when=lambda p: p.stats.settled >= settled,
                    dedup=self.dedup,
                    dlq_writer=dlq_writer,
                ),
                60,
            )
        )

    def read(self, topic: str) -> list[Any]:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{time.monotonic_ns()}",
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
            }
        )
        consumer.assign([TopicPartition(topic, 0, 0)])
        messages = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error() is not None:
                break  # end of partition
            messages.append(message)
        consumer.close()
        return messages

    def committed(self) -> int:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group})
        try:
            [position] = consumer.committed([TopicPartition(self.topic, 0)], timeout=10)
            return int(position.offset)
        finally:
            consumer.close()


@pytest.fixture(name="scenario")
def scenario_fixture(
    kafka_bootstrap: str,
    registry_url: str,
    capi_emulator: EmbeddedEmulator,
    emulator_client: EmulatorClient,
    unique_name: UniqueName,
    kafka_consumer_overrides: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Scenario]:
    """A fresh scenario with the pixel's correct token in the environment."""
    monkeypatch.setenv(TOKEN_ENV, GOOD_TOKEN)
    made = Scenario(
        kafka_bootstrap,
        registry_url,
        capi_emulator,
        unique_name,
        kafka_consumer_overrides,
        tmp_path,
    )
    create_topics(kafka_bootstrap, {made.topic: 1})
    yield made


def orders(count: int, **overrides: Any) -> list[bytes | dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return [
        make_order(
            **{
                "order_id": f"ORD-{index}",
                "pixel_id": PIXEL_PLAIN,
                "occurred_at": now - dt.timedelta(hours=1),
                **overrides,
            }
        )
        for index in range(count)
    ]


def delivered_ids(client: EmulatorClient) -> list[str]:
    return sorted(event["event"]["event_id"] for event in client.events(PIXEL_PLAIN))
