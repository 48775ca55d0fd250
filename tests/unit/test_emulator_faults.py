"""The CAPI emulator's fault specs and bookkeeping (pure, no server)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from consumer.devstack.emulator_faults import FaultBook, fault_error, parse_fault


class TestParseFault:
    @pytest.mark.parametrize(
        ("spec", "match"),
        [
            pytest.param({"kind": "explode"}, "kind must be one of", id="unknown-kind"),
            pytest.param({"kind": "latency"}, "ms must be an integer", id="latency-no-ms"),
            pytest.param({"kind": "latency", "ms": -1}, "ms must be >= 0", id="latency-negative"),
            pytest.param({"kind": "http_5xx", "status": 404}, "500-599", id="status-not-5xx"),
            pytest.param({"kind": "throttle", "code": 190}, "throttle code", id="throttle-190"),
            pytest.param({"kind": "drop", "count": 0}, "count must be", id="count-zero"),
            pytest.param({"kind": "drop", "count": -2}, "count must be", id="count-minus-2"),
            pytest.param({"kind": "drop", "ms": 5}, "unknown parameter 'ms'", id="stray-param"),
            pytest.param({"kind": "reject_event"}, "event_ids", id="reject_event-no-ids"),
            pytest.param(
                {"kind": "reject_event", "event_ids": []}, "event_ids", id="reject_event-empty"
            ),
            pytest.param({"kind": "drop", "pixel_id": ""}, "pixel_id", id="empty-pixel"),
            pytest.param(
                {"kind": "latency_dist", "p50_ms": 300, "p99_ms": 100}, "p50_ms", id="p99-below-p50"
            ),
            pytest.param({"kind": "latency_dist", "p50_ms": 300}, "p99_ms", id="no-p99"),
        ],
    )
    def test_rejects_bad_specs(self, spec: dict[str, Any], match: str) -> None:
        """A malformed fault spec raises ValueError naming the problem."""
        with pytest.raises(ValueError, match=match):
            parse_fault(spec)

    @pytest.mark.parametrize(
        ("code", "subcode"),
        [
            pytest.param(4, None, id="4"),
            pytest.param(17, 2446079, id="17"),
            pytest.param(32, None, id="32"),
            pytest.param(613, 1487742, id="613"),
            pytest.param(80004, 2446079, id="80004"),
        ],
    )
    def test_throttle_is_transient_400(self, code: int, subcode: int | None) -> None:
        """Throttle faults answer HTTP 400 with the code, its usual subcode and is_transient."""
        error = fault_error(parse_fault({"kind": "throttle", "code": code}))

        expected = (400, code, subcode, True, "OAuthException")
        assert expected == (
            error.status,
            error.code,
            error.subcode,
            error.is_transient,
            error.error_type,
        )

    def test_explicit_null_subcode_wins(self) -> None:
        """A throttle with ``subcode: null`` carries no subcode (613 abuse throttle)."""
        error = fault_error(parse_fault({"kind": "throttle", "code": 613, "subcode": None}))

        assert error.subcode is None


class TestFaultBook:
    def test_count_limits_affected_requests(self) -> None:
        """A fault with count 2 answers two requests and then disappears."""
        book = FaultBook()
        book.add(parse_fault({"kind": "http_5xx", "count": 2}))

        kinds = [getattr(book.take_answer("1", set()), "kind", None) for _ in range(3)]

        expected = ["http_5xx", "http_5xx", None]
        assert expected == kinds

    def test_minus_one_lasts_until_cleared(self) -> None:
        """A fault with count -1 keeps answering until cleared."""
        book = FaultBook()
        book.add(parse_fault({"kind": "auth", "count": -1}))
        answered = [book.take_answer("1", set()) is not None for _ in range(5)]

        book.clear()

        expected = [True] * 5
        assert expected == answered
        assert book.take_answer("1", set()) is None

    def test_pixel_scoping(self) -> None:
        """A fault for one pixel leaves other pixels alone; '*' hits every pixel."""
        book = FaultBook()
        book.add(parse_fault({"kind": "drop", "pixel_id": "A"}))
        book.add(parse_fault({"kind": "reject", "pixel_id": "*"}))

        kinds = [getattr(book.take_answer(p, set()), "kind", None) for p in ("B", "A", "A")]

        expected = ["reject", "drop", None]
        assert expected == kinds

    def test_reject_event_counts_only_matching_batches(self) -> None:
        """A reject_event fault ignores batches without its ids and is used up by one with them."""
        book = FaultBook()
        book.add(parse_fault({"kind": "reject_event", "event_ids": ["bad"]}))

        outcomes = [
            book.take_answer("1", {"ok-1"}) is None,
            book.take_answer("1", {"ok-2", "bad"}) is not None,
            book.take_answer("1", {"bad"}) is None,
        ]

        expected = [True, True, True]
        assert expected == outcomes

    def test_delays_are_taken_separately(self) -> None:
        """Latency faults are consumed by take_delays, not by take_answer."""
        book = FaultBook()
        book.add(parse_fault({"kind": "latency", "ms": 5}))

        assert book.take_answer("1", set()) is None
        expected = ["latency"]
        assert expected == [fault.kind for fault in book.take_delays("1")]
        assert not book.active()

    def test_clear_one_pixel(self) -> None:
        """Clearing one pixel's faults keeps the others."""
        book = FaultBook()
        book.add(parse_fault({"kind": "drop", "pixel_id": "A"}))
        book.add(parse_fault({"kind": "drop", "pixel_id": "B"}))

        book.clear("A")

        expected = ["B"]
        assert expected == [fault.pixel_id for fault in book.active()]


class TestLatencyDistribution:
    def test_draws_match_the_percentiles(self) -> None:
        """A latency_dist fault's delays have the asked median and 99th percentile (within 10%)."""
        fault = parse_fault({"kind": "latency_dist", "p50_ms": 300, "p99_ms": 1500, "count": -1})
        rng = random.Random(7)

        delays = sorted(fault.delay_s(rng) for _ in range(20_000))

        p50, p99 = delays[10_000], delays[19_800]
        assert (True, True) == (abs(p50 - 0.3) < 0.03, abs(p99 - 1.5) < 0.15)
