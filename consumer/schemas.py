"""Avro schemas: our reader schemas from ``schemas/``, writer schemas from the registry and files.

Reader schemas are parsed once at startup. Writer schemas are fetched by id through the real
confluent-kafka ``SchemaRegistryClient`` (sync, so it runs on a worker thread) and cached.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import avro.errors
import avro.schema
import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient

# The registry client uses httpx2 or httpx, whichever Authlib uses; catch the one it raises.
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer.core.decoding import LocalWriters
from consumer.errors import ConfigError, InfrastructureError
from consumer.settings import EventType, SchemaRegistrySettings, Settings

__all__ = [
    "ParsedSchema",
    "RegistrySchemaSource",
    "load_local_writers",
    "load_reader_schemas",
    "load_schema_file",
    "parse_schema_text",
    "schema_fingerprint",
]

ParsedSchema = dict[str, Any]
SCHEMA_FILES: dict[EventType, str] = {"order": "order_event.avsc", "lead": "lead_event.avsc"}
_SR_SUBJECT_NOT_FOUND = 40401
_SR_SCHEMA_NOT_FOUND = 40403


def parse_schema_text(text: str) -> ParsedSchema:
    """Parse Avro schema JSON text; each schema gets its own named-type namespace."""
    parsed = fastavro.parse_schema(json.loads(text), named_schemas={})
    if not isinstance(parsed, dict):
        raise TypeError("an event schema must be an Avro record")
    return parsed


def load_reader_schemas(schemas_dir: Path) -> dict[EventType, ParsedSchema]:
    """Our reader schemas, one per event type, from ``schemas_dir``."""
    return {
        event_type: load_schema_file(schemas_dir / filename)
        for event_type, filename in SCHEMA_FILES.items()
    }


class RegistrySchemaSource:
    """Writer schemas by Confluent schema id, through the real registry client, cached forever.

    Schema ids are immutable in a Confluent registry, so a cached schema never goes stale.
    Blocking: call from a worker thread (the pipeline does, through the bridge).
    """

    def __init__(self, settings: SchemaRegistrySettings, *, required: bool = True) -> None:
        """``required``: some topic uses Confluent framing, so ``url`` must be set. Without a
        URL (only single-object, raw or auto topics) every Confluent id is unknown."""
        if settings.url is None and required:
            raise ConfigError("schema_registry.url: required for topics with Confluent framing")
        self._client = SchemaRegistryClient(_client_conf(settings)) if settings.url else None
        self._cache: dict[int, ParsedSchema] = {}

    def cached(self, schema_id: int) -> ParsedSchema | None:
        return self._cache.get(schema_id)

    def fetch(self, schema_ids: Iterable[int]) -> None:
        """Fill the cache for ``schema_ids``; unknown ids are cached as misses via DecodeError later.

        Raises InfrastructureError when the registry cannot be reached (not the record's fault).
        """
        for schema_id in schema_ids:
            if schema_id in self._cache or self._client is None:
                continue
            try:
                schema = self._client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.error_code in (_SR_SCHEMA_NOT_FOUND, _SR_SUBJECT_NOT_FOUND):
                    continue
                raise InfrastructureError(f"schema registry error: {exc}") from exc
            except httpx.HTTPError as exc:
                raise InfrastructureError(
                    f"schema registry unreachable: {_transport_problem(exc)}"
                ) from exc
            self._cache[schema_id] = _parse_writer(schema_id, schema.schema_str or "")

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__()  # type: ignore[no-untyped-call]


def _transport_problem(exc: httpx.HTTPError) -> str:
    """What went wrong on the way to the registry, in words (not an exception class name)."""
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (refused, or the host is unknown)"
    if isinstance(exc, httpx.ProtocolError):
        return "the connection broke or the answer was not HTTP"
    return "HTTP transport error"


def _parse_writer(schema_id: int, text: str) -> ParsedSchema:
    try:
        return parse_schema_text(text)
    except (ValueError, TypeError, fastavro.schema.SchemaParseException):
        # A registry holding a schema we cannot parse is a decode problem for its records.
        return {"__unparseable__": schema_id}


def _client_conf(settings: SchemaRegistrySettings) -> dict[str, Any]:
    conf: dict[str, Any] = {"url": settings.url, "timeout": 5, "max.retries": 1}
    if settings.basic_auth_user is not None:
        password = (
            settings.basic_auth_password.get_secret_value() if settings.basic_auth_password else ""
        )
        conf["basic.auth.user.info"] = f"{settings.basic_auth_user}:{password}"
    for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        value = getattr(settings, key)
        if value is not None:
            conf[key.replace("_", ".")] = str(value)
    return conf


def schema_fingerprint(schema: ParsedSchema) -> int:
    """CRC-64-AVRO of the schema's Parsing Canonical Form, as single-object encoding reads it."""
    hex_digest = fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form(schema), "CRC-64-AVRO"
    )
    return int.from_bytes(bytes.fromhex(hex_digest), "little")


def load_schema_file(path: Path) -> ParsedSchema:
    """One schema file, parsed, or ConfigError naming the file."""
    try:
        return parse_schema_text(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read schema file: {exc.strerror}") from None
    except (ValueError, TypeError, fastavro.schema.SchemaParseException) as exc:
        raise ConfigError(f"{path}: invalid Avro schema: {exc}") from None


def load_local_writers(settings: Settings) -> LocalWriters:
    """Writer schemas we hold ourselves: by fingerprint (``schemas_dir`` and extra files) and
    the per-topic writer schemas of raw-framed topics."""
    registry = settings.schema_registry
    paths = sorted(registry.schemas_dir.glob("**/*.avsc")) + list(registry.extra_schema_files)
    by_fingerprint: dict[int, ParsedSchema] = {}
    for path in paths:
        schema = load_schema_file(path)
        by_fingerprint[schema_fingerprint(schema)] = schema
        alias = _apache_avro_fingerprint(path.read_text())
        if alias is not None:
            by_fingerprint.setdefault(alias, schema)
    raw = {
        topic: load_schema_file(topic_settings.writer_schema)
        for topic, topic_settings in settings.kafka.topics.items()
        if topic_settings.writer_schema is not None
    }
    return LocalWriters(by_fingerprint, raw)


def _apache_avro_fingerprint(text: str) -> int | None:
    """The fingerprint the Apache ``avro`` Python library computes, when it differs.

    It keeps ``{"type": "long"}`` for a primitive with a logical type where the spec (and Java,
    and fastavro) write ``"long"``, so Python producers using it frame such schemas with another
    fingerprint. Accepting both costs one dict entry per schema.
    """
    try:
        digest = avro.schema.parse(text).fingerprint("CRC-64-AVRO")
    except (avro.errors.AvroException, ValueError, TypeError):
        return None
    return int.from_bytes(bytes(digest), "little")
