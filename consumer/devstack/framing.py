"""Producer-side framings for tests, benchmarks and demos: what other teams' producers send.

- Confluent wire format through confluent-kafka's own ``AvroSerializer`` (real registry client;
  ``mock://`` for in-process use, or an HTTP registry such as the dev-stack double);
- Avro single-object encoding (``C3 01`` + little-endian CRC-64-AVRO fingerprint), as Java's
  ``BinaryMessageEncoder`` writes it;
- raw Avro binary.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.core.decoding import SINGLE_OBJECT_MAGIC
from consumer.schemas import ParsedSchema, parse_schema_text, schema_fingerprint

__all__ = ["ConfluentFramer", "encode_raw", "encode_single_object"]


def encode_raw(record: dict[str, Any], schema: ParsedSchema) -> bytes:
    """Plain Avro binary of ``record``, no framing."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def encode_single_object(record: dict[str, Any], schema: ParsedSchema) -> bytes:
    """Avro single-object encoding: magic, the schema's fingerprint (little-endian), payload."""
    header = SINGLE_OBJECT_MAGIC + schema_fingerprint(schema).to_bytes(8, "little")
    return header + encode_raw(record, schema)


class ConfluentFramer:
    """Confluent framing by the real ``AvroSerializer``, against ``url`` (default: a mock://).

    ``writer(schema_id)`` reads a registered schema back as the consumer would.
    """

    def __init__(self, url: str | None = None) -> None:
        conf = {"url": url or f"mock://{uuid.uuid4().hex}"}
        self._client = SchemaRegistryClient.new_client(conf)
        self._serializers: dict[str, AvroSerializer] = {}

    def encode(self, topic: str, record: dict[str, Any], schema_text: str) -> bytes:
        """Serialize ``record`` with ``schema_text`` (auto-registered under ``<topic>-value``)."""
        serializer = self._serializers.get(schema_text)
        if serializer is None:
            serializer = AvroSerializer(
                self._client, schema_text, conf={"auto.register.schemas": True}
            )
            self._serializers[schema_text] = serializer
        value = serializer(record, SerializationContext(topic, MessageField.VALUE))
        assert value is not None  # noqa: S101  # a record always serializes to bytes
        return value

    def writer(self, schema_id: int) -> ParsedSchema | None:
        """The registered schema ``schema_id``, parsed, or None."""
        try:
            text = self._client.get_schema(schema_id).schema_str
        except Exception:  # noqa: BLE001  # the mock raises its own error types
            return None
        return parse_schema_text(text or "")

    def close(self) -> None:
        """Close the registry client."""
        self._client.__exit__()  # type: ignore[no-untyped-call]
