"""Mapping decoded order and lead records to CAPI events, per the mapping config."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest
from pydantic import ValidationError as PydanticValidationError

from consumer.core.mapping import Filtered, map_record
from consumer.core.models import CapiEvent
from consumer.core.normalize import sha256_hex
from consumer.errors import MappingError
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

    @pytest.mark.parametrize(
        "template", ["order_{order_id.nope}", "order_{order_id[x]}", "order_{missing}", "{0}"]
    )
    def test_bad_event_id_template_is_a_mapping_error(self, template: str) -> None:
        """DESIGN §3 / §1.5: a template that cannot render for a record (attribute, index or
        missing field) is a MappingError with reason mapping.event_id_template, never a crash."""
        settings = make_settings(mapping={"order": {"event_id_template": template}})

        with pytest.raises(MappingError) as info:
            map_record("order", make_order(), settings)

        assert "mapping.event_id_template" == info.value.reason

    def test_tenant_routes_to_pixel(self) -> None:
        """A record without pixel_id is routed by its tenant key."""
        assert PIXEL == _event(make_order(pixel_id=None, tenant_id="shop-eu")).pixel_id

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"pixel_id": None, "tenant_id": "nobody"}, "mapping.unknown_tenant"),
            ({"pixel_id": None}, "mapping.no_pixel"),
            ({"pixel_id": "999"}, "mapping.unconfigured_pixel"),
        ],
        ids=["unknown-tenant", "no-pixel", "unconfigured-pixel"],
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


RICH_CUSTOMER = {
    "external_id": "cust-1",
    "email": "John_Smith@gmail.com",
    "phone": "(650)555-1212",
    "first_name": "Valéry",
    "last_name": "O'Brien",
    "date_of_birth": dt.date(1997, 2, 16),
    "gender": "Female",
    "city": "New York",
    "state": "New York",
    "postal_code": "10001-1234",
    "country": "United States",
}


class TestUserData:
    def test_every_field_hashed(self) -> None:
        """Every customer field lands in user_data as a one-element list of its documented hash."""
        user_data = _event(make_order(customer=RICH_CUSTOMER)).payload["user_data"]

        expected = {
            "em": "john_smith@gmail.com",
            "ph": "16505551212",
            "fn": "valéry",
            "ln": "obrien",
            "db": "19970216",
            "ge": "f",
            "ct": "newyork",
            "st": "ny",
            "zp": "10001",
            "country": "us",
            "external_id": "cust-1",
        }
        assert {k: [sha256_hex(v)] for k, v in expected.items()} == {
            k: user_data[k] for k in expected
        }

    def test_raw_identifiers_unhashed(self) -> None:
        """fbp, client IP and user agent are sent as the browser saw them."""
        user_data = _event(make_order()).payload["user_data"]

        assert ("fb.1.1596403881668.1116446470", "168.212.226.204", "Mozilla/5.0") == (
            user_data["fbp"],
            user_data["client_ip_address"],
            user_data["client_user_agent"],
        )

    def test_unusable_values_dropped_with_reasons(self) -> None:
        """Values that cannot be normalized are dropped and reported; the rest still goes."""
        customer = {**RICH_CUSTOMER, "email": "john@", "phone": "12", "gender": "?"}
        browser = {**make_order()["browser"], "client_ip": "not-an-ip", "fbp": "cookie"}

        event = _event(make_order(customer=customer, browser=browser))

        assert (
            ("em", "no_domain"),
            ("ph", "too_few_digits"),
            ("ge", "unrecognized"),
            ("client_ip_address", "not_an_ip_address"),
            ("fbp", "malformed_cookie"),
        ) == event.dropped
        assert not {"em", "ph", "ge", "client_ip_address", "fbp"} & set(event.payload["user_data"])
        assert b"john@" not in event.body

    @pytest.mark.parametrize("client_ip", ["1.2.3.4\x00", "::1\x00", "\x00"])
    def test_ip_with_nul_character_dropped(self, client_ip: str) -> None:
        """capi.md §3: client_ip_address must be a valid IPv4/IPv6 address. A NUL character (valid
        in an Avro string) makes inet_pton raise ValueError: the value is dropped, not a crash."""
        browser = {**make_order()["browser"], "client_ip": client_ip}

        event = _event(make_order(browser=browser))

        assert (("client_ip_address", "not_an_ip_address"),) == event.dropped
        assert "client_ip_address" not in event.payload["user_data"]

    @pytest.mark.parametrize(
        ("fbp", "sent"),
        [
            ("fb.1.1596403881668.1116446470", True),
            ("fb.1.1596403881668.1116446470.AQICAQMC", True),  # param-builder appendix
            ("fb.1.1554763741205.AbCdEf", False),  # an fbclid, not the Pixel's random number
        ],
        ids=["plain", "appendix", "letters"],
    )
    def test_fbp_random_part_is_a_number(self, fbp: str, sent: bool) -> None:
        """capi.md §3.1: fbp is fb.{subdomain}.{creation_ms}.{random}, the random part a number
        (plus an optional param-builder appendix); anything else is dropped as malformed."""
        browser = {**make_order()["browser"], "fbp": fbp}

        event = _event(make_order(browser=browser))

        assert (fbp if sent else None) == event.payload["user_data"].get("fbp")
        assert (() if sent else (("fbp", "malformed_cookie"),)) == event.dropped

    def test_external_id_lowercase_form(self) -> None:
        """external_id can be hashed lowercased, to match a pixel that lowercases it."""
        settings = make_settings(mapping={"external_id_form": "lowercase"})
        customer = {**RICH_CUSTOMER, "external_id": " CUST-1 "}

        event = map_record("order", make_order(customer=customer), settings)

        assert isinstance(event, CapiEvent)
        assert [sha256_hex("cust-1")] == event.payload["user_data"]["external_id"]

    def test_default_country_reads_national_phone(self) -> None:
        """A single-country shop's default country reads national numbers of customers without one."""
        customer = {"email": None, "phone": "020 7946 0958", "country": None}
        settings = make_settings(mapping={"default_country": "GB"})

        event = map_record("order", make_order(customer=customer), settings)

        assert isinstance(event, CapiEvent)
        assert [sha256_hex("442079460958")] == event.payload["user_data"]["ph"]
        assert "country" not in event.payload["user_data"]

    def test_bad_lead_id_dropped(self) -> None:
        """A Meta lead id that is not 15-17 digits is dropped, not sent (Meta would reject)."""
        event = _event(make_lead(meta_lead_id="12345"), "lead")

        assert "lead_id" not in event.payload["user_data"]
        assert (("lead_id", "not_15_to_17_digits"),) == event.dropped


class TestCustomData:
    def test_order_fields(self) -> None:
        """custom_data carries value, currency, contents, ids, type, count, order id, LTV, delivery."""
        record = make_order(predicted_ltv=Decimal("900.10"), delivery_category="CURBSIDE")

        custom = _event(record).payload["custom_data"]

        assert {
            "value": 142.52,
            "currency": "USD",
            "contents": [
                {"id": "SKU-1", "quantity": 2, "item_price": 71.26, "delivery_category": "curbside"}
            ],
            "content_ids": ["SKU-1"],
            "content_type": "product",
            "num_items": 2,
            "order_id": "ORD-1",
            "predicted_ltv": 900.1,
            "delivery_category": "curbside",
        } == custom

    def test_blank_currency_not_sent(self) -> None:
        """capi.md §4: currency is an ISO 4217 3-letter code. A blank one is left out of
        custom_data, not sent as "" (a Purchase without it is then invalid, see validation)."""
        settings = make_settings(mapping={"order": {"statuses": {"PLACED": "InitiateCheckout"}}})

        order = map_record("order", make_order(status="PLACED", currency="  "), settings)
        lead = _event(make_lead(currency=" "), "lead")

        assert isinstance(order, CapiEvent)
        assert "currency" not in order.payload["custom_data"]
        assert "currency" not in lead.payload.get("custom_data", {})

    def test_huge_amount_keeps_its_digits(self) -> None:
        """An amount beyond float precision is sent with the decimal's exact digits."""
        event = _event(make_order(total=Decimal("1234567890123456.78")))

        assert b'"value":1234567890123456.78' in event.body

    def test_extra_properties(self) -> None:
        """Configured extra properties are copied from the record by dotted path."""
        settings = make_settings(
            mapping={"order": {"custom_properties": {"shop": "tenant_id", "city": "customer.city"}}}
        )
        record = make_order(tenant_id="shop-eu", customer=RICH_CUSTOMER)

        event = map_record("order", record, settings)

        assert isinstance(event, CapiEvent)
        assert ("shop-eu", "New York") == (
            event.payload["custom_data"]["shop"],
            event.payload["custom_data"]["city"],
        )

    def test_extra_property_cannot_shadow_standard(self) -> None:
        """A custom property named like a standard custom_data key is a config error."""
        with pytest.raises(PydanticValidationError):
            make_settings(mapping={"order": {"custom_properties": {"value": "total"}}})

    def test_physical_store(self) -> None:
        """An in-store order is a physical_store event without event_source_url requirements."""
        event = _event(make_order(channel="IN_STORE", browser=None))

        assert "physical_store" == event.action_source

    def test_crm_default_name(self) -> None:
        """A CRM lead without crm_name uses the configured default CRM name."""
        event = _event(make_lead(crm_name=None), "lead")

        assert "CRM" == event.payload["custom_data"]["lead_event_source"]
