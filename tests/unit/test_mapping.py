"""Mapping decoded order and lead records to CAPI events, per the mapping config."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest

from consumer.errors import MappingError
from consumer.mapping import Filtered, map_record
from consumer.models import CapiEvent
from tests.fixtures.factories import NOW, PIXEL, TEST_PIXEL, make_lead, make_order, make_settings

EM_JOHN = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
PH_US = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"


def _event(record: dict[str, object], kind: str = "order") -> CapiEvent:
    result = map_record(kind, record, make_settings())  # type: ignore[arg-type]
    assert isinstance(result, CapiEvent)
    return result


class TestOrder:
    def test_paid_web_order(self) -> None:
        """A paid web order becomes a website Purchase with hashed em/ph and exact money."""
        event = _event(make_order())

        assert "Purchase" == event.event_name
        assert "order_ORD-1" == event.event_id
        assert "website" == event.action_source
        assert int((NOW - dt.timedelta(hours=1)).timestamp()) == event.event_time
        assert [EM_JOHN] == event.payload["user_data"]["em"]
        assert [PH_US] == event.payload["user_data"]["ph"]
        assert 142.52 == event.payload["custom_data"]["value"]
        assert "USD" == event.payload["custom_data"]["currency"]
        assert "https://shop.example.com/thanks" == event.payload["event_source_url"]
        assert event.payload == orjson.loads(event.body)

    def test_money_has_no_float_drift(self) -> None:
        """A decimal total serializes as the same decimal digits in JSON."""
        event = _event(make_order(total=Decimal("1234567890123.45")))

        assert b'"value":1234567890123.45' in event.body

    @pytest.mark.parametrize("status", ["PLACED", "CANCELLED", "REFUNDED", "UNKNOWN"])
    def test_non_conversions_filtered(self, status: str) -> None:
        """Statuses mapped to null are filtered with a reason naming the status."""
        assert Filtered(f"status.{status.lower()}") == map_record(
            "order", make_order(status=status), make_settings()
        )

    def test_producer_event_id_wins(self) -> None:
        """A producer-supplied event_id is used verbatim instead of the template."""
        assert "pixel-side-id-9" == _event(make_order(event_id="pixel-side-id-9")).event_id

    def test_tenant_routes_to_pixel(self) -> None:
        """A record without pixel_id is routed by its tenant key."""
        assert PIXEL == _event(make_order(pixel_id=None, tenant_id="shop-eu")).pixel_id

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"pixel_id": None, "tenant_id": "nobody"}, "mapping.unknown_tenant"),
            ({"pixel_id": None}, "mapping.no_pixel"),
            ({"pixel_id": "999"}, "mapping.unconfigured_pixel"),
            ({"pixel_id": PIXEL, "is_test": True}, "mapping.no_test_event_code"),
        ],
        ids=["unknown-tenant", "no-pixel", "unconfigured-pixel", "test-without-code"],
    )
    def test_unroutable(self, overrides: dict[str, object], reason: str) -> None:
        """Records that cannot be routed to a configured pixel raise MappingError with a reason."""
        with pytest.raises(MappingError) as info:
            map_record("order", make_order(**overrides), make_settings())

        assert reason == info.value.reason

    def test_test_records_carry_test_code(self) -> None:
        """A test record on a pixel with a test code is batched under that code."""
        event = _event(make_order(pixel_id=TEST_PIXEL, is_test=True))

        assert (TEST_PIXEL, "TEST4242") == event.batch_key

    def test_fbc_built_from_fbclid(self) -> None:
        """Without an _fbc cookie, fbc is fb.1.<click ms>.<fbclid> with the fbclid verbatim."""
        clicked = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
        browser = {
            **make_order()["browser"],
            "fbclid": "IwAR2F4-dbP0l7Mn",
            "fbclid_seen_at": clicked,
        }  # type: ignore[dict-item]

        event = _event(make_order(browser=browser))

        assert (
            f"fb.1.{int(clicked.timestamp() * 1000)}.IwAR2F4-dbP0l7Mn"
            == event.payload["user_data"]["fbc"]
        )

    def test_ldu_consent(self) -> None:
        """Limited Data Use consent becomes data_processing_options with country and state."""
        consent = {"limited_data_use": True, "ldu_country": 1, "ldu_state": 1000, "opt_out": True}

        payload = _event(make_order(consent=consent)).payload

        assert (["LDU"], 1, 1000, True) == (
            payload["data_processing_options"],
            payload["data_processing_options_country"],
            payload["data_processing_options_state"],
            payload["opt_out"],
        )


class TestLead:
    def test_crm_lead(self) -> None:
        """A CRM lead is system_generated with event_source crm and the CRM's name."""
        event = _event(make_lead(), "lead")

        assert ("Lead", "lead_L-1_NEW", "system_generated") == (
            event.event_name,
            event.event_id,
            event.action_source,
        )
        assert {"event_source": "crm", "lead_event_source": "HubSpot"} == event.payload[
            "custom_data"
        ]

    def test_meta_lead_id(self) -> None:
        """A Meta Lead Ads id is sent as an integer user_data.lead_id."""
        event = _event(make_lead(meta_lead_id="1234567890123456"), "lead")

        assert 1234567890123456 == event.payload["user_data"]["lead_id"]
