"""Pure hook of the mapping: the parameters a record's optional contexts add to its event.

- ``messaging`` (business messaging): ``action_source: business_messaging``,
  ``messaging_channel`` and the chat identifiers in ``user_data`` (:mod:`messaging`);
- ``app`` (app events): ``action_source: app``, ``app_data`` and ``anon_id``/``madid``
  (:mod:`app_data`);
- ``attribution`` (AppendAttribution): ``event_name: AppendAttribution`` with
  ``original_event_data`` and ``attribution_data`` (:mod:`attribution`).

A record that carries a context is that kind of event whatever its channel maps to; a record
carrying both ``messaging`` and ``app`` is a business messaging event (the chat is where the
conversion happened) and its app context is not sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumer.core.app_data import app_data, app_user_data
from consumer.core.attribution import APPEND_ATTRIBUTION, attribution_data, original_event_data
from consumer.core.custom_data import is_mapping
from consumer.core.messaging import messaging_fields

__all__ = ["add_contexts", "context_action_source"]


def context_action_source(record: Mapping[str, Any], configured: str) -> str:
    """The event's action_source: the record's context decides, else the configured mapping."""
    if record.get("messaging"):
        return "business_messaging"
    if record.get("app"):
        return "app"
    return configured


def add_contexts(record: Mapping[str, Any], payload: dict[str, Any], event_id: str) -> None:
    """Add the fields of the record's contexts to ``payload`` (user_data already in it)."""
    user_data: dict[str, Any] = payload["user_data"]
    messaging = record.get("messaging")
    app = record.get("app")
    if payload["action_source"] == "business_messaging" and is_mapping(messaging):
        channel, ids = messaging_fields(messaging)
        if channel is not None:
            payload["messaging_channel"] = channel
        user_data.update(ids)
    elif payload["action_source"] == "app" and is_mapping(app):
        payload["app_data"] = app_data(app)
        user_data.update(app_user_data(app))
    passback = record.get("attribution")
    if is_mapping(passback):
        payload["original_event_data"] = original_event_data(
            passback, payload["event_name"], event_id, record.get("order_id")
        )
        payload["attribution_data"] = attribution_data(passback)
        payload["event_name"] = APPEND_ATTRIBUTION
