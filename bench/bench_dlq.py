"""DLQ operator commands on the embedded broker: how fast ``dlq stats`` and ``dlq replay`` read.

Fills a DLQ topic with N dead letters (real Avro orders, the consumer's ``capi.dlq.*`` headers),
then times ``dlq stats``, ``dlq replay --dry-run`` (decodes every record for the 7-day check) and
``dlq replay`` (also produces to the retry topic and commits progress). Prints records/s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer import cli
from consumer.devstack.broker import EmbeddedBroker, create_topics
from consumer.devstack.registry import EmbeddedRegistry
from consumer.devstack.sample import DEMO_PIXELS
from tests.fixtures.factories import make_order  # the realistic decoded order the tests use

RECORDS = 20_000
_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "order_event.avsc"


def run() -> None:
    with EmbeddedBroker() as broker:
        registry = EmbeddedRegistry()
        try:
            config = _prepare(broker.bootstrap, registry.start())
            for label, args in (
                ("dlq stats", ["stats"]),
                ("dlq replay --dry-run", ["replay", "--dry-run"]),
                ("dlq replay", ["replay"]),
            ):
                _time(label, [args[0], "--config", str(config), *args[1:]])
        finally:
            registry.stop()


def _prepare(bootstrap: str, registry_url: str) -> Path:
    create_topics(bootstrap, {"orders.dlq": 1, "capi.retry": 1})
    client = SchemaRegistryClient({"url": registry_url})
    serialize = AvroSerializer(client, _SCHEMA.read_text())
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    now = dt.datetime.now(dt.UTC)
    for index in range(RECORDS):
        order = _order(index, now)
        value = serialize(order, SerializationContext("orders", MessageField.VALUE))
        producer.produce(
            "orders.dlq", key=order["order_id"].encode(), value=value, headers=_headers(index, now)
        )
        producer.poll(0)
    producer.flush(60)
    client.__exit__()
    for pixel in DEMO_PIXELS[:2]:
        os.environ[f"CAPI_PIXELS__{pixel}__ACCESS_TOKEN"] = "bench-token"
    config = Path(tempfile.mkdtemp(prefix="bench-dlq-")) / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": bootstrap,
                    "topics": {"orders": {"event_type": "order"}},
                },
                "schema_registry": {"url": registry_url},
                "pixels": {DEMO_PIXELS[0]: {}, DEMO_PIXELS[1]: {}},
            }
        )
    )
    return config


def _order(index: int, now: dt.datetime) -> dict[str, Any]:
    return make_order(
        order_id=f"B-{index}",
        pixel_id=DEMO_PIXELS[index % 2],
        occurred_at=now - dt.timedelta(hours=2),
    )


def _headers(index: int, now: dt.datetime) -> list[tuple[str, bytes]]:
    fields = {
        "reason": "auth" if index % 3 else "rejected",
        "stage": "send",
        "pixel_id": DEMO_PIXELS[index % 2],
        "event_name": "Purchase",
        "event_id": f"order_B-{index}",
        "source_topic": "orders",
        "failed_at": (now - dt.timedelta(minutes=index % 600)).isoformat(),
        "replay_count": "0",
    }
    return [(f"capi.dlq.{key}", value.encode()) for key, value in fields.items()]


def _time(label: str, args: list[str]) -> None:
    sink = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["dlq", *args])
    elapsed = time.perf_counter() - started
    print(
        f"   {label:<22} {RECORDS} records in {elapsed:5.2f}s = {RECORDS / elapsed:8.0f} records/s (exit {code})"
    )
