"""The parameters Meta added since 2024: mapped per Meta's docs, validated before sending.

Each kind (net_revenue, business messaging, app events, AppendAttribution) has an accepted case,
which the independent CAPI emulator rules accept too, and its rejection cases with their reasons.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import pytest

from consumer.core.mapping import map_record
from consumer.core.models import CapiEvent
from consumer.core.validation import violations
from consumer.devstack import emulator_rules
from consumer.settings import Settings
from tests.fixtures.factories import NOW, make_lead, make_order, make_settings
from tests.fixtures.params import CTWA_CLID, WABA_ID, app, extinfo, messaging, passback

SETTINGS = make_settings()


def mapped(kind: str, record: dict[str, Any], settings: Settings = SETTINGS) -> CapiEvent:
    """The record's event (it must map to one)."""
    event = map_record(kind, record, settings)  # type: ignore[arg-type]
    assert isinstance(event, CapiEvent)
    return event


def reasons(event: CapiEvent) -> list[str]:
    """Every rule the event breaks, by reason."""
    return [exc.reason for exc in violations(event, NOW.timestamp(), 60)]


def emulator_verdict(event: CapiEvent) -> str | None:
    """The emulator's rule for the event's body, None when it accepts it."""
    violation = emulator_rules.validate_event(orjson.loads(event.body), now=NOW.timestamp())
    return None if violation is None else violation.rule


class TestNetRevenue:
    def test_sent_as_custom_data(self) -> None:
        """net_revenue becomes custom_data.net_revenue, exact, next to value and currency."""
        event = mapped("order", make_order(net_revenue=Decimal("38.40")))

        assert (38.4, "USD") == (
            event.payload["custom_data"]["net_revenue"],
            event.payload["custom_data"]["currency"],
        )
        assert ([], None) == (reasons(event), emulator_verdict(event))

    def test_old_records_have_none(self) -> None:
        """A record without net_revenue sends no net_revenue key."""
        assert "net_revenue" not in mapped("order", make_order()).payload["custom_data"]

    def test_without_currency_is_invalid(self) -> None:
        """A net_revenue amount with no currency to read it in is dead-lettered."""
        settings = make_settings(mapping={"order": {"statuses": {"PLACED": "InitiateCheckout"}}})
        record = make_order(status="PLACED", currency=" ", net_revenue=Decimal("1.00"))

        assert ["invalid.net_revenue"] == reasons(mapped("order", record, settings))


class TestBusinessMessaging:
    def test_whatsapp_lead(self) -> None:
        """A Click-to-WhatsApp lead: business_messaging, channel whatsapp, WABA id and click id."""
        event = mapped("lead", make_lead(messaging=messaging()))

        assert ("business_messaging", "whatsapp") == (
            event.action_source,
            event.payload["messaging_channel"],
        )
        assert (WABA_ID, CTWA_CLID) == (
            event.payload["user_data"]["whatsapp_business_account_id"],
            event.payload["user_data"]["ctwa_clid"],
        )
        assert ([], None) == (reasons(event), emulator_verdict(event))

    @pytest.mark.parametrize(
        ("channel", "ids"),
        [
            ("MESSENGER", {"page_id": "281710865", "page_scoped_user_id": "7104962936"}),
            ("INSTAGRAM", {"ig_account_id": "17841400", "ig_sid": "5310471812"}),
        ],
    )
    def test_messenger_and_instagram_orders(self, channel: str, ids: dict[str, str]) -> None:
        """Messenger and Instagram chats carry their own identifier pairs, unhashed."""
        event = mapped("order", make_order(channel="OTHER", messaging=messaging(channel, **ids)))

        assert ids.items() <= event.payload["user_data"].items()
        assert ([], None) == (reasons(event), emulator_verdict(event))

    @pytest.mark.parametrize(
        ("context", "reason"),
        [
            (messaging(ctwa_clid=None), "invalid.messaging_identifiers"),
            (messaging("MESSENGER", page_id="281710865"), "invalid.messaging_identifiers"),
            (messaging("UNKNOWN"), "invalid.messaging_channel"),
            (messaging(ctwa_clid="A" * 64), "invalid.messaging_identifiers"),
        ],
        ids=["whatsapp-no-click-id", "messenger-no-psid", "unknown-channel", "hashed-click-id"],
    )
    def test_incomplete_chat_is_invalid(self, context: dict[str, Any], reason: str) -> None:
        """A chat without its channel's identifiers, or of an unknown channel, is dead-lettered."""
        assert reason in reasons(mapped("lead", make_lead(messaging=context)))

    def test_configured_without_context_is_invalid(self) -> None:
        """A channel configured as business_messaging, on a record without a chat, fails."""
        settings = make_settings(
            mapping={"lead": {"action_sources": {"CRM": "business_messaging"}}}
        )

        assert ["invalid.messaging_channel"] == reasons(mapped("lead", make_lead(), settings))


class TestAppEvents:
    def test_app_order(self) -> None:
        """An app order: action_source app, app_data with the 16-entry extinfo, anon_id."""
        event = mapped("order", make_order(channel="APP", browser=None, app=app()))
        data = event.payload["app_data"]

        assert "app" == event.action_source
        assert (True, True) == (
            data["advertiser_tracking_enabled"],
            data["application_tracking_enabled"],
        )
        expected_extinfo = ["i2", "com.example.shop", "4.2", "4.2.1 (421)", "18.1", "iPhone16,1"]
        assert expected_extinfo == data["extinfo"][:6]
        assert [1179, 2556, "3.0", 6, 256, 71] == data["extinfo"][9:15]
        assert 16 == len(data["extinfo"])
        assert "XZ0123456789ABCDEF" == event.payload["user_data"]["anon_id"]
        assert ([], None) == (reasons(event), emulator_verdict(event))

    def test_gaps_are_empty_strings(self) -> None:
        """Missing device details are sent as "" in their position, as Meta asks."""
        context = app(extinfo=extinfo(carrier=None, screen_width=None, version="A2"))
        data = mapped("order", make_order(app=context)).payload["app_data"]

        assert ("a2", "", "") == (data["extinfo"][0], data["extinfo"][8], data["extinfo"][9])

    @pytest.mark.parametrize(
        "context",
        [
            app(extinfo=None),
            app(advertiser_tracking_enabled=None),
            app(extinfo=extinfo(os_version=" ")),
            app(extinfo=extinfo(version="w1")),
            app(anon_id="f" * 64),
        ],
        ids=["no-extinfo", "no-att-flag", "no-os-version", "unknown-version", "hashed-anon-id"],
    )
    def test_incomplete_app_context_is_invalid(self, context: dict[str, Any]) -> None:
        """An app event without what Meta requires in app_data is dead-lettered."""
        assert ["invalid.app_data"] == reasons(mapped("order", make_order(app=context)))

    def test_configured_without_context_is_invalid(self) -> None:
        """APP configured as app, on a record without an app context, fails as invalid.app_data."""
        settings = make_settings(mapping={"order": {"action_sources": {"APP": "app"}}})

        assert ["invalid.app_data"] == reasons(mapped("order", make_order(channel="APP"), settings))


class TestAppendAttribution:
    def test_passback_for_the_purchase(self) -> None:
        """A passback names the order's Purchase, sent earlier as order_<id>, and Meta's credit."""
        purchased = NOW - dt.timedelta(hours=20)
        event = mapped("order", make_order(attribution=passback(purchased)))

        assert ("AppendAttribution", "order_ORD-1") == (event.event_name, event.event_id)
        assert {
            "event_name": "Purchase",
            "event_time": int(purchased.timestamp()),
            "event_id": "order_ORD-1",
            "order_id": "ORD-1",
        } == event.payload["original_event_data"]
        credit = event.payload["attribution_data"]
        assert (0.4, "linear", 7, 57.01) == (
            credit["attribution_share"],
            credit["attribution_model"],
            credit["attr_window"],
            credit["attribution_value"],
        )
        assert ([], None) == (reasons(event), emulator_verdict(event))

    def test_producer_names_the_original(self) -> None:
        """Original event name and id given by the producer win over the defaults."""
        context = passback(
            NOW - dt.timedelta(hours=2), original_event_name="Subscribe", original_event_id="s-9"
        )
        original = mapped("order", make_order(attribution=context)).payload["original_event_data"]

        assert ("Subscribe", "s-9") == (original["event_name"], original["event_id"])

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"original_event_time": None}, "invalid.original_event_data"),
            ({"original_event_time": NOW + dt.timedelta(hours=2)}, "invalid.original_event_data"),
            (
                {"original_event_time": NOW - dt.timedelta(hours=49)},
                "invalid.original_event_too_old",
            ),
            ({"attribution_share": 1.5}, "invalid.attribution_data"),
            ({"attribution_share": None}, "invalid.attribution_data"),
            ({"attribution_model": "data_driven"}, "invalid.attribution_data"),
            ({"attr_window": -1}, "invalid.attribution_data"),
        ],
        ids=[
            "no-original-time",
            "original-after-passback",
            "original-49h-old",
            "share-over-1",
            "no-share",
            "unknown-model",
            "negative-window",
        ],
    )
    def test_broken_passback_is_invalid(self, overrides: dict[str, Any], reason: str) -> None:
        """A passback breaking one of Meta's rules is dead-lettered with its reason."""
        context = passback(NOW - dt.timedelta(hours=3), **overrides)

        assert [reason] == reasons(mapped("order", make_order(attribution=context)))


class TestContextPrecedence:
    def test_chat_wins_over_app(self) -> None:
        """A record with both a chat and an app context is a business messaging event, no app_data."""
        event = mapped("order", make_order(messaging=messaging(), app=app()))

        assert ("business_messaging", False) == (event.action_source, "app_data" in event.payload)

    def test_filtered_status_stays_filtered(self) -> None:
        """A passback on a status that is not a conversion is filtered like its original."""
        record = make_order(status="CANCELLED", attribution=passback(NOW))

        assert "status.cancelled" == getattr(map_record("order", record, SETTINGS), "reason", None)
