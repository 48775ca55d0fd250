"""librdkafka's own log lines as structlog events, for every Kafka client the consumer creates.

Left alone, librdkafka prints lines like ``%3|1700000000.123|FAIL|rdkafka#producer-1| ...``
straight to file descriptor 2, outside the JSON log stream. Given a ``logger`` in the client's
config, confluent-kafka queues each line instead (it sets ``log.queue=true``) and calls
``logger.log(level, "%s [%s] %s", facility, client_name, message)`` on the thread that serves the
client's queue, with the syslog level already mapped to a ``logging`` level (emerg, alert and
crit: CRITICAL; err: ERROR; warning: WARNING; notice and info: INFO; debug: DEBUG).

:func:`with_structlog` adds such a logger to a client config. Each line becomes one
``librdkafka.log`` event with ``level``, ``facility``, ``client`` (librdkafka's handle name,
``client.id#type-N``) and ``message``. Lines at warning level and above are faults: a broker that
is down makes librdkafka repeat its ``FAIL`` line on every reconnect, so they go through the fault
log's rate limit per facility and client (``suppressed`` counts what was held back); info and
debug lines (``debug=...``, asked for) all go out. Secrets: librdkafka prints sensitive properties as
``[redacted]`` in its ``debug=conf`` dump and never logs SASL passwords otherwise (checked with
``debug=all``); the adapter blanks the config's secret values in every line all the same.

Queued lines are delivered only when the client is served, so each client is served as follows:
the source and DLQ-reader consumers poll all the time; the DLQ and replay producers flush on every
write (lines logged between two writes wait for the next one, or for ``close``); the admin
helpers in :mod:`consumer.topics` poll once after each call.

A command-line tool has no use for a stream of connection retries before its one-line error:
inside :func:`collected` (the ``dlq`` commands) the lines are counted instead, and one
``librdkafka.summary`` warning names how many there were and the first problem, if any was at
warning level or above.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog

from consumer.credentials import is_secret_key
from consumer.fault_log import faults

__all__ = ["EVENT", "SUMMARY_EVENT", "collected", "with_structlog"]

EVENT = "librdkafka.log"
SUMMARY_EVENT = "librdkafka.summary"
_MAX_MESSAGE = 300  # characters of the first problem kept for the summary line
_REDACTED = "[redacted]"
_LEVELS = frozenset({logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL})

log = structlog.get_logger("consumer.librdkafka")


class _Tally:
    """librdkafka lines seen while collecting: counts by level and the first problem."""

    def __init__(self) -> None:
        self.levels: Counter[int] = Counter()
        self.first_problem: str | None = None

    def add(self, level: int, facility: str, message: str) -> None:
        self.levels[level] += 1
        if level >= logging.WARNING and self.first_problem is None:
            self.first_problem = f"{facility}: {message}"[:_MAX_MESSAGE]

    def summarize(self) -> None:
        problems = sum(n for level, n in self.levels.items() if level >= logging.WARNING)
        if problems:
            log.warning(
                SUMMARY_EVENT,
                lines=sum(self.levels.values()),
                problems=problems,
                first=self.first_problem,
            )


_tally: _Tally | None = None  # set while a command collects (one command per process)


@contextmanager
def collected() -> Iterator[None]:
    """Count librdkafka's lines instead of logging each; log one summary line at the end."""
    global _tally  # the handler runs on librdkafka's callbacks: no other way in
    _tally = tally = _Tally()
    try:
        yield
    finally:
        _tally = None
        tally.summarize()


def with_structlog(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``conf`` whose client logs through structlog (a ``logger`` already set is kept)."""
    routed = dict(conf)
    routed.setdefault("logger", _client_logger(_secrets(conf)))
    return routed


def _secrets(conf: Mapping[str, Any]) -> tuple[str, ...]:
    """The config's secret string values, longest first (so no secret is half-replaced)."""
    values = {
        value
        for key, value in conf.items()
        if isinstance(value, str) and value and is_secret_key(key)
    }
    return tuple(sorted(values, key=len, reverse=True))


def _client_logger(secrets: tuple[str, ...]) -> logging.Logger:
    """A stand-alone ``logging.Logger`` (outside the logging tree) that feeds structlog."""
    logger = logging.Logger("librdkafka", logging.DEBUG)
    logger.propagate = False
    logger.addHandler(_StructlogHandler(secrets))
    return logger


class _StructlogHandler(logging.Handler):
    """Turns one librdkafka log record into one structlog event, secrets blanked."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(logging.DEBUG)
        self._secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        facility, client, message = _fields(record)
        for secret in self._secrets:
            message = message.replace(secret, _REDACTED)
        level = record.levelno if record.levelno in _LEVELS else logging.INFO
        if _tally is not None:
            _tally.add(level, facility, message)
            return
        if level >= logging.WARNING:
            key = (facility, client)
            faults.at_level(level, EVENT, key, facility=facility, client=client, message=message)
            return
        log.log(level, EVENT, facility=facility, client=client, message=message)


def _fields(record: logging.LogRecord) -> tuple[str, str, str]:
    """``(facility, client name, message)`` from confluent-kafka's ``"%s [%s] %s"`` call."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 3:
        facility, client, message = args
        return str(facility), str(client), str(message)
    return "", "", record.getMessage()
