"""``capi-consumer preview``: what would be sent for each input record, without sending anything.

Input is either the Avro JSON encoding of our schemas, one record per line, or (``binary``)
Confluent-framed Avro binary values concatenated back to back (what ``kcat -f '%s'`` writes). For
each record the report holds the exact CAPI event JSON (hashed), every validation rule it breaks,
the user_data values dropped, and the local EMQ estimate. Unreadable input is reported as
``InputProblem`` naming the record and the problem; the records around it are still previewed
(binary input cannot resynchronize after a corrupt frame, so it stops there).

Each record then goes through the consumer's own decode step (``Processor.decode``) for the
first configured topic of its event type, as Confluent-framed Avro: the topic's size, item and
string limits apply, and a record the consumer would dead-letter there is reported
``dead_lettered`` with the same reason. Problem texts never quote record values.
"""

from __future__ import annotations

import contextlib
import io
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import orjson

from consumer.core.decoding import CONFLUENT_MAGIC
from consumer.core.emq import estimate
from consumer.core.logical import CONVERSION_ERRORS, convert_logical, lenient_read, stripped
from consumer.core.mapping import Filtered, map_record
from consumer.core.models import CapiEvent, SourceRecord
from consumer.core.processing import Processor, WriterLookup
from consumer.core.test_traffic import describe_policy
from consumer.core.validation import violations
from consumer.errors import DecodeError, RecordError
from consumer.schemas import RegistrySchemaSource, load_reader_schemas
from consumer.settings import (
    EventType,
    SchemaRegistrySettings,
    Settings,
    TopicSettings,
    load_settings,
)

__all__ = [
    "PREVIEW_TOKEN_PLACEHOLDER",
    "InputProblem",
    "preview_record",
    "read_framed",
    "read_json_lines",
    "run_preview",
]

_HEADER = 5  # magic byte + 4-byte schema id
_EXIT_USAGE = 2  # as the CLI's other usage errors
_MAX_PROBLEM_LINES = 20  # a file of garbage is named by its first problems, not one per line
# preview never sends, so pixels need no real token: this stands in for any that is not set.
PREVIEW_TOKEN_PLACEHOLDER = "preview-no-token"  # noqa: S105  # not a secret: a placeholder


@dataclass(frozen=True, slots=True)
class InputProblem:
    """Record ``index`` (a line number, or a frame number for binary input) could not be read."""

    index: int
    problem: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Record ``index`` was read, but the consumer's decode step dead-letters it (``reason``)."""

    index: int
    reason: str
    message: str


Decoded = tuple[int, dict[str, Any]] | InputProblem | Rejected
# A record's Confluent-framed bytes -> the record as the consumer decodes it, or RecordError.
PipelineDecode = Callable[[bytes], dict[str, Any]]


def read_json_lines(
    lines: Iterable[str], reader: dict[str, Any], decode: PipelineDecode | None = None
) -> Iterator[Decoded]:
    """Avro JSON-encoded records, one per line (blank lines skipped), by line number.

    Lines read with ``errors="surrogateescape"`` that were not UTF-8 are input problems.
    ``decode`` (see ``pipeline_decoder``) runs each record through the consumer's decode step.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem = _utf8_problem(line)
        if problem is not None:  # not a text file: stop, as binary input stops at a bad frame
            yield InputProblem(number, f"{problem}; for Avro binary input use --binary")
            return
        problem = _json_problem(line, reader)
        if problem is not None:
            yield InputProblem(number, problem)
            continue
        try:
            record = _read_json(line, reader)
        except DecodeError as exc:
            yield InputProblem(number, f"{exc.reason}: {exc.message}")
            continue
        except (ValueError, TypeError, KeyError, AttributeError, StopIteration) as exc:
            yield InputProblem(number, _schema_problem(exc, reader))
            continue
        if not isinstance(record, dict):
            yield InputProblem(number, "not an Avro record")
        else:
            yield _through(decode, number, _framed(line, reader), record)


def _utf8_problem(line: str) -> str | None:
    try:
        line.encode()
    except UnicodeEncodeError as exc:
        return f"not UTF-8 text (character {exc.start + 1})"
    return None


def _schema_problem(exc: Exception, reader: dict[str, Any]) -> str:
    """What fastavro's error means, without its text (it quotes the offending value)."""
    if isinstance(exc, KeyError) and exc.args and exc.args[0] in _field_names(reader):
        return f"does not match the schema: field {exc.args[0]} is missing"
    return (
        "does not match the schema: a value has the wrong type, is not one of an enum's symbols, "
        "or a union value does not name its branch"
    )


def _field_names(schema: Any) -> set[str]:
    """Every field name in a parsed schema (safe to print: they come from our schemas)."""
    if isinstance(schema, list):
        return set().union(*(_field_names(branch) for branch in schema))
    if not isinstance(schema, dict):
        return set()
    names = {str(field["name"]) for field in schema.get("fields", ())}
    for child in (*(f["type"] for f in schema.get("fields", ())), schema.get("items")):
        names |= _field_names(child)
    return names | _field_names(schema.get("values"))


def _framed(line: str, reader: dict[str, Any]) -> bytes:
    """The JSON ``line`` as a Confluent-framed value (schema id 0), as a producer would write it.

    Written with the convertible logical types stripped (the same bytes), so a value they cannot
    convert (an out-of-range date) reaches the consumer's decode step as it came and is judged
    there, dropped or refused, as in the pipeline.
    """
    plain = fastavro.parse_schema(stripped(reader))
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", CONFLUENT_MAGIC, 0))
    fastavro.schemaless_writer(buffer, plain, next(fastavro.json_reader(io.StringIO(line), plain)))
    return buffer.getvalue()


def _through(
    decode: PipelineDecode | None, number: int, value: bytes, record: dict[str, Any]
) -> Decoded:
    """The record as the consumer's decode step sees it, or ``Rejected`` with its reason."""
    if decode is None:
        return number, record
    try:
        return number, decode(value)
    except RecordError as exc:
        return Rejected(number, exc.reason, exc.message)


def pipeline_decoder(
    settings: Settings, kind: EventType, readers: Mapping[EventType, Any], lookup: WriterLookup
) -> PipelineDecode:
    """``Processor.decode`` for the first configured topic of ``kind`` (a default topic of
    ``kind`` when none is), reading Confluent-framed values with ``lookup``."""
    kafka = settings.kafka
    topic = next((name for name, t in kafka.topics.items() if t.event_type == kind), None)
    base = kafka.topics[topic] if topic is not None else TopicSettings(event_type=kind)
    name = topic or f"preview.{kind}"
    framed = {name: base.model_copy(update={"framing": "confluent"})}
    view = settings.model_copy(update={"kafka": kafka.model_copy(update={"topics": framed})})
    processor = Processor(view, readers, lookup, time.time)
    return lambda value: processor.decode(SourceRecord(name, 0, 0, None, value))[1]


def _read_json(line: str, reader: dict[str, Any]) -> Any:
    """One JSON-encoded record; an optional date out of range is dropped as the consumer does."""
    try:
        return next(fastavro.json_reader(io.StringIO(line), reader))
    except CONVERSION_ERRORS:
        raw = next(fastavro.json_reader(io.StringIO(line), fastavro.parse_schema(stripped(reader))))
        return convert_logical(reader, raw)


def _json_problem(line: str, reader: dict[str, Any]) -> str | None:
    """What is wrong with ``line`` before Avro looks at it: JSON syntax, required fields."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return "not a JSON object"
    missing = [
        field["name"]
        for field in reader["fields"]
        if "default" not in field and field["name"] not in value
    ]
    return f"missing required field(s): {', '.join(missing)}" if missing else None


def read_framed(
    data: bytes,
    lookup: WriterLookup,
    reader: dict[str, Any],
    decode: PipelineDecode | None = None,
) -> Iterator[Decoded]:
    """Confluent-framed values back to back, by frame number; stops at the first corrupt frame.

    ``decode`` (see ``pipeline_decoder``) runs each frame through the consumer's decode step.
    """
    stream = io.BytesIO(data)
    number = 0
    while stream.tell() < len(data):
        number += 1
        start = stream.tell()
        header = stream.read(_HEADER)
        if len(header) < _HEADER or header[0] != CONFLUENT_MAGIC:
            yield InputProblem(number, f"byte {start}: not a Confluent frame (magic byte 0)")
            return
        schema_id = struct.unpack(">I", header[1:])[0]
        writer = lookup(schema_id)
        if writer is None:
            yield InputProblem(number, f"byte {start}: schema id {schema_id} is unknown")
            return
        try:
            record = _read_frame(stream, writer, reader)
        except DecodeError as exc:
            yield InputProblem(number, f"byte {start}: {exc.reason}: {exc.message}")
            return
        except Exception:  # noqa: BLE001  # any fastavro failure means a corrupt frame
            yield InputProblem(number, f"byte {start}: not valid Avro for its schema")
            return
        if not isinstance(record, dict):
            yield InputProblem(number, f"byte {start}: not an Avro record")
            return
        yield _through(decode, number, data[start : stream.tell()], record)


def _read_frame(stream: io.BytesIO, writer: dict[str, Any], reader: dict[str, Any]) -> Any:
    """One frame's record; an optional date out of range is dropped as the consumer does."""
    start = stream.tell()
    try:
        return fastavro.schemaless_reader(stream, writer, reader)
    except CONVERSION_ERRORS:
        stream.seek(start)
        return lenient_read(stream, writer, reader)


def preview_record(
    kind: EventType, record: Mapping[str, Any], settings: Settings, now: float
) -> dict[str, Any]:
    """The report for one decoded record: outcome, exact event JSON, violations, drops, EMQ.

    A test record (``is_test``) also says which ``test_traffic`` policy of its pixel applied.
    """
    try:
        mapped = map_record(kind, record, settings)
    except RecordError as exc:
        report = {"outcome": "dead_lettered", "reason": exc.reason, "message": exc.message}
    else:
        if isinstance(mapped, Filtered):
            report = {"outcome": "filtered", "reason": mapped.reason}
        else:
            report = _event_report(mapped, settings, now)
    return {**report, **_test_traffic(record, settings)}


def _test_traffic(record: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """``{"test_traffic": policy}`` for a test record whose pixel is configured, else {}."""
    pixel_id = record.get("pixel_id") or settings.tenants.get(str(record.get("tenant_id")))
    if not record.get("is_test") or pixel_id not in settings.pixels:
        return {}
    return {"test_traffic": describe_policy(str(pixel_id), settings)}


def _event_report(event: CapiEvent, settings: Settings, now: float) -> dict[str, Any]:
    broken = violations(event, now, settings.mapping.future_skew_s)
    score = estimate(event.payload.get("user_data") or {})
    return {
        "outcome": "dead_lettered" if broken else "valid",
        "reason": broken[0].reason if broken else None,
        "pixel_id": event.pixel_id,
        "test_event_code": event.test_event_code,
        "event": orjson.Fragment(event.body),
        "violations": [{"reason": exc.reason, "message": exc.message} for exc in broken],
        "dropped_user_data": [{"field": f, "reason": r} for f, r in event.dropped],
        "emq_estimate": {
            "score": score.score,
            "weak": score.weak,
            "present": list(score.present),
            "missing": list(score.missing),
        },
    }


def run_preview(
    config: Path,
    kind: EventType,
    source: Path | None,
    *,
    binary: bool = False,
    registry_url: str | None = None,
    now: float | None = None,
) -> int:
    """The ``preview`` command: report every record on stdout, input problems on stderr.

    Exit status 1 when any input record could not be read, 2 when the file does not exist, else 0
    (invalid events are results, reported in the output, not input problems).
    """
    settings = load_settings(config, token_placeholder=PREVIEW_TOKEN_PLACEHOLDER)
    readers = load_reader_schemas(settings.schema_registry.schemas_dir)
    clock = time.time() if now is None else now
    if source is not None and not source.is_file():
        what = "not a file" if source.exists() else "no such file"
        sys.stderr.write(f"capi-consumer preview: {source}: {what}\n")
        return _EXIT_USAGE
    problems = 0
    decoder = _Decoder(settings, kind, readers)
    for item in _decoded(source, decoder, binary=binary, registry_url=registry_url):
        if isinstance(item, InputProblem):
            problems += 1
            where = "frame" if binary else "line"
            if problems <= _MAX_PROBLEM_LINES:
                sys.stderr.write(f"capi-consumer preview: {where} {item.index}: {item.problem}\n")
            continue
        if isinstance(item, Rejected):
            outcome = {"outcome": "dead_lettered", "reason": item.reason, "message": item.message}
            report = {"record": item.index, **outcome}
        else:
            number, record = item
            report = {"record": number, **preview_record(kind, record, settings, clock)}
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    if problems > _MAX_PROBLEM_LINES:
        hidden = problems - _MAX_PROBLEM_LINES
        sys.stderr.write(f"capi-consumer preview: {hidden} more input problem(s) not shown\n")
    return 1 if problems else 0


@dataclass(frozen=True, slots=True)
class _Decoder:
    """What reading needs: the reader schema of ``kind`` and the consumer's decode step."""

    settings: Settings
    kind: EventType
    readers: Mapping[EventType, dict[str, Any]]

    @property
    def reader(self) -> dict[str, Any]:
        return self.readers[self.kind]

    def pipeline(self, lookup: WriterLookup) -> PipelineDecode:
        return pipeline_decoder(self.settings, self.kind, self.readers, lookup)


def _decoded(
    source: Path | None, decoder: _Decoder, *, binary: bool, registry_url: str | None
) -> Iterator[Decoded]:
    """Decoded records from ``source`` (stdin when None), closing what it opens."""
    reader = decoder.reader
    # Without a registry, the producers are assumed to write with our schema (as the sample
    # producer does): every schema id resolves to our reader schema. JSON lines are framed
    # with our schema too, for the consumer's decode step.
    ours = decoder.pipeline(lambda _schema_id: reader)
    if not binary:
        if source is None:
            sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
        handle = sys.stdin if source is None else source.open(errors="surrogateescape")
        with contextlib.closing(handle) if source is not None else contextlib.nullcontext():
            yield from read_json_lines(handle, reader, ours)
        return
    data = sys.stdin.buffer.read() if source is None else source.read_bytes()
    if registry_url is None:
        yield from read_framed(data, lambda _schema_id: reader, reader, ours)
        return
    registry = RegistrySchemaSource(SchemaRegistrySettings(url=registry_url))

    def lookup(schema_id: int) -> dict[str, Any] | None:
        registry.fetch([schema_id])  # cached after the first frame with this id
        return registry.cached(schema_id)

    try:
        yield from read_framed(data, lookup, reader, decoder.pipeline(lookup))
    finally:
        registry.close()
