"""The Kafka consumer shell: the only module that touches ``confluent_kafka.Consumer``.

Every method runs on the consumer's own thread (see ``bridge.Bridge.on_consumer_thread``),
including the rebalance callbacks librdkafka runs inside ``poll``. Offsets are stored only by
the pipeline (``enable.auto.offset.store=false``) and committed explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from consumer.core.models import SourceRecord
from consumer.core.models import TopicPartition as TP
from consumer.core.polled import record_of, split_polled
from consumer.errors import InfrastructureError
from consumer.kafka_logs import with_structlog
from consumer.kafka_stats import KafkaStatus

__all__ = ["KafkaSource", "RevokeHook", "consumer_config", "record_of"]

log = structlog.get_logger("consumer.source")

# On revocation: the pipeline drains the partitions and returns the positions to store.
RevokeHook = Callable[[list[TP]], Mapping[TP, int]]
AssignHook = Callable[[list[TP]], None]

# Store and commit errors that mean "these partitions are no longer this member's" (or this
# member is closing): the committed offset stays where it was, so nothing is lost.
_NOT_OURS = frozenset(
    {
        KafkaError._STATE,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError._DESTROY,  # the revoke hook's commit inside close(): the handle is going away
    }
)
_FIXED = {
    "enable.auto.offset.store": False,  # the pipeline stores only settled offsets
    "enable.auto.commit": False,  # committed periodically, on revocation and on shutdown
    "auto.offset.reset": "earliest",  # a new group must not skip conversions already published
    "enable.partition.eof": False,
}


# librdkafka prefetches up to 64 MiB (queued.max.messages.kbytes) plus a 50 MiB fetch by default:
# 60 MB of the consumer's peak RSS while Meta stalled. 8 MiB is ~0.7 s of records at the
# pipeline's ~30k events/s. Once that queue is full librdkafka waits fetch.queue.backoff.ms
# (default 1000) before it fetches again: longer than the queue lasts, so the pipeline sat idle
# a quarter of the time (bench e2e: 23k events/s, 44 µs wall for 32 µs CPU per event); at 20 ms
# it stays fed (29k events/s). kafka.consumer.* overrides all three.
_BOUNDED_PREFETCH = {
    "queued.max.messages.kbytes": 8192,
    "fetch.max.bytes": 4 * 1024 * 1024,
    "fetch.queue.backoff.ms": 20,
}


def consumer_config(base: Mapping[str, Any], group_id: str) -> dict[str, Any]:
    """The librdkafka consumer config: bounded prefetch, the user's keys, then the fixed ones."""
    conf = {"group.id": group_id, "client.id": "capi-consumer", **_BOUNDED_PREFETCH, **base}
    conf.update(_FIXED)
    return conf


class KafkaSource:
    """Subscribe, poll, pause/resume, store and commit; runs the rebalance hooks."""

    def __init__(
        self,
        conf: Mapping[str, Any],
        topics: list[str],
        *,
        on_assign: AssignHook,
        on_revoke: RevokeHook,
        status: KafkaStatus | None = None,
    ) -> None:
        conf = dict(conf)
        if status is not None:  # both run on this thread, inside poll: they only parse and store
            conf["stats_cb"] = status.on_statistics
            conf["error_cb"] = status.on_error
        self._consumer = Consumer(with_structlog(conf))
        self._topics = topics
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._status = status
        self._paused = False
        self._closed = False

    def subscribe(self) -> None:
        self._consumer.subscribe(
            self._topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    def resubscribe(self) -> None:
        """Leave and rejoin the group with a fresh subscription.

        The heal for a stale empty assignment: after the broker lost its topics and they were
        re-created, librdkafka can sit at ``[]`` for many minutes (its view of the subscribed
        topics is refreshed every ``topic.metadata.refresh.interval.ms``). Subscribing again to
        the same topics is a no-op there; unsubscribe first forces a new join.
        """
        if not self._closed:
            self._consumer.unsubscribe()
            self.subscribe()

    def subscribed_partitions(self, timeout: float) -> int:
        """How many partitions the subscribed topics have now, per a metadata request."""
        total = 0
        for topic in self._topics if not self._closed else ():
            try:
                metadata = self._consumer.list_topics(topic, timeout=timeout)
            except KafkaException:
                continue  # no answer: counted as none, so no heal on a broker we cannot reach
            found = metadata.topics.get(topic)
            if found is not None and found.error is None:
                total += len(found.partitions)
        return total

    def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        """Up to ``max_records`` records; serves heartbeats and rebalances even while paused."""
        records, errors = split_polled(self._consumer.consume(max_records, timeout))
        for error in errors:  # end of partition, or transient ones librdkafka retries itself
            if error.code() != KafkaError._PARTITION_EOF and error.fatal():
                raise InfrastructureError(f"fatal Kafka error: {error.str()}")
        return records

    def pause(self) -> None:
        if not self._paused:
            self._consumer.pause(self._consumer.assignment())
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._consumer.resume(self._consumer.assignment())
            self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def store(self, positions: Mapping[TP, int]) -> None:
        """Store settled positions; partitions that are no longer ours are skipped, logged."""
        if not positions:
            return
        try:
            self._consumer.store_offsets(
                offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()]
            )
        except KafkaException as exc:
            _unless_not_ours(exc, "storing offsets", partitions=_names(positions))

    def commit(self, *, wait: bool = True) -> None:
        """Commit the stored offsets (synchronously unless ``wait`` is False); nothing stored is
        fine."""
        try:
            if wait:
                self._consumer.commit(asynchronous=False)
            else:
                self._consumer.commit(asynchronous=True)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                _unless_not_ours(exc, "committing offsets")

    def assignment(self) -> list[TP]:
        return [(tp.topic, tp.partition) for tp in self._consumer.assignment()]

    def close(self) -> None:
        """Leave the group (runs the revoke hook for a final store and commit).

        The pipeline commits synchronously just before; inside ``close`` the revoke hook's commit
        is asynchronous: a synchronous commit there once waited forever (seen in 1 of ~30
        shutdowns of the benchmark: the process sat in ``commit`` an hour after SIGTERM).
        """
        self._closed = True
        self._consumer.close()

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._on_assign([(tp.topic, tp.partition) for tp in partitions])
        if self._status is not None:
            self._status.on_assigned(len(partitions))
        if self._paused:
            consumer.pause(partitions)
        else:  # librdkafka keeps a partition's pause flag across a revoke and re-assign
            consumer.resume(partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        positions = self._on_revoke([(tp.topic, tp.partition) for tp in partitions])
        if self._status is not None:
            self._status.on_revoked(len(partitions))
        self.store(positions)
        self.commit(wait=not self._closed)  # leaving the group: never block (see close)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost partitions may already belong to another member: store nothing, just forget.
        log.warning(
            "partitions.lost", partitions=[f"{tp.topic}/{tp.partition}" for tp in partitions]
        )
        self._on_revoke([(tp.topic, tp.partition) for tp in partitions])
        if self._status is not None:
            self._status.on_revoked(len(partitions), lost=True)


def _unless_not_ours(exc: KafkaException, action: str, **fields: Any) -> None:
    """Log a store or commit refused because the partitions left us; raise on anything else.

    After a session timeout or a rebalance that outran the revoke hook, the partitions belong to
    another member, which resumes from the last committed offset: nothing is lost, repeats are
    the dedup window's job, and crashing here would only cause more of them.
    """
    error = exc.args[0]
    if error.code() not in _NOT_OURS:
        raise InfrastructureError(f"{action} failed: {error.str()}") from exc
    event = "offsets.not_stored" if action == "storing offsets" else "offsets.not_committed"
    log.warning(event, error=error.str(), **fields)


def _names(positions: Mapping[TP, int]) -> list[str]:
    return sorted(f"{topic}/{partition}" for topic, partition in positions)
