"""Validation of mapped events against Meta's documented rules, before batching."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consumer.errors import ValidationError
from consumer.mapping import map_record
from consumer.models import CapiEvent
from consumer.validation import validate_event
from tests.fixtures.factories import NOW, make_order, make_settings

DAY = dt.timedelta(days=1)


def _check(**overrides: Any) -> None:
    event = map_record("order", make_order(**overrides), make_settings())
    assert isinstance(event, CapiEvent)
    validate_event(event, NOW.timestamp(), future_skew_s=300)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"occurred_at": NOW - 8 * DAY}, "invalid.event_too_old"),
        ({"occurred_at": NOW + dt.timedelta(minutes=10)}, "invalid.event_in_future"),
        ({"browser": None}, "invalid.missing_event_source_url"),
        (
            {"browser": {**make_order()["browser"], "user_agent": None}},
            "invalid.missing_user_agent",
        ),
        ({"total": None}, "invalid.purchase_without_value"),
        ({"currency": "dollars"}, "invalid.purchase_without_currency"),
        ({"customer": None, "browser": None, "channel": "PHONE"}, "invalid.no_user_data"),
    ],
    ids=["too-old", "future", "no-url", "no-ua", "no-value", "bad-currency", "no-user-data"],
)
def test_rejected(overrides: dict[str, Any], reason: str) -> None:
    """Each documented violation raises ValidationError with its reason."""
    with pytest.raises(ValidationError) as info:
        _check(**overrides)

    assert reason == info.value.reason


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"channel": "IN_STORE", "occurred_at": NOW - 30 * DAY},
        {"occurred_at": NOW + dt.timedelta(minutes=4)},
    ],
    ids=["web", "physical-store-30-days", "small-skew"],
)
def test_accepted(overrides: dict[str, Any]) -> None:
    """Valid events pass: physical_store has a 62-day window, small clock skew is tolerated."""
    _check(**overrides)
