"""Decoding every framing producers use, and every way a value can fail to decode."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import pytest

from consumer.core.decoding import DecodeLimits, decode_value, unframe
from consumer.devstack.framing import ConfluentFramer, encode_raw, encode_single_object
from consumer.devstack.sample import build_sample
from consumer.errors import DecodeError
from consumer.schemas import (
    ParsedSchema,
    load_schema_file,
    parse_schema_text,
    schema_fingerprint,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ORDER_TEXT = (SCHEMAS / "order_event.avsc").read_text()
ORDER = load_schema_file(SCHEMAS / "order_event.avsc")
LIMITS = DecodeLimits()
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)  # whole milliseconds survive Avro


@dataclass
class Writers:
    """A WriterSchemas source backed by two dicts."""

    ids: dict[int, ParsedSchema] = field(default_factory=dict)
    fingerprints: dict[int, ParsedSchema] = field(default_factory=dict)

    def by_id(self, schema_id: int) -> ParsedSchema | None:
        return self.ids.get(schema_id)

    def by_fingerprint(self, fingerprint: int) -> ParsedSchema | None:
        return self.fingerprints.get(fingerprint)


LOCAL = Writers(fingerprints={schema_fingerprint(ORDER): ORDER})


def sample_orders() -> list[dict[str, Any]]:
    """The sample's order records (dicts), as the demo produces them."""
    return [
        r.value
        for r in build_sample(orders=12, leads=0, seed=3, now=NOW)
        if r.topic == "orders" and isinstance(r.value, dict)
    ]


def decode(value: bytes, framing: str, writers: Writers = LOCAL, **kwargs: Any) -> dict[str, Any]:
    """decode_value with the order reader and default limits unless overridden."""
    return decode_value(
        value,
        framing=framing,
        writers=writers,
        raw_writer=kwargs.get("raw_writer"),
        reader=kwargs.get("reader", ORDER),
        limits=kwargs.get("limits", LIMITS),
    )


def reason_of(value: bytes | None, framing: str, **kwargs: Any) -> str:
    """The DecodeError reason decoding ``value`` raises."""
    with pytest.raises(DecodeError) as caught:
        decode(value, framing, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


class TestRoundTrip:
    def test_confluent_records_from_the_real_avro_serializer(self) -> None:
        """Records serialized by confluent-kafka's AvroSerializer decode to the same values."""
        framer = ConfluentFramer()
        try:
            records = sample_orders()
            values = [framer.encode("orders", record, ORDER_TEXT) for record in records]
            writers = Writers(ids={1: framer.writer(1) or {}})

            assert records == [decode(value, "confluent", writers) for value in values]
        finally:
            framer.close()

    def test_single_object_records(self) -> None:
        """Single-object encoded records decode by the fingerprint of a local schema."""
        records = sample_orders()

        assert records == [decode(encode_single_object(r, ORDER), "single_object") for r in records]

    def test_raw_records_with_the_topic_writer_schema(self) -> None:
        """Raw Avro decodes with the writer schema configured for the topic."""
        records = sample_orders()

        assert records == [decode(encode_raw(r, ORDER), "raw", raw_writer=ORDER) for r in records]

    def test_auto_detects_each_framing(self) -> None:
        """With framing auto, the magic bytes pick the framing; no magic means raw."""
        framer = ConfluentFramer()
        try:
            record = sample_orders()[0]
            confluent = framer.encode("orders", record, ORDER_TEXT)
            writers = Writers(ids={1: framer.writer(1) or {}}, fingerprints=LOCAL.fingerprints)
            values = [confluent, encode_single_object(record, ORDER), encode_raw(record, ORDER)]

            assert [record] * 3 == [decode(v, "auto", writers, raw_writer=ORDER) for v in values]
        finally:
            framer.close()

    def test_fingerprint_matches_the_avro_spec_vector(self) -> None:
        """CRC-64-AVRO of the schema "null" is the spec's 0x63dd24e7cc258f8a."""
        assert 0x63DD24E7CC258F8A == schema_fingerprint(fastavro.parse_schema("null"))


class TestUnframe:
    def test_confluent_header(self) -> None:
        """A Confluent value splits into its big-endian schema id and the payload."""
        assert ("confluent", 258, b"xy") == tuple(
            vars_of(unframe(b"\x00\x00\x00\x01\x02xy", "confluent", has_raw_writer=False))
        )

    def test_single_object_header(self) -> None:
        """A single-object value splits into its little-endian fingerprint and the payload."""
        value = b"\xc3\x01" + (5).to_bytes(8, "little") + b"p"

        assert ("single_object", 5, b"p") == tuple(
            vars_of(unframe(value, "single_object", has_raw_writer=False))
        )


def vars_of(frame: Any) -> tuple[Any, ...]:
    """A Frame as a tuple."""
    return (frame.kind, frame.key, frame.payload)


GOOD_SINGLE = encode_single_object({**sample_orders()[0]}, ORDER)


class TestFailureReasons:
    @pytest.mark.parametrize(
        ("value", "framing", "expected"),
        [
            pytest.param(b"", "confluent", "decode.empty", id="empty"),
            pytest.param(b"\x07abcdef", "confluent", "decode.unknown_magic", id="confluent-magic"),
            pytest.param(b"\x07abcdef", "single_object", "decode.unknown_magic", id="so-magic"),
            pytest.param(b"\x07abcdef", "auto", "decode.unknown_magic", id="auto-no-raw"),
            pytest.param(b"\x00\x00\x01", "confluent", "decode.truncated", id="short-header"),
            pytest.param(b"\xc3\x01\x00", "single_object", "decode.truncated", id="short-so"),
            pytest.param(
                b"\x00\x00\x00\x00\x09ab", "confluent", "decode.unknown_schema_id", id="id"
            ),
            pytest.param(
                b"\xc3\x01" + b"\x01" * 8 + b"ab",
                "single_object",
                "decode.unknown_fingerprint",
                id="fp",
            ),
            pytest.param(GOOD_SINGLE[:-3], "single_object", "decode.truncated", id="truncated"),
            pytest.param(GOOD_SINGLE + b"\x00", "single_object", "decode.corrupt", id="trailing"),
            pytest.param(b"abc", "raw", "decode.no_writer_schema", id="raw-no-writer"),
        ],
    )
    def test_reason(self, value: bytes, framing: str, expected: str) -> None:
        """Each malformed value gets its own machine-readable reason."""
        assert expected == reason_of(value, framing)

    def test_oversize_message(self) -> None:
        """A value over max_message_bytes is refused before any parsing."""
        limits = DecodeLimits(max_message_bytes=len(GOOD_SINGLE) - 1)

        assert "decode.oversize" == reason_of(GOOD_SINGLE, "single_object", limits=limits)

    def test_too_many_line_items(self) -> None:
        """More array items than max_items is a decode.too_many_items reason."""
        record = {**sample_orders()[0]}
        record["line_items"] = record["line_items"] * 5
        value = encode_single_object(record, ORDER)

        assert "decode.too_many_items" == reason_of(
            value, "single_object", limits=DecodeLimits(max_items=4)
        )

    def test_string_too_long(self) -> None:
        """A string longer than max_string_bytes is a decode.string_too_long reason."""
        record = {**sample_orders()[0], "order_id": "X" * 300}
        value = encode_single_object(record, ORDER)

        assert "decode.string_too_long" == reason_of(
            value, "single_object", limits=DecodeLimits(max_string_bytes=200)
        )

    def test_bad_enum_index_is_corrupt(self) -> None:
        """An enum index outside the writer's symbols is decode.corrupt."""
        schema = record_schema(
            [{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}}]
        )

        assert "decode.corrupt" == reason_of(b"\x04", "raw", raw_writer=schema, reader=schema)


def record_schema(fields: list[dict[str, Any]], name: str = "R") -> ParsedSchema:
    """A parsed record schema with ``fields``."""
    return parse_schema_text(json.dumps({"type": "record", "name": name, "fields": fields}))
