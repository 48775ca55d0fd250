"""Pure mapping: a decoded order or lead record -> one CAPI server event, per the mapping config.

``map_record`` returns a ``CapiEvent`` or a ``Filtered`` (not a conversion), and raises
``MappingError`` (with a machine-readable reason) when the record cannot be mapped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from consumer.errors import MappingError
from consumer.models import CapiEvent
from consumer.normalize import hash_value
from consumer.settings import EventType, LeadMapping, OrderMapping, Settings

__all__ = ["Filtered", "map_record", "render_event_id"]


@dataclass(frozen=True, slots=True)
class Filtered:
    """The record is valid but is not a conversion under the mapping config."""

    reason: str


def map_record(
    event_type: EventType, record: Mapping[str, Any], settings: Settings
) -> CapiEvent | Filtered:
    """Map one decoded record to a CAPI event, or say why it is not one."""
    if event_type == "order":
        return _map(record, settings, settings.mapping.order, "status", _order_custom_data(record))
    return _map(record, settings, settings.mapping.lead, "stage", _lead_custom_data(record))


def _map(
    record: Mapping[str, Any],
    settings: Settings,
    rules: OrderMapping | LeadMapping,
    state_field: str,
    custom_data: dict[str, Any],
) -> CapiEvent | Filtered:
    state = str(record.get(state_field, "UNKNOWN"))
    names = rules.statuses if isinstance(rules, OrderMapping) else rules.stages
    event_name = names.get(state)
    if event_name is None:
        return Filtered(f"{state_field}.{state.lower()}")
    pixel_id = _pixel_for(record, settings)
    source_field = "channel" if isinstance(rules, OrderMapping) else "source"
    action_source = rules.action_sources.get(str(record.get(source_field)), "other")
    event_id = record.get("event_id") or render_event_id(rules.event_id_template, record)
    if action_source == "system_generated" and not isinstance(rules, OrderMapping):
        # CRM Conversion Leads (capi.md §2.1): event_source=crm and the CRM's name.
        custom_data = {
            **custom_data,
            "event_source": "crm",
            "lead_event_source": record.get("crm_name") or "CRM",
        }
    payload = _payload(record, event_name, event_id, action_source, custom_data)
    return CapiEvent(
        pixel_id=pixel_id,
        test_event_code=_test_event_code(record, settings, pixel_id),
        event_name=event_name,
        event_id=event_id,
        event_time=payload["event_time"],
        action_source=action_source,
        payload=payload,
        body=orjson.dumps(payload),
    )


def _test_event_code(record: Mapping[str, Any], settings: Settings, pixel_id: str) -> str | None:
    """Test records carry the pixel's test code; without one they must not pass as production."""
    if not record.get("is_test"):
        return None
    code = settings.pixels[pixel_id].test_event_code
    if code is None:
        raise MappingError(
            "mapping.no_test_event_code",
            f"test record for pixel {pixel_id}, which has no test_event_code",
        )
    return code


def render_event_id(template: str, record: Mapping[str, Any]) -> str:
    """Fill the event_id template from the record's top-level scalar fields."""
    fields = {key: value for key, value in record.items() if isinstance(value, str | int)}
    try:
        event_id = template.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise MappingError(
            "mapping.event_id_template", f"event_id template needs field {exc}"
        ) from None
    if not event_id:
        raise MappingError("mapping.event_id_template", "event_id template rendered empty")
    return event_id


def _pixel_for(record: Mapping[str, Any], settings: Settings) -> str:
    pixel_id = record.get("pixel_id")
    if pixel_id is None and record.get("tenant_id") is not None:
        pixel_id = settings.tenants.get(record["tenant_id"])
        if pixel_id is None:
            raise MappingError(
                "mapping.unknown_tenant", "tenant_id is not mapped to a pixel in config"
            )
    if pixel_id is None:
        raise MappingError("mapping.no_pixel", "record has neither pixel_id nor a mapped tenant_id")
    if pixel_id not in settings.pixels:
        raise MappingError("mapping.unconfigured_pixel", f"pixel {pixel_id} has no config entry")
    return str(pixel_id)


def _payload(
    record: Mapping[str, Any],
    event_name: str,
    event_id: str,
    action_source: str,
    custom_data: dict[str, Any],
) -> dict[str, Any]:
    occurred_at = record.get("occurred_at")
    if not isinstance(occurred_at, dt.datetime):
        raise MappingError("mapping.missing_field", "occurred_at is missing")
    browser = record.get("browser") or {}
    payload: dict[str, Any] = {
        "event_name": event_name,
        "event_time": int(occurred_at.timestamp()),
        "event_id": event_id,
        "action_source": action_source,
        "user_data": _user_data(record.get("customer") or {}, browser, occurred_at),
    }
    if record.get("meta_lead_id"):
        payload["user_data"]["lead_id"] = _lead_id(record["meta_lead_id"])
    if custom_data:
        payload["custom_data"] = custom_data
    if browser.get("page_url"):
        payload["event_source_url"] = browser["page_url"]
    if browser.get("referrer_url"):
        payload["referrer_url"] = browser["referrer_url"]
    payload.update(_consent(record.get("consent")))
    return payload


def _user_data(
    customer: Mapping[str, Any], browser: Mapping[str, Any], occurred_at: dt.datetime
) -> dict[str, Any]:
    user_data: dict[str, Any] = {}
    country = customer.get("country")
    for field, source in (("em", "email"), ("ph", "phone"), ("external_id", "external_id")):
        value = customer.get(source)
        if isinstance(value, str):
            hashed = hash_value(field, value, country)
            if hashed is not None:
                user_data[field] = [hashed]
    for field, source in (
        ("client_ip_address", "client_ip"),
        ("client_user_agent", "user_agent"),
        ("fbp", "fbp"),
    ):
        if browser.get(source):
            user_data[field] = browser[source]
    fbc = browser.get("fbc") or _fbc_from_click(browser, occurred_at)
    if fbc:
        user_data["fbc"] = fbc
    return user_data


def _fbc_from_click(browser: Mapping[str, Any], occurred_at: dt.datetime) -> str | None:
    """``fb.1.<ms>.<fbclid>`` (capi.md §3.1): subdomain index 1, fbclid verbatim."""
    fbclid = browser.get("fbclid")
    if not fbclid:
        return None
    seen_at = browser.get("fbclid_seen_at") or occurred_at
    return f"fb.1.{int(seen_at.timestamp() * 1000)}.{fbclid}"


def _lead_id(value: str) -> int:
    digits = value.strip()
    if not digits.isdigit():
        raise MappingError("mapping.invalid_lead_id", "meta_lead_id is not numeric")
    return int(digits)


def _consent(consent: Mapping[str, Any] | None) -> dict[str, Any]:
    if not consent:
        return {}
    fields: dict[str, Any] = {}
    if consent.get("opt_out"):
        fields["opt_out"] = True
    if consent.get("limited_data_use"):
        fields["data_processing_options"] = ["LDU"]
        fields["data_processing_options_country"] = consent.get("ldu_country") or 0
        fields["data_processing_options_state"] = consent.get("ldu_state") or 0
    return fields


def _money(value: Decimal) -> float:
    """Decimal -> JSON number. Scale-2 amounts up to 15 digits round-trip exactly through float."""
    return float(value)


def _order_custom_data(record: Mapping[str, Any]) -> dict[str, Any]:
    items = record.get("line_items") or []
    custom: dict[str, Any] = {
        "currency": str(record.get("currency", "")).upper(),
        "order_id": record.get("order_id"),
        "contents": [
            {
                "id": item["sku"],
                "quantity": item["quantity"],
                "item_price": _money(item["unit_price"]),
            }
            for item in items
        ],
        "content_ids": [item["sku"] for item in items],
        "content_type": "product",
        "num_items": sum(item["quantity"] for item in items),
    }
    if isinstance(record.get("total"), Decimal):
        custom["value"] = _money(record["total"])
    if isinstance(record.get("predicted_ltv"), Decimal):
        custom["predicted_ltv"] = _money(record["predicted_ltv"])
    if record.get("delivery_category"):
        custom["delivery_category"] = str(record["delivery_category"]).lower()
    return custom


def _lead_custom_data(record: Mapping[str, Any]) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    if isinstance(record.get("value"), Decimal):
        custom["value"] = _money(record["value"])
    if record.get("currency"):
        custom["currency"] = str(record["currency"]).upper()
    return custom
