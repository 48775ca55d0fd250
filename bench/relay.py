"""The obvious relay, the benchmark's peer: what a team writes first with the vendor libraries.

confluent-kafka ``poll()`` one message at a time, its ``AvroDeserializer`` (schema registry),
Meta's SDK objects (``UserData``, ``CustomData``, ``Content``, ``Event``) and
``EventRequest.execute()``, which POSTs with the SDK's own ``requests`` session; batches of
1000 events per pixel. No dedup, no DLQ, no offset discipline (auto commit): it does less than
the consumer, so the ratio flatters the relay if anything.

Run by ``bench_e2e`` as its own process:
``python -m bench.relay BOOTSTRAP REGISTRY_URL GRAPH_URL TOPIC GROUP TOKENS_JSON``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.content import Content
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.user_data import UserData
from facebook_business.api import FacebookAdsApi
from facebook_business.session import FacebookSession

from consumer.devstack.broker import client_overrides

BATCH = 1000  # events per request, as the consumer sends


def sdk_event(order: dict[str, Any]) -> Event:
    """An order as Meta's SDK objects (the SDK normalizes and hashes on ``execute``)."""
    c, b = order["customer"], order["browser"] or {}
    user_data = UserData(
        emails=[c["email"].strip()], phones=[c["phone"]], first_names=[c["first_name"]],
        last_names=[c["last_name"]], dates_of_birth=[c["date_of_birth"].strftime("%Y%m%d")],
        cities=[c["city"]], zip_codes=[c["postal_code"]], country_codes=[c["country"]],
        external_ids=[c["external_id"]], client_ip_address=b.get("client_ip"),
        client_user_agent=b.get("user_agent"), fbp=b.get("fbp"),
    )  # fmt: skip
    items = order["line_items"]
    custom_data = CustomData(
        value=float(order["total"]), currency=order["currency"].lower(), order_id=order["order_id"],
        contents=[Content(product_id=i["sku"], quantity=i["quantity"], item_price=float(i["unit_price"])) for i in items],
        content_ids=[i["sku"] for i in items], content_type="product",
        num_items=sum(i["quantity"] for i in items),
    )  # fmt: skip
    return Event(
        event_name="Purchase", event_time=int(order["occurred_at"].timestamp()),
        event_id=f"order_{order['order_id']}", user_data=user_data, custom_data=custom_data,
        action_source=ActionSource.WEBSITE, event_source_url=b.get("page_url"),
    )  # fmt: skip


def relay(bootstrap: str, registry_url: str, topic: str, group: str, apis: dict[str, Any]) -> None:
    """Consume ``topic`` forever, sending each pixel's events in batches of ``BATCH``."""
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **client_overrides()})
    consumer.subscribe([topic])
    pending: dict[str, list[Event]] = {pixel: [] for pixel in apis}
    while True:
        message = consumer.poll(1.0)
        if message is None or message.error() is not None:
            continue
        order = deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))
        events = pending[order["pixel_id"]]
        events.append(sdk_event(order))
        if len(events) >= BATCH:
            FacebookAdsApi.set_default_api(apis[order["pixel_id"]])
            EventRequest(events=events, pixel_id=order["pixel_id"]).execute()
            events.clear()


_ARGUMENTS = ("BOOTSTRAP", "REGISTRY_URL", "GRAPH_URL", "TOPIC", "GROUP", "TOKENS_JSON")


def main(argv: list[str]) -> int:
    """The relay over one topic (``bench e2e`` starts it); a one-line usage on wrong arguments."""
    if len(argv) != len(_ARGUMENTS):
        usage = " ".join(_ARGUMENTS)
        sys.stderr.write(f"usage: python -m bench.relay {usage} (got {len(argv)} arguments)\n")
        return 2
    bootstrap, registry_url, graph_url, topic, group, tokens = argv
    FacebookSession.GRAPH = graph_url  # the emulator instead of graph.facebook.com
    apis = {
        pixel: FacebookAdsApi(FacebookSession(access_token=token))
        for pixel, token in json.loads(tokens).items()
    }
    relay(bootstrap, registry_url, topic, group, apis)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
