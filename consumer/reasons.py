"""The closed set of dead-letter reasons: what each one means and what an operator should do.

One table, read by the runbook (docs/operations.md), ``dlq stats`` and ``dlq show``. A reason is a stable,
machine-readable code carried in the ``capi.dlq.reason`` header. Reasons come in families
(``decode.*``, ``mapping.*``, ``invalid.*``) plus the send-stage reasons; a code that is not
listed falls back to its family's entry, so a new ``invalid.*`` rule is still explained.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILIES", "REASONS", "ReasonInfo", "action_for", "describe", "runbook_rows"]


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """What a reason means, what to do, and whether replaying without a fix can ever help."""

    meaning: str
    action: str
    replay_helps: bool  # True when fixing config/tokens (not the producer) makes a replay succeed


_FIX_PRODUCER = (
    "Fix the producer (the DLQ keeps its original bytes); replaying unchanged bytes fails again."
)
_FIX_CONFIG = "Fix the consumer config (pixels, tenants, mapping), roll it out, then `capi-consumer dlq replay --reason {reason}`."

FAMILIES: dict[str, ReasonInfo] = {
    "decode": ReasonInfo(
        "The value bytes could not be decoded into one of our Avro schemas.", _FIX_PRODUCER, False
    ),
    "mapping": ReasonInfo("A decoded record cannot be mapped to a CAPI event.", _FIX_CONFIG, True),
    "invalid": ReasonInfo(
        "The mapped event breaks one of Meta's documented rules; sending it would make Meta reject the whole batch.",
        "Fix the producer's data; replaying the same bytes fails the same way.",
        False,
    ),
}

REASONS: dict[str, ReasonInfo] = {
    # decode stage
    "decode.empty": ReasonInfo(
        "The record value is empty (a tombstone or a producer bug).",
        "Check the producer; nothing to replay.",
        False,
    ),
    "decode.unknown_magic": ReasonInfo(
        "The value is not in the Confluent wire format (first byte is not 0).", _FIX_PRODUCER, False
    ),
    "decode.truncated": ReasonInfo(
        "The value ends before the header or the record does.", _FIX_PRODUCER, False
    ),
    "decode.unknown_schema_id": ReasonInfo(
        "The schema id in the value is not in the Schema Registry.",
        "Check the registry URL and that the producer registers its schema; replay once the id resolves.",
        True,
    ),
    "decode.bad_writer_schema": ReasonInfo(
        "The producer's registered schema cannot be parsed.", _FIX_PRODUCER, False
    ),
    "decode.incompatible_schema": ReasonInfo(
        "The producer's schema cannot be resolved against our reader schema.",
        "Agree the schema change with the producer (or evolve schemas/), deploy, then replay.",
        True,
    ),
    "decode.corrupt": ReasonInfo(
        "The payload is not valid Avro for its schema.", _FIX_PRODUCER, False
    ),
    "decode.oversize": ReasonInfo(
        "The record is larger than the configured maximum.",
        "Find out why the producer sends such records; raise the limit only if they are legitimate, then replay.",
        True,
    ),
    "decode.too_many_items": ReasonInfo(
        "An array or map in the record has more items than the topic's max_items.",
        "Find out why the producer sends such records; raise max_items only if they are legitimate, then replay.",
        True,
    ),
    "decode.string_too_long": ReasonInfo(
        "A string or bytes field is longer than the topic's max_string_bytes.",
        "Find out why the producer sends such records; raise max_string_bytes only if legitimate, then replay.",
        True,
    ),
    "decode.too_deep": ReasonInfo(
        "The record nests deeper than any of our schemas allows (a corrupt or hostile payload).",
        _FIX_PRODUCER,
        False,
    ),
    "decode.unknown_fingerprint": ReasonInfo(
        "A single-object encoded value names a schema fingerprint we do not have.",
        "Add the producer's schema file to schema_registry.extra_schema_files, deploy, then replay.",
        True,
    ),
    "decode.no_writer_schema": ReasonInfo(
        "A raw Avro value arrived on a topic without a configured writer_schema.",
        "Set kafka.topics.<topic>.writer_schema (or the right framing), deploy, then replay.",
        True,
    ),
    "decode.out_of_range": ReasonInfo(
        "A required date or timestamp field (named in the message) is outside what its logical type can hold (e.g. occurred_at far past year 9999).",
        _FIX_PRODUCER,
        False,
    ),
    "decode.reader_mismatch": ReasonInfo(
        "This record uses a union branch or enum symbol our reader schema lacks (and no default).",
        "Evolve schemas/ (add the symbol or a default) with the producer, deploy, then replay.",
        True,
    ),
    # map stage
    "mapping.unknown_source_topic": ReasonInfo(
        "No event type is configured for the record's (original) topic.", _FIX_CONFIG, True
    ),
    "mapping.missing_field": ReasonInfo(
        "A field the mapping needs is missing.", "Fix the producer.", False
    ),
    "mapping.no_pixel": ReasonInfo(
        "The record has neither pixel_id nor a tenant_id mapped to a pixel.",
        "Fix the producer, or add the tenant to config and replay.",
        True,
    ),
    "mapping.unknown_tenant": ReasonInfo(
        "The record's tenant_id is not mapped to a pixel.", _FIX_CONFIG, True
    ),
    "mapping.unconfigured_pixel": ReasonInfo(
        "The record's pixel has no entry (token) in config.", _FIX_CONFIG, True
    ),
    "mapping.no_test_event_code": ReasonInfo(
        "A test record names a pixel that has no test_event_code.", _FIX_CONFIG, True
    ),
    "mapping.event_id_template": ReasonInfo(
        "The event_id template references a field the record lacks, or cannot render (`{id.x}`, `{id[x]}`).",
        _FIX_CONFIG,
        True,
    ),
    # validate stage
    "invalid.event_name": ReasonInfo(
        "event_name is empty or longer than 50 characters.",
        "Fix the mapping config or the producer.",
        True,
    ),
    "invalid.event_too_old": ReasonInfo(
        "event_time is older than Meta's 7 days (62 for physical_store).",
        "Nothing: Meta will never accept it. Find out why it arrived late (lag, backfill).",
        False,
    ),
    "invalid.event_in_future": ReasonInfo(
        "event_time is ahead of now by more than the allowed skew.",
        "Check the producer's clock; replay after its event_time has passed.",
        True,
    ),
    "invalid.missing_event_source_url": ReasonInfo(
        "A website event has no event_source_url.", "Fix the producer (page_url).", False
    ),
    "invalid.event_source_url": ReasonInfo(
        "A website event's event_source_url is not an http(s) URL.",
        "Fix the producer (page_url).",
        False,
    ),
    "invalid.missing_user_agent": ReasonInfo(
        "A website event has no client_user_agent.", "Fix the producer (browser.user_agent).", False
    ),
    "invalid.no_user_data": ReasonInfo(
        "No usable customer identifier survived normalization.",
        "Fix the producer; Meta cannot match the event.",
        False,
    ),
    "invalid.purchase_without_value": ReasonInfo(
        "A Purchase without a numeric value.", "Fix the producer.", False
    ),
    "invalid.purchase_without_currency": ReasonInfo(
        "A Purchase without an ISO 4217 currency.", "Fix the producer.", False
    ),
    "invalid.currency": ReasonInfo(
        "custom_data.currency is not an active ISO 4217 currency code (ZZZ, DOLLARS, a withdrawn code).",
        "Fix the producer.",
        False,
    ),
    "invalid.amount_out_of_range": ReasonInfo(
        "An amount (named in the message) does not fit decimal(18,2) or is not finite; it would reach Meta as 1e+40.",
        "Fix the producer's amount (or its schema's decimal precision and scale).",
        False,
    ),
    "invalid.negative_value": ReasonInfo(
        "A Purchase with a negative value (a refund, with mapping.order.refunds: dead_letter).",
        "Nothing to send: Meta has no negative Purchase. Use refunds: filter to count them as filtered.",
        False,
    ),
    "invalid.quantity": ReasonInfo(
        "A Purchase line item has a quantity that is not a positive integer.",
        "Fix the producer.",
        False,
    ),
    "invalid.item_price": ReasonInfo(
        "A Purchase line item has a negative unit price.", "Fix the producer.", False
    ),
    "invalid.id_too_long": ReasonInfo(
        "event_id, order_id or a content id is longer than mapping.max_id_length; it is never cut, since it must equal the pixel's.",
        "Fix the producer, or raise mapping.max_id_length if such ids are legitimate, then replay.",
        True,
    ),
    "invalid.id_control_character": ReasonInfo(
        "event_id, order_id or a content id holds a control character (newline, escape, NUL); it cannot match the pixel's.",
        "Fix the producer; replaying the same bytes fails again.",
        False,
    ),
    "invalid.event_time_type": ReasonInfo(
        "event_time is not an integer number of Unix seconds.",
        "Fix the mapping (a bug) or the producer's occurred_at.",
        False,
    ),
    "invalid.action_source": ReasonInfo(
        "action_source is not one of Meta's values.",
        "Fix mapping.*.action_sources in the config, roll out, then replay.",
        True,
    ),
    "invalid.insufficient_customer_information": ReasonInfo(
        "user_data holds only one of Meta's rejected combinations (e.g. only geo fields, or fn+ge), so Meta would reject the batch (2804050).",
        "Have the producer send an email, phone, external_id or click id; replaying the same bytes fails again.",
        False,
    ),
    "invalid.unhashed_user_data": ReasonInfo(
        "A hashed user_data field is not a 64-hex SHA-256 (a normalization bug).",
        "Report it: this should never happen. Replay after the fix.",
        True,
    ),
    "invalid.ldu_country": ReasonInfo(
        "consent.ldu_country is not 0 (geolocate) or 1 (US).",
        "Fix the producer's consent fields.",
        False,
    ),
    "invalid.ldu_state": ReasonInfo(
        "consent.ldu_state is not 0 (geolocate) or a documented state code (1000-1013).",
        "Fix the producer's consent fields.",
        False,
    ),
    "invalid.net_revenue": ReasonInfo(
        "custom_data.net_revenue is not a number, or the event has no ISO 4217 currency for it.",
        "Fix the producer (net_revenue, currency).",
        False,
    ),
    "invalid.messaging_channel": ReasonInfo(
        "A business_messaging event has no known messaging_channel (whatsapp, messenger, instagram): the record has no messaging context, or its channel is UNKNOWN.",
        "Fix the producer (messaging.channel), or stop mapping that channel to business_messaging in mapping.*.action_sources.",
        False,
    ),
    "invalid.messaging_identifiers": ReasonInfo(
        "A business messaging event lacks its channel's identifiers (WhatsApp: whatsapp_business_account_id + ctwa_clid; Messenger: page_id + page_scoped_user_id; Instagram: ig_account_id + ig_sid), or one of them looks hashed (they are sent raw).",
        "Fix the producer (the messaging context).",
        False,
    ),
    "invalid.app_data": ReasonInfo(
        "An app event lacks what Meta requires in app_data: advertiser_tracking_enabled, or extinfo with version a2/i2 and the OS version (or the record has no app context), or anon_id/madid looks hashed.",
        "Fix the producer (the app context), or stop mapping that channel to app in mapping.*.action_sources.",
        False,
    ),
    "invalid.original_event_data": ReasonInfo(
        "An AppendAttribution lacks original_event_data.event_name or event_time, names neither event_id nor order_id, or its original is later than itself.",
        "Fix the producer (the attribution context).",
        False,
    ),
    "invalid.original_event_too_old": ReasonInfo(
        "An AppendAttribution arrived 48 hours or more after its original event; Meta only takes it within 48 hours.",
        "Nothing: Meta will never accept it. Send passbacks sooner (consumer lag, producer delay).",
        False,
    ),
    "invalid.attribution_data": ReasonInfo(
        "An AppendAttribution's attribution_data has no attribution_share between 0 and 1, an unknown attribution_model, or a negative window, credit or value.",
        "Fix the producer (the attribution context).",
        False,
    ),
    # send stage
    "rejected": ReasonInfo(
        "Meta rejected this event (Graph code 100 / 2804xxx); splitting the batch isolated it.",
        "Read capi.dlq.error and graph_subcode; fix the producer or mapping, then replay.",
        True,
    ),
    "request_rejected": ReasonInfo(
        "Meta rejected the whole request for a reason that names no event (another Graph code than 100, e.g. 2500 for an unknown API version; a request parameter or appsecret_proof; a 4xx without a Graph error), so the batch was not split.",
        "Read capi.dlq.error and graph_code; fix meta.base_url, the pixel's api_version or app secret, then `capi-consumer dlq replay --reason request_rejected`.",
        True,
    ),
    "auth": ReasonInfo(
        "Meta refused the pixel's token or permission (190, 102, 10, 200-299, 100/33), or HTTP 401/403/404 came without a Graph error (check meta.base_url and the API version).",
        "Fix the pixel's access token (secret): a token file is re-read without a restart, an environment variable needs a rollout; then `capi-consumer dlq replay --reason auth --pixel ID`.",
        True,
    ),
    "retries_exhausted": ReasonInfo(
        "Transient errors (5xx, throttling, timeouts) lasted past the retry deadline.",
        "Check Meta's status and our network; once healthy, `capi-consumer dlq replay --reason retries_exhausted`.",
        True,
    ),
}


def describe(reason: str) -> ReasonInfo:
    """The entry for ``reason``, else its family's, else a generic 'unknown reason' entry."""
    info = REASONS.get(reason) or FAMILIES.get(reason.split(".", 1)[0])
    if info is not None:
        return info
    return ReasonInfo(
        "Not a reason this consumer version knows (written by another version?).",
        "Check capi.dlq.consumer_version and capi.dlq.error.",
        False,
    )


def runbook_rows() -> list[tuple[str, str, str]]:
    """(reason, meaning, action) rows in table order, for the runbook and ``dlq stats --reasons``."""
    named = [(f"{family}.*", info) for family, info in FAMILIES.items()] + list(REASONS.items())
    return [(reason, info.meaning, action_for(reason, info)) for reason, info in named]


def action_for(reason: str, info: ReasonInfo) -> str:
    """The operator action with the reason filled into its example command."""
    return info.action.replace("{reason}", reason)
