"""structlog setup: JSON lines off a TTY, a console renderer on one; ids and reasons only, no PII.

Defences against a secret slipping into a line: the userinfo of any URL in a string value is
masked (a Redis or registry URL inside an error message), and tracebacks are plain (rich's
default shows local variables, which may hold a token).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

from consumer.credentials import mask_url_credentials

__all__ = ["MAX_FIELD_CHARS", "cap_fields", "configure_logging", "mask_url_userinfo"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# A log field longer than this is cut (a fastavro error quoting a whole schema is 27 KB): one
# line stays readable and cheap to ship, and the cut says how much was dropped.
MAX_FIELD_CHARS = 1000
_MAX_ITEMS = 50  # items kept of a list, tuple or dict field


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto",
    level: Literal["debug", "info", "warning", "error"] = "info",
    *,
    cache: bool = True,
) -> None:
    """Configure structlog once per process. ``auto`` picks console on a TTY, JSON otherwise.

    ``cache=False`` keeps loggers unbound from this configuration (tests that reset it after, and
    the short ``dlq`` commands, which tests run in-process).
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        if use_console
        else structlog.processors.JSONRenderer(serializer=orjson.dumps)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_url_userinfo,
            cap_fields,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=_print_to_stderr if use_console else _write_to_stderr,
        cache_logger_on_first_use=cache,
    )


def mask_url_userinfo(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Replace ``user:password@`` in every URL of the line's string values by ``***@``."""
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = mask_url_credentials(value)
    return event


def cap_fields(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: bound every field's size (strings cut, containers shortened)."""
    for key, value in event_dict.items():
        if isinstance(value, str | bytes | list | tuple | dict):
            event_dict[key] = _capped(value, MAX_FIELD_CHARS)
    return event_dict


def _capped(value: Any, limit: int) -> Any:
    if isinstance(value, str | bytes):
        if len(value) <= limit:
            return value
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        return f"{text[:limit]}...[{len(value) - limit} more]"
    if isinstance(value, list | tuple):
        kept = [_capped(item, limit // 4) for item in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            kept.append(f"...[{len(value) - _MAX_ITEMS} more]")
        return kept
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        capped = {str(k)[:100]: _capped(v, limit // 4) for k, v in items}
        if len(value) > _MAX_ITEMS:
            capped["..."] = f"{len(value) - _MAX_ITEMS} more"
        return capped
    return value


# The factories look ``sys.stderr`` up when a logger is bound (once with ``cache``, else on every
# call), not at configuration: an in-process CLI run (as in tests) may swap the stream later.
def _write_to_stderr(*_args: object) -> structlog.BytesLogger:
    return structlog.BytesLogger(sys.stderr.buffer)


def _print_to_stderr(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)
