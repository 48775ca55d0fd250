"""The CAPI emulator's request rules, written from capi.md §1, §2, §5 and §10 (pure: no I/O).

This module is an independent judge: it imports nothing of the consumer's mapping, normalization
or validation, so a bug there cannot hide behind the same bug here. One invalid event rejects
the whole batch (capi.md §5); the index of the first bad event appears in ``error_user_msg``
text only, because Meta publishes no per-event index and the consumer must bisect instead.

Subcodes: ``2804003`` (event too old) and ``2804050`` (insufficient customer information, see
:mod:`emulator_user_data`) are documented by captured Meta responses. ``2804004`` (event in the
future) is INVENTED: Meta documents no future tolerance and no subcode for it. ``2804001``
(malformed ``user_data``) is a real subcode with an unpublished meaning, reused here. Every
other rule answers plain code 100 without a subcode.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from consumer.devstack.emulator_errors import (
    GraphError,
    Violation,
    bad_token,
    invalid_parameter,
    missing_appsecret_proof,
    unknown_object,
    wrong_appsecret_proof,
)
from consumer.devstack.emulator_money import is_iso_currency, purchase_problem
from consumer.devstack.emulator_params import PARAM_RULES
from consumer.devstack.emulator_user_data import check_user_data

__all__ = [
    "ACTION_SOURCES",
    "BODY_KEYS",
    "DEFAULT_FUTURE_TOLERANCE_S",
    "EVENT_KEYS",
    "MAX_EVENTS",
    "SUBCODE_IN_FUTURE",
    "SUBCODE_TOO_OLD",
    "PixelAuth",
    "appsecret_proof",
    "check_auth",
    "check_event_count",
    "decode_data",
    "validate_body",
    "validate_event",
]

MAX_EVENTS = 1000  # "at most 1,000 events per request" (capi.md §5)
# The 50-character cap on event names comes from the Pixel docs; that CAPI enforces it is
# UNCERTAIN (capi.md §2.3), but it is a safe limit to hold ourselves to.
MAX_EVENT_NAME = 50
_DAY_S = 86_400
MAX_AGE_S = 7 * _DAY_S  # older than 7 days fails the whole request (capi.md §2)
MAX_AGE_OFFLINE_S = 62 * _DAY_S  # physical_store events may be uploaded within 62 days
# Meta documents no tolerance for future timestamps (capi.md §2, §11.6). One minute absorbs
# ordinary clock skew between producer hosts and Meta while still catching milliseconds-for-
# seconds bugs and wrong time zones.
DEFAULT_FUTURE_TOLERANCE_S = 60.0
SUBCODE_TOO_OLD = 2804003  # "Event Timestamp Too Old" (capi.md §6.3, captured)
SUBCODE_IN_FUTURE = 2804004  # INVENTED: Meta does not document a future-timestamp error

ACTION_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store"}
    | {"system_generated", "business_messaging", "other"}
)
# Server-event fields of capi.md §2. Anything else is rejected: strictness catches typos.
EVENT_KEYS = frozenset(
    {"event_name", "event_time", "user_data", "custom_data", "event_source_url"}
    | {"action_source", "event_id", "opt_out", "data_processing_options"}
    | {"data_processing_options_country", "data_processing_options_state", "referrer_url"}
    | {"app_data", "original_event_data", "customer_segmentation", "messaging_channel"}
    | {"attribution_data", "advanced_measurement_table"}
)
# Main-body parameters of capi.md §1.4. A typo such as "test_event_cod" would silently send
# test traffic to production, so unknown keys are rejected too.
BODY_KEYS = frozenset(
    {"data", "test_event_code", "partner_agent", "namespace_id", "upload_id", "upload_tag"}
    | {"upload_source", "platforms", "progress", "trace", "access_token", "appsecret_proof"}
)
_LDU_COUNTRIES = frozenset({0, 1})  # 0 = geolocate, 1 = USA (capi.md §2.2)
_LDU_STATES = frozenset({0, *range(1000, 1014)})  # 0 = geolocate, 1000-1013 = US states
_URL = re.compile(r"https?://\S+")

_Event = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class PixelAuth:
    """What the emulator knows of one pixel: its token and, if the app requires proofs, its secret."""

    access_token: str
    app_secret: str | None = None


@dataclass(frozen=True, slots=True)
class _Clock:
    """The instant and the future tolerance an event's time is judged against."""

    now: float
    future_tolerance_s: float


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """Hex HMAC-SHA256 of the token keyed with the app secret (capi.md §1.2)."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def check_auth(
    pixel_id: str, pixel: PixelAuth | None, token: str | None, proof: str | None
) -> GraphError | None:
    """Graph's auth checks, in its order: the object, the token, then ``appsecret_proof``.

    With "Require App Secret" on, Graph answers code 100 (not 190) for a missing or wrong
    ``appsecret_proof``; the emulator copies that real behaviour.
    """
    if pixel is None:
        return unknown_object(pixel_id)
    if not token:
        return bad_token("An access token is required to request this resource.")
    if not hmac.compare_digest(token.encode(), pixel.access_token.encode()):
        return bad_token("Invalid OAuth access token - Cannot parse access token")
    if pixel.app_secret is None:
        return None
    if not proof:
        return missing_appsecret_proof()
    expected = appsecret_proof(pixel.app_secret, token)
    if not hmac.compare_digest(proof.encode(), expected.encode()):
        return wrong_appsecret_proof()
    return None


def decode_data(data: object) -> object:
    """Undo the wire encodings of ``data``: a JSON string, and the SDK's list of JSON strings.

    Raises ValueError when a string is not JSON. Shapes are judged later, by the rules.
    """
    if isinstance(data, str):
        data = json.loads(data)
    if isinstance(data, list):
        return [json.loads(item) if isinstance(item, str) else item for item in data]
    return data


def check_event_count(data: object) -> GraphError | None:
    """``data`` is a non-empty list of at most 1000 events (the whole check in light mode)."""
    if not isinstance(data, list) or not data:
        return invalid_parameter("data must be a non-empty array of events", rule="request.data")
    if len(data) > MAX_EVENTS:
        return invalid_parameter(
            f"data has {len(data)} events; at most {MAX_EVENTS} are allowed per request",
            rule="request.too_many_events",
        )
    return None


def validate_body(
    body: Mapping[str, object],
    *,
    now: float,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
) -> GraphError | None:
    """Check a decoded request body (``data`` already decoded); None when Meta would accept it."""
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        return invalid_parameter(f"unknown parameter {unknown[0]!r}", rule="request.unknown_key")
    for key in ("test_event_code", "partner_agent"):
        if key in body and not isinstance(body[key], str):
            return invalid_parameter(f"{key} must be a string", rule=f"request.{key}")
    data = body.get("data")
    error = check_event_count(data)
    if error is not None or not isinstance(data, list):
        return error
    clock = _Clock(now, future_tolerance_s)
    for index, event in enumerate(data):
        violation = _validate(event, clock)
        if violation is not None:
            return violation.to_error(index)
    return None


def validate_event(
    event: object, *, now: float, future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S
) -> Violation | None:
    """Check one server event against capi.md §2-§4; None when it is acceptable."""
    return _validate(event, _Clock(now, future_tolerance_s))


def _validate(event: object, clock: _Clock) -> Violation | None:
    """Run every event rule in order and return the first violation."""
    if not isinstance(event, Mapping):
        return Violation("event.type", "each event must be a JSON object")
    for check in _EVENT_CHECKS:
        violation = check(event, clock)
        if violation is not None:
            return violation
    return None


def _check_keys(event: _Event, _: _Clock) -> Violation | None:
    """Only the server-event fields Meta documents are allowed."""
    unknown = sorted(set(event) - EVENT_KEYS)
    if unknown:
        return Violation("event.unknown_key", f"unknown event parameter {unknown[0]!r}")
    return None


def _check_event_name(event: _Event, _: _Clock) -> Violation | None:
    """``event_name`` is a non-empty string of at most 50 characters."""
    name = event.get("event_name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_EVENT_NAME:
        return Violation(
            "event_name", f"event_name must be a non-empty string of at most {MAX_EVENT_NAME}"
        )
    return None


def _check_action_source(event: _Event, _: _Clock) -> Violation | None:
    """``action_source`` is required on every event and must be one of Meta's values."""
    if event.get("action_source") not in ACTION_SOURCES:
        return Violation("action_source", f"action_source must be one of {sorted(ACTION_SOURCES)}")
    return None


def _check_event_time(event: _Event, clock: _Clock) -> Violation | None:
    """``event_time`` is integer Unix seconds, at most 7 days old (62 offline), not in the future."""
    value = event.get("event_time")
    if type(value) is not int:
        return Violation("event_time.type", "event_time must be an integer of Unix seconds")
    offline = event.get("action_source") == "physical_store"
    max_age = MAX_AGE_OFFLINE_S if offline else MAX_AGE_S
    if clock.now - value > max_age:
        return Violation(
            "event_time.too_old",
            f"event_time is more than {max_age // _DAY_S} days in the past",
            SUBCODE_TOO_OLD,
            "Event Timestamp Too Old",
        )
    if value - clock.now > clock.future_tolerance_s:
        return Violation(
            "event_time.future",
            "event_time is in the future",
            SUBCODE_IN_FUTURE,
            "Event Timestamp In The Future",
        )
    return None


def _check_user_data(event: _Event, _: _Clock) -> Violation | None:
    """``user_data`` follows capi.md §3 (see :mod:`emulator_user_data`)."""
    return check_user_data(event.get("user_data"))


def _check_website(event: _Event, _: _Clock) -> Violation | None:
    """Website events need ``event_source_url`` and ``user_data.client_user_agent``."""
    if event.get("action_source") != "website":
        return None
    url = event.get("event_source_url")
    if not isinstance(url, str) or _URL.fullmatch(url) is None:
        return Violation("website.event_source_url", "website events need an event_source_url")
    user_data = event.get("user_data")
    if not isinstance(user_data, Mapping) or "client_user_agent" not in user_data:
        return Violation(
            "website.client_user_agent", "website events need user_data.client_user_agent"
        )
    return None


def _check_params(event: _Event, clock: _Clock) -> Violation | None:
    """App, business messaging, AppendAttribution and net_revenue (see :mod:`emulator_params`)."""
    for rule in PARAM_RULES:
        violation = rule(event, clock.now)
        if violation is not None:
            return violation
    return None


def _is_number(value: object) -> bool:
    """A JSON number: int or finite float, never a bool or a numeric string."""
    return (type(value) is int) or (isinstance(value, float) and math.isfinite(value))


def _check_custom_data(event: _Event, _: _Clock) -> Violation | None:
    """``custom_data`` is an object; value is a number and currency 3 letters; Purchase needs both."""
    custom = event.get("custom_data", {})
    if not isinstance(custom, Mapping):
        return Violation("custom_data.type", "custom_data must be an object")
    purchase = event.get("event_name") == "Purchase"
    if ("value" in custom or purchase) and not _is_number(custom.get("value")):
        return Violation("custom_data.value", "custom_data.value must be a number")
    if "currency" in custom or purchase:
        currency = custom.get("currency")
        if not isinstance(currency, str) or not is_iso_currency(currency):
            return Violation("custom_data.currency", "custom_data.currency must be ISO 4217")
    problem = purchase_problem(custom) if purchase else None
    return None if problem is None else Violation("custom_data.purchase", problem)


def _check_processing_options(event: _Event, _: _Clock) -> Violation | None:
    """``data_processing_options`` is [] or ["LDU"]; LDU needs a country and a state code."""
    options = event.get("data_processing_options", [])
    if not isinstance(options, list) or any(item != "LDU" for item in options):
        return Violation("dpo.options", 'data_processing_options must be [] or ["LDU"]')
    country = event.get("data_processing_options_country")
    state = event.get("data_processing_options_state")
    if options and (country is None or state is None):
        return Violation("dpo.ldu_location", "LDU needs data_processing_options_country and _state")
    if country is not None and (type(country) is not int or country not in _LDU_COUNTRIES):
        return Violation("dpo.country", "data_processing_options_country must be 0 or 1")
    if state is not None and (type(state) is not int or state not in _LDU_STATES):
        return Violation("dpo.state", "data_processing_options_state must be 0 or 1000-1013")
    return None


def _check_scalar_types(event: _Event, _: _Clock) -> Violation | None:
    """Optional scalar fields have their documented types."""
    if "opt_out" in event and not isinstance(event["opt_out"], bool):
        return Violation("opt_out", "opt_out must be a boolean")
    for key in ("event_id", "event_source_url", "referrer_url"):
        if key in event and not isinstance(event[key], str):
            return Violation(key, f"{key} must be a string")
    return None


_EVENT_CHECKS: tuple[Callable[[_Event, _Clock], Violation | None], ...] = (
    _check_keys,
    _check_event_name,
    _check_action_source,
    _check_event_time,
    _check_user_data,
    _check_website,
    _check_params,
    _check_custom_data,
    _check_processing_options,
    _check_scalar_types,
)
