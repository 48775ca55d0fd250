"""Fuzzing the decoder: any bytes give a record or a DecodeError with a reason, in bounded memory."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tracemalloc
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.decoding import DecodeLimits, decode_payload, decode_value
from consumer.devstack.framing import encode_single_object
from consumer.devstack.sample import build_sample
from consumer.errors import DecodeError
from consumer.schemas import ParsedSchema, load_schema_file, parse_schema_text, schema_fingerprint

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ORDER = load_schema_file(SCHEMAS / "order_event.avsc")
LEAD = load_schema_file(SCHEMAS / "lead_event.avsc")
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
GOOD = [
    encode_single_object(r.value, ORDER if r.topic == "orders" else LEAD)
    for r in build_sample(orders=20, leads=10, seed=11, now=NOW)
    if isinstance(r.value, dict)
]
MEMORY_BUDGET = 4_000_000  # bytes a single decode may allocate at its peak
# A writer schema a registry could hand us: zero-width array items cost no payload bytes.
NULLS = parse_schema_text(
    json.dumps(
        {
            "type": "record",
            "name": "R",
            "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}],
        }
    )
)


FINGERPRINTS = {schema_fingerprint(s): s for s in (ORDER, LEAD, NULLS)}


class Local:
    """Writer schemas by fingerprint: our two, plus the hostile NULLS schema."""

    def by_id(self, schema_id: int) -> ParsedSchema | None:
        return None

    def by_fingerprint(self, fingerprint: int) -> ParsedSchema | None:
        return FINGERPRINTS.get(fingerprint)


def zigzag(n: int) -> bytes:
    """Avro's zig-zag varint encoding of ``n``."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_bounded(value: bytes, reader: ParsedSchema = ORDER) -> dict[str, Any] | str:
    """Decode ``value``; the record or the DecodeError reason. Fails on any other exception or
    on a peak allocation above MEMORY_BUDGET (traced only around the decode itself)."""
    tracemalloc.start()
    try:
        result: dict[str, Any] | str = decode_value(
            value,
            framing="auto",
            writers=Local(),
            raw_writer=ORDER,
            reader=reader,
            limits=DecodeLimits(),
        )
    except DecodeError as exc:
        result = exc.reason
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_BUDGET, f"decode allocated {peak} bytes"
    return result


def _generate_decoders() -> None:
    """Decode every good record once, untraced: each (writer, reader) pair's decoder is generated
    on its first record, a one-time cost per schema (about 5 MB for the order schema since the
    2024-2026 parameters), not an allocation a payload can cause."""
    for value in GOOD:
        for reader in (ORDER, LEAD):
            with contextlib.suppress(DecodeError):  # a lead read as an order: no decoder needed
                decode_value(
                    value,
                    framing="auto",
                    writers=Local(),
                    raw_writer=ORDER,
                    reader=reader,
                    limits=DecodeLimits(),
                )


_generate_decoders()


def mutate(value: bytes, data: st.DataObject) -> bytes:
    """Flip, insert, delete or overwrite a few bytes of ``value``."""
    buf = bytearray(value)
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "varint", "cut"]))
        if op == "flip" and buf:
            buf[where] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            buf[where:where] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and buf:
            del buf[where]
        elif op == "varint":  # a huge or negative length / count prefix
            buf[where:where] = zigzag(data.draw(st.sampled_from([2**31, 2**62, -(2**40), -1])))
        elif op == "cut":
            del buf[where:]
    return bytes(buf)


FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class TestFuzz:
    @FUZZ
    @given(data=st.data())
    def test_mutated_records(self, data: st.DataObject) -> None:
        """Mutated real records decode or fail with a reason, never anything else."""
        value = mutate(data.draw(st.sampled_from(GOOD)), data)

        result = decode_bounded(value)

        assert isinstance(result, dict) or result.startswith("decode.")

    @FUZZ
    @given(value=st.binary(max_size=300))
    def test_random_bytes(self, value: bytes) -> None:
        """Random bytes decode or fail with a reason, never anything else."""
        result = decode_bounded(value)

        assert isinstance(result, dict) or result.startswith("decode.")

    @FUZZ
    @given(value=st.binary(max_size=40))
    def test_random_payload_behind_a_valid_header(self, value: bytes) -> None:
        """Random payloads behind a known fingerprint fail with a reason, never anything else."""
        header = b"\xc3\x01" + schema_fingerprint(ORDER).to_bytes(8, "little")

        result = decode_bounded(header + value)

        assert isinstance(result, dict) or result.startswith("decode.")


class TestHostileLengths:
    def test_two_gigabyte_string_length(self) -> None:
        """A string length prefix claiming 2 GB is decode.string_too_long, nothing allocated."""
        header = b"\xc3\x01" + schema_fingerprint(ORDER).to_bytes(8, "little")

        assert "decode.string_too_long" == decode_bounded(header + zigzag(2**31) + b"ORD")

    def test_huge_count_of_zero_width_items(self) -> None:
        """2**40 null items claimed in five bytes is decode.too_many_items, not a memory spike."""
        header = b"\xc3\x01" + schema_fingerprint(NULLS).to_bytes(8, "little")

        assert "decode.too_many_items" == decode_bounded(header + zigzag(2**40) + b"\x00", NULLS)

    def test_negative_block_size_beyond_the_payload(self) -> None:
        """A negative block count whose byte size runs past the payload is decode.truncated."""
        header = b"\xc3\x01" + schema_fingerprint(NULLS).to_bytes(8, "little")
        value = header + zigzag(-3) + zigzag(1_000_000) + b"\x00"

        assert "decode.truncated" == decode_bounded(value, NULLS)

    def test_deeply_nested_recursive_record(self) -> None:
        """100,000 levels of a recursive record is decode.too_deep, not a RecursionError."""
        node = parse_schema_text(
            json.dumps(
                {
                    "type": "record",
                    "name": "Node",
                    "fields": [{"name": "next", "type": ["null", "Node"]}],
                }
            )
        )

        assert "decode.too_deep" == decode_payload_reason(b"\x02" * 100_000 + b"\x00", node)

    def test_error_type_records_are_walked(self) -> None:
        """Avro ``error`` types are records to the guard too."""
        error = parse_schema_text(
            json.dumps({"type": "error", "name": "E", "fields": [{"name": "a", "type": "int"}]})
        )

        assert {"a": 1} == decode_payload(b"\x02", error, error)


def decode_payload_reason(payload: bytes, schema: ParsedSchema) -> str:
    """The DecodeError reason for ``payload`` under ``schema`` (writer and reader)."""
    try:
        decode_payload(payload, schema, schema)
    except DecodeError as exc:
        return exc.reason
    raise AssertionError("decoded")
