"""Prometheus metrics: every name and label set is defined once, in the tables below.

``RunStats`` stays the one source of truth for counts: ``RunStatsCollector`` reads it on each
scrape (adding a counter is one ``CounterSpec`` line). Pipeline state (in flight, paused,
assignment) and librdkafka's consumer lag are read the same way by ``StateCollector``. Only
latencies need native histograms, fed by hooks (``Metrics.observe_*``).

Label values are bounded: pixel ids and event names come from the configuration, reasons and
codes from fixed vocabularies. Event ids, order ids and tokens never become labels.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from consumer.core.dedup import Claim, DedupStore, Verdict
from consumer.core.graph_versions import check_version
from consumer.core.models import TopicPartition
from consumer.kafka_stats import KafkaStatus
from consumer.stats import RunStats

__all__ = [
    "RUN_COUNTERS",
    "STATE_GAUGES",
    "CounterSpec",
    "GaugeSpec",
    "MetaEmqCollector",
    "MetaEmqView",
    "Metrics",
    "PipelineView",
    "ReadinessCollector",
    "RunStatsCollector",
    "StateCollector",
    "TimedDedupStore",
    "VersionCollector",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """One exported counter: its name (without ``_total``), help, labels and how to read it."""

    name: str
    doc: str
    labels: tuple[str, ...]
    read: Callable[[RunStats], float | Mapping[Any, float]]  # keys: a label value or a tuple


RUN_COUNTERS: tuple[CounterSpec, ...] = (
    CounterSpec("capi_records_consumed", "Records polled from Kafka.", (), lambda s: s.consumed),
    CounterSpec("capi_records_decoded", "Records decoded from Avro.", (), lambda s: s.decoded),
    CounterSpec(
        "capi_records_settled", "Records settled, by outcome.", ("outcome",), lambda s: s.outcomes
    ),
    CounterSpec(
        "capi_records_dead_lettered",
        "Records written to the DLQ, by reason.",
        ("reason",),
        lambda s: s.dead_letter_reasons,
    ),
    CounterSpec(
        "capi_records_filtered",
        "Records that are not conversions, by rule.",
        ("reason",),
        lambda s: s.filtered_reasons,
    ),
    CounterSpec(
        "capi_events_sent", "Events Meta acknowledged.", ("pixel_id",), lambda s: s.sent_per_pixel
    ),
    CounterSpec(
        "capi_batches_sent", "Batches delivered.", ("pixel_id",), lambda s: s.batches_per_pixel
    ),
    CounterSpec(
        "capi_events_duplicate",
        "Events dropped by the dedup window.",
        ("pixel_id", "event_name"),
        lambda s: s.duplicates_per_event,
    ),
    CounterSpec("capi_requests", "Requests to Meta, by result.", ("result",), lambda s: s.requests),
    CounterSpec(
        "capi_request_errors",
        "Failed requests to Meta by kind (retry, throttle, invalid, auth) and Graph code.",
        ("kind", "code"),
        lambda s: s.request_errors,
    ),
    CounterSpec(
        "capi_retries", "Batch retries, by Graph code.", ("code",), lambda s: s.retries_by_code
    ),
    CounterSpec(
        "capi_user_data_dropped",
        "user_data values dropped because they could not be normalized, by field and reason.",
        ("field", "reason"),
        lambda s: s.user_data_dropped,
    ),
    CounterSpec(
        "capi_emq_events",
        "Events scored by the local Event Match Quality estimate.",
        ("pixel_id", "event_name"),
        lambda s: {key: emq.count for key, emq in s.emq.items()},
    ),
    CounterSpec(
        "capi_emq_score_sum",
        "Sum of EMQ estimates (0-10); divide by capi_emq_events_total for the mean.",
        ("pixel_id", "event_name"),
        lambda s: {key: emq.total for key, emq in s.emq.items()},
    ),
    CounterSpec(
        "capi_emq_weak_events",
        "Events whose EMQ estimate is below Meta's 6.0 target.",
        ("pixel_id", "event_name"),
        lambda s: {key: emq.weak for key, emq in s.emq.items()},
    ),
    CounterSpec(
        "capi_pixel_version_holds",
        "Holds started because Meta refused the pixel's Graph API version.",
        ("pixel_id",),
        lambda s: s.version_holds,
    ),
    CounterSpec(
        "capi_throttles",
        "Throttling answers from Meta, by Graph code/subcode.",
        ("code",),
        lambda s: s.throttles,
    ),
)


class PipelineView(Protocol):
    """What the state gauges read from the pipeline (loop-owned; read on the loop)."""

    @property
    def in_flight(self) -> int: ...
    @property
    def in_flight_bytes(self) -> int: ...
    @property
    def uncommitted(self) -> int: ...
    @property
    def paused(self) -> bool: ...
    @property
    def assigned(self) -> frozenset[TopicPartition]: ...


@dataclass(frozen=True, slots=True)
class GaugeSpec:
    name: str
    doc: str
    read: Callable[[PipelineView], float]


STATE_GAUGES: tuple[GaugeSpec, ...] = (
    GaugeSpec("capi_in_flight_events", "Records between poll and settle.", lambda p: p.in_flight),
    GaugeSpec(
        "capi_uncommitted_records",
        "Records past the committable positions, settled or not (what a restart reads again).",
        lambda p: p.uncommitted,
    ),
    GaugeSpec(
        "capi_in_flight_bytes", "Bytes between poll and settle.", lambda p: p.in_flight_bytes
    ),
    GaugeSpec("capi_paused", "1 while consumption is paused.", lambda p: float(p.paused)),
    GaugeSpec("capi_assigned_partitions", "Partitions assigned.", lambda p: len(p.assigned)),
)


def _labelled(value: float | Mapping[Any, float]) -> Iterator[tuple[list[str], float]]:
    if isinstance(value, int | float):
        yield [], value
        return
    for key, count in value.items():
        yield ([key] if isinstance(key, str) else list(key)), count


class RunStatsCollector(Collector):
    """Exports ``RunStats`` through ``RUN_COUNTERS`` on every scrape."""

    def __init__(self, stats: RunStats, specs: Sequence[CounterSpec] = RUN_COUNTERS) -> None:
        self._stats = stats
        self._specs = specs

    def collect(self) -> Iterable[Metric]:
        for spec in self._specs:
            family = CounterMetricFamily(spec.name, spec.doc, labels=spec.labels)
            for labels, count in _labelled(spec.read(self._stats)):
                family.add_metric(labels, count)
            yield family
        limits = GaugeMetricFamily(
            "capi_pixel_concurrency_limit",
            "Requests one pixel may have in flight now (adaptive, core/limits.py).",
            labels=("pixel_id",),
        )
        for pixel_id, allowed in sorted(self._stats.pixel_limits.items()):
            limits.add_metric([pixel_id], allowed)
        yield limits


class StateCollector(Collector):
    """Pipeline gauges, consumer lag and broker reachability, read on every scrape."""

    def __init__(self, view: PipelineView, kafka: KafkaStatus, ready: Callable[[], bool]) -> None:
        self._view = view
        self._kafka = kafka
        self._ready = ready

    def collect(self) -> Iterable[Metric]:
        for spec in STATE_GAUGES:
            yield GaugeMetricFamily(spec.name, spec.doc, value=spec.read(self._view))
        latest = self._kafka.latest
        lag = GaugeMetricFamily(
            "capi_consumer_lag",
            "Messages between the high watermark and the last settled offset (librdkafka).",
            labels=("topic", "partition"),
        )
        for (topic, partition), value in sorted(latest.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag
        yield GaugeMetricFamily("capi_kafka_brokers_up", "Brokers connected.", latest.brokers_up)
        yield GaugeMetricFamily("capi_ready", "1 while /readyz passes.", float(self._ready()))


class VersionCollector(Collector):
    """Per pixel: whether Meta refuses its API version now, and days until that version ends."""

    def __init__(
        self,
        versions: Mapping[str, str],
        held: Callable[[], Mapping[str, object]],
        today: Callable[[], date],
    ) -> None:
        self._versions = versions  # pixel -> configured api_version
        self._held = held
        self._today = today

    def collect(self) -> Iterable[Metric]:
        held = self._held()
        labels = ("pixel_id", "api_version")
        refused = GaugeMetricFamily(
            "capi_pixel_version_held",
            "1 while Meta refuses the pixel's Graph API version (its batches wait).",
            labels=labels,
        )
        days = GaugeMetricFamily(
            "capi_graph_version_days_left",
            "Days until Meta stops serving the pixel's Graph API version (known end dates only).",
            labels=labels,
        )
        today = self._today()
        for pixel_id, version in sorted(self._versions.items()):
            refused.add_metric([pixel_id, version], float(pixel_id in held))
            check = check_version(version, today)
            if check.days_left is not None:
                days.add_metric([pixel_id, version], check.days_left)
        yield refused
        yield days


class MetaEmqView(Protocol):
    """What the Meta EMQ gauges read (``consumer.emq_poller.MetaEmqBook``)."""

    @property
    def scores(self) -> Mapping[tuple[str, str], float]: ...
    @property
    def last_success(self) -> Mapping[str, float]: ...
    @property
    def failures(self) -> Mapping[str, int]: ...


class MetaEmqCollector(Collector):
    """Meta's own EMQ per pixel and event name (Dataset Quality API) and the poll's health."""

    def __init__(self, book: MetaEmqView, pixels: Sequence[str]) -> None:
        self._book = book
        self._pixels = pixels  # the polled pixels: their failure counters start at 0

    def collect(self) -> Iterable[Metric]:
        emq = GaugeMetricFamily(
            "capi_meta_emq",
            "Meta's Event Match Quality (0-10) from the Dataset Quality API; compare with "
            "capi_emq_score_sum_total / capi_emq_events_total, the local estimate.",
            labels=("pixel_id", "event_name"),
        )
        for (pixel_id, event_name), score in sorted(self._book.scores.items()):
            emq.add_metric([pixel_id, event_name], score)
        yield emq
        success = GaugeMetricFamily(
            "capi_meta_emq_last_success_timestamp_seconds",
            "When the Dataset Quality API last answered for the pixel (Unix seconds).",
            labels=("pixel_id",),
        )
        for pixel_id, at in sorted(self._book.last_success.items()):
            success.add_metric([pixel_id], at)
        yield success
        failures = CounterMetricFamily(
            "capi_meta_emq_poll_failures",
            "Failed Dataset Quality API polls (delivery is not affected).",
            labels=("pixel_id",),
        )
        for pixel_id in self._pixels:
            failures.add_metric([pixel_id], self._book.failures.get(pixel_id, 0))
        yield failures


class ReadinessCollector(Collector):
    """``capi_not_ready{reason}``: 1 for each readiness problem holding now, 0 for the others
    (every reason is always exported, so alerts and dashboards see the zeros), and how long no
    Kafka broker has answered."""

    def __init__(
        self, reasons: Callable[[], frozenset[str]], known: Sequence[str], kafka: KafkaStatus
    ) -> None:
        self._reasons = reasons
        self._known = known
        self._kafka = kafka

    def collect(self) -> Iterable[Metric]:
        failing = self._reasons()
        family = GaugeMetricFamily(
            "capi_not_ready", "1 while this readiness problem holds.", labels=("reason",)
        )
        for reason in self._known:
            family.add_metric([reason], float(reason in failing))
        yield family
        yield GaugeMetricFamily(
            "capi_kafka_silence_seconds",
            "Seconds since any Kafka broker (the group coordinator included) last answered.",
            self._kafka.silence_s(),
        )


_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class Metrics:
    """One registry per consumer (so tests can run several): collectors plus histograms."""

    def __init__(self, stats: RunStats) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RunStatsCollector(stats))
        self._send = Histogram(
            "capi_send_latency_seconds",
            "Time to deliver one batch, retries and bisection included.",
            ["pixel_id"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self._dedup = Histogram(
            "capi_dedup_latency_seconds",
            "Dedup store call latency, by operation.",
            ["operation"],
            registry=self.registry,
            buckets=_STORE_BUCKETS,
        )

    def watch(self, view: PipelineView, kafka: KafkaStatus, ready: Callable[[], bool]) -> None:
        """Export the pipeline's state gauges and Kafka's lag (once the pipeline exists)."""
        self.registry.register(StateCollector(view, kafka, ready))

    def watch_versions(
        self,
        versions: Mapping[str, str],
        held: Callable[[], Mapping[str, object]],
        today: Callable[[], date],
    ) -> None:
        """Export each pixel's API version standing (held now, days left)."""
        self.registry.register(VersionCollector(versions, held, today))

    def watch_meta_emq(self, book: MetaEmqView, pixels: Sequence[str]) -> None:
        """Export Meta's EMQ as polled from the Dataset Quality API."""
        self.registry.register(MetaEmqCollector(book, pixels))

    def watch_readiness(
        self, reasons: Callable[[], frozenset[str]], known: Sequence[str], kafka: KafkaStatus
    ) -> None:
        """Export ``capi_not_ready{reason}`` and ``capi_kafka_silence_seconds``."""
        self.registry.register(ReadinessCollector(reasons, known, kafka))

    def observe_batch(self, pixel_id: str, seconds: float) -> None:
        self._send.labels(pixel_id).observe(seconds)

    def observe_dedup(self, operation: str, seconds: float) -> None:
        self._dedup.labels(operation).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class TimedDedupStore:
    """A ``DedupStore`` that times every call into ``capi_dedup_latency_seconds``."""

    def __init__(
        self,
        inner: DedupStore,
        observe: Callable[[str, float], None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._inner = inner
        self._observe = observe
        self._clock = clock

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        return await self._timed("claim", self._inner.claim(claims))

    async def confirm(self, claims: Sequence[Claim]) -> None:
        await self._timed("confirm", self._inner.confirm(claims))

    async def release(self, claims: Sequence[Claim]) -> None:
        await self._timed("release", self._inner.release(claims))

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        started = self._clock()
        try:
            return await call
        finally:
            self._observe(operation, self._clock() - started)

    async def close(self) -> None:
        await self._inner.close()
