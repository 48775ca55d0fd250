"""Composition root: build the concrete objects from Settings, wire them, own start/stop order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from consumer import fault_log
from consumer.bridge import Bridge
from consumer.core.dedup import DedupStore, MemoryDedupStore
from consumer.core.dedup_table import slots_for
from consumer.core.processing import Processor
from consumer.dedup_embedded import EmbeddedDedupStore
from consumer.dedup_redis import RedisDedupStore
from consumer.delivery import Deliverer
from consumer.dlq import DeadLetterWriter
from consumer.emq_poller import DatasetQualityPoller, MetaEmqBook
from consumer.errors import ConfigError, InfrastructureError
from consumer.health import READINESS_REASONS, Check, HealthServer, probes_for
from consumer.kafka_stats import KafkaStatus
from consumer.metrics import Metrics, TimedDedupStore
from consumer.pipeline import Pipeline, Ticket
from consumer.readiness import ReadinessWatch, stop_watch
from consumer.schemas import RegistrySchemaSource, load_local_writers, load_reader_schemas
from consumer.sender import CapiSender
from consumer.settings import Settings
from consumer.source import KafkaSource, consumer_config
from consumer.stats import RunStats
from consumer.topics import ensure_topics
from consumer.version_check import check_pixel_versions, log_version_notes, today_utc

__all__ = ["build_dedup", "check_dedup_backend", "create_dlq_topics", "run_consumer"]

log = structlog.get_logger("consumer.app")


def build_dedup(
    settings: Settings, clock: Callable[[], float] = time.time, bridge: Bridge | None = None
) -> DedupStore:
    """The configured dedup backend: ``embedded`` (default), ``redis`` or ``memory``.

    With a ``bridge`` the embedded store's fsyncs run on its disk thread, off the event loop.
    """
    dedup = settings.dedup
    if dedup.backend == "embedded":
        return EmbeddedDedupStore(
            dedup.path,
            dedup.window_s,
            dedup.pending_ttl_s,
            clock,
            capacity=slots_for(dedup.expected_keys),
            offload=None if bridge is None else bridge.on_disk_thread,
        )
    if dedup.backend == "redis" and dedup.redis_url is not None:
        password = dedup.redis_password.get_secret_value() if dedup.redis_password else None
        return RedisDedupStore(
            dedup.redis_url,
            dedup.window_s,
            dedup.pending_ttl_s,
            clock,
            password=password,
            prefix=dedup.redis_prefix,
        )
    return MemoryDedupStore(dedup.window_s, dedup.pending_ttl_s, clock)


def check_dedup_backend(settings: Settings, *, allow_memory: bool) -> None:
    """Refuse the ``memory`` backend unless development allows it, and warn when it does.

    ``memory`` forgets the 48-hour window on every restart, and every repeat inside it is then
    sent to Meta again: ``capi-consumer run`` accepts it only with ``--allow-memory-dedup``.
    """
    if settings.dedup.backend != "memory":
        return
    if not allow_memory:
        raise ConfigError(
            "dedup.backend: memory forgets the dedup window on every restart (repeats would reach "
            "Meta again); use embedded (one replica, dedup.path on a persistent volume) or redis "
            "(several replicas), or pass --allow-memory-dedup for development only"
        )
    log.warning(
        "dedup.memory_backend",
        detail="development only: the dedup window is lost on restart",
        window_s=settings.dedup.window_s,
    )


def create_dlq_topics(settings: Settings) -> None:
    """Create the missing DLQ topics (one per source topic) and the retry topic."""
    kafka = settings.kafka
    wanted = [kafka.dlq_topic_for(topic) for topic in kafka.topics] + [kafka.retry_topic]
    created = ensure_topics(kafka.to_librdkafka("admin"), wanted, settings.dlq.topic_partitions)
    if created:
        log.info("topics.created", topics=created)


async def run_consumer(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    stop_when: Callable[[Pipeline], bool] | None = None,
    dedup: DedupStore | None = None,
    dlq_writer: DeadLetterWriter | None = None,
    wall_clock: Callable[[], float] = time.time,
    require_health: bool = False,
) -> RunStats:
    """Run one consumer until ``stop`` is set or ``stop_when`` is true; return its counters.

    Raises ConfigError before touching anything when a pixel's Graph API version has expired.
    ``require_health`` (``capi-consumer run``): a health/metrics port that cannot be bound is an
    ``InfrastructureError`` instead of a warning (the demo and tests stay lenient).
    """
    log_version_notes(check_pixel_versions(settings.pixels, today_utc(wall_clock)))
    observability = settings.observability
    fault_log.configure(observability.warnings_per_minute, observability.request_stall_after_s)
    if settings.dlq.create_topics:
        await asyncio.to_thread(create_dlq_topics, settings)
    bridge = Bridge(asyncio.get_running_loop())
    stats = RunStats()
    metrics = Metrics(stats)
    kafka_status = KafkaStatus()
    confluent = any(t.framing == "confluent" for t in settings.kafka.topics.values())
    schemas = RegistrySchemaSource(settings.schema_registry, required=confluent)
    readers = load_reader_schemas(settings.schema_registry.schemas_dir)
    store = TimedDedupStore(
        dedup or build_dedup(settings, wall_clock, bridge), metrics.observe_dedup
    )
    sender = CapiSender(settings.meta, settings.pixels)
    dlq = dlq_writer or DeadLetterWriter(
        settings.kafka.to_librdkafka("producer"), settings.kafka.dlq_topic_for
    )
    topics = [*settings.kafka.topics, settings.kafka.retry_topic]
    conf = consumer_config(settings.kafka.to_librdkafka("consumer"), settings.kafka.group_id)
    conf["statistics.interval.ms"] = int(settings.observability.kafka_statistics_interval_s * 1000)
    source = KafkaSource(
        conf,
        topics,
        on_assign=lambda tps: pipeline.on_assign(tps),
        on_revoke=lambda tps: pipeline.on_revoke(tps),
        status=kafka_status,
    )
    versions = {pixel_id: pixel.api_version for pixel_id, pixel in settings.pixels.items()}
    deliverer = Deliverer[Ticket](
        sender, settings.delivery, stats, on_batch=metrics.observe_batch, api_versions=versions
    )
    metrics.watch_versions(versions, deliverer.held_pixels, lambda: today_utc(wall_clock))
    book = MetaEmqBook()
    poller = DatasetQualityPoller(settings.meta, settings.pixels, settings.dataset_quality, book)
    metrics.watch_meta_emq(book, poller.polled_pixels)
    pipeline = Pipeline(
        settings=settings,
        source=source,
        processor=Processor(
            settings, readers, schemas.cached, wall_clock, load_local_writers(settings)
        ),
        schemas=schemas,
        dedup=store,
        deliverer=deliverer,
        dlq=dlq,
        bridge=bridge,
        stats=stats,
    )
    watch = ReadinessWatch(observability, kafka_status, source, bridge)
    probes = probes_for(pipeline, kafka_status, observability, extra=watch.problems)
    metrics.watch_readiness(lambda: probes()[1].reasons, READINESS_REASONS, kafka_status)
    health, watching = None, None
    try:
        try:
            health = await _start_health(
                settings, metrics, pipeline, kafka_status, probes, require_health
            )
        except InfrastructureError:
            await bridge.on_consumer_thread(source.close)  # never subscribed: nothing to commit
            raise
        log.info("consumer.starting", group_id=settings.kafka.group_id, topics=topics)
        watching = asyncio.create_task(watch.run(lambda: probes()[1]))
        poller.start()  # its own task and session: a failure there never reaches delivery
        await pipeline.run(stop or asyncio.Event(), stop_when)
    finally:
        await poller.stop()
        await stop_watch(watching)
        if health is not None:
            await health.stop()
        await sender.close()
        await bridge.blocking(dlq.close)
        await store.close()
        schemas.close()
        bridge.shutdown()
        fault_log.faults.flush()
    log.info("consumer.stopped", **stats.summary())
    return stats


async def _start_health(
    settings: Settings,
    metrics: Metrics,
    pipeline: Pipeline,
    kafka: KafkaStatus,
    probes: Callable[[], tuple[Check, Check]],
    required: bool,
) -> HealthServer | None:
    """The /livez /readyz /metrics server, unless ``observability.port`` is 0.

    A server that cannot bind stops ``run`` (``required``): without probes and metrics nobody
    would see the consumer's faults. The demo and in-process runs consume anyway (a second
    consumer on one host, a demo next to a running one) and log ``health.unavailable``.
    """
    metrics.watch(pipeline, kafka, lambda: probes()[1].ok)
    observability = settings.observability
    if not observability.port:
        return None
    server = HealthServer(observability, metrics, probes)
    try:
        await server.start()
    except OSError as exc:  # e.g. the port is taken
        await server.stop()
        where = f"{observability.host}:{observability.port}"
        if required:
            raise InfrastructureError(
                f"cannot serve health and metrics on {where}: {exc.strerror or exc} "
                "(free the port, or set observability.port to another one, 0 to turn it off)"
            ) from exc
        log.warning("health.unavailable", port=observability.port, error=exc.strerror)
        return None
    return server
