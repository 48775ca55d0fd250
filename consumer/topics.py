"""Kafka topic administration the consumer and its operator commands need (AdminClient shell).

``ensure_topics`` creates the DLQ and retry topics on start when allowed; ``existing_topics``
lists what the cluster has, turning "broker unreachable" into one clear InfrastructureError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # admin does not re-export it for mypy

from consumer.errors import InfrastructureError
from consumer.kafka_logs import with_structlog

__all__ = ["create_topics", "ensure_topics", "existing_topics"]

_TIMEOUT_S = 10.0


def existing_topics(conf: Mapping[str, Any], timeout: float = _TIMEOUT_S) -> dict[str, int]:
    """Topic name -> partition count, or InfrastructureError when the cluster does not answer."""
    admin = AdminClient(with_structlog(conf))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise InfrastructureError(
            f"Kafka broker unreachable at {conf.get('bootstrap.servers')}: {exc.args[0].str()}"
        ) from exc
    finally:
        admin.poll(0)  # deliver its queued log lines (kafka_logs) before the client goes
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def ensure_topics(conf: Mapping[str, Any], names: Iterable[str], partitions: int) -> list[str]:
    """Create the missing ones of ``names``; return those created. Existing topics are fine."""
    missing = sorted(set(names) - set(existing_topics(conf)))
    create_topics(conf, dict.fromkeys(missing, partitions))
    return missing


def create_topics(
    conf: Mapping[str, Any], wanted: Mapping[str, int], timeout: float = _TIMEOUT_S
) -> None:
    """Create topics (name -> partitions); ones that already exist are fine."""
    if not wanted:
        return
    # The client must outlive the futures: a collected client cancels them.
    admin = AdminClient(with_structlog(conf))
    new = [NewTopic(name, num_partitions=n) for name, n in wanted.items()]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    try:
        for name, future in futures.items():
            _created(name, future, timeout)
    finally:
        admin.poll(0)  # deliver its queued log lines (kafka_logs) before the client goes


def _created(name: str, future: Future[None], timeout: float) -> None:
    """Wait for one topic's creation; an existing topic is fine."""
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        error = exc.args[0]
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise InfrastructureError(f"cannot create topic {name!r}: {error}") from exc
