"""Pure validation of a mapped CAPI event against Meta's documented rules (capi.md §10).

Runs before an event can join a batch: one invalid event would make Meta reject the whole
batch (capi.md §5). Each rule raises ``ValidationError`` with a stable reason code.
"""

from __future__ import annotations

import re

from consumer.errors import ValidationError
from consumer.models import CapiEvent

__all__ = ["MAX_AGE_S", "validate_event"]

DAY_S = 86_400
MAX_AGE_S = 7 * DAY_S  # Meta rejects the whole request if any event is older (capi.md §2)
MAX_AGE_PHYSICAL_STORE_S = 62 * DAY_S  # offline / physical_store upload window (capi.md §2)
MAX_EVENT_NAME = 50  # Pixel docs cap custom event names at 50 characters (capi.md §2.3)
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def validate_event(event: CapiEvent, now: float, future_skew_s: int) -> None:
    """Raise ValidationError for the first rule ``event`` breaks; return None when it is sendable."""
    _check_name(event)
    _check_time(event, now, future_skew_s)
    _check_action_source(event)
    _check_value(event)
    if not event.payload.get("user_data"):
        raise ValidationError("invalid.no_user_data", "user_data has no usable identifier")


def _check_name(event: CapiEvent) -> None:
    if not event.event_name or len(event.event_name) > MAX_EVENT_NAME:
        raise ValidationError(
            "invalid.event_name", "event_name is empty or longer than 50 characters"
        )


def _check_time(event: CapiEvent, now: float, future_skew_s: int) -> None:
    max_age = MAX_AGE_PHYSICAL_STORE_S if event.action_source == "physical_store" else MAX_AGE_S
    if event.event_time < now - max_age:
        raise ValidationError(
            "invalid.event_too_old", f"event_time is older than {max_age // DAY_S} days"
        )
    if event.event_time > now + future_skew_s:
        raise ValidationError(
            "invalid.event_in_future", "event_time is in the future beyond the allowed skew"
        )


def _check_action_source(event: CapiEvent) -> None:
    if event.action_source != "website":
        return
    if not event.payload.get("event_source_url"):
        raise ValidationError(
            "invalid.missing_event_source_url", "website events need event_source_url"
        )
    if not event.payload["user_data"].get("client_user_agent"):
        raise ValidationError("invalid.missing_user_agent", "website events need client_user_agent")


def _check_value(event: CapiEvent) -> None:
    if event.event_name != "Purchase":
        return
    custom = event.payload.get("custom_data") or {}
    if not isinstance(custom.get("value"), int | float):
        raise ValidationError(
            "invalid.purchase_without_value", "Purchase needs a numeric custom_data.value"
        )
    if not _CURRENCY.match(str(custom.get("currency", ""))):
        raise ValidationError(
            "invalid.purchase_without_currency", "Purchase needs an ISO 4217 currency"
        )
