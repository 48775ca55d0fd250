"""Schema evolution: records written with older and newer schemas resolve against ours.

Each writer schema is a real edit of ``schemas/order_event.avsc`` registered through
confluent-kafka's AvroSerializer (mock registry), the way a producer team would evolve it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from consumer.core.decoding import DecodeLimits, confluent_schema_id, decode_value
from consumer.core.mapping import map_record
from consumer.devstack.framing import ConfluentFramer
from consumer.errors import DecodeError
from consumer.schemas import ParsedSchema, parse_schema_text
from consumer.settings import Settings
from tests.fixtures.factories import make_lead, make_order
from tests.fixtures.params import app, messaging, passback

SCHEMA_JSON: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "order_event.avsc").read_text()
)
READER = parse_schema_text(json.dumps(SCHEMA_JSON))

Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> dict[str, Any]:
    """A deep copy of our order schema JSON with ``edit`` applied."""
    schema = copy.deepcopy(SCHEMA_JSON)
    edit(schema)
    return schema


def fields_of(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The schema's top-level fields by name (the same dicts, editable in place)."""
    return {f["name"]: f for f in schema["fields"]}


def drop_fields(*names: str) -> Edit:
    """Edit: the writer does not know these fields (an older version, or removed ones)."""

    def edit(schema: dict[str, Any]) -> None:
        schema["fields"] = [f for f in schema["fields"] if f["name"] not in names]

    return edit


def add_fields(*new: dict[str, Any]) -> Edit:
    """Edit: the writer has fields our reader does not (a newer version)."""

    def edit(schema: dict[str, Any]) -> None:
        schema["fields"].extend(new)

    return edit


class Registry:
    """A mock-registry producer; ``decode`` reads its values as the consumer does."""

    def __init__(self) -> None:
        self.framer = ConfluentFramer()

    def round_trip(
        self, writer: dict[str, Any], record: dict[str, Any], reader: ParsedSchema = READER
    ) -> dict[str, Any]:
        """Serialize ``record`` with ``writer`` and decode it against ``reader``."""
        value = self.framer.encode("orders", record, json.dumps(writer))
        schema_id = confluent_schema_id(value)
        lookup = {schema_id: self.framer.writer(schema_id)}
        return decode_value(
            value,
            framing="confluent",
            writers=_ById(lookup),
            raw_writer=None,
            reader=reader,
            limits=DecodeLimits(),
        )


class _ById:
    def __init__(self, ids: dict[int, ParsedSchema | None]) -> None:
        self.ids = ids

    def by_id(self, schema_id: int) -> ParsedSchema | None:
        return self.ids.get(schema_id)

    def by_fingerprint(self, fingerprint: int) -> ParsedSchema | None:
        return None


@pytest.fixture(name="registry")
def _registry() -> Iterator[Registry]:
    """A fresh mock registry and serializer per test."""
    registry = Registry()
    yield registry
    registry.framer.close()


def without(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """``record`` minus ``names``."""
    return {k: v for k, v in record.items() if k not in names}


class TestOlderWriter:
    def test_missing_fields_take_our_defaults(self, registry: Registry) -> None:
        """An older writer without consent, predicted_ltv or delivery_category decodes with defaults."""
        names = ("consent", "predicted_ltv", "delivery_category", "is_test")
        writer = edited(drop_fields(*names))
        record = make_order()

        assert record == registry.round_trip(writer, without(record, *names))

    def test_older_and_current_map_to_the_same_event(
        self, registry: Registry, settings_factory: Callable[..., Settings]
    ) -> None:
        """A record written with the older schema maps to the same CAPI event as a current one."""
        settings = settings_factory()
        record = make_order()
        older = registry.round_trip(edited(drop_fields("consent", "predicted_ltv")), record)
        current = registry.round_trip(SCHEMA_JSON, record)

        assert map_record("order", current, settings) == map_record("order", older, settings)


class TestNewerWriter:
    def test_added_fields_are_ignored(self, registry: Registry) -> None:
        """Fields only the newer writer has are skipped; ours decode unchanged."""
        writer = edited(
            add_fields(
                {"name": "coupon_code", "type": "string"},
                {"name": "loyalty", "type": ["null", {"type": "array", "items": "long"}]},
            )
        )
        record = make_order()

        assert record == registry.round_trip(writer, {**record, "coupon_code": "X", "loyalty": [1]})

    def test_removed_optional_field_and_added_field_map_like_current(
        self, registry: Registry, settings_factory: Callable[..., Settings]
    ) -> None:
        """A newer writer that removed predicted_ltv and added a field maps like the current one."""
        settings = settings_factory()
        writer = edited(drop_fields("predicted_ltv"))
        writer["fields"].append({"name": "channel_detail", "type": "string", "default": ""})
        record = make_order()
        newer = registry.round_trip(
            writer, {**without(record, "predicted_ltv"), "channel_detail": "x"}
        )

        assert map_record("order", record, settings) == map_record("order", newer, settings)

    def test_new_enum_symbol_falls_back_to_the_enum_default(self, registry: Registry) -> None:
        """A status symbol our reader lacks becomes the enum's default, UNKNOWN."""

        def edit(schema: dict[str, Any]) -> None:
            fields_of(schema)["status"]["type"]["symbols"].append("PARTIALLY_REFUNDED")

        decoded = registry.round_trip(edited(edit), make_order(status="PARTIALLY_REFUNDED"))

        assert "UNKNOWN" == decoded["status"]

    def test_new_enum_symbol_without_a_default_is_a_record_reason(self, registry: Registry) -> None:
        """delivery_category has no enum default: a new symbol fails that record only."""

        def edit(schema: dict[str, Any]) -> None:
            enum = fields_of(schema)["delivery_category"]["type"][1]
            enum["symbols"].append("DRONE")

        with pytest.raises(DecodeError) as caught:
            registry.round_trip(edited(edit), make_order(delivery_category="DRONE"))

        assert "decode.reader_mismatch" == caught.value.reason


class TestTypeChanges:
    def test_bytes_writer_promotes_to_our_strings(self, registry: Registry) -> None:
        """A writer sending order_id and currency as bytes is read as our strings."""

        def edit(schema: dict[str, Any]) -> None:
            fields_of(schema)["order_id"]["type"] = "bytes"
            fields_of(schema)["currency"]["type"] = "bytes"

        record = make_order()
        written = {**record, "order_id": b"ORD-1", "currency": b"usd"}

        assert record == registry.round_trip(edited(edit), written)

    @pytest.mark.parametrize(
        ("writer_type", "reader_type", "value", "expected"),
        [
            pytest.param("int", "long", 7, 7, id="int-long"),
            pytest.param("int", "double", 7, 7.0, id="int-double"),
            pytest.param("long", "float", 2**40, float(2**40), id="long-float"),
            pytest.param("float", "double", 0.5, 0.5, id="float-double"),
        ],
    )
    def test_numeric_widening(
        self, registry: Registry, writer_type: str, reader_type: str, value: Any, expected: Any
    ) -> None:
        """Numeric promotions allowed by the Avro spec resolve to the wider reader type."""

        def schema(kind: str) -> dict[str, Any]:
            return {"type": "record", "name": "N", "fields": [{"name": "n", "type": kind}]}

        reader = parse_schema_text(json.dumps(schema(reader_type)))

        assert {"n": expected} == registry.round_trip(schema(writer_type), {"n": value}, reader)

    def test_renamed_field_resolves_through_our_alias(self, registry: Registry) -> None:
        """A writer still calling it orderId is read when our field lists that alias."""

        def rename(schema: dict[str, Any]) -> None:
            fields_of(schema)["order_id"]["name"] = "orderId"

        def alias(schema: dict[str, Any]) -> None:
            fields_of(schema)["order_id"]["aliases"] = ["orderId"]

        record = make_order()
        reader = parse_schema_text(json.dumps(edited(alias)))
        written = {**without(record, "order_id"), "orderId": record["order_id"]}

        assert record == registry.round_trip(edited(rename), written, reader)

    def test_incompatible_writer_is_a_schema_reason(self, registry: Registry) -> None:
        """A writer without a field our reader requires (no default) fails as incompatible."""
        writer = edited(drop_fields("currency"))

        with pytest.raises(DecodeError) as caught:
            registry.round_trip(writer, without(make_order(), "currency"))

        assert "decode.incompatible_schema" == caught.value.reason

    def test_incompatible_writer_message_is_short(self, registry: Registry) -> None:
        """A writer of another record type makes fastavro quote both whole schemas (27 KB for
        ours); the DLQ header and the log keep the start."""
        writer = {"type": "record", "name": "Other", "fields": [{"name": "n", "type": "int"}]}

        with pytest.raises(DecodeError) as caught:
            registry.round_trip(writer, {"n": 1})

        assert len(str(caught.value)) < 450
        assert "more chars" in str(caught.value)


# The fields added for Meta's 2024-2026 parameters (net_revenue, business messaging, app events,
# AppendAttribution): producers still writing the schema from before them keep working.
NEW_ORDER_FIELDS = ("net_revenue", "messaging", "app", "attribution")
NEW_LEAD_FIELDS = ("messaging", "app")
LEAD_SCHEMA_JSON: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "lead_event.avsc").read_text()
)
LEAD_READER = parse_schema_text(json.dumps(LEAD_SCHEMA_JSON))


def _lead_without(*names: str) -> dict[str, Any]:
    schema = copy.deepcopy(LEAD_SCHEMA_JSON)
    schema["fields"] = [f for f in schema["fields"] if f["name"] not in names]
    return schema


class TestNewParameters:
    def test_old_order_writer_reads_with_null_defaults(self, registry: Registry) -> None:
        """An order written before the new fields decodes with each of them null."""
        record = make_order()

        decoded = registry.round_trip(
            edited(drop_fields(*NEW_ORDER_FIELDS)), without(record, *NEW_ORDER_FIELDS)
        )

        assert record == decoded
        assert (None, None, None, None) == tuple(decoded[name] for name in NEW_ORDER_FIELDS)

    def test_old_order_maps_as_before(
        self, registry: Registry, settings_factory: Callable[..., Settings]
    ) -> None:
        """An old order maps to the same event as a current one without the new contexts."""
        settings = settings_factory()
        record = make_order()
        old = registry.round_trip(
            edited(drop_fields(*NEW_ORDER_FIELDS)), without(record, *NEW_ORDER_FIELDS)
        )

        assert map_record("order", record, settings) == map_record("order", old, settings)

    def test_old_lead_writer_reads_with_null_defaults(
        self, registry: Registry, settings_factory: Callable[..., Settings]
    ) -> None:
        """A lead written before messaging and app decodes with both null and maps as before."""
        settings = settings_factory()
        record = make_lead()
        old = registry.round_trip(
            _lead_without(*NEW_LEAD_FIELDS), without(record, *NEW_LEAD_FIELDS), LEAD_READER
        )

        assert (None, None) == (old["messaging"], old["app"])
        assert map_record("lead", record, settings) == map_record("lead", old, settings)

    def test_new_writer_round_trips_every_context(self, registry: Registry) -> None:
        """A current producer's record with all four new parameters decodes unchanged."""
        purchased = make_order()["occurred_at"]
        record = make_order(
            net_revenue=Decimal("12.34"),
            messaging=messaging(),
            app=app(),
            attribution=passback(purchased),
        )

        assert record == registry.round_trip(SCHEMA_JSON, record)

    def test_new_lead_round_trips(self, registry: Registry) -> None:
        """A lead with a chat and an app context decodes unchanged."""
        record = make_lead(
            messaging=messaging("MESSENGER", page_id="1", page_scoped_user_id="2"), app=app()
        )

        decoded = registry.round_trip(LEAD_SCHEMA_JSON, record, LEAD_READER)

        assert (record["messaging"], record["app"]) == (decoded["messaging"], decoded["app"])
