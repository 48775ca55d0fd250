"""The ``capi-consumer dlq stats|show|replay`` operator commands (argparse wiring and output).

Every problem (bad filter, unknown topic, broker or registry unreachable) is a ConsumerError,
which ``cli.main`` prints as one line with a non-zero exit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from consumer.cli_errors import positive_int
from consumer.core.models import SourceRecord
from consumer.core.processing import Processor
from consumer.dlq_payload import PayloadInspector, mask_pii
from consumer.dlq_reader import DlqReader
from consumer.dlq_view import DlqEntry, DlqFilter, DlqStats, parse_when, render_stats
from consumer.errors import ConfigError, RecordError
from consumer.kafka_logs import collected
from consumer.logs import configure_logging
from consumer.replay import ReplayJob, ReplaySummary, RetryWriter
from consumer.replay_plan import Decision
from consumer.schemas import RegistrySchemaSource, load_reader_schemas
from consumer.settings import Settings, load_settings
from consumer.topics import existing_topics

__all__ = ["add_dlq_commands", "run_dlq"]


def add_dlq_commands(commands: Any) -> None:
    """Register ``dlq stats|show|replay`` on the top-level subparsers."""
    dlq = commands.add_parser("dlq", help="inspect and replay the dead-letter topics")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    stats = actions.add_parser("stats", help="counts by reason, pixel, event name and age")
    show = actions.add_parser("show", help="matching records, headers and masked payload")
    replay = actions.add_parser("replay", help="write matching records to the retry topic")
    for sub in (stats, show, replay):
        _add_filters(sub)
    show.add_argument("--reveal", action="store_true", help="print the payload's PII unmasked")
    show.add_argument(
        "--limit", type=positive_int, default=50, help="at most this many records (50)"
    )
    replay.add_argument("--dry-run", action="store_true", help="print decisions, write nothing")
    replay.add_argument("--limit", type=positive_int, default=None, help="replay at most this many")
    replay.add_argument("--group", help="progress group (default: dlq.replay_group_id + filter)")


def _add_filters(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--config", type=Path, required=True, help="YAML settings file")
    sub.add_argument(
        "--reason", action="append", default=[], help="reason or family (auth, invalid.*)"
    )
    sub.add_argument("--pixel", action="append", default=[], help="pixel id")
    sub.add_argument("--event-name", action="append", default=[], help="CAPI event name")
    sub.add_argument("--source-topic", action="append", default=[], help="original topic")
    sub.add_argument("--since", help="failed at or after: ISO time or age (2h, 7d)")
    sub.add_argument("--until", help="failed at or before: ISO time or age")
    sub.add_argument("--json", action="store_true", help="machine-readable output")


@dataclass(frozen=True, slots=True)
class _Context:
    settings: Settings
    dlq_filter: DlqFilter
    partitions: dict[str, int]  # DLQ topic -> partition count
    now: dt.datetime


def run_dlq(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one ``dlq`` command; 0 on success (ConsumerError propagates to ``cli.main``)."""
    out = out or sys.stdout
    with collected():  # librdkafka's lines: one summary, not hundreds before a one-line error
        context = _context(args)
        if args.dlq_command == "stats":
            return _stats(context, args, out)
        if args.dlq_command == "show":
            return _show(context, args, out)
        return _replay(context, args, out)


def _context(args: argparse.Namespace) -> _Context:
    settings = load_settings(args.config)
    # Kafka clients log through structlog (kafka_logs): to stderr, never into the output.
    observability = settings.observability
    configure_logging(observability.log_format, observability.log_level, cache=False)
    now = dt.datetime.now(dt.UTC)
    dlq_filter = DlqFilter(
        reasons=tuple(args.reason),
        pixels=tuple(args.pixel),
        event_names=tuple(args.event_name),
        source_topics=tuple(args.source_topic),
        since=parse_when(args.since, now) if args.since else None,
        until=parse_when(args.until, now) if args.until else None,
    ).check()
    return _Context(settings, dlq_filter, _dlq_partitions(settings, args.source_topic), now)


def _dlq_partitions(settings: Settings, chosen: list[str]) -> dict[str, int]:
    kafka = settings.kafka
    unknown = sorted(set(chosen) - set(kafka.topics))
    if unknown:
        raise ConfigError(
            f"unknown source topic {unknown[0]!r}; configured: {', '.join(kafka.topics)}"
        )
    wanted = [kafka.dlq_topic_for(topic) for topic in (chosen or kafka.topics)]
    existing = existing_topics(kafka.to_librdkafka("admin"))
    missing = [topic for topic in wanted if topic not in existing]
    if missing:
        raise ConfigError(
            f"DLQ topic {missing[0]!r} does not exist on {kafka.bootstrap_servers}"
            " (the consumer creates it on start; or name the topics with --source-topic)"
        )
    return {topic: existing[topic] for topic in wanted}


def _reader(context: _Context, group: str | None = None) -> DlqReader:
    conf = context.settings.kafka.to_librdkafka("consumer")
    return DlqReader(conf, context.partitions, group or _browse_group(), resume=group is not None)


def _browse_group() -> str:
    return f"capi-consumer-dlq-browse-{uuid.uuid4().hex[:8]}"  # never committed


def _entries(context: _Context) -> Iterator[DlqEntry]:
    reader = _reader(context)
    try:
        for record in reader.records():
            entry = DlqEntry.of(record)
            if context.dlq_filter.matches(entry):
                yield entry
    finally:
        reader.close()


def _stats(context: _Context, args: argparse.Namespace, out: TextIO) -> int:
    stats = DlqStats(context.now).add_all(_entries(context))
    print(json.dumps(stats.to_json(), indent=2) if args.json else render_stats(stats), file=out)
    return 0


@contextmanager
def _inspector(settings: Settings) -> Iterator[PayloadInspector]:
    schemas = RegistrySchemaSource(settings.schema_registry)
    readers = load_reader_schemas(settings.schema_registry.schemas_dir)
    try:
        processor = Processor(settings, readers, schemas.cached, time.time)
        yield PayloadInspector(processor, schemas.fetch)
    finally:
        schemas.close()


def _show(context: _Context, args: argparse.Namespace, out: TextIO) -> int:
    shown = 0
    first: dict[tuple[str, int], str] = {}  # attempt -> its first DLQ position
    with _inspector(context.settings) as inspector:
        for entry in _entries(context):
            if shown >= args.limit:
                print(f"(stopped at --limit {args.limit})", file=sys.stderr)
                break
            repeat_of = first.setdefault(entry.attempt(), entry.position())
            item = {
                **entry.summary(reveal=args.reveal),
                # a restart repeat names the letter it repeats (``dlq stats`` counts it once)
                "repeat_of": None if repeat_of == entry.position() else repeat_of,
                "payload": _payload(inspector, entry, reveal=args.reveal),
            }
            print(json.dumps(item, indent=None if args.json else 2, default=str), file=out)
            shown += 1
    print(f"{shown} record(s) shown; filter: {context.dlq_filter.describe()}", file=sys.stderr)
    return 0


def _payload(inspector: PayloadInspector, entry: DlqEntry, *, reveal: bool) -> Any:
    try:
        decoded = inspector.decode(entry)
    except RecordError as exc:
        return {"undecodable": exc.reason, "bytes": len(entry.record.value or b"")}
    return mask_pii(decoded, reveal=reveal)


def _replay(context: _Context, args: argparse.Namespace, out: TextIO) -> int:
    settings = context.settings
    retry = settings.kafka.retry_topic
    if not args.dry_run and retry not in existing_topics(settings.kafka.to_librdkafka("admin")):
        raise ConfigError(f"retry topic {retry!r} does not exist; start the consumer once")
    group = args.group or _progress_group(settings, context.dlq_filter)
    reader = _reader(context, group)
    producer = settings.kafka.to_librdkafka("producer")
    writer = None if args.dry_run else RetryWriter(producer, retry, group)
    try:
        with _inspector(settings) as inspector:
            job = _job(context, args, out, reader, writer, inspector, group)
            job.retried = _retried(context)
            summary = job.run()
    finally:
        reader.close()
        if writer is not None:
            writer.close()
    _report_summary(summary, args, out)
    return 0


def _retried(context: _Context) -> Iterator[SourceRecord]:
    """Every record of the retry topic (none when it does not exist), read once, then closed."""
    kafka = context.settings.kafka
    partitions = existing_topics(kafka.to_librdkafka("admin")).get(kafka.retry_topic)
    if partitions is None:
        return
    conf, topics = kafka.to_librdkafka("consumer"), {kafka.retry_topic: partitions}
    reader = DlqReader(conf, topics, _browse_group(), resume=False)
    try:
        yield from reader.records()
    finally:
        reader.close()


def _job(
    context: _Context,
    args: argparse.Namespace,
    out: TextIO,
    reader: DlqReader,
    writer: RetryWriter | None,
    inspector: PayloadInspector,
    group: str,
) -> ReplayJob:
    """The replay job for this command line, reporting items to ``out``."""
    return ReplayJob(
        reader,
        writer,
        inspector,
        context.dlq_filter,
        context.settings.dlq.max_replays,
        context.now,
        ReplaySummary(group, args.dry_run),
        limit=args.limit,
        on_item=lambda entry, decision: _report_item(entry, decision, args, out),
        on_progress=_report_progress,
    )


def _progress_group(settings: Settings, dlq_filter: DlqFilter) -> str:
    """One progress group per filter: rerunning a command resumes it; another filter starts fresh."""
    digest = hashlib.sha256(dlq_filter.describe().encode()).hexdigest()[:12]
    return f"{settings.dlq.replay_group_id}-{digest}"


def _report_item(
    entry: DlqEntry, decision: Decision, args: argparse.Namespace, out: TextIO
) -> None:
    if decision.replay and not args.dry_run:
        return  # a real replay lists only what it skips; progress lines count the rest
    verb = "would replay" if decision.replay else "skip"
    line = {
        "dlq": entry.position(),
        "action": verb,
        "why": decision.why,
        "reason": entry.reason,
        "pixel_id": entry.pixel_id,
        "event_name": entry.event_name,
        "event_id": entry.meta.get("event_id", "-"),
        "replay_count": entry.replay_count,
    }
    text = json.dumps(line) if args.json else "  ".join(f"{k}={v}" for k, v in line.items())
    print(text, file=out)


def _report_progress(summary: ReplaySummary) -> None:
    print(
        f"progress: read {summary.read}, matched {summary.matched}, "
        f"replayed {summary.replayed}, skipped {sum(summary.skipped.values())}",
        file=sys.stderr,
    )


def _report_summary(summary: ReplaySummary, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        print(json.dumps(summary.to_json()), file=out)
        return
    verb = "would replay" if summary.dry_run else "replayed"
    skipped = ", ".join(f"{why} {n}" for why, n in sorted(summary.skipped.items())) or "none"
    print(
        f"{verb} {summary.replayed} of {summary.matched} matching record(s) "
        f"({summary.read} read); skipped: {skipped}; progress group {summary.group}"
        + ("; stopped at --limit" if summary.limit_reached else ""),
        file=out,
    )
