"""The warning rate limit, the retry causes and the log field cap (pure)."""

from __future__ import annotations

import pytest
import structlog

from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.core.log_limit import LogLimiter
from consumer.fault_log import FaultLog, retry_cause
from consumer.logs import MAX_FIELD_CHARS, cap_fields


class TestLogLimiter:
    def test_a_storm_emits_the_first_lines_then_counts(self) -> None:
        """Three lines per window; the rest of the window is held back."""
        limiter = LogLimiter(per_window=3, window_s=60.0)
        admitted = [limiter.admit("k", 10.0 + i * 0.001) for i in range(1000)]

        assert [0, 0, 0] == [a for a in admitted if a is not None]
        assert {"k": 997} == limiter.pending()

    def test_the_next_line_carries_the_suppressed_count(self) -> None:
        """After the window, the first line reports how many were held back."""
        limiter = LogLimiter(per_window=1, window_s=60.0)
        for i in range(5):
            limiter.admit("k", float(i))

        assert 4 == limiter.admit("k", 61.0)
        assert {} == limiter.pending()

    def test_keys_are_limited_separately(self) -> None:
        """Another pixel's fault is another key."""
        limiter = LogLimiter(per_window=1, window_s=60.0)
        limiter.admit("a", 0.0)

        assert (None, 0) == (limiter.admit("a", 1.0), limiter.admit("b", 1.0))

    def test_idle_keys_are_forgotten(self) -> None:
        """Keys idle for two windows with nothing pending leave the table."""
        limiter = LogLimiter(per_window=1, window_s=60.0)
        for key in range(100):
            limiter.admit(key, 0.0)
        limiter.admit("new", 200.0)

        assert ["new"] == list(limiter._windows)

    def test_bad_parameters_are_refused(self) -> None:
        """A zero rate would hide every fault."""
        with pytest.raises(ValueError, match="per_window"):
            LogLimiter(per_window=0)


class TestFaultLog:
    def test_ten_thousand_occurrences_make_a_bounded_number_of_lines(self) -> None:
        """10,000 warnings of one key in a minute: 3 lines, and a flush summarizes the rest."""
        now = [0.0]
        faults = FaultLog(per_window=3, window_s=60.0, clock=lambda: now[0])
        with structlog.testing.capture_logs() as logs:
            for i in range(10_000):
                now[0] = i * 0.005
                faults.warn("capi.retrying", ("1", "5xx"), pixel_id="1", cause="5xx")
            faults.flush()

        assert ["capi.retrying"] * 3 + ["warnings.suppressed"] == [e["event"] for e in logs]
        assert {"capi.retrying": 9997} == logs[-1]["events"]


class TestRetryCause:
    @pytest.mark.parametrize(
        ("verdict", "cause"),
        [
            (GraphVerdict(Kind.RETRY, status=503, code=2), "5xx"),
            (GraphVerdict(Kind.RETRY, status=502, message="server error"), "5xx"),
            (GraphVerdict(Kind.RETRY, message="timeout"), "timeout"),
            (GraphVerdict(Kind.RETRY, message="ClientConnectorError"), "connection"),
            (GraphVerdict(Kind.THROTTLE, status=400, code=17), "throttle"),
            (GraphVerdict(Kind.RETRY, status=400, code=1), "transient"),
        ],
    )
    def test_each_retry_has_one_cause(self, verdict: GraphVerdict, cause: str) -> None:
        """Causes come from a closed vocabulary, by status and transport error."""
        assert cause == retry_cause(verdict)


class TestCapFields:
    def test_long_strings_are_cut_with_the_size_dropped(self) -> None:
        """A 27 KB string becomes the limit plus a note of what was cut."""
        event = cap_fields(None, "warning", {"event": "x", "error": "s" * 27_000})

        assert event["error"].startswith("s" * MAX_FIELD_CHARS)
        assert event["error"].endswith(f"[{27_000 - MAX_FIELD_CHARS} more]")

    def test_containers_are_shortened(self) -> None:
        """Lists keep their first items and say how many more there were."""
        event = cap_fields(None, "info", {"event": "x", "partitions": list(range(500))})

        assert 51 == len(event["partitions"])
        assert "...[450 more]" == event["partitions"][-1]

    def test_small_fields_are_untouched(self) -> None:
        """Ids, counts and short texts pass as they are."""
        fields = {"event": "batch.delivered", "pixel_id": "1", "events": 3, "ids": ["a", "b"]}

        assert fields == cap_fields(None, "info", dict(fields))
