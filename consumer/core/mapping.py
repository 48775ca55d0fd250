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

from consumer.core.contexts import add_contexts, context_action_source
from consumer.core.custom_data import lead_custom_data, order_custom_data
from consumer.core.identifiers import check_id
from consumer.core.logical import DROPPED_KEY
from consumer.core.models import CapiEvent
from consumer.core.templates import render_plain
from consumer.core.test_traffic import TEST_TRAFFIC_REASON, route_test_record
from consumer.core.user_data import build_user_data
from consumer.errors import MappingError
from consumer.settings import EventType, LeadMapping, MappingSettings, OrderMapping, Settings

__all__ = ["REFUND_REASON", "Filtered", "map_record", "render_event_id"]

REFUND_REASON = "refund"  # the ``filtered`` reason of a negative Purchase total (refunds: filter)


@dataclass(frozen=True, slots=True, init=False)
class Filtered:
    """The record is valid but is not a conversion under the mapping config."""

    reason: str

    def __init__(self, reason: str) -> None:
        # compiled, unlike dataclass's __init__: one per filtered record (models._NATIVE_INIT)
        object.__setattr__(self, "reason", reason)


# _BODY_NOTE: orjson returns its growable output buffer (16 KB allocated for a 1.3 KB event) and
# an in-flight event keeps its body until Meta answers: measured with Meta stalled, 26 MB more RSS
# at 10k events in flight than exact-size copies, which cost ~0.2 µs each.


def map_record(
    event_type: EventType, record: Mapping[str, Any], settings: Settings
) -> CapiEvent | Filtered:
    """Map one decoded record to a CAPI event, or say why it is not one."""
    # a dict (as decoded): mypyc's native dict.get for the many lookups below, not method calls
    fields: dict[str, Any] = record if type(record) is dict else dict(record)
    mapping = settings.mapping  # read once: every settings attribute read is a Python-level lookup
    if event_type == "order":
        rules: OrderMapping | LeadMapping = mapping.order
        custom_data = order_custom_data(fields, rules.custom_properties)
        return _map(fields, settings, mapping, rules, "status", custom_data)
    rules = mapping.lead
    custom_data = lead_custom_data(fields, rules.custom_properties)
    return _map(fields, settings, mapping, rules, "stage", custom_data)


def _map(
    record: dict[str, Any],
    settings: Settings,
    mapping: MappingSettings,
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
    test_event_code = None
    if record.get("is_test"):  # test records go where the pixel's test_traffic policy says
        route = route_test_record(pixel_id, settings)
        if route is None:
            return Filtered(TEST_TRAFFIC_REASON)
        pixel_id, test_event_code = route
    total = record.get("total")
    if (  # a negative total (is_signed and is_zero: C calls, no comparison with an int)
        type(total) is Decimal
        and total.is_signed()
        and not total.is_zero()
        and event_name == "Purchase"
        and _refunds_filtered(rules)
    ):
        return Filtered(REFUND_REASON)
    source_field = "channel" if isinstance(rules, OrderMapping) else "source"
    configured = rules.action_sources.get(str(record.get(source_field)), "other")
    action_source = context_action_source(record, configured)
    event_id = record.get("event_id") or render_event_id(rules.event_id_template, record)
    _check_ids(str(event_id), custom_data, mapping.max_id_length)
    occurred_at = _occurred_at(record)
    built = build_user_data(record, occurred_at, mapping.external_id_form, mapping.default_country)
    payload = _payload(record, event_name, event_id, action_source, occurred_at)
    payload["user_data"] = built.user_data
    add_contexts(record, payload, str(event_id))
    event_name = payload["event_name"]  # AppendAttribution when the record is a passback
    custom_data = _with_crm(record, rules, action_source, custom_data)
    if custom_data:
        payload["custom_data"] = custom_data
    event = CapiEvent(
        pixel_id=pixel_id,
        test_event_code=test_event_code,
        event_name=event_name,
        event_id=str(event_id),
        event_time=payload["event_time"],
        action_source=action_source,
        payload=payload,
        body=bytes(memoryview(orjson.dumps(payload))),  # exact size: see _BODY_NOTE
        dropped=built.dropped + decoded if (decoded := record.get(DROPPED_KEY)) else built.dropped,
    )
    event.hashed_by_mapper = True  # user_data's hashed keys hold only _hash_customer's digests
    return event


def _with_crm(
    record: Mapping[str, Any],
    rules: OrderMapping | LeadMapping,
    action_source: str,
    custom_data: dict[str, Any],
) -> dict[str, Any]:
    """CRM Conversion Leads (capi.md §2.1): system_generated leads say event_source=crm and the CRM."""
    if action_source != "system_generated" or not isinstance(rules, LeadMapping):
        return custom_data
    crm = record.get("crm_name") or rules.default_crm_name
    return {**custom_data, "event_source": "crm", "lead_event_source": crm}


def _refunds_filtered(rules: OrderMapping | LeadMapping) -> bool:
    """A negative Purchase total is filtered under ``refunds: filter`` (else dead-lettered)."""
    return isinstance(rules, OrderMapping) and rules.refunds == "filter"


def _check_ids(event_id: str, custom_data: Mapping[str, Any], max_length: int) -> None:
    """event_id, order_id and content ids go out exactly as recorded, or not at all.

    ``isprintable`` (fast, in C) is False for every control character: only an id failing it,
    or a long one, gets the exact check.
    """
    order_id = custom_data.get("order_id", "")
    if not (
        len(event_id) <= max_length
        and len(order_id) <= max_length
        and event_id.isprintable()
        and order_id.isprintable()
    ):
        check_id("event_id", event_id, max_length)
        check_id("order_id", order_id, max_length)
    for content_id in custom_data.get("content_ids", ()):
        if len(content_id) > max_length or not content_id.isprintable():
            check_id("content_ids[]", content_id, max_length)


class _ScalarFields(dict[str, Any]):
    """The record's top-level string and integer fields, looked up only when a template asks."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        super().__init__()
        self._record = record

    def __missing__(self, key: str) -> str | int:
        value = self._record.get(key)
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise KeyError(key)
        return value


def render_event_id(template: str, record: Mapping[str, Any]) -> str:
    """Fill the event_id template from the record's top-level scalar fields."""
    event_id = render_plain(template, record)
    if event_id:
        return event_id
    try:
        event_id = template.format_map(_ScalarFields(record))
    except KeyError as exc:
        raise MappingError(
            "mapping.event_id_template", f"event_id template needs field {exc}"
        ) from None
    except (IndexError, ValueError, AttributeError, TypeError) as exc:  # `{id.x}`, `{id[x]}`...
        raise MappingError(
            "mapping.event_id_template", f"event_id template cannot render: {type(exc).__name__}"
        ) from None
    if not event_id:
        raise MappingError("mapping.event_id_template", "event_id template rendered empty")
    return event_id


def _pixel_for(record: dict[str, Any], settings: Settings) -> str:
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


def _occurred_at(record: dict[str, Any]) -> dt.datetime:
    occurred_at = record.get("occurred_at")
    if not isinstance(occurred_at, dt.datetime):
        raise MappingError("mapping.missing_field", "occurred_at is missing")
    return occurred_at


def _payload(
    record: dict[str, Any],
    event_name: str,
    event_id: str,
    action_source: str,
    occurred_at: dt.datetime,
) -> dict[str, Any]:
    """The event's top-level fields (user_data and custom_data are added by the caller)."""
    browser = record.get("browser") or {}
    payload: dict[str, Any] = {
        "event_name": event_name,
        "event_time": int(occurred_at.timestamp()),
        "event_id": str(event_id),
        "action_source": action_source,
    }
    if browser.get("page_url"):
        payload["event_source_url"] = browser["page_url"]
    if browser.get("referrer_url"):
        payload["referrer_url"] = browser["referrer_url"]
    consent = record.get("consent")
    if consent:
        payload.update(_consent(consent))
    return payload


def _consent(consent: Mapping[str, Any] | None) -> dict[str, Any]:
    """opt_out and Limited Data Use (capi.md §2.2): country and state codes, 0 = geolocate."""
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
