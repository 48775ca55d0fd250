"""A seeded, deterministic sample of order and lead events, produced in the Confluent wire format.

Records are serialized by confluent-kafka's own ``AvroSerializer`` against a real Schema
Registry API, so the consumer decodes exactly what a Confluent producer would publish. The
sample knows what should happen to each record (``Expected``): the demo prints it next to
what did happen, and the integration tests assert on it.

Deliberate trouble in every sample: repeats of the same event (producer retries), cancelled and
placed orders (not conversions), one malformed record and one event older than Meta's 7 days.
Some records carry the parameters Meta added since 2024: net_revenue, an in-app purchase
(``app``), a Click-to-WhatsApp lead (``messaging``) and an AppendAttribution passback for a paid
order (``attribution``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.schemas import parse_schema_text

__all__ = [
    "DEMO_PIXELS",
    "Expected",
    "SampleRecord",
    "build_sample",
    "expected_of",
    "produce_bulk_orders",
    "produce_sample",
]

DEMO_PIXELS = ("1000000000000001", "1000000000000002", "1000000000000003")
TEST_PIXEL = DEMO_PIXELS[1]  # some of its orders are test records (dropped: test_traffic drop)
TENANT_PIXEL = ("shop-eu", DEMO_PIXELS[2])  # records of this tenant carry no pixel_id
_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
_FIRST = ["Mary", "John", "Valéry", "정", "Zoë", "Seán", "Ana María", "Li"]
_LAST = ["Smith", "O'Brien", "García", "Kim", "Dubois", "Müller", "Nguyen"]
_PLACES = [
    ("US", "+1 650 555 {:04d}", "CA", "94035"),
    ("GB", "020 7946 {:04d}", "London", "M1 1AE"),
    ("FR", "06 12 34 {:04d}", "Paris", "75018"),
    ("US", "(415) 555-{:04d}", "NY", "10001"),
]
_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
_ORDER_ACTION = {"WEB": "website", "IN_STORE": "physical_store", "PHONE": "phone_call"}


@dataclass(frozen=True, slots=True)
class SampleRecord:
    topic: str
    key: str
    value: dict[str, Any] | bytes  # bytes = deliberately malformed
    expect: str  # sent | duplicate | filtered | dead_lettered
    event: tuple[str, str, str] | None = None  # (pixel_id, event_name, event_id) when sent


@dataclass(slots=True)
class Expected:
    outcomes: Counter[str] = field(default_factory=Counter)
    sent: set[tuple[str, str, str]] = field(default_factory=set)
    sent_per_pixel: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


def build_sample(
    orders: int = 200, leads: int = 60, seed: int = 7, now: dt.datetime | None = None
) -> list[SampleRecord]:
    """The sample, deterministic for a given seed and ``now``."""
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    records: list[SampleRecord] = []
    for index in range(orders):
        records.extend(_order(rng, index, now))
    for index in range(leads):
        records.extend(_lead(rng, index, now))
    records.append(
        SampleRecord("orders", "ORD-MALFORMED", b'{"order_id": "not avro"}', "dead_lettered")
    )
    stale = _order_value(rng, orders, now - dt.timedelta(days=10), "PAID", "PHONE")
    records.append(SampleRecord("orders", stale["order_id"], stale, "dead_lettered"))
    return records


def expected_of(records: list[SampleRecord]) -> Expected:
    expected = Expected()
    for record in records:
        expected.outcomes[record.expect] += 1
        if record.event is not None:
            expected.sent.add(record.event)
            expected.sent_per_pixel[record.event[0]] += 1
    return expected


def _order(rng: random.Random, index: int, now: dt.datetime) -> list[SampleRecord]:
    status = rng.choices(["PAID", "PLACED", "CANCELLED"], weights=[8, 1, 1])[0]
    channel = rng.choices(["WEB", "IN_STORE", "PHONE"], weights=[7, 2, 1])[0]
    occurred = now - dt.timedelta(minutes=rng.randint(1, 600))
    value = _order_value(rng, index, occurred, status, channel)
    if status != "PAID" or value["is_test"]:  # test records: test_traffic drop (the default)
        return [SampleRecord("orders", value["order_id"], value, "filtered")]
    pixel = value["pixel_id"] or TENANT_PIXEL[1]
    event = (pixel, "Purchase", f"order_{value['order_id']}")
    first = SampleRecord("orders", value["order_id"], value, "sent", event)
    if index % 10 == 3:  # a producer retry: the same record again
        return [first, SampleRecord("orders", value["order_id"], value, "duplicate")]
    if index % 25 == 11:  # the shop's attribution model credits Meta: an AppendAttribution
        passback = {**value, "attribution": _passback(rng, occurred)}
        passback["occurred_at"] = min(occurred + dt.timedelta(minutes=30), now)
        appended = (pixel, "AppendAttribution", event[2])
        return [first, SampleRecord("orders", value["order_id"], passback, "sent", appended)]
    return [first]


def _order_value(
    rng: random.Random, index: int, occurred: dt.datetime, status: str, channel: str
) -> dict[str, Any]:
    pixel = rng.choice(DEMO_PIXELS)
    items: list[dict[str, Any]] = [
        {
            "sku": f"SKU-{rng.randint(100, 999)}",
            "name": None,
            "category": None,
            "quantity": rng.randint(1, 3),
            "unit_price": Decimal(rng.randint(199, 19999)) / 100,
        }
        for _ in range(rng.randint(1, 4))
    ]
    return {
        "order_id": f"ORD-{index:06d}",
        "event_id": None,
        "status": status,
        "occurred_at": occurred,
        "channel": channel,
        "pixel_id": None if pixel == TENANT_PIXEL[1] else pixel,
        "tenant_id": TENANT_PIXEL[0] if pixel == TENANT_PIXEL[1] else None,
        "currency": rng.choice(["USD", "EUR", "GBP"]),
        "total": sum((item["unit_price"] * item["quantity"] for item in items), Decimal("0.00")),
        "predicted_ltv": None,
        "line_items": items,
        "delivery_category": "HOME_DELIVERY" if channel == "WEB" else None,
        "customer": _customer(rng, index),
        "browser": _browser(rng, occurred) if channel == "WEB" else None,
        "consent": {"limited_data_use": True, "ldu_country": 1, "ldu_state": 1000, "opt_out": False}
        if index % 17 == 0
        else None,
        "is_test": pixel == TEST_PIXEL and index % 9 == 0,
        "net_revenue": (Decimal(rng.randint(100, 4000)) / 100) if index % 5 == 1 else None,
        "messaging": None,
        "app": _app(rng) if index % 25 == 7 else None,
        "attribution": None,
    }


def _lead(rng: random.Random, index: int, now: dt.datetime) -> list[SampleRecord]:
    stage = rng.choices(["NEW", "QUALIFIED", "CONVERTED", "CONTACTED"], weights=[5, 2, 1, 2])[0]
    source = rng.choice(["WEB_FORM", "CRM", "META_LEAD_AD"])
    occurred = now - dt.timedelta(minutes=rng.randint(1, 600))
    pixel = rng.choice(DEMO_PIXELS[:2])
    value: dict[str, Any] = {
        "lead_id": f"LEAD-{index:05d}",
        "event_id": f"crm-{index:05d}-{stage.lower()}"
        if index % 5 == 0
        else None,  # producer-supplied ids win
        "stage": stage,
        "occurred_at": occurred,
        "source": source,
        "crm_name": "HubSpot" if source == "CRM" else None,
        "meta_lead_id": str(rng.randint(10**15, 10**16 - 1)) if source == "META_LEAD_AD" else None,
        "pixel_id": pixel,
        "tenant_id": None,
        "currency": "USD",
        "value": Decimal(rng.randint(1000, 50000)),
        "customer": _customer(rng, 10_000 + index),
        "browser": _browser(rng, occurred) if source == "WEB_FORM" else None,
        "consent": None,
        "is_test": False,
        "messaging": _whatsapp(rng) if index % 12 == 2 else None,
        "app": None,
    }
    names = {"NEW": "Lead", "QUALIFIED": "QualifiedLead", "CONVERTED": "ConvertedLead"}
    if stage not in names:
        return [SampleRecord("leads", value["lead_id"], value, "filtered")]
    event_id = value["event_id"] or f"lead_{value['lead_id']}_{stage}"
    return [SampleRecord("leads", value["lead_id"], value, "sent", (pixel, names[stage], event_id))]


def _whatsapp(rng: random.Random) -> dict[str, Any]:
    """A Click-to-WhatsApp chat: the WhatsApp Business Account and the ad's click id."""
    return {
        "channel": "WHATSAPP",
        "ctwa_clid": f"ARA{rng.getrandbits(96):024x}",
        "whatsapp_business_account_id": "102012345678901",
        "page_id": None,
        "page_scoped_user_id": None,
        "ig_account_id": None,
        "ig_sid": None,
    }


def _app(rng: random.Random) -> dict[str, Any]:
    """An in-app purchase on an Android phone (ATT is iOS only: tracking flag false)."""
    return {
        "advertiser_tracking_enabled": False,
        "application_tracking_enabled": True,
        "extinfo": {
            "version": "a2",
            "package_name": "com.example.shop",
            "short_version": "4.2",
            "long_version": "4.2.1",
            "os_version": "15",
            "device_model": "Pixel 9",
            "locale": "en_US",
            "timezone_abbreviation": "CET",
            "carrier": None,
            "screen_width": 1080,
            "screen_height": 2424,
            "screen_density": "2.6",
            "cpu_cores": 8,
            "storage_gb": 128,
            "free_storage_gb": rng.randint(5, 100),
            "device_timezone": "Europe/Berlin",
        },
        "anon_id": f"XZ{rng.getrandbits(64):016X}",
        "madid": None,
        "campaign_ids": None,
        "install_referrer": None,
        "installer_package": "com.android.vending",
        "url_schemes": [],
        "vendor_id": None,
    }


def _passback(rng: random.Random, purchased: dt.datetime) -> dict[str, Any]:
    """Meta's share of the credit for the order's Purchase, by the shop's own model."""
    return {
        "original_event_name": None,
        "original_event_time": purchased,
        "original_event_id": None,
        "original_order_id": None,
        "scope": "click",
        "visit_time": purchased - dt.timedelta(hours=2),
        "ad_id": f"1202{rng.randint(10**13, 10**14 - 1)}",
        "adset_id": None,
        "campaign_id": None,
        "attribution_share": rng.choice([0.25, 0.5, 1.0]),
        "attribution_model": "linear",
        "attr_window": 7,
        "attribution_value": None,
        "attribution_source": None,
        "touchpoint_type": None,
        "touchpoint_ts": None,
        "touchpoint_id": None,
        "total_credit": None,
        "inactivity_window_hours": None,
        "reattribution_window_hours": None,
    }


def _customer(rng: random.Random, index: int) -> dict[str, Any]:
    country, phone, city, postal = rng.choice(_PLACES)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {
        "external_id": f"cust-{index:06d}",
        "email": f" {first.split()[0]}.{index}@Example.COM ",
        "phone": phone.format(rng.randint(0, 9999)),
        "first_name": first,
        "last_name": last,
        "date_of_birth": dt.date(1960 + rng.randint(0, 40), rng.randint(1, 12), rng.randint(1, 28)),
        "gender": rng.choice(["female", "Male", "F", None]),
        "city": city,
        "state": None,
        "postal_code": postal,
        "country": country,
    }


def _browser(rng: random.Random, occurred: dt.datetime) -> dict[str, Any]:
    clicked = occurred - dt.timedelta(minutes=rng.randint(1, 120))
    has_cookie = rng.random() < 0.5
    return {
        "fbp": f"fb.1.{int(clicked.timestamp() * 1000)}.{rng.randint(0, 2**31 - 1)}",
        "fbc": None,
        "fbclid": None if not has_cookie else f"IwAR{rng.getrandbits(64):016x}",
        "fbclid_seen_at": clicked if has_cookie else None,
        "client_ip": f"203.0.113.{rng.randint(1, 254)}",
        "user_agent": _UA,
        "page_url": "https://shop.example.com/checkout/complete",
        "referrer_url": "https://shop.example.com/cart",
    }


def produce_sample(
    bootstrap: str,
    registry_url: str,
    records: list[SampleRecord],
    topics: Mapping[str, str] | None = None,
) -> None:
    """Serialize with the real AvroSerializer (schemas auto-registered) and produce; wait for acks.

    ``topics`` renames the sample's topics (``{"orders": "t1-orders"}``), for tests sharing a broker.
    """
    rename = dict(topics or {})
    with SchemaRegistryClient({"url": registry_url}) as client:
        serializers = {
            topic: AvroSerializer(
                client, (_SCHEMAS / name).read_text(), conf={"auto.register.schemas": True}
            )
            for topic, name in (("orders", "order_event.avsc"), ("leads", "lead_event.avsc"))
        }
        producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 10}
        )
        for record in records:
            topic = rename.get(record.topic, record.topic)
            value = record.value
            if not isinstance(value, bytes):
                value = serializers[record.topic](
                    value, SerializationContext(topic, MessageField.VALUE)
                )
            producer.produce(topic, key=record.key.encode(), value=value)
            producer.poll(0)
        remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} sample records were not acknowledged")


def as_json(records: list[SampleRecord]) -> str:
    """The sample as JSON lines (debugging aid)."""
    return "\n".join(
        json.dumps({"topic": r.topic, "key": r.key, "expect": r.expect}) for r in records
    )


def produce_bulk_orders(
    bootstrap: str,
    registry_url: str,
    topic: str,
    count: int,
    *,
    seed: int = 1,
    pixels: tuple[str, ...] = DEMO_PIXELS,
) -> None:
    """``count`` distinct paid web orders, fast, for load tests and benchmarks.

    The schema is registered once through the real client; one record per pixel is serialized
    by fastavro and copied with a different ``order_id`` (the first field, fixed length).
    """
    with SchemaRegistryClient({"url": registry_url}) as client:
        text = (_SCHEMAS / "order_event.avsc").read_text()
        schema_id = client.register_schema(f"{topic}-value", Schema(text, "AVRO"))
    parsed = parse_schema_text(text)
    header = b"\x00" + struct.pack(">I", schema_id)
    first_id = f"BULK-{seed:04d}-{0:09d}"
    tails = [_bulk_tail(parsed, seed, pixel, first_id) for pixel in pixels]
    length = _zigzag_varint(len(first_id))
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000}
    )
    for index in range(count):
        order_id = f"BULK-{seed:04d}-{index:09d}".encode()
        value = header + length + order_id + tails[index % len(tails)]
        _produce_retrying(producer, topic, order_id, value)
    if producer.flush(60):
        raise RuntimeError("bulk orders were not all acknowledged")


def _bulk_tail(parsed: dict[str, Any], seed: int, pixel: str, order_id: str) -> bytes:
    record = _order_value(random.Random(seed), 0, dt.datetime.now(dt.UTC), "PAID", "WEB")
    record.update(order_id=order_id, pixel_id=pixel, tenant_id=None, is_test=False)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()[len(_zigzag_varint(len(order_id))) + len(order_id) :]


def _zigzag_varint(value: int) -> bytes:
    encoded, zigzag = bytearray(), (value << 1) ^ (value >> 63)
    while zigzag > 0x7F:
        encoded.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    encoded.append(zigzag)
    return bytes(encoded)


def _produce_retrying(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value)
        except BufferError:
            producer.poll(0.05)
        else:
            producer.poll(0)
            return
