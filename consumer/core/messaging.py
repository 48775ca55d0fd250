"""Pure construction of business-messaging fields: ``messaging_channel`` and the chat identifiers.

Meta's Conversions API for Business Messaging (2024) takes conversions that happened in a chat
with ``action_source: business_messaging``, a ``messaging_channel`` and, in ``user_data``, the
identifiers of the conversation, unhashed. Which identifiers each channel needs
(https://developers.facebook.com/documentation/ads-commerce/conversions-api/business-messaging,
"Sending events"; capi.md §2 and §3):

- WhatsApp: ``whatsapp_business_account_id`` and ``ctwa_clid`` (the Click-to-WhatsApp click id);
- Messenger: ``page_id`` and ``page_scoped_user_id``;
- Instagram: ``ig_account_id`` and ``ig_sid``.

The Python SDK 26 enum knows only ``whatsapp`` (capi.md §2); the onboarding guide's examples use
``messenger`` and ``instagram`` too, so all three are sent. The docs are the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CHANNELS", "ID_FIELDS", "REQUIRED_IDS", "messaging_fields"]

# MessagingContext.channel (schemas/*.avsc) -> messaging_channel.
CHANNELS: dict[str, str] = {
    "WHATSAPP": "whatsapp",
    "MESSENGER": "messenger",
    "INSTAGRAM": "instagram",
}
REQUIRED_IDS: dict[str, tuple[str, str]] = {
    "whatsapp": ("whatsapp_business_account_id", "ctwa_clid"),
    "messenger": ("page_id", "page_scoped_user_id"),
    "instagram": ("ig_account_id", "ig_sid"),
}
# MessagingContext fields sent as user_data keys of the same name.
ID_FIELDS = (
    "ctwa_clid",
    "whatsapp_business_account_id",
    "page_id",
    "page_scoped_user_id",
    "ig_account_id",
    "ig_sid",
)


def messaging_fields(messaging: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """(messaging_channel or None when unknown, the chat identifiers for user_data)."""
    channel = CHANNELS.get(str(messaging.get("channel")))
    ids: dict[str, str] = {}
    for field in ID_FIELDS:
        value = messaging.get(field)
        if isinstance(value, str) and value.strip():
            ids[field] = value.strip()
    return channel, ids
