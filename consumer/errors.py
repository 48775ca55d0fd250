"""The one exception tree of capi-consumer.

::

    ConsumerError                      root: everything we raise on purpose
    ├── ConfigError                    settings file or environment is invalid (startup, check-config)
    ├── DevStackError                  an embedded dev-stack process failed to start or answer
    ├── RecordError                    a single record cannot be turned into a CAPI event (goes to the DLQ)
    │   ├── DecodeError                bytes -> dict failed (framing, schema, Avro payload)
    │   ├── MappingError               dict -> CapiEvent failed (missing field, unknown pixel, ...)
    │   └── ValidationError            the CapiEvent breaks one of Meta's documented rules
    ├── SendError                      a request to Meta failed
    │   ├── RetryableSendError         transient: timeouts, 5xx, throttling codes
    │   └── PermanentSendError         Meta said no for good: invalid payload, auth, permission
    ├── DeadLetterError                the DLQ topic could not be written
    └── InfrastructureError            a dependency (registry, dedup store, broker) is unavailable

Every class says when it is raised and what an operator should do about it. Routing goes by type
and by the machine-readable ``reason`` a record error carries, never by message text.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "ConsumerError",
    "DeadLetterError",
    "DecodeError",
    "DevStackError",
    "InfrastructureError",
    "MappingError",
    "PermanentSendError",
    "RecordError",
    "RetryableSendError",
    "SendError",
    "ValidationError",
]


class ConsumerError(Exception):
    """Root of every error capi-consumer raises on purpose."""

    retriable: ClassVar[bool] = False


class ConfigError(ConsumerError):
    """The configuration is invalid. Raised at startup and by ``check-config``.

    Operator action: fix the field named in the message and restart.
    """


class DevStackError(ConsumerError):
    """An embedded dev-stack process (broker, registry, Redis, emulator) did not start or answer.

    Operator action: read the log tail in the message; check the binary is installed.
    """


class RecordError(ConsumerError):
    """One record cannot become a CAPI event. The pipeline dead-letters it with ``reason``.

    ``reason`` is a short, stable, machine-readable code (``decode.unknown_magic``,
    ``mapping.missing_field``, ``invalid.event_too_old``...). The message carries no PII.
    """

    stage: ClassVar[str] = "record"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DecodeError(RecordError):
    """The value bytes could not be decoded into a record of our schemas.

    Operator action: look at the producer of the source topic; the DLQ keeps the original bytes.
    """

    stage: ClassVar[str] = "decode"


class MappingError(RecordError):
    """A decoded record cannot be mapped to a CAPI event (missing field, unknown pixel).

    Operator action: fix the producer or the mapping config, then replay from the DLQ.
    """

    stage: ClassVar[str] = "map"


class ValidationError(RecordError):
    """A mapped CAPI event breaks one of Meta's documented rules (capi.md §10).

    Operator action: fix the producer or the mapping config, then replay from the DLQ.
    """

    stage: ClassVar[str] = "validate"


class SendError(ConsumerError):
    """A request to the Conversions API failed."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.status = status


class RetryableSendError(SendError):
    """Transient failure: timeout, connection error, HTTP 5xx or a throttling Graph code.

    Handled by backoff; surfaces only as ``retries_exhausted`` after the batch deadline.
    """

    retriable: ClassVar[bool] = True


class PermanentSendError(SendError):
    """Meta rejected the request for good (invalid payload, auth, permission).

    Operator action: for ``auth`` fix the pixel's token; for invalid payloads see the DLQ reason.
    """


class DeadLetterError(ConsumerError):
    """The DLQ topic could not be written. Consumption pauses; nothing is committed past it.

    Operator action: check the broker and the DLQ topic's ACLs.
    """

    retriable: ClassVar[bool] = True


class InfrastructureError(ConsumerError):
    """A dependency (schema registry, dedup store, broker) is unavailable.

    The pipeline pauses and retries; records are not dead-lettered for it.
    """

    retriable: ClassVar[bool] = True
