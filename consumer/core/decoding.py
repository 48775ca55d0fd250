"""Pure decoding: wire bytes -> record dict, by framing. No Kafka, no HTTP, no asyncio.

Framings (DESIGN.md §2), configured per topic:

- ``confluent``: magic byte ``0x00`` + 4-byte big-endian schema id + Avro binary; the writer
  schema comes from the Schema Registry (looked up by the caller-provided source).
- ``single_object``: ``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint of the writer
  schema's canonical form + Avro binary; writer schemas are found among our local schema files.
- ``raw``: Avro binary only, written with the topic's configured writer schema.
- ``auto``: the first bytes decide between the two magic framings; anything else is ``raw`` when
  the topic has a writer schema, else ``decode.unknown_magic``.

Every record is resolved against our reader schema (schema evolution by Avro resolution rules),
after a guard walk has checked its lengths and counts against the topic's limits.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import fastavro

from consumer.core.avro_aot import shipped_decoder
from consumer.core.avro_decoder import compile_decoder
from consumer.core.avro_guard import DecodeLimits, compile_guard
from consumer.core.logical import CONVERSION_ERRORS, lenient_read
from consumer.errors import DecodeError

__all__ = [
    "CONFLUENT_MAGIC",
    "SINGLE_OBJECT_MAGIC",
    "DecodeLimits",
    "Frame",
    "LocalWriters",
    "WriterSchemas",
    "confluent_schema_id",
    "decode_payload",
    "decode_value",
    "guarded_reader",
    "unframe",
]

CONFLUENT_MAGIC = 0
SINGLE_OBJECT_MAGIC = b"\xc3\x01"

FrameKind = Literal["confluent", "single_object", "raw"]
# magic bytes, then the writer schema's key: a big-endian schema id or a little-endian fingerprint
_LAYOUTS: dict[FrameKind, tuple[bytes, struct.Struct]] = {
    "confluent": (bytes([CONFLUENT_MAGIC]), struct.Struct(">I")),
    "single_object": (SINGLE_OBJECT_MAGIC, struct.Struct("<Q")),
}


class WriterSchemas(Protocol):
    """Where writer schemas come from: the registry cache by id, local files by fingerprint."""

    def by_id(self, schema_id: int) -> dict[str, Any] | None: ...
    def by_fingerprint(self, fingerprint: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class LocalWriters:
    """Writer schemas from local files: single-object fingerprints and raw topics' schemas."""

    fingerprints: Mapping[int, dict[str, Any]] = field(default_factory=dict)
    raw: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, init=False)
class Frame:
    """A value split into its framing, the writer schema's key (id or fingerprint) and payload."""

    kind: FrameKind
    key: int | None
    payload: bytes

    def __init__(self, kind: FrameKind, key: int | None, payload: bytes) -> None:
        # compiled, unlike a NamedTuple's __new__ or dataclass's __init__: one per record
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "payload", payload)


_DEFAULT_LIMITS = DecodeLimits()


def confluent_schema_id(value: bytes | None) -> int:
    """The schema id of a Confluent-framed value, or DecodeError with a reason (as ``unframe``
    gives it, without copying the payload: every polled record is asked this)."""
    if not value:
        raise DecodeError("decode.empty", "record value is empty")
    return _key_of(value, "confluent")[0]


def unframe(value: bytes | None, framing: str, *, has_raw_writer: bool) -> Frame:
    """Split ``value`` according to the topic's framing (``auto`` detects it from magic bytes)."""
    if not value:
        raise DecodeError("decode.empty", "record value is empty")
    if framing == "auto":
        framing = _detect(value, has_raw_writer=has_raw_writer)
    if framing == "raw":
        return Frame("raw", None, value)
    return _split(value, "single_object" if framing == "single_object" else "confluent")


def _detect(value: bytes, *, has_raw_writer: bool) -> str:
    if value[0] == CONFLUENT_MAGIC:
        return "confluent"
    if value[:2] == SINGLE_OBJECT_MAGIC:
        return "single_object"
    if has_raw_writer:
        return "raw"
    raise DecodeError("decode.unknown_magic", f"unknown magic byte 0x{value[0]:02x}")


def _split(value: bytes, kind: FrameKind) -> Frame:
    """Check the magic bytes, then read the schema key that follows them."""
    key, header = _key_of(value, kind)
    return Frame(kind, key, value[header:])


def _key_of(value: bytes, kind: FrameKind) -> tuple[int, int]:
    """The writer schema's key after the magic bytes and the header's length, or DecodeError."""
    magic, key_format = _LAYOUTS[kind]
    header = len(magic) + key_format.size
    if not value.startswith(magic):
        raise DecodeError("decode.unknown_magic", f"unknown magic 0x{value[: len(magic)].hex()}")
    if len(value) < header:
        raise DecodeError(
            "decode.truncated", f"{len(value)} bytes is shorter than the {header}-byte header"
        )
    key: int = key_format.unpack_from(value, len(magic))[0]
    return key, header


def decode_value(  # the full decode context, all keyword-only
    value: bytes | None,
    *,
    framing: str,
    writers: WriterSchemas,
    raw_writer: dict[str, Any] | None,
    reader: dict[str, Any],
    limits: DecodeLimits,
) -> dict[str, Any]:
    """Decode a framed value into a dict shaped by ``reader``; every failure a DecodeError."""
    if value is not None and len(value) > limits.max_message_bytes:
        raise DecodeError(
            "decode.oversize", f"{len(value)} bytes is over the {limits.max_message_bytes} limit"
        )
    frame = unframe(value, framing, has_raw_writer=raw_writer is not None)
    writer = _writer_of(frame, writers, raw_writer)
    return decode_payload(frame.payload, writer, reader, limits)


def _writer_of(
    frame: Frame, writers: WriterSchemas, raw_writer: dict[str, Any] | None
) -> dict[str, Any]:
    if frame.kind == "raw":
        if raw_writer is None:
            raise DecodeError("decode.no_writer_schema", "raw framing needs a writer schema")
        return raw_writer
    assert frame.key is not None  # noqa: S101  # magic framings always carry a key
    if frame.kind == "confluent":
        writer = writers.by_id(frame.key)
        if writer is None:
            raise DecodeError(
                "decode.unknown_schema_id", f"schema id {frame.key} is not in the registry"
            )
        return writer
    writer = writers.by_fingerprint(frame.key)
    if writer is None:
        raise DecodeError(
            "decode.unknown_fingerprint",
            f"no local schema has fingerprint {frame.key.to_bytes(8, 'little').hex()}",
        )
    return writer


_Read = Callable[[bytes, DecodeLimits], Any]
_COMPILED: dict[tuple[int, int], tuple[dict[str, Any], dict[str, Any], _Read]] = {}  # by ids
_MAX_COMPILED = 1024
_MAX_ERROR_CHARS = 300  # of a fastavro resolution error kept in the DLQ header and the log


def _reader_of(writer: dict[str, Any], reader: dict[str, Any]) -> _Read:
    """How payloads of ``writer`` are read as ``reader``: worked out once per schema pair.

    The same schema (the common case): a generated decoder that checks and decodes in one pass.
    Otherwise the guard (checks first, allocating nothing), then fastavro resolving the two.
    Cached by ids, holding both schemas alive, so a hit costs one dict lookup.
    """
    cached = _COMPILED.get((id(writer), id(reader)))
    if cached is None or cached[0] is not writer or cached[1] is not reader:
        if len(_COMPILED) >= _MAX_COMPILED:
            _COMPILED.clear()
        cached = (writer, reader, _read_function(writer, reader))
        _COMPILED[(id(writer), id(reader))] = cached
    return cached[2]


def _read_function(writer: dict[str, Any], reader: dict[str, Any]) -> _Read:
    if writer == reader:  # our shipped schemas were compiled ahead of time; others now
        return shipped_decoder(writer) or compile_decoder(writer)
    return guarded_reader(writer, reader)


def guarded_reader(writer: dict[str, Any], reader: dict[str, Any]) -> _Read:
    """The guard (checks first, allocating nothing), then fastavro resolving the two schemas."""
    guard = compile_guard(writer)

    def guarded(payload: bytes, limits: DecodeLimits) -> Any:
        guard(payload, limits)  # lengths and counts, before fastavro allocates
        try:
            return fastavro.schemaless_reader(io.BytesIO(payload), writer, reader)
        except CONVERSION_ERRORS:  # maybe a logical value out of range: which field, if any?
            return lenient_read(io.BytesIO(payload), writer, reader)

    return guarded


def decode_payload(
    payload: bytes,
    writer: dict[str, Any],
    reader: dict[str, Any],
    limits: DecodeLimits | None = None,
) -> dict[str, Any]:
    """Avro binary -> dict, resolving ``writer`` against ``reader``; every failure a DecodeError."""
    if "__unparseable__" in writer:
        raise DecodeError("decode.bad_writer_schema", "the writer schema cannot be parsed")
    read = _reader_of(writer, reader)
    try:
        record = read(payload, limits or _DEFAULT_LIMITS)
    except fastavro.read.SchemaResolutionError as exc:
        raise _resolution_error(exc) from None
    except (EOFError, StopIteration):
        raise DecodeError("decode.truncated", "payload ends before the record does") from None
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        UnicodeDecodeError,
        OverflowError,
        MemoryError,
        RecursionError,
    ) as exc:
        raise DecodeError(
            "decode.corrupt", f"payload is not valid Avro: {type(exc).__name__}"
        ) from None
    if not isinstance(record, dict):
        raise DecodeError("decode.corrupt", "payload is not an Avro record")
    return record


def _resolution_error(exc: Exception) -> DecodeError:
    """fastavro raises one error type for both; tell the schema's fault from the record's.

    "<x> not found in <y>" is data-dependent: this record took a union branch or an enum symbol
    our reader lacks (other records of the same writer schema decode). Anything else (a reader
    field with no default, a type that cannot be promoted) fails every record of the writer.
    """
    text = str(exc)
    if " not found in " in text:
        return DecodeError(
            "decode.reader_mismatch", f"record does not fit our schema: {_shortened(text)}"
        )
    # fastavro quotes both whole schemas here (27 KB for ours): the start names the field.
    return DecodeError(
        "decode.incompatible_schema",
        f"writer schema cannot be read as ours: {_shortened(text)}",
    )


def _shortened(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more chars)"
