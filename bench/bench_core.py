"""The compiled core per event: ``Processor.process_batch`` (decode + map + validate) over poll batches.

Records are the e2e benchmark's bulk orders (``produce_bulk_orders``'s layout: Confluent framing,
one fastavro-serialized tail per pixel, distinct order ids), processed in batches of ``BATCH`` as
the consumer polls them, with the GC settings of ``capi-consumer run``. CPU time of this process, best of ``REPEATS``: µs per event. Also shown:
decode alone and map alone over the same records, to say where the time goes.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import random
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from consumer.cli import _RUN_GC_THRESHOLDS
from consumer.core.mapping import map_record
from consumer.core.models import SourceRecord
from consumer.core.processing import Processor
from consumer.devstack.sample import DEMO_PIXELS, _order_value, _zigzag_varint
from consumer.schemas import load_schema_file
from consumer.settings import Settings

__all__ = ["run"]

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
TOPIC = "bench-orders"
RECORDS = 20_000
BATCH = 1000
REPEATS = 7
SCHEMA_ID = 1


def _records(parsed: dict[str, Any], count: int = RECORDS) -> list[SourceRecord]:
    now = dt.datetime.now(dt.UTC)
    header = b"\x00" + struct.pack(">I", SCHEMA_ID)
    tails = []
    first_id = f"BULK-{1:04d}-{0:09d}"
    for pixel in DEMO_PIXELS:
        record = _order_value(random.Random(1), 0, now, "PAID", "WEB")
        record.update(order_id=first_id, pixel_id=pixel, tenant_id=None, is_test=False)
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, record)
        tails.append(out.getvalue()[len(_zigzag_varint(len(first_id))) + len(first_id) :])
    length = _zigzag_varint(len(first_id))
    values = []
    for index in range(count):
        order_id = f"BULK-{1:04d}-{index:09d}".encode()
        values.append(header + length + order_id + tails[index % len(tails)])
    return [SourceRecord(TOPIC, 0, i, None, v) for i, v in enumerate(values)]


def _best(job: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        job()
        best = min(best, time.process_time() - started)
    return best / RECORDS * 1e6


def prepared(count: int = RECORDS) -> tuple[Processor, Settings, list[list[SourceRecord]]]:
    """A processor, its settings and ``count`` bulk orders in poll batches, warmed up once,
    with the GC settings of ``capi-consumer run`` (also used by ``bench_instructions``)."""
    parsed = load_schema_file(SCHEMAS / "order_event.avsc")
    writer = load_schema_file(SCHEMAS / "order_event.avsc")
    settings = Settings(
        kafka={"topics": {TOPIC: {"event_type": "order"}}},
        pixels={pixel: {"access_token": "bench"} for pixel in DEMO_PIXELS},
    )
    processor = Processor(settings, {"order": parsed}, lambda _id: writer, time.time)
    records = _records(parsed, count)
    batches = [records[i : i + BATCH] for i in range(0, count, BATCH)]
    first = processor.process_batch(batches[0])
    if len(first.events) != len(batches[0]):
        raise RuntimeError(f"bench records did not all map: {first.failures[:1]}")
    gc.freeze()  # as ``capi-consumer run`` does, with its thresholds
    gc.set_threshold(*_RUN_GC_THRESHOLDS)
    return processor, settings, batches


def run() -> None:
    """Print µs/event of process_batch, decode alone and map alone (compiled unless pure)."""
    processor, settings, batches = prepared()
    records = [record for batch in batches for record in batch]
    decoded = [processor.decode(r) for r in records]

    def whole() -> None:
        for batch in batches:
            processor.process_batch(batch)

    def decode() -> None:
        for record in records:
            processor.decode(record)

    def mapping() -> None:
        for kind, value in decoded:
            map_record(kind, value, settings)

    import consumer.core.processing as module

    print(f"   {RECORDS} bulk orders in batches of {BATCH}, CPU time, best of {REPEATS}")
    print(f"   compiled: {not module.__file__.endswith('.py')}")  # type: ignore[union-attr]
    print(f"   {'process_batch (decode+map+validate)':<40} {_best(whole):6.2f} µs/event")
    print(f"   {'decode':<40} {_best(decode):6.2f} µs/event")
    print(f"   {'map':<40} {_best(mapping):6.2f} µs/event")
