"""Pure construction of ``app_data`` for app events (action_source ``app``).

Meta's App Data Parameters page
(https://developers.facebook.com/documentation/ads-commerce/conversions-api/parameters/app-data,
capi.md §2) requires ``advertiser_tracking_enabled`` and ``extinfo`` for app events;
``application_tracking_enabled`` is marked "Required" on one copy of the page and "Optional" on
the newer one, so it is sent when the producer knows it. ``extinfo`` is a positional array of 16
entries, "all values are required and must be in the order indexed", a missing one filled with
an empty string; entry 0 (``a2`` Android, ``i2`` iOS) and entry 4 (OS version) are marked
required. The SDK (``extended_device_info.py``) sends screen sizes, CPU cores and storage as
integers and the rest as strings; we do the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumer.core.custom_data import is_mapping
from consumer.core.fields import copy_texts, text_of

__all__ = ["EXTINFO_FIELDS", "EXTINFO_VERSIONS", "app_data", "app_user_data"]

# ExtInfo record fields (schemas/*.avsc) in Meta's extinfo order, index 0 to 15.
EXTINFO_FIELDS = (
    "version",
    "package_name",
    "short_version",
    "long_version",
    "os_version",
    "device_model",
    "locale",
    "timezone_abbreviation",
    "carrier",
    "screen_width",
    "screen_height",
    "screen_density",
    "cpu_cores",
    "storage_gb",
    "free_storage_gb",
    "device_timezone",
)
EXTINFO_VERSIONS = frozenset({"a2", "i2"})  # extinfo[0]: Android, iOS
_FLAGS = ("advertiser_tracking_enabled", "application_tracking_enabled")
_TEXTS = ("campaign_ids", "install_referrer", "installer_package", "vendor_id")
_USER_IDS = ("anon_id", "madid")  # AppContext fields sent raw as user_data keys of the same name


def app_data(app: Mapping[str, Any]) -> dict[str, Any]:
    """The ``app_data`` object for one AppContext: flags, the 16-entry extinfo, deep-link data."""
    data: dict[str, Any] = {}
    for flag in _FLAGS:
        value = app.get(flag)
        if isinstance(value, bool):
            data[flag] = value
    extinfo = app.get("extinfo")
    if is_mapping(extinfo):
        data["extinfo"] = [_entry(extinfo.get(field)) for field in EXTINFO_FIELDS]
        data["extinfo"][0] = str(data["extinfo"][0]).lower()
    copy_texts(app, _TEXTS, data)
    schemes = [text_of(item) for item in app.get("url_schemes") or () if text_of(item)]
    if schemes:
        data["url_schemes"] = schemes
    return data


def app_user_data(app: Mapping[str, Any]) -> dict[str, str]:
    """``anon_id`` and ``madid`` for ``user_data`` (raw, as Meta wants them)."""
    ids: dict[str, str] = {}
    copy_texts(app, _USER_IDS, ids)
    return ids


def _entry(value: object) -> str | int:
    """One extinfo entry: an integer stays one, text is stripped, a gap is ""."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return text_of(value)
