"""Mapping: record -> normalized, hashed, serialized CAPI event, ours vs Meta's SDK, side by side.

Both paths get the same distinct customers (unique email, phone, name, external id per record;
countries and states from a small set, as a real shop's are). Ours: ``map_record`` (map + normalize
+ SHA-256 + orjson). SDK: ``UserData``/``CustomData``/``Content``/``Event`` from facebook-business,
``Event.normalize()`` (its normalize + hash) and ``json.dumps``. The SDK gets phones in ``+1 ...``
form because it raises on national numbers; ours gets the same, and separately national numbers
with the customer's country, UK national numbers, and numbers with an extension (which the fast
path hands to the full phonenumbers parser). Last, a floor: the unavoidable CPython calls for this
event with every check left out (``_floor``), to show how much room any Python mapper has.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.content import Content
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.user_data import UserData

from consumer.core.digest import sha256_hex
from consumer.core.mapping import map_record
from consumer.settings import Settings

__all__ = ["run"]

RECORDS = 1000
ROUNDS = 15  # best of many short interleaved rounds: the least disturbed by other load
PIXEL = "1000000000000001"
PLACES = [("New York", "NY", "10001"), ("San Francisco", "CA", "94103"), ("Austin", "TX", "73301")]


def _record(rng: random.Random, index: int, phone: str, country: str) -> dict[str, Any]:
    city, state, zip_code = rng.choice(PLACES)
    now = dt.datetime.now(dt.UTC)
    return {
        "order_id": f"ORD-{index}",
        "status": "PAID",
        "occurred_at": now,
        "channel": "WEB",
        "pixel_id": PIXEL,
        "currency": "usd",
        "total": Decimal(rng.randint(100, 99999)) / 100,
        "line_items": [{"sku": f"SKU-{index % 97}", "quantity": 2, "unit_price": Decimal("71.26")}],
        "customer": {
            "external_id": f"cust-{index}",
            "email": f"Shopper.{index}@Example.com",
            "phone": phone,
            "first_name": rng.choice(["Mary", "Valéry", "John", "Zoë"]) + str(index % 13 * "a"),
            "last_name": f"Smith-{index}",
            "date_of_birth": dt.date(1970 + index % 40, 1 + index % 12, 1 + index % 28),
            "gender": rng.choice(["female", "male"]),
            "city": city,
            "state": state,
            "postal_code": zip_code,
            "country": country,
        },
        "browser": {
            "fbp": f"fb.1.1596403881668.{index}",
            "client_ip": "168.212.226.204",
            "user_agent": "Mozilla/5.0",
            "page_url": "https://shop.example.com/thanks",
        },
    }


def _records(phone: Callable[[int], str], country: str) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [_record(rng, i, phone(i), country) for i in range(RECORDS)]


def _ours(records: list[dict[str, Any]], settings: Settings) -> None:
    for record in records:
        map_record("order", record, settings)


def _sdk(records: list[dict[str, Any]]) -> None:
    for record in records:
        json.dumps(_sdk_event(record).normalize())


def _sdk_event(record: dict[str, Any]) -> Event:
    c, b = record["customer"], record["browser"]
    user_data = UserData(
        emails=[c["email"]], phones=[c["phone"]], first_names=[c["first_name"]],
        last_names=[c["last_name"]], dates_of_birth=[c["date_of_birth"].strftime("%Y%m%d")],
        genders=None, cities=[c["city"]], states=[c["state"]], zip_codes=[c["postal_code"]],
        country_codes=[c["country"]], external_ids=[c["external_id"]],
        client_ip_address=b["client_ip"], client_user_agent=b["user_agent"], fbp=b["fbp"],
    )  # fmt: skip
    items = record["line_items"]
    custom_data = CustomData(
        value=float(record["total"]), currency=record["currency"], order_id=record["order_id"],
        contents=[Content(product_id=i["sku"], quantity=i["quantity"], item_price=float(i["unit_price"])) for i in items],
        content_ids=[i["sku"] for i in items], content_type="product", num_items=2,
    )  # fmt: skip
    return Event(
        event_name="Purchase", event_time=int(record["occurred_at"].timestamp()),
        event_id=f"order_{record['order_id']}", user_data=user_data, custom_data=custom_data,
        action_source=ActionSource.WEBSITE, event_source_url=b["page_url"],
    )  # fmt: skip


_CACHE: dict[str, str] = {}


def _floor(records: list[dict[str, Any]]) -> None:
    """The least CPython can do for this event, to show where 8x would have to come from.

    Not a mapper: it knows this exact record shape and skips everything a correct one must do
    (validation, E.164 metadata, name and city rules, pre-hashed detection, IP and cookie checks,
    drop accounting, exact money, routing, templates). What is left is the work no Python mapper
    avoids: six SHA-256 of distinct values, cached hashes for the rest, building the dicts, orjson.
    SHA-256 is the build's own (``consumer.core.digest``: the C function when compiled).
    """
    for record in records:
        c, b = record["customer"], record["browser"]
        user_data: dict[str, Any] = {
            key: [sha256_hex(c[source].strip().lower())]
            for key, source in (("em", "email"), ("fn", "first_name"), ("ln", "last_name"))
        }
        user_data["ph"] = [sha256_hex(c["phone"][1:].replace(" ", ""))]
        user_data["external_id"] = [sha256_hex(c["external_id"])]
        for key, source in (("ge", "gender"), ("ct", "city"), ("st", "state"), ("zp", "postal_code"), ("country", "country"), ("db", "date_of_birth")):  # fmt: skip
            raw = str(c[source])
            cached = _CACHE.get(raw)
            if cached is None:
                cached = _CACHE[raw] = sha256_hex(raw)
            user_data[key] = [cached]
        user_data.update(client_ip_address=b["client_ip"], client_user_agent=b["user_agent"], fbp=b["fbp"])  # fmt: skip
        items = record["line_items"]
        custom_data = {
            "value": float(record["total"]), "currency": record["currency"].upper(),
            "order_id": record["order_id"], "content_type": "product",
            "contents": [{"id": i["sku"], "quantity": i["quantity"], "item_price": float(i["unit_price"])} for i in items],
            "content_ids": [i["sku"] for i in items], "num_items": sum(i["quantity"] for i in items),
        }  # fmt: skip
        orjson.dumps(
            {
                "event_name": "Purchase",
                "event_time": int(record["occurred_at"].timestamp()),
                "event_id": "order_" + record["order_id"],
                "action_source": "website",
                "event_source_url": b["page_url"],
                "user_data": user_data,
                "custom_data": custom_data,
            }
        )


def _per_event_us(work: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Best time per event for each workload; rounds interleave, so load hits them alike."""
    best = dict.fromkeys(work, float("inf"))
    for _ in range(ROUNDS):
        for name, job in work.items():
            started = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: seconds / RECORDS * 1e6 for name, seconds in best.items()}


def run() -> None:
    settings = Settings(pixels={PIXEL: {"access_token": "bench"}})
    intl = _records(lambda i: f"+1 (650) {200 + i % 700:03d}-{i % 10000:04d}", "us")
    national = _records(lambda i: f"(650) {200 + i % 700:03d}-{i % 10000:04d}", "US")
    uk = _records(lambda i: f"020 7946 {i % 10000:04d}", "GB")
    extension = _records(lambda i: f"(650) {200 + i % 700:03d}-{i % 10000:04d} ext. 12", "US")
    us = _per_event_us(
        {
            "sdk": lambda: _sdk(intl),
            "ours": lambda: _ours(intl, settings),
            "national US numbers + country": lambda: _ours(national, settings),
            "UK national numbers + country": lambda: _ours(uk, settings),
            "numbers with an extension (full parser)": lambda: _ours(extension, settings),
            "floor": lambda: _floor(intl),
        }
    )
    floor = us.pop("floor")
    sdk = us.pop("sdk")
    print(f"   {RECORDS} distinct orders, all 11 user_data fields, best of {ROUNDS} interleaved")
    print(f"   {'Meta SDK (Event + normalize + json)':<45} {sdk:7.1f} µs/event")
    for label, per_event in us.items():
        name = "ours (map + normalize + hash + orjson)" if label == "ours" else f"ours, {label}"
        print(f"   {name:<45} {per_event:7.1f} µs/event   {sdk / per_event:4.1f}x less time")
    print(
        f"   {'floor: 6 SHA-256 + dicts + orjson, no checks':<45} {floor:7.1f} µs/event"
        f"   {sdk / floor:4.1f}x less time  (not a mapper: see _floor)"
    )
