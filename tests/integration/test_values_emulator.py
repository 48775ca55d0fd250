"""End to end, values Meta would reject or misread never reach the CAPI emulator (its own judge)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from consumer.devstack.sample import SampleRecord, expected_of
from tests.fixtures.pipeline import ConsumerRig
from tests.integration.test_pipeline import _received, _vector_order

pytestmark = pytest.mark.integration


def _variant(name: str, expect: str, **changes: Any) -> SampleRecord:
    """The good order with ``changes``, under its own order id."""
    good = _vector_order(dt.datetime.now(dt.UTC))
    assert isinstance(good.value, dict)
    value = {**good.value, "order_id": f"ORD-{name}", **changes}
    event = ("1000000000000001", "Purchase", f"order_ORD-{name}") if expect == "sent" else None
    return SampleRecord("orders", f"ORD-{name}", value, expect, event)


def test_bad_values_never_reach_meta(consumer_rig: ConsumerRig) -> None:
    """Non-ISO currency, a refund, a negative quantity, a control character in
    event_id and test traffic on a production pixel: only the good order arrives."""
    item = {"sku": "A", "name": None, "category": None, "quantity": -5}
    records = [
        _variant(
            "GOOD",
            "sent",
            browser={
                **_vector_order(dt.datetime.now(dt.UTC)).value["browser"],  # type: ignore[index]
                "client_ip": "203.0.113.9:443",
            },
        ),
        _variant("ZZZ", "dead_lettered", currency="ZZZ"),
        _variant("DOLLARS", "dead_lettered", currency="DOLLARS"),
        _variant("REFUND", "filtered", total=Decimal("-100.00")),
        _variant("QTY", "dead_lettered", line_items=[{**item, "unit_price": Decimal("-3.00")}]),
        _variant("NEWLINE", "dead_lettered", event_id="order-1\n\x1b[31m"),
        _variant("QA", "filtered", is_test=True),
    ]
    expected = expected_of(records)
    consumer_rig.produce(records)

    stats = consumer_rig.run(until=lambda p: p.stats.settled >= len(records))

    assert {("1000000000000001", "Purchase", "order_ORD-GOOD")} == _received(consumer_rig)
    assert dict(expected.outcomes) == dict(stats.outcomes)
    (event,) = consumer_rig.emulator.client.events()
    assert "203.0.113.9" == event["event"]["user_data"]["client_ip_address"]
