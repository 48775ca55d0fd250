"""What observability costs: one /metrics scrape and one librdkafka statistics callback.

Cardinality is set high on purpose (50 pixels x 10 event names, 30 reasons, 64 partitions) to
show the upper end. The statistics callback runs on the consumer thread inside ``poll``, so its
time is time the consumer is not polling.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from consumer.core.models import Outcome
from consumer.kafka_stats import KafkaStatus
from consumer.metrics import Metrics
from consumer.stats import RunStats

PIXELS = [str(1_000_000_000_000_000 + n) for n in range(50)]
EVENTS = [f"Event{n}" for n in range(10)]
PARTITIONS = 64


class _View:
    """A pipeline as ``metrics.PipelineView`` sees it (bench/test_benches.py checks the fit)."""

    in_flight, in_flight_bytes, uncommitted, paused, assigned = (
        1200,
        900_000,
        5000,
        False,
        frozenset(),
    )


def _statistics() -> bytes:
    partitions = {str(p): {"consumer_lag": p * 10, "fetchq_cnt": 0} for p in range(PARTITIONS)}
    partitions["-1"] = {"consumer_lag": -1}
    brokers = {f"b{n}:9092/{n}": {"source": "learned", "state": "UP"} for n in range(3)}
    return orjson.dumps({"brokers": brokers, "topics": {"orders": {"partitions": partitions}}})


def _loaded_metrics(kafka: KafkaStatus) -> Metrics:
    stats = RunStats(consumed=10**7, decoded=10**7)
    for outcome in Outcome:
        stats.outcome(outcome, 1000)
    for n in range(30):
        stats.dead_letter_reasons[f"invalid.reason_{n}"] += n
    for pixel in PIXELS:
        stats.sent_per_pixel[pixel] += 100
        stats.batches_per_pixel[pixel] += 1
        for event in EVENTS:
            stats.duplicates_per_event[(pixel, event)] += 1
    metrics = Metrics(stats)
    metrics.watch(_View(), kafka, lambda: True)
    for pixel in PIXELS:
        metrics.observe_batch(pixel, 0.2)
    return metrics


def _per_call(fn: Callable[[], object], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - started) / rounds


def run() -> None:
    kafka = KafkaStatus()
    raw = _statistics()
    stats_cb = _per_call(lambda: kafka.on_statistics(raw.decode()), 2000)
    metrics = _loaded_metrics(kafka)
    body, _ = metrics.exposition()
    scrape = _per_call(metrics.exposition, 200)
    observe = _per_call(lambda: metrics.observe_batch(PIXELS[0], 0.2), 100_000)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    print(
        f"   stats_cb ({PARTITIONS} partitions, {len(raw)} B JSON): {stats_cb * 1e6:.0f} us per call"
    )
    print(f"   /metrics render: {series} series, {len(body) / 1024:.0f} KiB, {scrape * 1e3:.1f} ms")
    print(f"   send latency histogram observe: {observe * 1e6:.2f} us")
