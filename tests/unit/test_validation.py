"""Validation of mapped events against Meta's documented rules, before batching."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core import validation
from consumer.core.app_data import _USER_IDS
from consumer.core.mapping import map_record
from consumer.core.messaging import ID_FIELDS
from consumer.core.models import CapiEvent
from consumer.core.validation import (
    HASHED_KEYS,
    INSUFFICIENT_COMBINATIONS,
    validate_event,
    violations,
)
from consumer.errors import ValidationError
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
        ({"currency": "dollars"}, "invalid.currency"),
        ({"currency": " "}, "invalid.purchase_without_currency"),
        ({"customer": None, "browser": None, "channel": "PHONE"}, "invalid.no_user_data"),
    ],
    ids=[
        "too-old",
        "future",
        "no-url",
        "no-ua",
        "no-value",
        "bad-currency",
        "no-currency",
        "no-user-data",
    ],
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


def _event_with(**payload_overrides: Any) -> CapiEvent:
    event = map_record("order", make_order(), make_settings())
    assert isinstance(event, CapiEvent)
    payload = {**event.payload, **payload_overrides}
    return dataclasses.replace(event, payload=payload)


@pytest.mark.parametrize(
    "user_data",
    [
        {"ct": ["c" * 64], "st": ["d" * 64], "country": ["e" * 64], "client_user_agent": "UA"},
        {"db": ["a" * 64], "client_user_agent": "UA"},
        {"fn": ["a" * 64], "ge": ["b" * 64]},
        {"ln": ["a" * 64]},
    ],
    ids=["geo-ua", "db-ua", "fn-ge", "ln-alone"],
)
def test_insufficient_customer_information(user_data: dict[str, Any]) -> None:
    """Only one of Meta's weak combinations (or a subset) is rejected before sending."""
    event = _event_with(user_data=user_data, action_source="physical_store")
    event = dataclasses.replace(event, action_source="physical_store")

    with pytest.raises(ValidationError) as info:
        validate_event(event, NOW.timestamp(), future_skew_s=300)

    assert "invalid.insufficient_customer_information" == info.value.reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"user_data": {"em": ["John@x.com"], "client_user_agent": "UA"}},
            "invalid.unhashed_user_data",
        ),
        (
            {"data_processing_options": ["LDU"], "data_processing_options_country": 7},
            "invalid.ldu_country",
        ),
        (
            {
                "data_processing_options": ["LDU"],
                "data_processing_options_country": 1,
                "data_processing_options_state": 999,
            },
            "invalid.ldu_state",
        ),
    ],
    ids=["unhashed", "ldu-country", "ldu-state"],
)
def test_payload_rules(overrides: dict[str, Any], reason: str) -> None:
    """Unhashed contact data and unknown LDU codes never reach a batch."""
    with pytest.raises(ValidationError) as info:
        validate_event(_event_with(**overrides), NOW.timestamp(), future_skew_s=300)

    assert reason == info.value.reason


@pytest.mark.parametrize("url", ["94103-1234", "shop.example.com/thanks", " ", "https://"])
def test_website_event_source_url_is_a_url(url: str) -> None:
    """capi.md §2: a website event's event_source_url is the browser URL where it happened; a
    value that is no http(s) URL is invalid before sending, not after Meta rejects the batch."""
    event = _event_with(event_source_url=url)

    with pytest.raises(ValidationError) as info:
        validate_event(event, NOW.timestamp(), future_skew_s=300)

    assert "invalid.event_source_url" == info.value.reason


def test_currency_checked_on_every_event() -> None:
    """capi.md §4: currency is an ISO 4217 3-letter code on any event, not only Purchase; Meta
    rejects the whole batch for one bad event (§5), so a non-Purchase event with one is invalid."""
    event = dataclasses.replace(
        _event_with(custom_data={"value": 10.0, "currency": "dollars"}), event_name="Lead"
    )

    with pytest.raises(ValidationError) as info:
        validate_event(event, NOW.timestamp(), future_skew_s=300)

    assert "invalid.currency" == info.value.reason


def test_unknown_action_source() -> None:
    """An action_source outside Meta's enum is invalid."""
    event = dataclasses.replace(_event_with(), action_source="kiosk")

    with pytest.raises(ValidationError) as info:
        validate_event(event, NOW.timestamp(), future_skew_s=300)

    assert "invalid.action_source" == info.value.reason


def test_long_event_name() -> None:
    """A custom event name over 50 characters is invalid."""
    event = dataclasses.replace(_event_with(), event_name="X" * 51)

    with pytest.raises(ValidationError) as info:
        validate_event(event, NOW.timestamp(), future_skew_s=300)

    assert "invalid.event_name" == info.value.reason


def test_violations_lists_every_rule() -> None:
    """violations() reports every broken rule, in rule order, for preview."""
    event = map_record(
        "order", make_order(occurred_at=NOW - 8 * DAY, total=None, browser=None), make_settings()
    )
    assert isinstance(event, CapiEvent)

    assert [
        "invalid.event_too_old",
        "invalid.missing_event_source_url",
        "invalid.purchase_without_value",
    ] == [exc.reason for exc in violations(event, NOW.timestamp(), 300)]


class TestHashesOfMappedEvents:
    """validate_event does not re-check the hashes of events the mapper built: these tests fail
    if that ever lets an unhashed value through."""

    def test_only_the_mapper_marks_an_event(self) -> None:
        """A CapiEvent built anywhere else (replays, tests, tools), or a mapped one copied with
        another payload (dataclasses.replace), gets the full hash check."""
        event = _event_with(user_data={"em": ["John@x.com"], "client_user_agent": "UA"})

        assert not event.hashed_by_mapper
        with pytest.raises(ValidationError) as info:
            validate_event(event, NOW.timestamp(), future_skew_s=300)
        assert "invalid.unhashed_user_data" == info.value.reason

    @pytest.mark.parametrize(
        "customer",
        [
            {"email": "A" * 64, "first_name": "F" * 64, "phone": "+1 650 555 0100"},
            {"email": "a" * 63 + "g", "last_name": " " + "0" * 64 + " ", "city": "E" * 64},
            {"email": "John@Example.com\n", "external_id": "x\n" + "f" * 64, "gender": "W"},
        ],
        ids=["uppercase-hex", "near-hex", "newlines"],
    )
    def test_mapped_hashes_are_sha256_hex(self, customer: dict[str, Any]) -> None:
        """What the mapper puts under a hashed key is 64 lowercase hex characters, whatever the
        input looks like; the full check (violations) agrees."""
        order = make_order()
        event = map_record(
            "order", make_order(customer={**order["customer"], **customer}), make_settings()
        )
        assert isinstance(event, CapiEvent)

        assert event.hashed_by_mapper
        for key in HASHED_KEYS.intersection(event.payload["user_data"]):
            for value in event.payload["user_data"][key]:
                assert re.fullmatch(r"[0-9a-f]{64}", value), key
        assert not [
            exc
            for exc in violations(event, NOW.timestamp(), 300)
            if exc.reason == "invalid.unhashed_user_data"
        ]

    def test_contexts_add_no_hashed_key(self) -> None:
        """Messaging and app contexts add raw user_data keys after hashing: none is a hashed key."""
        assert not HASHED_KEYS.intersection(ID_FIELDS)
        assert not HASHED_KEYS.intersection(_USER_IDS)


_USER_DATA_KEYS = sorted(
    {"em", "ph", "external_id", "client_ip_address", "fbp", "fbc", "lead_id"}
    | validation._COMBINATION_KEYS
)


@given(st.lists(st.sampled_from(_USER_DATA_KEYS), unique=True))
def test_combinations_as_the_set_check_says(keys: list[str]) -> None:
    """_check_combinations' early exit gives the verdict of the plain subset test."""
    weak = any(frozenset(keys) <= combination for combination in INSUFFICIENT_COMBINATIONS)
    user_data = {key: ["x"] for key in keys}
    if weak:
        with pytest.raises(ValidationError):
            validation._check_combinations(user_data)
    else:
        validation._check_combinations(user_data)


@given(
    st.one_of(
        st.text(),
        st.text().map(lambda rest: "https://" + rest),
        st.text(alphabet=st.characters(codec="ascii")).map(lambda rest: "https://" + rest),
        st.sampled_from(
            ["https://", "https://a", "https://a b", "https://a\x1c", "https://a\u2028"]
        ),
    )
)
def test_https_shortcut_only_accepts_what_the_regex_accepts(url: str) -> None:
    """The URL shortcut never says yes where the regex says no (else the regex decides)."""
    if validation._is_https_url(url):
        assert validation._URL.fullmatch(url)


@pytest.mark.parametrize(
    "overrides",
    [
        {"occurred_at": NOW - 8 * DAY, "total": None, "browser": None},
        {"total": None, "browser": None},
        {"currency": "dollars", "customer": None, "browser": None, "channel": "PHONE"},
        {"customer": None, "browser": None, "channel": "PHONE"},
        {},
    ],
)
def test_validate_event_raises_the_first_violation(overrides: dict[str, Any]) -> None:
    """validate_event runs the rules in violations()' order: it raises the first one found."""
    event = map_record("order", make_order(**overrides), make_settings())
    assert isinstance(event, CapiEvent)
    found = [exc.reason for exc in violations(event, NOW.timestamp(), 300)]
    for copy in (event, dataclasses.replace(event)):  # the mapped and the unmarked check
        try:
            validate_event(copy, NOW.timestamp(), future_skew_s=300)
        except ValidationError as exc:
            assert found[:1] == [exc.reason]
        else:
            assert not found
