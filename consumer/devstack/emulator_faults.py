"""Fault injection for the CAPI emulator: specs, per-pixel bookkeeping and error answers (pure).

A fault is asked for as JSON, e.g. ``{"pixel_id": "123" or "*", "kind": "throttle", "code": 17,
"count": 3}``. ``count`` is how many requests it affects (default 1; -1 = until cleared).

=================  ============================================  ===============================
kind               parameters                                    effect on a matching request
=================  ============================================  ===============================
``latency``        ``ms`` (int >= 0, required)                   sleeps, then goes on as normal
``latency_dist``   ``p50_ms``, ``p99_ms`` (ints, 0 < p50 <= p99)  sleeps a log-normal draw with
                                                                 that median and 99th percentile
``stall``          --                                            held until the faults are cleared
``http_5xx``       ``status`` (500-599, default 503)             Graph code 2 (transient); 502 is HTML
``throttle``       ``code`` (4, 17, 32, 341, 613, 80004;         HTTP 400, ``is_transient: true``
                   default 17), ``subcode`` (default per code)
``auth``           ``subcode`` (optional), ``message``           code 190, HTTP 400
``drop``           --                                            connection closed, no answer
``reject``         ``code`` (default 100), ``subcode``,          whole batch rejected, not transient
                   ``message``
``reject_event``   ``event_ids`` (non-empty list, required),     a batch CONTAINING one of the ids
                   ``subcode``, ``message``                      is rejected whole (code 100)
=================  ============================================  ===============================

Delay kinds (``latency``, ``latency_dist``, ``stall``) are applied first, then at most one answer kind, the oldest
matching one. A ``reject_event`` fault counts only the requests it actually rejects.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from consumer.devstack.emulator_errors import GraphError

__all__ = [
    "ANSWER_KINDS",
    "DELAY_KINDS",
    "FAULT_KINDS",
    "THROTTLE_CODES",
    "Fault",
    "FaultBook",
    "fault_error",
    "parse_fault",
]

DELAY_KINDS = frozenset({"latency", "latency_dist", "stall"})
ANSWER_KINDS = frozenset({"http_5xx", "throttle", "auth", "drop", "reject", "reject_event"})
FAULT_KINDS = DELAY_KINDS | ANSWER_KINDS
_COMMON = frozenset({"kind", "pixel_id", "count"})
_PARAMS: dict[str, frozenset[str]] = {
    "latency": frozenset({"ms"}),
    "latency_dist": frozenset({"p50_ms", "p99_ms"}),
    "stall": frozenset(),
    "http_5xx": frozenset({"status"}),
    "throttle": frozenset({"code", "subcode"}),
    "auth": frozenset({"subcode", "message"}),
    "drop": frozenset(),
    "reject": frozenset({"code", "subcode", "message"}),
    "reject_event": frozenset({"event_ids", "subcode", "message"}),
}
# Throttle codes with their default subcode and message (capi.md §6.3, Graph rate-limiting).
THROTTLE_CODES: dict[int, tuple[int | None, str]] = {
    4: (None, "(#4) Application request limit reached"),
    17: (2446079, "(#17) User request limit reached"),
    32: (None, "(#32) Page request limit reached"),
    341: (None, "(#341) Application limit reached"),
    613: (1487742, "(#613) Calls to this api have exceeded the rate limit."),
    80004: (2446079, "(#80004) There have been too many calls to this ad-account."),
}
_DEFAULT_THROTTLE = 17
_Z99 = 2.326  # the standard normal's 99th percentile: sigma = ln(p99 / p50) / _Z99
_UNSET = object()


@dataclass(slots=True)
class Fault:
    """One injected fault; ``count`` is the number of requests it still affects (-1: no end)."""

    kind: str
    pixel_id: str = "*"
    count: int = 1
    ms: int = 0
    status: int = 503
    code: int | None = None
    subcode: int | None = None
    message: str | None = None
    event_ids: frozenset[str] = field(default_factory=frozenset)
    p50_ms: int = 0
    p99_ms: int = 0

    def delay_s(self, rng: random.Random) -> float:
        """Seconds a ``latency`` or ``latency_dist`` fault holds one request."""
        if self.kind != "latency_dist":
            return self.ms / 1000
        sigma = math.log(self.p99_ms / self.p50_ms) / _Z99
        return self.p50_ms * math.exp(sigma * rng.gauss(0.0, 1.0)) / 1000

    def matches(self, pixel_id: str) -> bool:
        """True when this fault applies to requests for ``pixel_id``."""
        return self.count != 0 and self.pixel_id in ("*", pixel_id)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view, for the control API."""
        view: dict[str, object] = {"kind": self.kind, "pixel_id": self.pixel_id}
        view.update(count=self.count, ms=self.ms, status=self.status, code=self.code)
        view.update(subcode=self.subcode, message=self.message, event_ids=sorted(self.event_ids))
        view.update(p50_ms=self.p50_ms, p99_ms=self.p99_ms)
        return view


def _int(spec: Mapping[str, object], key: str, default: object = _UNSET) -> int:
    """An integer parameter (bools refused), or ValueError."""
    value = spec.get(key, default)
    if type(value) is not int:
        raise ValueError(f"{key} must be an integer")
    return value


def _optional_int(spec: Mapping[str, object], key: str, default: int | None) -> int | None:
    """An integer-or-null parameter with a default when absent."""
    value = spec.get(key, default)
    if value is not None and type(value) is not int:
        raise ValueError(f"{key} must be an integer or null")
    return value


def _event_ids(spec: Mapping[str, object]) -> frozenset[str]:
    """The non-empty list of event ids a ``reject_event`` fault looks for."""
    ids = spec.get("event_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError("event_ids must be a non-empty list of strings")
    return frozenset(str(i) for i in ids)


def _check_shape(spec: Mapping[str, object]) -> tuple[str, str, int]:
    """Validate kind, pixel_id, count and the parameter names; return the first three."""
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {sorted(FAULT_KINDS)}")
    unknown = sorted(set(spec) - _COMMON - _PARAMS[kind])
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} for {kind}")
    pixel_id = spec.get("pixel_id", "*")
    if not isinstance(pixel_id, str) or not pixel_id:
        raise ValueError("pixel_id must be a pixel id or '*'")
    count = _int(spec, "count", 1)
    if count == 0 or count < -1:
        raise ValueError("count must be positive, or -1 for 'until cleared'")
    return kind, pixel_id, count


def parse_fault(spec: Mapping[str, object]) -> Fault:
    """Build a :class:`Fault` from its JSON spec, or raise ValueError naming the bad field."""
    kind, pixel_id, count = _check_shape(spec)
    fault = Fault(kind=kind, pixel_id=pixel_id, count=count)
    message = spec.get("message")
    if message is not None and not isinstance(message, str):
        raise ValueError("message must be a string")
    fault.message = message
    if kind == "latency":
        fault.ms = _int(spec, "ms")
        if fault.ms < 0:
            raise ValueError("ms must be >= 0")
    elif kind == "latency_dist":
        fault.p50_ms, fault.p99_ms = _int(spec, "p50_ms"), _int(spec, "p99_ms")
        if not 0 < fault.p50_ms <= fault.p99_ms:
            raise ValueError("latency_dist needs 0 < p50_ms <= p99_ms")
    elif kind == "http_5xx":
        fault.status = _int(spec, "status", 503)
        if not 500 <= fault.status <= 599:
            raise ValueError("status must be 500-599")
    elif kind == "throttle":
        _parse_throttle(spec, fault)
    elif kind in ("auth", "reject", "reject_event"):
        fault.code = _int(spec, "code", 190 if kind == "auth" else 100)
        fault.subcode = _optional_int(spec, "subcode", None)
        if kind == "reject_event":
            fault.event_ids = _event_ids(spec)
    return fault


def _parse_throttle(spec: Mapping[str, object], fault: Fault) -> None:
    """Fill a throttle fault's code and subcode (the code's usual subcode unless given)."""
    code = _int(spec, "code", _DEFAULT_THROTTLE)
    if code not in THROTTLE_CODES:
        raise ValueError(f"throttle code must be one of {sorted(THROTTLE_CODES)}")
    fault.code = code
    fault.subcode = _optional_int(spec, "subcode", THROTTLE_CODES[code][0])


class FaultBook:
    """The active faults, oldest first, and the rules for which one a request meets."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Activate ``fault`` after the ones already active."""
        self._faults.append(fault)

    def clear(self, pixel_id: str | None = None) -> None:
        """Drop every fault, or only those registered for ``pixel_id``."""
        self._faults = [f for f in self._faults if pixel_id is not None and f.pixel_id != pixel_id]

    def active(self) -> list[Fault]:
        """The faults still in force."""
        return [f for f in self._faults if f.count != 0]

    def take_delays(self, pixel_id: str) -> list[Fault]:
        """Consume and return every delay fault (latency, stall) matching ``pixel_id``."""
        taken = [f for f in self._faults if f.kind in DELAY_KINDS and f.matches(pixel_id)]
        for fault in taken:
            self._consume(fault)
        return taken

    def take_answer(self, pixel_id: str, event_ids: Collection[str]) -> Fault | None:
        """Consume and return the oldest answer fault for this request, if any."""
        for fault in self._faults:
            if fault.kind not in ANSWER_KINDS or not fault.matches(pixel_id):
                continue
            if fault.kind == "reject_event" and fault.event_ids.isdisjoint(event_ids):
                continue
            self._consume(fault)
            return fault
        return None

    def _consume(self, fault: Fault) -> None:
        """Count one affected request; forget the fault once it is used up."""
        if fault.count > 0:
            fault.count -= 1
        if fault.count == 0:
            self._faults.remove(fault)


def fault_error(fault: Fault) -> GraphError:
    """The Graph error an answer fault sends (``drop`` sends nothing and has none)."""
    if fault.kind == "http_5xx":
        return GraphError(
            code=2,
            message=fault.message or "An unexpected error has occurred. Please retry later.",
            is_transient=True,
            status=fault.status,
            rule="fault.http_5xx",
        )
    if fault.kind == "throttle":
        code = fault.code if fault.code is not None else _DEFAULT_THROTTLE
        default_message = THROTTLE_CODES[code][1]
        return GraphError(
            code=code,
            subcode=fault.subcode,
            message=fault.message or default_message,
            is_transient=True,
            rule="fault.throttle",
        )
    return _rejection(fault)


def _rejection(fault: Fault) -> GraphError:
    """The non-transient answer of an ``auth``, ``reject`` or ``reject_event`` fault."""
    code = fault.code if fault.code is not None else 100
    if fault.kind == "auth":
        default = "Error validating access token: Session has expired."
    elif fault.kind == "reject_event":
        default = f"(#{code}) Invalid parameter: the batch contains a rejected event"
    else:
        default = f"(#{code}) Invalid parameter"
    message = fault.message or default
    return GraphError(
        code=code,
        subcode=fault.subcode,
        message=message,
        title="Injected fault",
        user_msg=message,
        rule=f"fault.{fault.kind}",
    )
