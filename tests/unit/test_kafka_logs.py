"""The librdkafka log adapter: one structlog event per line, levels kept, secrets blanked."""

# Asserts read ``expected == actual`` (STYLE.md), which is exactly what SIM300 forbids.

from __future__ import annotations

import logging
from typing import Any

import pytest
import structlog

from consumer.kafka_logs import EVENT, SUMMARY_EVENT, collected, with_structlog

_FORMAT = "%s [%s] %s"  # what confluent-kafka's log_cb passes to logger.log


def _emit(conf: dict[str, Any], level: int, facility: str, message: str) -> list[dict[str, Any]]:
    """Log one line the way confluent-kafka does and return the captured structlog events."""
    logger = with_structlog(conf)["logger"]
    with structlog.testing.capture_logs() as events:
        logger.log(level, _FORMAT, facility, "capi-consumer#consumer-1", message)
    return events


class TestWithStructlog:
    def test_one_event_per_line(self) -> None:
        """A librdkafka line becomes one event with its facility, client name and message."""
        events = _emit({}, logging.ERROR, "FAIL", "Connect to ipv4#127.0.0.1:9 failed")

        assert [
            {
                "event": EVENT,
                "log_level": "error",
                "facility": "FAIL",
                "client": "capi-consumer#consumer-1",
                "message": "Connect to ipv4#127.0.0.1:9 failed",
            }
        ] == events

    @pytest.mark.parametrize(
        ("level", "name"),
        [
            (logging.CRITICAL, "critical"),  # syslog emerg, alert, crit
            (logging.ERROR, "error"),  # err
            (logging.WARNING, "warning"),  # warning
            (logging.INFO, "info"),  # notice, info
            (logging.DEBUG, "debug"),  # debug
        ],
    )
    def test_levels_are_kept(self, level: int, name: str) -> None:
        """Each level confluent-kafka maps syslog levels to keeps its name."""
        assert [name] == [e["log_level"] for e in _emit({}, level, "X", "m")]

    def test_secret_values_are_blanked(self) -> None:
        """Values of password and secret keys never appear, even if librdkafka printed them."""
        conf = {"sasl.password": "hunter2-long", "sasl.oauthbearer.client.secret": "s3cr3t"}

        events = _emit(conf, logging.DEBUG, "CONF", "sasl.password = hunter2-long, s3cr3t")

        assert ["sasl.password = [redacted], [redacted]"] == [e["message"] for e in events]

    def test_adds_a_logger_to_a_copy(self) -> None:
        """The config gets a ``logging.Logger``; the caller's dict is left unchanged."""
        conf = {"bootstrap.servers": "127.0.0.1:9"}

        routed = with_structlog(conf)

        assert (True, {"bootstrap.servers": "127.0.0.1:9"}) == (
            isinstance(routed["logger"], logging.Logger),
            conf,
        )

    def test_a_given_logger_is_kept_and_conf_copied(self) -> None:
        """A ``logger`` the caller set wins; the caller's dict is left unchanged."""
        mine = logging.getLogger("mine")
        conf = {"bootstrap.servers": "127.0.0.1:9", "logger": mine}

        routed = with_structlog(conf)

        assert (mine, {"bootstrap.servers": "127.0.0.1:9", "logger": mine}) == (
            routed["logger"],
            conf,
        )

    def test_a_foreign_record_still_logs(self) -> None:
        """A call not in confluent-kafka's shape is logged whole rather than dropped."""
        logger = with_structlog({})["logger"]

        with structlog.testing.capture_logs() as events:
            logger.warning("plain %s", "text")

        assert [("warning", "", "plain text")] == [
            (e["log_level"], e["facility"], e["message"]) for e in events
        ]


class TestCollected:
    def test_lines_become_one_summary(self) -> None:
        """Inside ``collected`` no line is logged; one warning counts them and names the first problem."""
        logger = with_structlog({})["logger"]
        with structlog.testing.capture_logs() as events, collected():
            logger.log(logging.INFO, _FORMAT, "INIT", "c#admin-1", "starting")
            for _ in range(195):
                logger.log(logging.ERROR, _FORMAT, "FAIL", "c#admin-1", "Connection refused")

        assert [
            {
                "event": SUMMARY_EVENT,
                "log_level": "warning",
                "lines": 196,
                "problems": 195,
                "first": "FAIL: Connection refused",
            }
        ] == events

    def test_no_summary_without_problems(self) -> None:
        """Info and debug lines alone leave no trace; after the block lines are logged again."""
        logger = with_structlog({})["logger"]
        with structlog.testing.capture_logs() as events:
            with collected():
                logger.log(logging.INFO, _FORMAT, "INIT", "c#admin-1", "starting")
            logger.log(logging.WARNING, _FORMAT, "X", "c#admin-1", "after")

        assert [EVENT] == [event["event"] for event in events]


class TestRateLimit:
    def test_a_repeated_problem_is_rate_limited_per_facility(self) -> None:
        """A broker that stays down: 3 FAIL lines a minute, then one with ``suppressed``."""
        logger = with_structlog({})["logger"]
        with structlog.testing.capture_logs() as events:
            for _ in range(50):
                logger.log(logging.ERROR, _FORMAT, "FAIL", "c#consumer-1", "Connect failed")
            logger.log(logging.WARNING, _FORMAT, "REQTMOUT", "c#consumer-1", "Timed out")

        assert ["FAIL", "FAIL", "FAIL", "REQTMOUT"] == [e["facility"] for e in events]

    def test_debug_lines_are_never_limited(self) -> None:
        """Lines asked for with ``debug=...`` all go out."""
        logger = with_structlog({})["logger"]
        with structlog.testing.capture_logs() as events:
            for _ in range(50):
                logger.log(logging.DEBUG, _FORMAT, "FETCH", "c#consumer-1", "Fetch")

        assert 50 == len(events)
