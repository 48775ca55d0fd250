"""Decode throughput per core: framed sample records -> dicts shaped by our reader schemas.

Records come from ``consumer/devstack/sample.py`` (orders and leads), framed three ways: Confluent
(by confluent-kafka's AvroSerializer against a mock registry), single-object and raw. One
process, one thread, CPU time, best of five: the figures are records per second per core. Writer
and reader schemas are equal here, so ``decode_value`` runs the generated decoder; also shown: a
writer that differs from the reader (the guard, then fastavro resolving the two), the guard alone
and fastavro alone (no guard), to state what each costs.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from consumer.core.avro_guard import compile_guard
from consumer.core.decoding import DecodeLimits, confluent_schema_id, decode_payload, decode_value
from consumer.devstack.framing import ConfluentFramer, encode_raw, encode_single_object
from consumer.devstack.sample import build_sample
from consumer.schemas import ParsedSchema, load_schema_file, parse_schema_text, schema_fingerprint

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
FILES = {"orders": "order_event.avsc", "leads": "lead_event.avsc"}
ROUNDS = 10  # passes over the sample per measurement
REPEATS = 5  # measurements; the best one is reported
LIMITS = DecodeLimits()


class Writers:
    """Writer schemas by registry id (pre-fetched) and by fingerprint."""

    def __init__(self, ids: dict[int, ParsedSchema], local: list[ParsedSchema]) -> None:
        self.ids = ids
        self.fingerprints = {schema_fingerprint(s): s for s in local}

    def by_id(self, schema_id: int) -> ParsedSchema | None:
        return self.ids.get(schema_id)

    def by_fingerprint(self, fingerprint: int) -> ParsedSchema | None:
        return self.fingerprints.get(fingerprint)


def _measure(label: str, items: list[Any], decode_one: Callable[[Any], object]) -> None:
    """Best of REPEATS passes, in CPU time of this process (steady on a shared machine)."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(ROUNDS):
            for item in items:
                decode_one(item)
        best = min(best, time.process_time() - started)
    count = ROUNDS * len(items)
    print(f"   {label:<34} {count / best:>9,.0f} records/s   {best / count * 1e6:6.1f} µs/record")


def run() -> None:
    """Print records per second for each framing over the sample."""
    readers = {topic: load_schema_file(SCHEMAS / name) for topic, name in FILES.items()}
    records = [(r.topic, r.value) for r in build_sample() if isinstance(r.value, dict)]
    framer = ConfluentFramer()
    try:
        text = {topic: (SCHEMAS / name).read_text() for topic, name in FILES.items()}
        confluent = [(t, framer.encode(t, v, text[t])) for t, v in records]
        ids = {confluent_schema_id(value) for _t, value in confluent}
        # writer schemas parsed apart from the readers, as the consumer holds them
        local = {topic: load_schema_file(SCHEMAS / name) for topic, name in FILES.items()}
        writers = Writers({i: framer.writer(i) or {} for i in ids}, list(local.values()))
    finally:
        framer.close()
    framed = {
        "confluent": confluent,
        "single_object": [(t, encode_single_object(v, readers[t])) for t, v in records],
        "raw": [(t, encode_raw(v, readers[t])) for t, v in records],
    }
    mean = sum(len(v) for _t, v in framed["raw"]) / len(records)
    print(
        f"   {len(records)} sample records (orders and leads), mean Avro payload {mean:.0f} bytes"
    )
    for framing, values in framed.items():

        def one(item: tuple[str, bytes], framing: str = framing) -> object:
            topic, value = item
            return decode_value(
                value,
                framing=framing,
                writers=writers,
                raw_writer=local[topic],
                reader=readers[topic],
                limits=LIMITS,
            )

        _measure(f"decode_value, {framing}", values, one)
    # A writer that differs from our reader (an alias added): resolution, so guard + fastavro.
    evolved = {
        topic: parse_schema_text(json.dumps({**json.loads(text[topic]), "aliases": ["Old"]}))
        for topic in readers
    }
    _measure(
        "decode_payload, writer != reader",
        framed["raw"],
        lambda item: decode_payload(item[1], evolved[item[0]], readers[item[0]], LIMITS),
    )
    guards = {topic: compile_guard(schema) for topic, schema in readers.items()}
    _measure(
        "avro guard alone (raw)",
        framed["raw"],
        lambda item: guards[item[0]](item[1], LIMITS),
    )
    _measure(
        "fastavro alone (raw, no guard)",
        framed["raw"],
        lambda item: fastavro.schemaless_reader(
            io.BytesIO(item[1]), readers[item[0]], readers[item[0]]
        ),
    )
