"""The compiled pre-decode guard: exact on valid and cut payloads, strict where fastavro is lax."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from consumer.core.avro_guard import DecodeLimits, compile_guard, guard_source
from consumer.devstack.framing import encode_raw
from consumer.devstack.sample import build_sample
from consumer.errors import DecodeError
from consumer.schemas import ParsedSchema, load_schema_file, parse_schema_text

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ORDER = load_schema_file(SCHEMAS / "order_event.avsc")
LEAD = load_schema_file(SCHEMAS / "lead_event.avsc")
LIMITS = DecodeLimits()
SAMPLE = [
    (ORDER if r.topic == "orders" else LEAD, r.value)
    for r in build_sample(orders=15, leads=15, seed=5)
    if isinstance(r.value, dict)
]
# Every kind of type, named types referenced again by name, a recursive record, a map.
EVERYTHING = {
    "type": "record",
    "name": "All",
    "fields": [
        {"name": "n", "type": "null"},
        {"name": "b", "type": "boolean"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "s", "type": "string"},
        {"name": "y", "type": "bytes"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
        {"name": "e2", "type": "E"},
        {"name": "x", "type": {"type": "fixed", "name": "X", "size": 3}},
        {"name": "x2", "type": ["null", "X"]},
        {"name": "m", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "a", "type": {"type": "array", "items": {"type": "array", "items": "string"}}},
        {
            "name": "tree",
            "type": {
                "type": "record",
                "name": "Node",
                "fields": [
                    {"name": "v", "type": "int"},
                    {"name": "kids", "type": {"type": "array", "items": "Node"}},
                ],
            },
        },
    ],
}
EVERYTHING_VALUE = {
    "n": None,
    "b": True,
    "i": -3,
    "l": 2**40,
    "f": 1.5,
    "d": -2.25,
    "s": "é" * 100,  # a two-byte length
    "y": b"\x00\xff",
    "e": "C",
    "e2": "A",
    "x": b"abc",
    "x2": b"xyz",
    "m": {"k": 1, "": None, "long key" * 20: -(2**62)},
    "a": [[], ["a", "b"], ["c" * 70]],
    "tree": {"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 3, "kids": [{"v": 4, "kids": []}]}]},
}


def parse(schema: Any) -> ParsedSchema:
    return parse_schema_text(json.dumps(schema))


def encode(schema: ParsedSchema, value: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, value)
    return out.getvalue()


def reason(schema: ParsedSchema, payload: bytes, limits: DecodeLimits = LIMITS) -> str | None:
    """The guard's reason for ``payload``, or None when it passes."""
    try:
        compile_guard(schema)(payload, limits)
    except DecodeError as exc:
        return exc.reason
    return None


def nested(depth: int) -> dict[str, Any]:
    """A record whose one field is ``depth`` levels of optional arrays around a long."""
    inner: Any = "long"
    for _ in range(depth):
        inner = ["null", {"type": "array", "items": inner}]
    return {"type": "record", "name": "Deep", "fields": [{"name": "v", "type": inner}]}


class TestValidPayloads:
    @pytest.mark.parametrize("index", range(len(SAMPLE)))
    def test_sample_records_pass_and_every_cut_is_truncated(self, index: int) -> None:
        """Valid records pass; each strict prefix of one is decode.truncated, never a pass."""
        schema, value = SAMPLE[index]
        payload = encode_raw(value, schema)
        guard = compile_guard(schema)

        guard(payload, LIMITS)
        for end in range(len(payload)):
            with pytest.raises(DecodeError) as caught:
                guard(payload[:end], LIMITS)
            assert "decode.truncated" == caught.value.reason

    def test_every_type_and_named_reference(self) -> None:
        """Each Avro type, named types reused by name and a recursive record are walked exactly."""
        schema = parse(EVERYTHING)
        payload = encode(schema, EVERYTHING_VALUE)

        assert None is reason(schema, payload)
        assert "decode.corrupt" == reason(schema, payload + b"\x00")
        assert all(
            reason(schema, payload[:end]) == "decode.truncated" for end in range(len(payload))
        )

    def test_deep_nesting_gets_functions_of_its_own(self) -> None:
        """Types nested deeper than Python's block limit still compile, and count every item."""
        schema = parse(nested(30))
        value: Any = [7]
        for _ in range(29):
            value = [value, None]  # 59 items in all
        payload = encode(schema, {"v": value})

        assert None is reason(schema, payload)
        assert "decode.too_many_items" == reason(schema, payload, DecodeLimits(max_items=58))


class TestStricterThanFastavro:
    """fastavro decodes these without complaint; the guard calls them corrupt."""

    @pytest.mark.parametrize(
        ("field_type", "payload"),
        [
            pytest.param(["null", "string", "int"], b"\x01\x02", id="union-index-minus-one"),
            pytest.param(["null", "string"], b"\x06", id="union-index-past-the-end"),
            pytest.param(
                {"type": "enum", "name": "E", "symbols": ["A", "B"]}, b"\x01", id="enum-minus-one"
            ),
            pytest.param("long", b"\xff" * 10 + b"\x01", id="varint-of-eleven-bytes"),
            pytest.param(["null", "long"], b"\x80\x80\x02", id="union-index-of-three-bytes"),
        ],
    )
    def test_corrupt(self, field_type: Any, payload: bytes) -> None:
        schema = parse(
            {"type": "record", "name": "R", "fields": [{"name": "a", "type": field_type}]}
        )

        assert "decode.corrupt" == reason(schema, payload)

    def test_a_long_union_index_that_is_in_range_is_followed(self) -> None:
        """A non-minimal varint (two bytes for 1) still selects its branch, as Avro allows."""
        schema = parse(
            {"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "int"]}]}
        )

        assert None is reason(schema, b"\x82\x00\x04")


class TestLimits:
    def test_map_keys_count_as_strings(self) -> None:
        """A map key longer than max_string_bytes is decode.string_too_long."""
        schema = parse(EVERYTHING)
        payload = encode(schema, EVERYTHING_VALUE)

        assert "decode.string_too_long" == reason(
            schema, payload, DecodeLimits(max_string_bytes=150)
        )

    def test_a_one_byte_length_above_a_small_limit(self) -> None:
        """Lengths that fit one byte are still held to a limit below 64."""
        schema = parse({"type": "record", "name": "R", "fields": [{"name": "s", "type": "string"}]})

        assert "decode.string_too_long" == reason(
            schema, encode(schema, {"s": "abcdef"}), DecodeLimits(max_string_bytes=5)
        )
        assert None is reason(
            schema, encode(schema, {"s": "abcde"}), DecodeLimits(max_string_bytes=5)
        )


class TestGeneratedSource:
    def test_no_schema_text_reaches_the_source(self) -> None:
        """Only generated names and integers: no record, field, enum or symbol name appears."""
        source = guard_source(ORDER)

        for word in ("OrderEvent", "order_id", "LineItem", "PAID", "customer", "namespace"):
            assert word not in source
