"""Pure validation of a mapped CAPI event against Meta's documented rules (capi.md §10).

Runs before an event can join a batch: one invalid event would make Meta reject the whole
batch (capi.md §5). Each rule raises ``ValidationError`` with a stable reason code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from consumer.core.currencies import CURRENCIES
from consumer.core.models import CapiEvent
from consumer.core.param_validation import PARAM_CHECKS
from consumer.errors import ValidationError

__all__ = ["INSUFFICIENT_COMBINATIONS", "MAX_AGE_S", "validate_event", "violations"]

DAY_S = 86_400
MAX_AGE_S = 7 * DAY_S  # Meta rejects the whole request if any event is older (capi.md §2)
MAX_AGE_PHYSICAL_STORE_S = 62 * DAY_S  # offline / physical_store upload window (capi.md §2)
MAX_EVENT_NAME = 50  # Pixel docs cap custom event names at 50 characters (capi.md §2.3)
_URL = re.compile(r"https?://\S+", re.IGNORECASE)  # the browser URL of a website event
_HTTPS_LENGTH: Final = len("https://")


ACTION_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store", "system_generated"}
    | {"business_messaging", "other"}
)
HASHED_KEYS = frozenset({"em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country"})
# Since Graph v13 an event is rejected when its customer information is only one of these sets
# or a subset of one (capi.md §3, subcode 2804050).
INSUFFICIENT_COMBINATIONS = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
# A key none of them has (em, ph, ...) makes user_data a subset of none: _check_combinations.
_COMBINATION_KEYS: Final = frozenset[str]().union(*INSUFFICIENT_COMBINATIONS)
LDU_COUNTRIES = frozenset({0, 1})  # 0 = geolocate, 1 = US (capi.md §2.2)
LDU_STATES = frozenset({0, *range(1000, 1014)})  # 0 = geolocate, 1000-1013 US states
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_NUMBERS = (int, float, orjson.Fragment)  # a tuple: isinstance is slower with an X | Y union


def validate_event(event: CapiEvent, now: float, future_skew_s: int) -> None:
    """Raise ValidationError for the first rule ``event`` breaks; return None when it is sendable.

    The hashed user_data values of an event our mapper built (``hashed_by_mapper``) are not
    re-checked with the SHA-256 regex: the mapper only puts hexdigests or checked pre-hashed
    values there. ``violations`` (preview, tests) always runs every check.
    """
    # _CHECKS (_CHECKS_MAPPED) spelled out: native calls, not one Python call per tuple item
    _check_name(event, now, future_skew_s)
    _check_time(event, now, future_skew_s)
    _check_action_source(event, now, future_skew_s)
    _check_value(event, now, future_skew_s)
    if event.hashed_by_mapper:
        _check_mapped_user_data(event, now, future_skew_s)
    else:
        _check_user_data(event, now, future_skew_s)
    _check_consent(event, now, future_skew_s)
    for check in PARAM_CHECKS:
        check(event, now, future_skew_s)


def violations(event: CapiEvent, now: float, future_skew_s: int) -> list[ValidationError]:
    """Every rule ``event`` breaks (empty when sendable): what ``preview`` reports."""
    found = []
    for check in _CHECKS:
        try:
            check(event, now, future_skew_s)
        except ValidationError as exc:
            found.append(exc)
    return found


def _check_name(event: CapiEvent, _now: float, _skew: int) -> None:
    if not event.event_name or len(event.event_name) > MAX_EVENT_NAME:
        raise ValidationError(
            "invalid.event_name", "event_name is empty or longer than 50 characters"
        )


def _check_time(event: CapiEvent, now: float, future_skew_s: int) -> None:
    if type(event.event_time) is not int:
        raise ValidationError("invalid.event_time_type", "event_time must be integer seconds")
    max_age = MAX_AGE_PHYSICAL_STORE_S if event.action_source == "physical_store" else MAX_AGE_S
    if event.event_time < now - max_age:
        raise ValidationError(
            "invalid.event_too_old", f"event_time is older than {max_age // DAY_S} days"
        )
    if event.event_time > now + future_skew_s:
        raise ValidationError(
            "invalid.event_in_future", "event_time is in the future beyond the allowed skew"
        )


def _check_action_source(event: CapiEvent, _now: float, _skew: int) -> None:
    if event.action_source not in ACTION_SOURCES:
        raise ValidationError(
            "invalid.action_source", f"action_source {event.action_source!r} is not Meta's"
        )
    if event.action_source != "website":
        return
    url = event.payload.get("event_source_url")
    if not url:
        raise ValidationError(
            "invalid.missing_event_source_url", "website events need event_source_url"
        )
    if not _is_https_url(url) and not _URL.fullmatch(str(url)):
        raise ValidationError("invalid.event_source_url", "event_source_url is not an http(s) URL")
    if not event.payload["user_data"].get("client_user_agent"):
        raise ValidationError("invalid.missing_user_agent", "website events need client_user_agent")


def _is_https_url(url: object) -> bool:
    """True only for what ``_URL`` surely matches, the common ``https://host/...``: no regex.

    Printable text has no whitespace but the space (every ``str.isspace`` character is a control
    or separator character), so it matches ``\\S+``. False says nothing: ``_URL`` judges.
    """
    return (
        type(url) is str
        and len(url) > _HTTPS_LENGTH
        and url.startswith("https://")
        and url.isprintable()
        and " " not in url
    )


def _check_value(event: CapiEvent, _now: float, _skew: int) -> None:
    """Currency is an active ISO 4217 code on every event; a Purchase has a value >= 0 (§4)."""
    custom = event.payload.get("custom_data") or {}
    currency = custom.get("currency")
    if currency is not None and currency not in CURRENCIES:
        raise ValidationError("invalid.currency", "custom_data.currency is not an ISO 4217 code")
    if event.event_name != "Purchase":
        return
    value = custom.get("value")
    if not isinstance(value, _NUMBERS):
        raise ValidationError(
            "invalid.purchase_without_value", "Purchase needs a numeric custom_data.value"
        )
    if currency is None:
        raise ValidationError(
            "invalid.purchase_without_currency", "Purchase needs an ISO 4217 currency"
        )
    if value < 0 if type(value) is float else _is_negative(value):
        raise ValidationError("invalid.negative_value", "Purchase custom_data.value is negative")
    if "contents" in custom:
        _check_contents(custom["contents"])


def _is_negative(value: float | orjson.Fragment) -> bool:
    """value < 0 for any JSON number custom_data holds (int, float or an exact Fragment)."""
    if isinstance(value, orjson.Fragment):  # an exact decimal's text (custom_data.money)
        return orjson.dumps(value).startswith(b"-")
    return value < 0


def _check_contents(contents: Any) -> None:
    """A Purchase's line items: positive integer quantities, prices >= 0."""
    for item in contents:
        quantity = item.get("quantity")
        if type(quantity) is not int or quantity <= 0:
            raise ValidationError(
                "invalid.quantity", "Purchase contents[].quantity must be a positive integer"
            )
        price = item.get("item_price")
        if price is not None and (price < 0 if type(price) is float else _is_negative(price)):
            raise ValidationError(
                "invalid.item_price", "Purchase contents[].item_price is negative"
            )


def _check_user_data(event: CapiEvent, _now: float, _skew: int) -> None:
    """At least one identifier, hashes that are hashes, not only a weak combination."""
    user_data: dict[str, Any] = event.payload.get("user_data") or {}
    if not user_data:
        raise ValidationError("invalid.no_user_data", "user_data has no usable identifier")
    _check_hashes(user_data)
    _check_combinations(user_data)


def _check_mapped_user_data(event: CapiEvent, _now: float, _skew: int) -> None:
    """``_check_user_data`` for an event whose hashes the mapper made (see ``validate_event``)."""
    user_data: dict[str, Any] = event.payload.get("user_data") or {}
    if not user_data:
        raise ValidationError("invalid.no_user_data", "user_data has no usable identifier")
    _check_combinations(user_data)


def _check_hashes(user_data: dict[str, Any]) -> None:
    is_hash = _SHA256_HEX.fullmatch
    for key in HASHED_KEYS.intersection(user_data):
        for item in user_data[key]:  # plain loops: this runs for every value of every event
            if not is_hash(item if type(item) is str else str(item)):
                raise ValidationError(
                    "invalid.unhashed_user_data", f"user_data.{key} is not SHA-256"
                )


def _check_combinations(user_data: dict[str, Any]) -> None:
    for key in user_data:  # one key outside every combination (em, ph, ...): no set built
        if key not in _COMBINATION_KEYS:
            return
    keys = frozenset(user_data)
    for combination in INSUFFICIENT_COMBINATIONS:
        if keys <= combination:
            raise ValidationError(
                "invalid.insufficient_customer_information",
                f"user_data has only {sorted(keys)}: too little to match (subcode 2804050)",
            )


def _check_consent(event: CapiEvent, _now: float, _skew: int) -> None:
    """LDU country and state codes are Meta's documented values (capi.md §2.2)."""
    payload = event.payload
    if "LDU" not in payload.get("data_processing_options", ()):
        return
    if payload.get("data_processing_options_country") not in LDU_COUNTRIES:
        raise ValidationError("invalid.ldu_country", "LDU country must be 0 (geolocate) or 1 (US)")
    if payload.get("data_processing_options_state") not in LDU_STATES:
        raise ValidationError("invalid.ldu_state", "LDU state must be 0 or a code 1000-1013")


_CHECKS: tuple[Callable[[CapiEvent, float, int], None], ...] = (
    _check_name,
    _check_time,
    _check_action_source,
    _check_value,
    _check_user_data,
    _check_consent,
    *PARAM_CHECKS,  # net_revenue, business messaging, app events, AppendAttribution
)
# The same checks, in the same order, for events the mapper built (``hashed_by_mapper``).
_CHECKS_MAPPED: tuple[Callable[[CapiEvent, float, int], None], ...] = tuple(
    _check_mapped_user_data if check is _check_user_data else check for check in _CHECKS
)
