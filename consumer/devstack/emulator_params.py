"""The CAPI emulator's rules for the parameters Meta added since 2024 (pure: no I/O).

Written from Meta's pages, not from the consumer's code (this module imports nothing of
``consumer.core`` or the settings), so a bug in our mapping or validation cannot hide behind the
same bug here. Every rule answers plain code 100 without a subcode: Meta publishes none for them.

- App events: https://developers.facebook.com/documentation/ads-commerce/conversions-api/parameters/app-data
  ``advertiser_tracking_enabled`` and ``extinfo`` are required; extinfo is an array of exactly 16
  entries, in order, gaps filled with ""; entry 0 is ``a2`` or ``i2`` and entry 4 (OS version)
  is required. Entries are strings, or integers for the numeric ones (as the SDK sends them).
- Business messaging: https://developers.facebook.com/documentation/ads-commerce/conversions-api/business-messaging
  ``messaging_channel`` is ``whatsapp``, ``messenger`` or ``instagram``, and user_data carries
  that channel's identifiers (WABA id + ctwa_clid; page id + PSID; IG account id + IGSID).
  A ``messaging_channel`` on another action source is refused too: Meta documents the field
  for business messaging only, and the emulator is strict where the docs are silent.
- AppendAttribution: https://developers.facebook.com/documentation/ads-commerce/conversions-api/guides/append-attribution/reference
  and .../parameters/original-event: ``original_event_data`` names the original event and time,
  the passback arrives less than 48 hours after it; ``attribution_data`` gives Meta's share of
  the credit in [0, 1] (SDK ``AttributionData``; models from SDK ``attribution_model.py``).
- ``custom_data.net_revenue`` is a JSON number (Standard Parameters, capi.md §4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from consumer.devstack.emulator_errors import Violation

__all__ = ["PARAM_RULES"]

_Event = Mapping[str, object]
_EXTINFO_LENGTH = 16
_EXTINFO_NUMERIC = frozenset({9, 10, 12, 13, 14})  # widths, CPU cores, storage sizes
_CHANNEL_IDS = {
    "whatsapp": ("whatsapp_business_account_id", "ctwa_clid"),
    "messenger": ("page_id", "page_scoped_user_id"),
    "instagram": ("ig_account_id", "ig_sid"),
}
_PASSBACK = "AppendAttribution"
_PASSBACK_WINDOW_S = 48 * 3600
_MODELS = frozenset(
    {"customized_multi_touch", "first_touch", "last_click", "last_touch"}
    | {"linear", "position_based", "time_decay", "unknown"}
)
_ATTRIBUTION_STRINGS = (
    "scope",
    "ad_id",
    "adset_id",
    "campaign_id",
    "attribution_source",
    "touchpoint_type",
    "touchpoint_id",
    "partner_client_id",
)
_ATTRIBUTION_INTS = ("visit_time", "touchpoint_ts", "attr_window")


def _number(value: object) -> bool:
    """A JSON number: int or finite float, never a bool or a numeric string."""
    return type(value) is int or (isinstance(value, float) and math.isfinite(value))


def _check_app(event: _Event, _now: float) -> Violation | None:
    """App events: app_data with the ATT flag and a complete 16-entry extinfo."""
    if event.get("action_source") != "app" and "app_data" not in event:
        return None
    app = event.get("app_data")
    if not isinstance(app, Mapping):
        return Violation("app.app_data", "app events need an app_data object")
    for flag in ("advertiser_tracking_enabled", "application_tracking_enabled"):
        if flag in app and not isinstance(app[flag], bool | int):
            return Violation(f"app.{flag}", f"app_data.{flag} must be a boolean")
    if "advertiser_tracking_enabled" not in app:
        return Violation(
            "app.advertiser_tracking_enabled", "advertiser_tracking_enabled is required"
        )
    return _check_extinfo(app.get("extinfo"))


def _check_extinfo(extinfo: object) -> Violation | None:
    if not isinstance(extinfo, list) or len(extinfo) != _EXTINFO_LENGTH:
        return Violation("app.extinfo", "app_data.extinfo must be an array of 16 entries")
    for index, entry in enumerate(extinfo):
        numeric = index in _EXTINFO_NUMERIC and type(entry) is int and entry >= 0
        if not (isinstance(entry, str) or numeric):
            return Violation("app.extinfo", f"extinfo[{index}] must be a string (or a count)")
    if extinfo[0] not in ("a2", "i2"):
        return Violation("app.extinfo_version", "extinfo[0] must be a2 (Android) or i2 (iOS)")
    if not extinfo[4]:
        return Violation("app.extinfo_os_version", "extinfo[4], the OS version, is required")
    return None


def _check_messaging(event: _Event, _now: float) -> Violation | None:
    """Business messaging: a known channel and that channel's identifiers in user_data."""
    if event.get("action_source") != "business_messaging":
        if "messaging_channel" in event:
            return Violation(
                "business_messaging.channel", "messaging_channel needs business_messaging"
            )
        return None
    channel = event.get("messaging_channel")
    if not isinstance(channel, str) or channel not in _CHANNEL_IDS:
        return Violation(
            "business_messaging.channel",
            "messaging_channel must be whatsapp, messenger or instagram",
        )
    user_data = event.get("user_data")
    held = user_data if isinstance(user_data, Mapping) else {}
    for key in _CHANNEL_IDS[channel]:
        if not held.get(key):
            return Violation("business_messaging.ids", f"{channel} events need user_data.{key}")
    return None


def _check_original(event: _Event, now: float) -> Violation | None:
    """original_event_data: an object; an AppendAttribution's names a recent original event."""
    original = event.get("original_event_data")
    passback = event.get("event_name") == _PASSBACK
    if original is None and not passback:
        return None
    if not isinstance(original, Mapping):
        return Violation("original_event_data", "AppendAttribution needs original_event_data")
    for key in ("event_name", "order_id", "event_id"):
        if key in original and not isinstance(original[key], str):
            return Violation("original_event_data", f"original_event_data.{key} must be a string")
    when = original.get("event_time")
    if "event_time" in original and type(when) is not int:
        return Violation("original_event_data", "original_event_data.event_time must be seconds")
    if not passback:
        return None
    if not original.get("event_name") or type(when) is not int:
        return Violation("original_event_data", "original event_name and event_time are required")
    if not (original.get("order_id") or original.get("event_id")):
        return Violation("original_event_data", "original event needs an order_id or event_id")
    if now - when >= _PASSBACK_WINDOW_S:
        return Violation(
            "original_event_data.too_old",
            "AppendAttribution came 48 hours or more after the original",
        )
    return None


def _check_attribution(event: _Event, _now: float) -> Violation | None:
    """attribution_data: typed fields; an AppendAttribution's gives a share of 0 to 1."""
    data = event.get("attribution_data")
    passback = event.get("event_name") == _PASSBACK
    if data is None and not passback:
        return None
    if not isinstance(data, Mapping):
        return Violation("attribution_data", "AppendAttribution needs attribution_data")
    bad = _attribution_types(data)
    if bad is not None:
        return Violation("attribution_data", bad)
    share = data.get("attribution_share")
    if passback and not (_number(share) and 0 <= share <= 1):  # type: ignore[operator]
        return Violation("attribution_data.share", "attribution_share must be between 0 and 1")
    return None


def _attribution_types(data: Mapping[str, object]) -> str | None:
    """What is mistyped in attribution_data, or None."""
    for key in _ATTRIBUTION_STRINGS:
        if key in data and not isinstance(data[key], str):
            return f"attribution_data.{key} must be a string"
    for key in _ATTRIBUTION_INTS:
        if key in data and (type(data[key]) is not int or data[key] < 0):  # type: ignore[operator]
            return f"attribution_data.{key} must be a non-negative integer"
    for key in ("attribution_value", "total_credit"):
        if key in data and not (_number(data[key]) and data[key] >= 0):  # type: ignore[operator]
            return f"attribution_data.{key} must be a non-negative number"
    if "attribution_model" in data and data["attribution_model"] not in _MODELS:
        return "attribution_data.attribution_model is not one of Meta's models"
    setting = data.get("attribution_setting", {})
    if not isinstance(setting, Mapping) or any(type(v) is not int for v in setting.values()):
        return "attribution_data.attribution_setting holds integer hour windows"
    return None


def _check_net_revenue(event: _Event, _now: float) -> Violation | None:
    """custom_data.net_revenue, when sent, is a JSON number."""
    custom = event.get("custom_data")
    if (
        isinstance(custom, Mapping)
        and "net_revenue" in custom
        and not _number(custom["net_revenue"])
    ):
        return Violation("custom_data.net_revenue", "custom_data.net_revenue must be a number")
    return None


PARAM_RULES: tuple[Callable[[_Event, float], Violation | None], ...] = (
    _check_app,
    _check_messaging,
    _check_original,
    _check_attribution,
    _check_net_revenue,
)
