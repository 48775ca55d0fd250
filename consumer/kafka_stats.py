"""What librdkafka says about the cluster: consumer lag, broker contact and group membership.

"Connected" is not "answering": a hung broker (SIGSTOPped, a stalled disk) keeps its TCP
connection, so librdkafka reports it ``UP`` until a request times out. What tells the truth is
``rxidle``, the time since the client last received anything from a broker: a live broker
answers fetches (every ``fetch.wait.max.ms``) and the group coordinator answers heartbeats
(every ``heartbeat.interval.ms``), so the smallest ``rxidle`` stays under a few seconds.
The group's own state (``cgrp.state``, ``up`` when a coordinator is known) and the rebalance
hooks (assigned, revoked, lost) are recorded here too, for ``/readyz``.

librdkafka calls ``stats_cb`` (every ``statistics.interval.ms``) and ``error_cb`` on the
consumer's own thread, inside ``poll``. Both callbacks only parse and store here; readers (the
``/metrics`` collector and ``/readyz``, on the event loop) take the latest snapshot.

Why a lock-guarded snapshot rather than ``bridge.Bridge.from_thread``: the numbers are
last-value-wins gauges that nothing on the loop has to react to, so waking the loop for every
statistics tick would buy nothing, and blocking the consumer thread on the loop (which is what
``from_thread`` does) inside ``poll`` would delay heartbeats whenever the loop is busy. No
coroutine crosses threads here; ``bridge.py`` stays the only place threads meet the loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from consumer.core.models import TopicPartition
from consumer.fault_log import faults

__all__ = ["KafkaStatistics", "KafkaStatus", "parse_statistics"]

log = structlog.get_logger("consumer.kafka")
_BROKER_UP = "UP"
_ALL_BROKERS_DOWN = "_ALL_BROKERS_DOWN"
_TRANSPORT = "_TRANSPORT"
_LOGICAL = "logical"  # librdkafka's GroupCoordinator pseudo-broker
_GROUP_UP = "up"
_US = 1_000_000.0  # librdkafka's idle times are in microseconds


@dataclass(frozen=True, slots=True)
class KafkaStatistics:
    """One statistics tick, reduced to what operators watch."""

    lag: Mapping[TopicPartition, int] = field(default_factory=dict)
    brokers: int = 0
    brokers_up: int = 0
    # Seconds since the client last heard from any connected broker (the coordinator included);
    # None when no connected broker has answered yet.
    answered_ago_s: float | None = None
    group_state: str = _GROUP_UP  # librdkafka's cgrp.state ("up", "wait-coord", ...)
    group_state_age_s: float = 0.0


def parse_statistics(raw: str | bytes) -> KafkaStatistics:
    """Lag of each partition (unknown lag is left out) and broker states."""
    data: dict[str, Any] = orjson.loads(raw)
    lag: dict[TopicPartition, int] = {}
    for topic, info in (data.get("topics") or {}).items():
        for partition, stats in (info.get("partitions") or {}).items():
            value = _lag(stats)
            if int(partition) >= 0 and value >= 0:
                lag[(topic, int(partition))] = value
    brokers = [b for b in (data.get("brokers") or {}).values() if b.get("source") != _LOGICAL]
    up = sum(1 for broker in brokers if broker.get("state") == _BROKER_UP)
    idle = [
        int(b.get("rxidle", -1))
        for b in (data.get("brokers") or {}).values()
        if b.get("state") == _BROKER_UP and int(b.get("rxidle", -1)) >= 0
    ]
    group = data.get("cgrp") or {}
    return KafkaStatistics(
        lag=lag,
        brokers=len(brokers),
        brokers_up=up,
        answered_ago_s=min(idle) / _US if idle else None,
        group_state=str(group.get("state", _GROUP_UP)),
        group_state_age_s=int(group.get("stateage", 0)) / 1000.0,
    )


def _lag(partition: dict[str, Any]) -> int:
    """Behind the high watermark: from the stored offset (the pipeline stores only settled
    offsets, so this is unsettled work), else from the committed one; -1 while unknown."""
    stored = int(partition.get("consumer_lag_stored", -1))
    return stored if stored >= 0 else int(partition.get("consumer_lag", -1))


class KafkaStatus:
    """Thread-safe holder of the latest statistics and broker-contact facts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._latest = KafkaStatistics()
        self._latest_at: float | None = None
        self._all_down_at: float | None = None
        self._started_at = clock()  # silence counts from the start until a broker answers
        self._answered_at: float | None = None
        self._assigned = 0
        self._generation = 0  # assignments received (empty ones too)
        self._lost_at: float | None = None

    def on_statistics(self, raw: str) -> None:
        """``stats_cb``: parse and store (consumer thread; keep it short)."""
        parsed = parse_statistics(raw)
        now = self._clock()
        with self._lock:
            self._latest, self._latest_at = parsed, now
            if parsed.brokers_up:
                self._all_down_at = None
            if parsed.answered_ago_s is not None:
                answered = now - parsed.answered_ago_s
                self._answered_at = max(answered, self._answered_at or answered)

    def on_error(self, error: Any) -> None:
        """``error_cb``: log it; remember when every broker went away (consumer thread)."""
        # One connection failing is retried by librdkafka and repeats every reconnect: debug.
        if error.name() == _TRANSPORT:
            log.debug("kafka.error", code=error.name(), error=error.str())
        else:
            faults.warn("kafka.error", error.name(), code=error.name(), error=error.str())
        if error.name() == _ALL_BROKERS_DOWN:
            with self._lock:
                self._all_down_at = self._clock()

    def on_assigned(self, partitions: int) -> None:
        """Rebalance hook (consumer thread): an assignment arrived, possibly empty (added to
        what is held: an eager rebalance revoked everything first, a cooperative one did not)."""
        with self._lock:
            self._assigned, self._lost_at = self._assigned + partitions, None
            self._generation += 1

    def on_revoked(self, partitions: int, *, lost: bool = False) -> None:
        """Rebalance hook (consumer thread): partitions revoked, or lost with the group session."""
        with self._lock:
            self._assigned = max(0, self._assigned - partitions)
            if lost:
                self._lost_at = self._clock()

    @property
    def assignment(self) -> tuple[int, int]:
        """(partitions assigned now, assignments received so far)."""
        with self._lock:
            return self._assigned, self._generation

    @property
    def lost_for_s(self) -> float | None:
        """Seconds since the group session was lost (partitions taken away), until the next
        assignment; None while the membership holds."""
        with self._lock:
            return None if self._lost_at is None else self._clock() - self._lost_at

    def silence_s(self) -> float:
        """Seconds since any broker last answered (since start when none has yet)."""
        with self._lock:
            since = self._started_at if self._answered_at is None else self._answered_at
            return self._clock() - since

    @property
    def latest(self) -> KafkaStatistics:
        with self._lock:
            return self._latest

    @property
    def broker_reachable(self) -> bool:
        """True when the latest statistics show a broker up and no "all brokers down" since."""
        with self._lock:
            return self._latest_at is not None and (
                self._latest.brokers_up > 0 and self._all_down_at is None
            )
