"""Pure construction of ``custom_data`` for orders and leads (capi.md §4).

Money arrives as Avro decimals. It leaves as a JSON number with exactly the decimal's digits: a
float when the float prints back as the same decimal (every amount up to 15 significant digits),
otherwise a pre-serialized ``orjson.Fragment`` holding the decimal's own text, so a large amount
never drifts (``1234567890123456.78`` stays that, not ``1234567890123456.8``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeGuard

import orjson

from consumer.errors import ValidationError

__all__ = [
    "Money",
    "is_mapping",
    "lead_custom_data",
    "money",
    "order_custom_data",
    "record_path",
]

Money = float | orjson.Fragment
# Any decimal of at most 15 significant digits prints back from its float unchanged (DBL_DIG).
_FLOAT_EXACT_DIGITS = 15
# The schemas' money type is decimal(18,2): 16 integer digits and 2 after the point.
_SCALE = 2
_MAX_INTEGER_DIGITS = 18 - _SCALE
_CENT = Decimal(1).scaleb(-_SCALE)


def money(value: Decimal, field: str = "amount") -> Money:
    """Decimal -> JSON number with the same digits (float when exact, else a raw fragment).

    Raises ValidationError (``invalid.amount_out_of_range``) for a value that does not fit the
    schemas' ``decimal(18,2)`` (a wider writer, or bytes holding a bigger number) or is not
    finite: such a value would reach Meta as ``1e+40``.
    """
    text = str(value)
    # Everyday amounts as decimal(18,2) decodes them: plain notation with exactly 2 decimals
    # (so finite, no exponent) in at most 15 characters, which print back from their float.
    if len(text) <= _FLOAT_EXACT_DIGITS and text[-3:-2] == ".":
        return float(text)  # float(value) is float(str(value)): the text is made once (speed)
    exponent = value.as_tuple().exponent
    if (
        type(exponent) is not int  # NaN, sNaN, Infinity
        or value.adjusted() >= _MAX_INTEGER_DIGITS
        or (exponent < -_SCALE and value != value.quantize(_CENT))
    ):
        raise ValidationError(
            "invalid.amount_out_of_range", f"{field} does not fit decimal(18,2) or is not finite"
        )
    if len(value.as_tuple().digits) <= _FLOAT_EXACT_DIGITS:
        return float(value)
    return orjson.Fragment(format(value.normalize(), "f").encode())


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, None and dict first: the ABC's check is interpreted Python."""
    if value is None:
        return False
    return type(value) is dict or isinstance(value, Mapping)


def record_path(record: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``record`` (``customer.city``), or None when absent."""
    node: Any = record
    for part in path.split("."):
        if not is_mapping(node):
            return None
        node = node.get(part)
    return node


def _extras(record: Mapping[str, Any], properties: Mapping[str, str]) -> dict[str, Any]:
    """Configured extra properties whose record field has a JSON-friendly value."""
    extras: dict[str, Any] = {}
    for key, path in properties.items():
        value = record_path(record, path)
        if isinstance(value, Decimal):
            extras[key] = money(value, f"custom_properties.{key}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(
                "invalid.amount_out_of_range", f"custom_properties.{key} is not finite"
            )
        elif isinstance(value, str | int | float | bool):
            extras[key] = value
    return extras


def order_custom_data(
    source: Mapping[str, Any], properties: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """value, currency, contents, content_ids, content_type, num_items, order_id, ltv, delivery."""
    # a dict (as decoded): mypyc's native dict.get for the lookups below, not method calls
    record: dict[str, Any] = source if type(source) is dict else dict(source)
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
        custom["value"] = money(record["total"], "total")
    if isinstance(record.get("predicted_ltv"), Decimal):
        custom["predicted_ltv"] = money(record["predicted_ltv"], "predicted_ltv")
    if isinstance(record.get("net_revenue"), Decimal):  # margin of the conversion (2025)
        custom["net_revenue"] = money(record["net_revenue"], "net_revenue")
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
        "item_price": money(item["unit_price"], "line_items[].unit_price"),
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
        custom["value"] = money(record["value"], "value")
    _add_currency(custom, record)
    custom.update(_extras(record, properties or {}))
    return custom
