"""Pure construction of ``custom_data`` for orders and leads (capi.md §4).

Money arrives as Avro decimals. It leaves as a JSON number with exactly the decimal's digits: a
float when the float prints back as the same decimal (every amount up to 15 significant digits),
otherwise a pre-serialized ``orjson.Fragment`` holding the decimal's own text, so a large amount
never drifts (``1234567890123456.78`` stays that, not ``1234567890123456.8``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["Money", "lead_custom_data", "money", "order_custom_data", "record_path"]

Money = float | orjson.Fragment
# Any decimal of at most 15 significant digits prints back from its float unchanged (DBL_DIG).
_FLOAT_EXACT_DIGITS = 15


def money(value: Decimal) -> Money:
    """Decimal -> JSON number with the same digits (float when exact, else a raw fragment)."""
    # A short text has at most that many digits: the cheap test settles every everyday amount.
    if (
        len(str(value)) <= _FLOAT_EXACT_DIGITS
        or len(value.as_tuple().digits) <= _FLOAT_EXACT_DIGITS
    ):
        return float(value)
    return orjson.Fragment(format(value.normalize(), "f").encode())


def record_path(record: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``record`` (``customer.city``), or None when absent."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _extras(record: Mapping[str, Any], properties: Mapping[str, str]) -> dict[str, Any]:
    """Configured extra properties whose record field has a JSON-friendly value."""
    extras: dict[str, Any] = {}
    for key, path in properties.items():
        value = record_path(record, path)
        if isinstance(value, Decimal):
            extras[key] = money(value)
        elif isinstance(value, str | int | float | bool):
            extras[key] = value
    return extras


def order_custom_data(
    record: Mapping[str, Any], properties: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """value, currency, contents, content_ids, content_type, num_items, order_id, ltv, delivery."""
    items = record.get("line_items") or []
    delivery = record.get("delivery_category")
    custom: dict[str, Any] = {
        "order_id": str(record.get("order_id")),
        "contents": [_content(item, delivery) for item in items],
        "content_ids": [str(item["sku"]) for item in items],
        "content_type": "product",
        "num_items": sum(int(item["quantity"]) for item in items),
    }
    _add_currency(custom, record)
    if isinstance(record.get("total"), Decimal):
        custom["value"] = money(record["total"])
    if isinstance(record.get("predicted_ltv"), Decimal):
        custom["predicted_ltv"] = money(record["predicted_ltv"])
    if isinstance(record.get("net_revenue"), Decimal):  # margin of the conversion (2025)
        custom["net_revenue"] = money(record["net_revenue"])
    if delivery:
        custom["delivery_category"] = str(delivery).lower()
    if not items:
        for key in ("contents", "content_ids", "content_type"):
            del custom[key]
    custom.update(_extras(record, properties or {}))
    return custom


def _add_currency(custom: dict[str, Any], record: Mapping[str, Any]) -> None:
    """The record's currency, upper case; left out when blank (capi.md §4: an ISO 4217 code)."""
    currency = record.get("currency")
    if isinstance(currency, str) and currency.strip():
        custom["currency"] = currency.strip().upper()


def _content(item: Mapping[str, Any], delivery: object) -> dict[str, Any]:
    content: dict[str, Any] = {
        "id": str(item["sku"]),
        "quantity": int(item["quantity"]),
        "item_price": money(item["unit_price"]),
    }
    if delivery:
        content["delivery_category"] = str(delivery).lower()
    return content


def lead_custom_data(
    record: Mapping[str, Any], properties: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """value and currency when the CRM knows a deal value, plus configured extras."""
    custom: dict[str, Any] = {}
    if isinstance(record.get("value"), Decimal):
        custom["value"] = money(record["value"])
    _add_currency(custom, record)
    custom.update(_extras(record, properties or {}))
    return custom
