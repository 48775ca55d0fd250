"""Composition root: build the concrete objects from Settings, wire them, own start/stop order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from consumer.bridge import Bridge
from consumer.dedup import DedupStore, MemoryDedupStore
from consumer.dedup_embedded import EmbeddedDedupStore
from consumer.dedup_redis import RedisDedupStore
from consumer.delivery import Deliverer
from consumer.dlq import DeadLetterWriter
from consumer.pipeline import Pipeline, Ticket
from consumer.processing import Processor
from consumer.schemas import RegistrySchemaSource, load_reader_schemas
from consumer.sender import CapiSender
from consumer.settings import Settings
from consumer.source import KafkaSource, consumer_config
from consumer.stats import RunStats

__all__ = ["build_dedup", "run_consumer"]

log = structlog.get_logger("consumer.app")


def build_dedup(settings: Settings, clock: Callable[[], float] = time.time) -> DedupStore:
    """The configured dedup backend: ``embedded`` (default), ``redis`` or ``memory``."""
    dedup = settings.dedup
    if dedup.backend == "embedded":
        return EmbeddedDedupStore(
            dedup.path, dedup.window_s, dedup.pending_ttl_s, clock, capacity=dedup.expected_keys
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


async def run_consumer(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    stop_when: Callable[[Pipeline], bool] | None = None,
    dedup: DedupStore | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> RunStats:
    """Run one consumer until ``stop`` is set or ``stop_when`` is true; return its counters."""
    bridge = Bridge(asyncio.get_running_loop())
    stats = RunStats()
    schemas = RegistrySchemaSource(settings.schema_registry)
    readers = load_reader_schemas(settings.schema_registry.schemas_dir)
    store = dedup or build_dedup(settings, wall_clock)
    sender = CapiSender(settings.meta, settings.pixels)
    dlq = DeadLetterWriter(settings.kafka.to_librdkafka("producer"), settings.kafka.dlq_topic_for)
    topics = [*settings.kafka.topics, settings.kafka.retry_topic]
    conf = consumer_config(settings.kafka.to_librdkafka("consumer"), settings.kafka.group_id)
    source = KafkaSource(
        conf,
        topics,
        on_assign=lambda tps: pipeline.on_assign(tps),
        on_revoke=lambda tps: pipeline.on_revoke(tps),
    )
    pipeline = Pipeline(
        settings=settings,
        source=source,
        processor=Processor(settings, readers, schemas.cached, wall_clock),
        schemas=schemas,
        dedup=store,
        deliverer=Deliverer[Ticket](sender, settings.delivery, stats),
        dlq=dlq,
        bridge=bridge,
        stats=stats,
    )
    log.info("consumer.starting", group_id=settings.kafka.group_id, topics=topics)
    try:
        await pipeline.run(stop or asyncio.Event(), stop_when)
    finally:
        await sender.close()
        await bridge.blocking(dlq.close)
        await store.close()
        schemas.close()
        bridge.shutdown()
    log.info("consumer.stopped", **stats.summary())
    return stats
