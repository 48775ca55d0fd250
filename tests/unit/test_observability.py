"""Pure observability logic: librdkafka statistics, the metric tables and the probe rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from consumer.core.models import Outcome, TopicPartition
from consumer.health import READINESS_REASONS, Problem, liveness, readiness
from consumer.kafka_stats import KafkaStatus, parse_statistics
from consumer.metrics import RUN_COUNTERS, Metrics, RunStatsCollector
from consumer.settings import ObservabilitySettings
from consumer.stats import RunStats

STATISTICS = {
    "brokers": {
        "127.0.0.1:9092/1": {"source": "learned", "state": "UP", "nodeid": 1},
        "127.0.0.1:9092/bootstrap": {"source": "configured", "state": "DOWN", "nodeid": -1},
        "GroupCoordinator": {"source": "logical", "state": "UP", "nodeid": 1},
    },
    "topics": {
        "orders": {
            "partitions": {
                "0": {"consumer_lag": 9, "consumer_lag_stored": 7},
                "2": {"consumer_lag": 4, "consumer_lag_stored": -1},
                "1": {"consumer_lag": -1},
                "-1": {"consumer_lag": 0},
            }
        }
    },
}


BOUNDS = ObservabilitySettings(stuck_after_s=30.0, broker_silent_after_s=15.0)


def with_idle(rxidle_us: int, cgrp: dict[str, object] | None = None) -> dict[str, object]:
    """STATISTICS with the learned broker's rxidle (microseconds) and an optional cgrp."""
    brokers = {
        "127.0.0.1:9092/1": {"source": "learned", "state": "UP", "rxidle": rxidle_us},
        "GroupCoordinator": {"source": "logical", "state": "APIVERSION_QUERY", "rxidle": -1},
    }
    return {**STATISTICS, "brokers": brokers} | ({"cgrp": cgrp} if cgrp else {})


@dataclass
class FakeClock:
    """A monotonic clock the test moves."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Loop:
    """A stand-in for the pipeline's loop state."""

    heartbeat_at: float = 100.0
    assignment_received: bool = True
    waiting_on: frozenset[str] = field(default_factory=frozenset)
    in_flight: int = 3
    in_flight_bytes: int = 300
    uncommitted: int = 40
    paused: bool = True
    assigned: frozenset[TopicPartition] = frozenset({("orders", 0)})


class FakeError:
    """The two methods of confluent_kafka.KafkaError that KafkaStatus reads."""

    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return self._name.lower()


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``registry`` as {(name, sorted labels): value}."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def up_status() -> KafkaStatus:
    """A KafkaStatus that has seen one statistics tick with a broker up."""
    status = KafkaStatus()
    status.on_statistics(json.dumps(STATISTICS))
    return status


class TestParseStatistics:
    def test_lag_of_real_partitions_with_known_lag(self) -> None:
        """Lag from the stored offset, else the committed one; unknown (-1) and partition -1 are out."""
        assert {("orders", 0): 7, ("orders", 2): 4} == dict(
            parse_statistics(json.dumps(STATISTICS)).lag
        )

    def test_logical_brokers_are_not_counted(self) -> None:
        """The GroupCoordinator pseudo-broker is not a broker."""
        parsed = parse_statistics(json.dumps(STATISTICS))

        assert (2, 1) == (parsed.brokers, parsed.brokers_up)


class TestKafkaStatusContact:
    def test_rxidle_and_group_state_are_parsed(self) -> None:
        """The smallest rxidle of connected brokers, in seconds, and cgrp's state and age."""
        parsed = parse_statistics(
            json.dumps(with_idle(2_500_000, cgrp={"state": "wait-coord", "stateage": 3000}))
        )

        assert (2.5, "wait-coord", 3.0) == (
            parsed.answered_ago_s,
            parsed.group_state,
            parsed.group_state_age_s,
        )

    def test_silence_grows_while_nothing_is_received(self) -> None:
        """Silence is the time since the last answer, measured from the statistics tick."""
        clock = FakeClock()
        status = KafkaStatus(clock)
        status.on_statistics(json.dumps(with_idle(rxidle_us=1_000_000)))
        clock.now += 9.0

        assert 10.0 == status.silence_s()


class TestKafkaStatus:
    def test_unreachable_before_any_statistics(self) -> None:
        """No statistics yet means no evidence of a broker."""
        assert False is KafkaStatus().broker_reachable

    def test_all_brokers_down_error_wins_until_a_broker_is_up_again(self) -> None:
        """_ALL_BROKERS_DOWN flips reachability off; the next tick with a broker up restores it."""
        status = up_status()
        status.on_error(FakeError("_ALL_BROKERS_DOWN"))
        down = status.broker_reachable
        status.on_statistics(json.dumps(STATISTICS))

        assert (False, True) == (down, status.broker_reachable)

    def test_other_errors_do_not_change_reachability(self) -> None:
        """A transport error on one connection is not an outage."""
        status = up_status()
        status.on_error(FakeError("_TRANSPORT"))

        assert True is status.broker_reachable


class TestRunStatsCollector:
    def test_every_counter_is_exported_with_its_labels(self) -> None:
        """Counts, outcomes, reasons and per-pixel figures reach the exposition unchanged."""
        stats = RunStats(consumed=5, decoded=4)
        stats.outcome(Outcome.SENT, 3)
        stats.dead_letter_reasons["decode.unknown_magic"] += 1
        stats.sent_per_pixel["1"] += 3
        stats.duplicates_per_event[("1", "Purchase")] += 1
        stats.request_errors[("throttle", "80004")] += 2
        registry = CollectorRegistry()
        registry.register(RunStatsCollector(stats))
        found = samples(registry)

        assert 5 == found[("capi_records_consumed_total", ())]
        assert 4 == found[("capi_records_decoded_total", ())]
        assert 3 == found[("capi_records_settled_total", (("outcome", "sent"),))]
        assert (
            1 == found[("capi_records_dead_lettered_total", (("reason", "decode.unknown_magic"),))]
        )
        assert 3 == found[("capi_events_sent_total", (("pixel_id", "1"),))]
        assert (
            1
            == found[
                ("capi_events_duplicate_total", (("event_name", "Purchase"), ("pixel_id", "1")))
            ]
        )
        assert 2 == found[("capi_request_errors_total", (("code", "80004"), ("kind", "throttle")))]

    def test_pixel_concurrency_limit_is_a_gauge(self) -> None:
        """Each pixel's adaptive limit is exported as a gauge labelled by pixel."""
        stats = RunStats()
        stats.pixel_limits["1"] = 12
        found = samples(Metrics(stats).registry)

        assert 12 == found[("capi_pixel_concurrency_limit", (("pixel_id", "1"),))]

    def test_names_are_unique(self) -> None:
        """Every name is defined once."""
        names = [spec.name for spec in RUN_COUNTERS]

        assert sorted(set(names)) == sorted(names)


class TestStateGauges:
    def test_pipeline_state_lag_and_readiness_are_exported(self) -> None:
        """In-flight, paused, assignment, per-partition lag and the ready flag are gauges."""
        metrics = Metrics(RunStats())
        metrics.watch(Loop(), up_status(), lambda: True)
        metrics.observe_batch("1", 0.2)
        found = samples(metrics.registry)

        assert 3 == found[("capi_in_flight_events", ())]
        assert 300 == found[("capi_in_flight_bytes", ())]
        assert 40 == found[("capi_uncommitted_records", ())]
        assert 1 == found[("capi_paused", ())]
        assert 7 == found[("capi_consumer_lag", (("partition", "0"), ("topic", "orders")))]
        assert 1 == found[("capi_ready", ())]
        assert 1 == found[("capi_send_latency_seconds_count", (("pixel_id", "1"),))]


class TestProbeRules:
    def test_live_while_the_loop_beats(self) -> None:
        """A heartbeat inside the timeout is live."""
        assert True is liveness(Loop(heartbeat_at=100.0), 150.0, 60.0).ok

    def test_not_live_once_the_loop_is_silent(self) -> None:
        """A heartbeat older than the timeout fails, with the age in the reason."""
        assert (Problem("stuck", "loop silent for 61s"),) == liveness(
            Loop(heartbeat_at=100.0), 161.0, 60.0
        ).problems

    def test_ready_when_everything_holds(self) -> None:
        """Assigned, broker answering, no dependency awaited, loop moving: ready."""
        assert () == readiness(Loop(), up_status(), 101.0, BOUNDS).problems

    @pytest.mark.parametrize(
        ("loop", "status", "reason", "text"),
        [
            (Loop(assignment_received=False), up_status, "no_assignment", "no assignment"),
            (Loop(), KafkaStatus, "broker", "no Kafka broker connected"),
            (Loop(waiting_on=frozenset({"dedup"})), up_status, "dedup", "dedup store"),
            (Loop(waiting_on=frozenset({"registry"})), up_status, "registry", "registry"),
            (Loop(heartbeat_at=0.0), up_status, "stuck", "loop silent for 101s"),
        ],
    )
    def test_each_rule_can_fail_readiness(
        self, loop: Loop, status: Callable[[], KafkaStatus], reason: str, text: str
    ) -> None:
        """Each readiness input on its own makes the pod unready, and says why."""
        problems = readiness(loop, status(), 101.0, BOUNDS).problems

        assert [reason] == [problem.reason for problem in problems]
        assert text in str(problems[0])

    def test_a_connected_broker_that_stopped_answering_fails(self) -> None:
        """Hung (UP, but nothing received for longer than the bound): unready, with the age."""
        clock = FakeClock()
        status = KafkaStatus(clock)
        status.on_statistics(json.dumps(with_idle(rxidle_us=500_000)))
        clock.now += 20.0
        status.on_statistics(json.dumps(with_idle(rxidle_us=20_000_000)))
        problems = readiness(Loop(), status, 101.0, BOUNDS).problems

        assert ["broker"] == [problem.reason for problem in problems]
        assert "no Kafka broker answered for 20s" in problems[0].text

    def test_a_lost_group_session_fails_until_the_next_assignment(self) -> None:
        """Partitions lost with the session: unready; any assignment (even empty) ends it."""
        status = up_status()
        status.on_assigned(2)
        status.on_revoked(2, lost=True)
        lost = readiness(Loop(), status, 101.0, BOUNDS).reasons
        status.on_assigned(0)

        assert (frozenset({"group"}), frozenset()) == (
            lost,
            readiness(Loop(), status, 101.0, BOUNDS).reasons,
        )

    def test_no_group_coordinator_for_longer_than_the_bound_fails(self) -> None:
        """cgrp.state other than up for longer than the bound: unready."""
        status = KafkaStatus()
        status.on_statistics(
            json.dumps(with_idle(rxidle_us=100, cgrp={"state": "wait-coord", "stateage": 16000}))
        )

        assert frozenset({"group"}) == readiness(Loop(), status, 101.0, BOUNDS).reasons

    def test_extra_problems_are_reported(self) -> None:
        """A problem found elsewhere (a stale assignment) fails readiness too."""
        extra = (Problem("no_partitions", "no partitions"),)

        assert (
            frozenset({"no_partitions"})
            == readiness(Loop(), up_status(), 101.0, BOUNDS, extra).reasons
        )


class TestReadinessGauge:
    def test_every_reason_is_exported_with_the_failing_ones_at_one(self) -> None:
        """capi_not_ready has one series per reason; the failing ones are 1."""
        metrics = Metrics(RunStats())
        metrics.watch_readiness(lambda: frozenset({"broker"}), READINESS_REASONS, up_status())
        found = samples(metrics.registry)
        values = {
            dict(labels)["reason"]: value
            for (name, labels), value in found.items()
            if name == "capi_not_ready"
        }

        assert dict.fromkeys(READINESS_REASONS, 0.0) | {"broker": 1.0} == values
        assert found[("capi_kafka_silence_seconds", ())] >= 0


class TestBoundsSettings:
    def test_a_silence_bound_within_two_statistics_ticks_is_refused(self) -> None:
        """Silence is measured per statistics tick: a shorter bound would flap on a healthy broker."""
        with pytest.raises(ValueError, match="broker_silent_after_s"):
            ObservabilitySettings(kafka_statistics_interval_s=5.0, broker_silent_after_s=10.0)
