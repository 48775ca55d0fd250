"""Confluent wire-format decoding: each bad input becomes a DecodeError with its own reason."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import fastavro
import pytest

from consumer.decoding import decode_confluent
from consumer.errors import DecodeError
from consumer.schemas import load_reader_schemas
from tests.fixtures.factories import make_order

READERS = load_reader_schemas(Path("schemas"))
ORDER = READERS["order"]


def _frame(record: dict[str, Any], schema_id: int = 1, schema: dict[str, Any] = ORDER) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return b"\x00" + struct.pack(">I", schema_id) + out.getvalue()


def _lookup(schema_id: int) -> dict[str, Any] | None:
    return ORDER if schema_id == 1 else None


def test_round_trip() -> None:
    """A framed order decodes to the same record."""
    order = make_order()

    decoded = decode_confluent(_frame(order), _lookup, ORDER)

    assert (order["order_id"], order["total"], order["occurred_at"]) == (
        decoded["order_id"],
        decoded["total"],
        decoded["occurred_at"],
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "decode.empty"),
        (None, "decode.empty"),
        (b'{"json": true}', "decode.unknown_magic"),
        (b"\x00\x00\x00", "decode.truncated"),
        (b"\x00\x00\x00\x00\x07" + b"\x02", "decode.unknown_schema_id"),
    ],
    ids=["empty", "none", "json", "short-header", "unknown-id"],
)
def test_bad_framing(value: bytes | None, reason: str) -> None:
    """Framing problems are reported with distinct reasons."""
    with pytest.raises(DecodeError) as info:
        decode_confluent(value, _lookup, ORDER)

    assert reason == info.value.reason


def test_truncated_payload() -> None:
    """A payload cut short is decode.truncated, not a crash."""
    with pytest.raises(DecodeError) as info:
        decode_confluent(_frame(make_order())[:40], _lookup, ORDER)

    assert "decode.truncated" == info.value.reason


def test_trailing_bytes() -> None:
    """Bytes after a complete record mean the payload is corrupt."""
    with pytest.raises(DecodeError) as info:
        decode_confluent(_frame(make_order()) + b"\x00\x01", _lookup, ORDER)

    assert "decode.corrupt" == info.value.reason


def test_incompatible_writer() -> None:
    """A writer schema that cannot resolve to our reader is decode.incompatible_schema."""
    writer = fastavro.parse_schema(
        {
            "type": "record",
            "name": "OrderEvent",
            "namespace": "io.capiconsumer.events",
            "fields": [{"name": "order_id", "type": "int"}],
        }
    )
    out = io.BytesIO()
    fastavro.schemaless_writer(out, writer, {"order_id": 5})
    value = b"\x00" + struct.pack(">I", 2) + out.getvalue()

    with pytest.raises(DecodeError) as info:
        decode_confluent(value, lambda _id: writer, ORDER)

    assert "decode.incompatible_schema" == info.value.reason
