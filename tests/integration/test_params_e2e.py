"""Meta's 2024-2026 parameters end to end: Avro records through Kafka, the real pipeline, the emulator.

Each parameter (net_revenue, business messaging, app events, AppendAttribution) is produced as an
Avro record with the real serializer and registry, consumed by the real consumer on the embedded
broker, and accepted and recorded by the CAPI emulator; one broken record of each kind is
dead-lettered with its reason. A malformed payload of each kind, POSTed straight to the emulator
over HTTP, is refused with Graph code 100.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from consumer.devstack.emulator import EmbeddedEmulator
from consumer.devstack.sample import DEMO_PIXELS, SampleRecord
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN
from tests.fixtures.factories import make_lead, make_order
from tests.fixtures.params import CTWA_CLID, WABA_ID, app, extinfo, messaging, passback
from tests.fixtures.pipeline import ConsumerRig

pytestmark = pytest.mark.integration

PIXEL = DEMO_PIXELS[0]


def _records(now: dt.datetime) -> tuple[list[SampleRecord], Counter[str]]:
    """Four valid records (one per parameter) and four broken ones, with the reasons expected."""
    at = now - dt.timedelta(minutes=5)
    order: dict[str, Any] = {"pixel_id": PIXEL, "occurred_at": at}
    valid = [
        ("orders", "ORD-NR", make_order(order_id="ORD-NR", net_revenue=Decimal("38.40"), **order)),
        ("leads", "L-WA", make_lead(lead_id="L-WA", messaging=messaging(), **order)),
        ("orders", "ORD-APP", make_order(order_id="ORD-APP", channel="APP", app=app(), **order)),
        (
            "orders",
            "ORD-PB",
            make_order(
                order_id="ORD-PB", attribution=passback(now - dt.timedelta(hours=20)), **order
            ),
        ),
    ]
    broken = [
        (
            "invalid.net_revenue",
            make_order(
                order_id="B1", status="PLACED", currency=" ", net_revenue=Decimal("1"), **order
            ),
        ),
        (
            "invalid.messaging_identifiers",
            make_lead(lead_id="B2", messaging=messaging(ctwa_clid=None), **order),
        ),
        (
            "invalid.app_data",
            make_order(order_id="B3", app=app(extinfo=extinfo(version=None)), **order),
        ),
        (
            "invalid.original_event_too_old",
            make_order(order_id="B4", attribution=passback(now - dt.timedelta(hours=49)), **order),
        ),
    ]
    records = [SampleRecord(topic, key, value, "sent") for topic, key, value in valid]
    for reason, value in broken:
        topic = "leads" if "lead_id" in value else "orders"
        records.append(SampleRecord(topic, reason, value, "dead_lettered"))
    return records, Counter(reason for reason, _ in broken)


def test_new_parameters_end_to_end(consumer_rig: ConsumerRig) -> None:
    """Every new parameter reaches the emulator as Meta documents it; each broken kind is a DLQ reason."""
    now = dt.datetime.now(dt.UTC)
    records, expected_reasons = _records(now)
    consumer_rig.produce(records)
    settings = consumer_rig.settings(
        mapping={"order": {"statuses": {"PAID": "Purchase", "PLACED": "InitiateCheckout"}}}
    )

    stats = consumer_rig.run(until=lambda p: p.stats.settled >= len(records), settings=settings)

    assert expected_reasons == stats.dead_letter_reasons
    received = {e["event"]["event_id"]: e["event"] for e in consumer_rig.emulator.client.events()}
    assert {"order_ORD-NR", "lead_L-WA_NEW", "order_ORD-APP", "order_ORD-PB"} == set(received)
    assert 38.4 == received["order_ORD-NR"]["custom_data"]["net_revenue"]
    chat = received["lead_L-WA_NEW"]
    assert ("business_messaging", "whatsapp", WABA_ID, CTWA_CLID) == (
        chat["action_source"],
        chat["messaging_channel"],
        chat["user_data"]["whatsapp_business_account_id"],
        chat["user_data"]["ctwa_clid"],
    )
    in_app = received["order_ORD-APP"]
    assert ("app", "i2", 16, True) == (
        in_app["action_source"],
        in_app["app_data"]["extinfo"][0],
        len(in_app["app_data"]["extinfo"]),
        in_app["app_data"]["advertiser_tracking_enabled"],
    )
    passed_back = received["order_ORD-PB"]
    assert ("AppendAttribution", "Purchase", "order_ORD-PB", 0.4) == (
        passed_back["event_name"],
        passed_back["original_event_data"]["event_name"],
        passed_back["original_event_data"]["event_id"],
        passed_back["attribution_data"]["attribution_share"],
    )


EXTINFO: list[Any] = ["i2", "com.example", "1", "1", "18.1", "iPhone", "en_US", "PST"]
EXTINFO += ["", 1179, 2556, "3.0", 6, 256, 71, "America/Los_Angeles"]


def _event(now: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": now - 60,
        "action_source": "system_generated",
        "event_id": "e-1",
        "user_data": {"external_id": "c-1"},
        "custom_data": {"value": 10.0, "currency": "EUR"},
    }
    base.update(fields)
    return base


MALFORMED = {
    "net_revenue-string": {"custom_data": {"value": 10.0, "currency": "EUR", "net_revenue": "3"}},
    "whatsapp-no-click-id": {
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {"whatsapp_business_account_id": WABA_ID},
    },
    "app-15-extinfo": {
        "action_source": "app",
        "app_data": {"advertiser_tracking_enabled": True, "extinfo": EXTINFO[:15]},
    },
    "passback-share-2": {
        "event_name": "AppendAttribution",
        "original_event_data": {"event_name": "Purchase", "event_time": 0, "event_id": "e-0"},
        "attribution_data": {"attribution_share": 2},
    },
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_emulator_refuses_malformed_payloads(
    capi_emulator: EmbeddedEmulator, case: str
) -> None:
    """A malformed payload of each kind, POSTed over HTTP, gets Graph code 100 and is not recorded."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    fields = dict(MALFORMED[case])
    if case.startswith("passback"):
        fields["original_event_data"] = {**fields["original_event_data"], "event_time": now - 600}
    url = f"{capi_emulator.url}/v26.0/{PIXEL_PLAIN}/events"
    token = str(EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"])
    before = len(capi_emulator.client.events(PIXEL_PLAIN))
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(
            url, json={"data": [_event(now, **fields)]}, params={"access_token": token}
        ) as response,
    ):
        body = json.loads(await response.text())

    assert (400, 100) == (response.status, body["error"]["code"])
    assert before == len(capi_emulator.client.events(PIXEL_PLAIN))
