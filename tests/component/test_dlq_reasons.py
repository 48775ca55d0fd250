"""Every failure stage, through the real pipeline, produces a DLQ record with its reason and headers.

The pipeline runs with the real Processor, Deliverer, dedup store and batching; the Kafka source,
the CAPI poster and the DLQ producer are in-memory fakes. Each test feeds one record that fails
in one way and checks the ``capi.dlq.*`` headers the DLQ writer would add.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import struct
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

from consumer.bridge import Bridge
from consumer.core.batching import Batch
from consumer.core.dedup import DedupStore, MemoryDedupStore
from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.core.models import SourceRecord, TopicPartition
from consumer.core.processing import Processor
from consumer.delivery import Deliverer, Poster
from consumer.dlq import HEADER_PREFIX, DeadLetter, dlq_headers
from consumer.pipeline import Pipeline, Ticket
from consumer.schemas import load_reader_schemas
from consumer.settings import Settings
from consumer.stats import RunStats
from tests.fixtures.factories import NOW, PIXEL, TEST_PIXEL, make_lead, make_order, make_settings

READERS = load_reader_schemas(Path(__file__).resolve().parents[2] / "schemas")
ORDER_ID, LEAD_ID, UNPARSEABLE_ID, UNRELATED_ID = 1, 2, 3, 4
WRITERS: dict[int, dict[str, Any]] = {
    ORDER_ID: READERS["order"],
    LEAD_ID: READERS["lead"],
    UNPARSEABLE_ID: {"__unparseable__": UNPARSEABLE_ID},
    UNRELATED_ID: fastavro.parse_schema(
        {"type": "record", "name": "Unrelated", "fields": [{"name": "n", "type": "int"}]}
    ),
}
OK = GraphVerdict(Kind.OK, status=200, events_received=1, fbtrace_id="trace-ok")


def framed(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + payload


def avro(schema_id: int, record: Mapping[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, WRITERS[schema_id], dict(record))
    return framed(schema_id, out.getvalue())


def order(**overrides: Any) -> bytes:
    return avro(ORDER_ID, make_order(**overrides))


class FakeSource:
    """Hands out the given records once; assigns their partitions on subscribe."""

    def __init__(self, records: list[SourceRecord]) -> None:
        self.records = records
        self.on_assign: Callable[[list[TopicPartition]], None] = lambda _tps: None
        self.stored: dict[TopicPartition, int] = {}

    def subscribe(self) -> None:
        self.on_assign(sorted({record.tp for record in self.records}))

    def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        records, self.records = self.records, []
        return records

    def pause(self) -> None: ...
    def resume(self) -> None: ...

    def store(self, positions: Mapping[TopicPartition, int]) -> None:
        self.stored.update(positions)

    def commit(self) -> None: ...
    def close(self) -> None: ...


class NoFetch:
    def fetch(self, schema_ids: Sequence[int]) -> None: ...


class FixedPoster:
    """Answers every request with one verdict."""

    def __init__(self, verdict: GraphVerdict) -> None:
        self.verdict = verdict

    async def post(self, batch: Batch[Any]) -> GraphVerdict:
        return self.verdict


class CapturingWriter:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def write(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


async def dead_letter_headers(
    value: bytes, *, topic: str = "orders", verdict: GraphVerdict = OK, **settings: Any
) -> dict[str, str]:
    """Run one record through the pipeline; return the added headers of its DLQ record."""
    config = make_settings(
        delivery={"retry_base_s": 0.001, "retry_cap_s": 0.001, "retry_deadline_s": 0.01},
        batch={"linger_s": 0},
        **settings,
    )
    record = SourceRecord(topic, 0, 7, b"key", value, (("trace", b"abc"),), 1_700_000_000_000)
    writer = CapturingWriter()
    await _run(config, FakeSource([record]), FixedPoster(verdict), writer)
    assert 1 == len(writer.letters)
    headers = dlq_headers(writer.letters[0], NOW)
    assert ("trace", b"abc") == headers[0]  # the producer's headers come first, untouched
    return {k.removeprefix(HEADER_PREFIX): v.decode() for k, v in headers[1:]}


def build_pipeline(
    settings: Settings,
    source: FakeSource,
    poster: Poster,
    writer: CapturingWriter,
    dedup: DedupStore | None = None,
) -> tuple[Pipeline, Bridge]:
    """The real pipeline over fakes (a memory dedup store by default); shut the bridge down."""
    bridge = Bridge(asyncio.get_running_loop())
    stats = RunStats()
    pipeline = Pipeline(
        settings=settings,
        source=source,
        processor=Processor(settings, READERS, WRITERS.get, NOW.timestamp),
        schemas=NoFetch(),
        dedup=dedup or MemoryDedupStore(3600, 900, NOW.timestamp),
        deliverer=Deliverer[Ticket](poster, settings.delivery, stats),
        dlq=writer,
        bridge=bridge,
        stats=stats,
    )
    source.on_assign = pipeline.on_assign
    return pipeline, bridge


async def _run(
    settings: Settings, source: FakeSource, poster: FixedPoster, writer: CapturingWriter
) -> None:
    pipeline, bridge = build_pipeline(settings, source, poster, writer)
    try:
        await asyncio.wait_for(pipeline.run(asyncio.Event(), lambda p: p.stats.settled >= 1), 10)
    finally:
        bridge.shutdown()


LEAD_AD = {"source": "META_LEAD_AD"}
DECODE_CASES = {
    "decode.empty": b"",
    "decode.unknown_magic": b"\x07not-confluent",
    "decode.truncated": b"\x00\x00\x01",
    "decode.unknown_schema_id": framed(99, b"\x02"),
    "decode.bad_writer_schema": framed(UNPARSEABLE_ID, b"\x02"),
    "decode.incompatible_schema": avro(UNRELATED_ID, {"n": 1}),
    "decode.corrupt": framed(ORDER_ID, b"\xff" * 12),
}


class TestDecodeStage:
    @pytest.mark.parametrize("reason", sorted(DECODE_CASES))
    async def test_decode_reason(self, reason: str) -> None:
        """An undecodable value is dead-lettered with its decode reason, stage and source position."""
        headers = await dead_letter_headers(DECODE_CASES[reason])

        expected = {
            "reason": reason,
            "stage": "decode",
            "source_topic": "orders",
            "source_partition": "0",
            "source_offset": "7",
            "source_timestamp": "1700000000000",
            "replay_count": "0",
        }
        assert expected == {key: headers[key] for key in expected}
        assert {"error", "failed_at", "consumer_version"} <= headers.keys()


MAPPING_CASES: dict[str, tuple[bytes, str, dict[str, Any]]] = {
    "mapping.unknown_source_topic": (order(), "elsewhere", {}),
    "mapping.no_pixel": (order(pixel_id=None), "orders", {}),
    "mapping.unknown_tenant": (order(pixel_id=None, tenant_id="nobody"), "orders", {}),
    "mapping.unconfigured_pixel": (order(pixel_id="999"), "orders", {}),
    "mapping.no_test_event_code": (
        order(is_test=True),
        "orders",
        {"pixels": {PIXEL: {"access_token": "t", "test_traffic": "send_with_code"}}},
    ),
    "mapping.event_id_template": (
        order(),
        "orders",
        {"mapping": {"order": {"event_id_template": "o_{missing}"}}},
    ),
}


class TestMapStage:
    @pytest.mark.parametrize("reason", sorted(MAPPING_CASES))
    async def test_mapping_reason(self, reason: str) -> None:
        """A record that cannot be mapped is dead-lettered with its mapping reason and stage."""
        value, topic, settings = MAPPING_CASES[reason]

        headers = await dead_letter_headers(value, topic=topic, **settings)

        assert (reason, "map", topic) == (
            headers["reason"],
            headers["stage"],
            headers["source_topic"],
        )


DAY = dt.timedelta(days=1)
VALIDATION_CASES: dict[str, tuple[bytes, dict[str, Any]]] = {
    "invalid.event_name": (order(), {"mapping": {"order": {"statuses": {"PAID": "x" * 51}}}}),
    "invalid.event_too_old": (order(occurred_at=NOW - 8 * DAY), {}),
    "invalid.event_in_future": (order(occurred_at=NOW + dt.timedelta(hours=1)), {}),
    "invalid.missing_event_source_url": (order(browser=None), {}),
    "invalid.missing_user_agent": (
        order(browser={**make_order()["browser"], "user_agent": None}),
        {},
    ),
    "invalid.no_user_data": (order(customer=None, browser=None, channel="PHONE"), {}),
    "invalid.purchase_without_currency": (order(currency=" "), {}),
    "invalid.currency": (order(currency="DOLLARS"), {}),
    "invalid.negative_value": (
        order(total=Decimal("-100.00")),
        {"mapping": {"order": {"refunds": "dead_letter"}}},
    ),
    "invalid.quantity": (
        order(line_items=[{**make_order()["line_items"][0], "quantity": -5}]),
        {},
    ),
    "invalid.item_price": (
        order(line_items=[{**make_order()["line_items"][0], "unit_price": Decimal("-3.00")}]),
        {},
    ),
    "invalid.purchase_without_value": (
        avro(LEAD_ID, make_lead()),
        {"mapping": {"lead": {"stages": {"NEW": "Purchase"}}}},
    ),
}


class TestValidateStage:
    @pytest.mark.parametrize("reason", sorted(VALIDATION_CASES))
    async def test_validation_reason(self, reason: str) -> None:
        """A mapped event breaking Meta's rules is dead-lettered with its reason and event ids."""
        value, settings = VALIDATION_CASES[reason]
        topic = "leads" if reason == "invalid.purchase_without_value" else "orders"

        headers = await dead_letter_headers(value, topic=topic, **settings)

        assert (reason, "validate", PIXEL) == (
            headers["reason"],
            headers["stage"],
            headers["pixel_id"],
        )
        assert {"event_name", "event_id"} <= headers.keys()


# Refused while mapping, before an event exists: no event ids in the headers (a refused id is
# never copied into one).
UNMAPPED_CASES: dict[str, bytes] = {
    "invalid.amount_out_of_range": order(predicted_ltv=Decimal("-1E+30")),
    "invalid.id_too_long": order(event_id="x" * 10_240),
    "invalid.id_control_character": order(event_id="order-1\n\x1b[31m"),
}


class TestRefusedWhileMapping:
    @pytest.mark.parametrize("reason", sorted(UNMAPPED_CASES))
    async def test_reason_without_ids(self, reason: str) -> None:
        """Amounts and ids refused while mapping are dead-lettered with their reason, no ids."""
        headers = await dead_letter_headers(UNMAPPED_CASES[reason])

        assert (reason, "validate", False) == (
            headers["reason"],
            headers["stage"],
            "event_id" in headers,
        )


SEND_CASES: dict[str, tuple[GraphVerdict, dict[str, str]]] = {
    "rejected": (
        GraphVerdict(Kind.INVALID, 400, 100, 2804019, "Invalid parameter", "trace-r"),
        {"graph_code": "100", "graph_subcode": "2804019", "fbtrace_id": "trace-r"},
    ),
    "request_rejected": (
        GraphVerdict(Kind.INVALID, 400, 2500, None, "Unknown path components", "trace-p"),
        {"graph_code": "2500", "fbtrace_id": "trace-p"},
    ),
    "auth": (
        GraphVerdict(Kind.AUTH, 400, 190, 463, "Session has expired", "trace-a"),
        {"graph_code": "190", "graph_subcode": "463", "fbtrace_id": "trace-a"},
    ),
    "retries_exhausted": (
        GraphVerdict(Kind.RETRY, 503, 2, None, "Service temporarily unavailable", "trace-x"),
        {"graph_code": "2", "http_status": "503", "fbtrace_id": "trace-x"},
    ),
}


class TestSendStage:
    @pytest.mark.parametrize("reason", sorted(SEND_CASES))
    async def test_send_reason(self, reason: str) -> None:
        """A send failure is dead-lettered with its reason, Graph code/subcode, trace id and ids."""
        verdict, graph = SEND_CASES[reason]

        headers = await dead_letter_headers(order(), verdict=verdict)

        expected = {
            "reason": reason,
            "stage": "send",
            "pixel_id": PIXEL,
            "event_name": "Purchase",
            "event_id": "order_ORD-1",
            **graph,
        }
        assert expected == {key: headers[key] for key in expected}
        assert int(headers["attempts"]) >= 1


class TestHeaderRules:
    async def test_test_pixel_records_keep_their_ids(self) -> None:
        """A failing test-pixel event names its own pixel in the DLQ headers."""
        verdict = SEND_CASES["auth"][0]

        headers = await dead_letter_headers(
            order(pixel_id=TEST_PIXEL, is_test=True), verdict=verdict
        )

        assert TEST_PIXEL == headers["pixel_id"]
