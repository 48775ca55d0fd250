"""KafkaSource against the embedded broker: offsets for partitions this member does not own."""

# Asserts read ``expected == actual`` (STYLE.md), which is exactly what SIM300 forbids.

from __future__ import annotations

from collections.abc import Callable

import structlog

from consumer.devstack.broker import create_topics
from consumer.source import KafkaSource, consumer_config

pytest_plugins = ["tests.fixtures.devstack"]


def test_store_skips_a_partition_it_does_not_own_and_keeps_the_rest(
    kafka_bootstrap: str,
    kafka_consumer_overrides: dict[str, str],
    unique_name: Callable[..., str],
) -> None:
    """librdkafka refuses the whole call when none is ours; a mixed call stores what is ours."""
    ours, theirs = unique_name("ours"), unique_name("theirs")
    create_topics(kafka_bootstrap, {ours: 1, theirs: 1})
    conf = consumer_config(
        {"bootstrap.servers": kafka_bootstrap, **kafka_consumer_overrides}, unique_name("g")
    )
    source = KafkaSource(conf, [ours], on_assign=lambda _tps: None, on_revoke=lambda _tps: {})
    source.subscribe()
    try:
        for _ in range(100):
            source.poll(10, 0.1)
            if source.assignment():
                break
        assert [(ours, 0)] == source.assignment()

        with structlog.testing.capture_logs() as events:
            source.store({(theirs, 0): 5})
            source.store({(theirs, 0): 5, (ours, 0): 0})
            source.commit()
    finally:
        source.close()

    assert [("offsets.not_stored", [f"{theirs}/0"])] == [
        (e["event"], e.get("partitions")) for e in events if e["event"].startswith("offsets.")
    ]
