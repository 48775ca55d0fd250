"""The CAPI emulator judges the 2024-2026 parameters by its own reading of Meta's docs.

Payloads here are written by hand, not by the consumer's mapping: a valid event of each kind is
accepted, and each malformed variant is refused with its rule.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from consumer.devstack.emulator_rules import validate_event

NOW = 1_760_000_000
EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
EXTINFO: list[Any] = ["a2", "com.example", "1.0", "1.0 (1)", "14", "Pixel 8", "en_US", "CET"]
EXTINFO += ["", 1080, 2400, "2.6", 8, 128, 40, "Europe/Berlin"]

VALID: dict[str, dict[str, Any]] = {
    "net_revenue": {
        "event_name": "Purchase",
        "event_time": NOW - 60,
        "action_source": "system_generated",
        "user_data": {"em": [EM]},
        "custom_data": {"value": 100.0, "currency": "EUR", "net_revenue": 31.5},
    },
    "whatsapp": {
        "event_name": "Lead",
        "event_time": NOW - 60,
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {"whatsapp_business_account_id": "102012345678901", "ctwa_clid": "ARAkLkA8"},
    },
    "instagram": {
        "event_name": "Lead",
        "event_time": NOW - 60,
        "action_source": "business_messaging",
        "messaging_channel": "instagram",
        "user_data": {"ig_account_id": "17841400", "ig_sid": "5310471812"},
    },
    "app": {
        "event_name": "Purchase",
        "event_time": NOW - 60,
        "action_source": "app",
        "app_data": {"advertiser_tracking_enabled": False, "extinfo": EXTINFO},
        "user_data": {"anon_id": "XZ01", "em": [EM]},
        "custom_data": {"value": 9.99, "currency": "USD"},
    },
    "passback": {
        "event_name": "AppendAttribution",
        "event_time": NOW - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example/thanks",
        "user_data": {"em": [EM], "client_user_agent": "Mozilla/5.0"},
        "original_event_data": {
            "event_name": "Purchase",
            "event_time": NOW - 3600,
            "order_id": "ORD-1",
        },
        "attribution_data": {
            "attribution_share": 0.25,
            "attribution_model": "time_decay",
            "attribution_setting": {"inactivity_window_hours": 24},
        },
    },
}


def variant(kind: str, path: str, value: Any) -> dict[str, Any]:
    """VALID[kind] with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    event = copy.deepcopy(VALID[kind])
    *parents, leaf = path.split(".")
    target = event
    for parent in parents:
        target = target[parent]
    if value is ...:
        del target[leaf]
    else:
        target[leaf] = value
    return event


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_events_accepted(kind: str) -> None:
    """A well-formed event of each kind passes every rule."""
    assert validate_event(VALID[kind], now=NOW) is None


@pytest.mark.parametrize(
    ("kind", "path", "value", "rule"),
    [
        ("net_revenue", "custom_data.net_revenue", "31.5", "custom_data.net_revenue"),
        ("whatsapp", "messaging_channel", "sms", "business_messaging.channel"),
        ("whatsapp", "messaging_channel", ..., "business_messaging.channel"),
        ("whatsapp", "user_data.ctwa_clid", ..., "business_messaging.ids"),
        ("instagram", "user_data.ig_sid", ..., "business_messaging.ids"),
        ("whatsapp", "action_source", "chat", "business_messaging.channel"),
        ("app", "app_data", ..., "app.app_data"),
        ("app", "app_data.advertiser_tracking_enabled", ..., "app.advertiser_tracking_enabled"),
        ("app", "app_data.extinfo", EXTINFO[:15], "app.extinfo"),
        ("app", "app_data.extinfo", ["x2", *EXTINFO[1:]], "app.extinfo_version"),
        ("app", "app_data.extinfo", [*EXTINFO[:4], "", *EXTINFO[5:]], "app.extinfo_os_version"),
        ("app", "app_data.extinfo", [*EXTINFO[:5], None, *EXTINFO[6:]], "app.extinfo"),
        ("passback", "original_event_data", ..., "original_event_data"),
        ("passback", "original_event_data.event_time", "yesterday", "original_event_data"),
        ("passback", "original_event_data.order_id", ..., "original_event_data"),
        (
            "passback",
            "original_event_data.event_time",
            NOW - 48 * 3600,
            "original_event_data.too_old",
        ),
        ("passback", "attribution_data", ..., "attribution_data"),
        ("passback", "attribution_data.attribution_share", 1.01, "attribution_data.share"),
        ("passback", "attribution_data.attribution_share", True, "attribution_data.share"),
        ("passback", "attribution_data.attribution_model", "magic", "attribution_data"),
        ("passback", "attribution_data.attribution_setting", {"x": "1"}, "attribution_data"),
    ],
)
def test_malformed_events_rejected(kind: str, path: str, value: Any, rule: str) -> None:
    """Each malformed variant is refused with the rule that catches it."""
    violation = validate_event(variant(kind, path, value), now=NOW)

    assert rule == (violation.rule if violation else None)
