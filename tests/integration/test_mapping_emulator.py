"""A richly mapped order and CRM lead, POSTed by the real sender, are accepted by the CAPI emulator."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from consumer.core.batching import Batch
from consumer.core.graph_errors import Kind
from consumer.core.mapping import map_record
from consumer.core.models import CapiEvent
from consumer.core.validation import validate_event
from consumer.devstack.emulator import EmbeddedEmulator, EmulatorClient
from consumer.sender import CapiSender
from consumer.settings import Settings
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN
from tests.fixtures.factories import make_lead, make_order

pytestmark = pytest.mark.integration

CUSTOMER = {
    "external_id": "cust-42",
    "email": " Valery.OBrien@Example.com ",
    "phone": "020 7946 0958",
    "first_name": "Valéry",
    "last_name": "O'Brien",
    "date_of_birth": dt.date(1988, 7, 14),
    "gender": "Female",
    "city": "London",
    "state": "England",
    "postal_code": "SW1A 1AA",
    "country": "United Kingdom",
}


def _settings(emulator: EmbeddedEmulator) -> Settings:
    token = str(EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"])
    return Settings(
        pixels={PIXEL_PLAIN: {"access_token": token, "api_version": "v25.0"}},
        meta={"base_url": emulator.url, "request_timeout_s": 5},
        schema_registry={"url": "http://127.0.0.1:1"},
    )


def _mapped(settings: Settings) -> list[CapiEvent]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    order = make_order(
        pixel_id=PIXEL_PLAIN,
        occurred_at=now - dt.timedelta(minutes=5),
        customer=CUSTOMER,
        currency="gbp",
        predicted_ltv=Decimal("310.00"),
        delivery_category="HOME_DELIVERY",
        consent={"limited_data_use": True, "ldu_country": 0, "ldu_state": 0, "opt_out": True},
        browser={
            **make_order()["browser"],
            "client_ip": "2001:db8::1",
            "fbclid": "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk",
            "fbclid_seen_at": now - dt.timedelta(hours=2),
            "referrer_url": "https://www.facebook.com/",
        },
    )
    lead = make_lead(
        pixel_id=PIXEL_PLAIN,
        occurred_at=now - dt.timedelta(minutes=3),
        customer=CUSTOMER,
        meta_lead_id="123456789012345",
        value=Decimal("5000.00"),
        currency="eur",
        stage="QUALIFIED",
    )
    events = [map_record("order", order, settings), map_record("lead", lead, settings)]
    assert all(isinstance(event, CapiEvent) for event in events)
    return events  # type: ignore[return-value]


async def test_rich_events_accepted(
    capi_emulator: EmbeddedEmulator, emulator_client: EmulatorClient
) -> None:
    """Every user_data field, custom_data, consent and a CRM lead pass Meta's rules as the emulator enforces them."""
    settings = _settings(capi_emulator)
    events = _mapped(settings)
    for event in events:
        validate_event(event, dt.datetime.now(dt.UTC).timestamp(), settings.mapping.future_skew_s)
    batch: Batch[None] = Batch((PIXEL_PLAIN, None), 0.0, events, [None, None])
    sender = CapiSender(settings.meta, dict(settings.pixels))
    try:
        verdict = await sender.post(batch)
    finally:
        await sender.close()

    assert (Kind.OK, 2) == (verdict.kind, verdict.events_received)
    received = [item["event"] for item in emulator_client.events(PIXEL_PLAIN)]
    assert [event.payload["event_id"] for event in events] == [e["event_id"] for e in received]
    assert {"em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"} <= set(
        received[0]["user_data"]
    )
    assert 123456789012345 == received[1]["user_data"]["lead_id"]
    assert () == events[0].dropped
