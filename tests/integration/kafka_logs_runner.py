"""Every kind of Kafka client the consumer creates, in one process whose stderr a test reads.

``python -m tests.integration.kafka_logs_runner LIVE DEAD TOPIC GROUP SECRET``: the source
consumer (``debug=cgrp``) on the live broker ``LIVE``; the DLQ producer (SASL, ``debug=conf``,
password ``SECRET``), the admin helper, the DLQ reader and the replay producer against ``DEAD``,
where nothing listens. Each client logs through its own ``client.id``: ``t-source``, ``t-dlq``,
``t-admin``, ``t-reader``, ``t-retry``. Logging is configured as ``capi-consumer run`` does it
(JSON on stderr, level debug); the expected failures against ``DEAD`` are swallowed.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from consumer.core.models import Failure, SourceRecord
from consumer.devstack.broker import client_overrides
from consumer.dlq import DeadLetter, DeadLetterWriter
from consumer.dlq_reader import DlqReader
from consumer.dlq_view import DlqEntry
from consumer.errors import DeadLetterError, InfrastructureError
from consumer.logs import configure_logging
from consumer.replay import RetryWriter
from consumer.source import KafkaSource, consumer_config
from consumer.topics import existing_topics

_TIMEOUT_MS = 1500  # how long each client against the dead broker tries before giving up


def _source(live: str, topic: str, group: str) -> None:
    base = {"bootstrap.servers": live, "client.id": "t-source", "debug": "cgrp"}
    conf = consumer_config({**base, **client_overrides()}, group)
    source = KafkaSource(conf, [topic], on_assign=lambda _tps: None, on_revoke=lambda _tps: {})
    source.subscribe()
    for _ in range(10):
        source.poll(10, 0.2)
    source.close()


def _dead_letter(dead: str, record: SourceRecord, secret: str) -> None:
    conf: dict[str, Any] = {
        "bootstrap.servers": dead,
        "client.id": "t-dlq",
        "message.timeout.ms": _TIMEOUT_MS,
        "debug": "conf",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "capi",
        "sasl.password": secret,
    }
    writer = DeadLetterWriter(conf, lambda topic: topic + ".dlq")
    with contextlib.suppress(DeadLetterError):
        writer.write([DeadLetter(record, Failure("decode", "decode", "test"))])


def _admin(dead: str) -> None:
    with contextlib.suppress(InfrastructureError):
        existing_topics({"bootstrap.servers": dead, "client.id": "t-admin"}, _TIMEOUT_MS / 1000)


def _reader(dead: str, topic: str, group: str) -> None:
    conf = {"bootstrap.servers": dead, "client.id": "t-reader"}
    reader = DlqReader(conf, {topic: 1}, group, resume=False, idle_s=_TIMEOUT_MS / 1000)
    list(reader.records())
    reader.close()


def _retry(dead: str, record: SourceRecord) -> None:
    conf = {"bootstrap.servers": dead, "client.id": "t-retry", "message.timeout.ms": _TIMEOUT_MS}
    writer = RetryWriter(conf, "retry", "replay-group")
    writer.send(DlqEntry.of(record))
    with contextlib.suppress(InfrastructureError):
        writer.flush()


def main(live: str, dead: str, topic: str, group: str, secret: str) -> None:
    configure_logging("json", "debug")
    record = SourceRecord(topic, 0, 0, b"key", b"value")
    _source(live, topic, group)
    _dead_letter(dead, record, secret)
    _admin(dead)
    _reader(dead, topic, group)
    _retry(dead, record)


if __name__ == "__main__":
    main(*sys.argv[1:6])
