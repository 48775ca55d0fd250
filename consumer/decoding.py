"""Pure decoding: wire bytes -> record dict, by framing. No Kafka, no HTTP, no asyncio.

Framings (DESIGN.md §2):
- Confluent wire format: magic byte ``0x00`` + 4-byte big-endian schema id + Avro binary.
Writer schemas are looked up by the caller-provided function; the record is resolved against
our reader schema (schema evolution by Avro resolution rules).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any

import fastavro

from consumer.errors import DecodeError

__all__ = ["CONFLUENT_MAGIC", "confluent_schema_id", "decode_confluent", "decode_payload"]

CONFLUENT_MAGIC = 0
_CONFLUENT_HEADER = 5  # magic byte + 4-byte schema id

WriterLookup = Callable[[int], dict[str, Any] | None]


def confluent_schema_id(value: bytes | None) -> int:
    """The schema id of a Confluent-framed value, or DecodeError with a reason."""
    if not value:
        raise DecodeError("decode.empty", "record value is empty")
    if value[0] != CONFLUENT_MAGIC:
        raise DecodeError("decode.unknown_magic", f"unknown magic byte 0x{value[0]:02x}")
    if len(value) < _CONFLUENT_HEADER:
        raise DecodeError(
            "decode.truncated", f"{len(value)} bytes is shorter than the 5-byte header"
        )
    schema_id: int = struct.unpack(">I", value[1:_CONFLUENT_HEADER])[0]
    return schema_id


def decode_confluent(
    value: bytes | None, lookup: WriterLookup, reader: dict[str, Any]
) -> dict[str, Any]:
    """Decode a Confluent-framed Avro value into a dict shaped by ``reader``."""
    schema_id = confluent_schema_id(value)
    writer = lookup(schema_id)
    if writer is None:
        raise DecodeError(
            "decode.unknown_schema_id", f"schema id {schema_id} is not in the registry"
        )
    assert value is not None  # checked by confluent_schema_id  # noqa: S101
    return decode_payload(value[_CONFLUENT_HEADER:], writer, reader)


def decode_payload(
    payload: bytes, writer: dict[str, Any], reader: dict[str, Any]
) -> dict[str, Any]:
    """Avro binary -> dict, resolving ``writer`` against ``reader``; every failure a DecodeError."""
    if "__unparseable__" in writer:
        raise DecodeError("decode.bad_writer_schema", "the writer schema cannot be parsed")
    stream = io.BytesIO(payload)
    try:
        record = fastavro.schemaless_reader(stream, writer, reader)
    except fastavro.read.SchemaResolutionError as exc:
        raise DecodeError(
            "decode.incompatible_schema", f"writer schema cannot be read as ours: {exc}"
        ) from None
    except (EOFError, StopIteration):
        raise DecodeError("decode.truncated", "payload ends before the record does") from None
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
        OverflowError,
        MemoryError,
    ) as exc:
        raise DecodeError(
            "decode.corrupt", f"payload is not valid Avro: {type(exc).__name__}"
        ) from None
    if stream.tell() != len(payload):
        raise DecodeError(
            "decode.corrupt", f"{len(payload) - stream.tell()} trailing bytes after the record"
        )
    if not isinstance(record, dict):
        raise DecodeError("decode.corrupt", "payload is not an Avro record")
    return record
