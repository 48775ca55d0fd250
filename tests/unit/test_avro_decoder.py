"""The generated decoder: fastavro's values, the guard's checks, in one pass."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from fastavro.read import LOGICAL_READERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.avro_decoder import compile_decoder, decoder_source
from consumer.core.avro_guard import DecodeLimits
from consumer.core.decoding import guarded_reader
from consumer.core.logical import decimal_args, read_decimal
from consumer.devstack.framing import encode_raw
from consumer.errors import DecodeError
from consumer.schemas import ParsedSchema
from tests.unit.test_avro_guard import (
    EVERYTHING,
    EVERYTHING_VALUE,
    LIMITS,
    ORDER,
    SAMPLE,
    encode,
    nested,
    parse,
)
from tests.unit.test_decode_fuzz import mutate

LOGICAL = {
    "type": "record",
    "name": "Logical",
    "fields": [
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "t", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {
            "name": "amount",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        },
        {
            "name": "fixed_amount",
            "type": {
                "type": "fixed",
                "name": "Money",
                "size": 8,
                "logicalType": "decimal",
                "precision": 18,
                "scale": 4,
            },
        },
        {"name": "again", "type": ["null", "Money"]},
        {"name": "unknown", "type": {"type": "long", "logicalType": "not-a-type"}},
    ],
}
LOGICAL_VALUE = {
    "ts": dt.datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=dt.UTC),
    "us": dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    "day": dt.date(1966, 8, 1),
    "t": dt.time(13, 14, 15, 16000),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "amount": Decimal("-164.33"),
    "fixed_amount": Decimal("12345.6789"),
    "again": Decimal("0.0001"),
    "unknown": 42,
}


def fastavro_read(schema: ParsedSchema, payload: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(payload), schema, None)


def outcome(read: Any, payload: bytes) -> tuple[str, Any]:
    """("ok", value) or ("error", None): any exception counts as a refusal."""
    try:
        return "ok", read(payload)
    except Exception:  # noqa: BLE001  # the comparison is pass/fail, the reason is tested apart
        return "error", None


class TestSameValuesAsFastavro:
    @pytest.mark.parametrize("index", range(len(SAMPLE)))
    def test_sample_records(self, index: int) -> None:
        """Every sample order and lead decodes to exactly what fastavro returns."""
        schema, value = SAMPLE[index]
        payload = encode_raw(value, schema)

        assert fastavro_read(schema, payload) == compile_decoder(schema)(payload, LIMITS)

    @pytest.mark.parametrize(
        ("schema", "value"),
        [
            pytest.param(EVERYTHING, EVERYTHING_VALUE, id="every-type"),
            pytest.param(LOGICAL, LOGICAL_VALUE, id="logical-types"),
        ],
    )
    def test_every_type(self, schema: dict[str, Any], value: dict[str, Any]) -> None:
        """Primitives, enums, fixed, maps, arrays, recursion and logical types, as fastavro."""
        parsed = parse(schema)
        payload = encode(parsed, value)
        decoded = compile_decoder(parsed)(payload, LIMITS)

        assert fastavro_read(parsed, payload) == decoded
        assert list(fastavro_read(parsed, payload)) == list(decoded)  # field order too

    def test_booleans_are_any_non_zero_byte(self) -> None:
        """fastavro reads any non-zero byte as true; so does the decoder."""
        schema = parse(
            {"type": "record", "name": "B", "fields": [{"name": "b", "type": "boolean"}]}
        )

        assert [fastavro_read(schema, bytes([b])) for b in (0, 1, 2, 255)] == [
            compile_decoder(schema)(bytes([b]), LIMITS) for b in (0, 1, 2, 255)
        ]

    def test_deep_nesting(self) -> None:
        schema = parse(nested(30))
        value: Any = [7]
        for _ in range(29):
            value = [value, None]
        payload = encode(schema, {"v": value})

        assert {"v": value} == compile_decoder(schema)(payload, LIMITS)

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_mutated_payloads_agree_with_guard_and_fastavro(self, data: st.DataObject) -> None:
        """On damaged bytes the decoder accepts exactly what guard + fastavro accept (with the
        same handling of logical values out of range), as the same value, and refuses the rest."""
        schema, value = data.draw(st.sampled_from(SAMPLE))
        payload = mutate(encode_raw(value, schema), data)
        guarded = guarded_reader(schema, schema)

        assert outcome(lambda raw: guarded(raw, LIMITS), payload) == outcome(
            lambda raw: compile_decoder(schema)(raw, LIMITS), payload
        )


class TestGuardChecks:
    def test_every_cut_is_truncated(self) -> None:
        parsed = parse(LOGICAL)
        payload = encode(parsed, LOGICAL_VALUE)
        decoder = compile_decoder(parsed)

        for end in range(len(payload)):
            with pytest.raises(DecodeError) as caught:
                decoder(payload[:end], LIMITS)
            assert "decode.truncated" == caught.value.reason

    @pytest.mark.parametrize(
        ("limits", "reason"),
        [
            (DecodeLimits(max_string_bytes=150), "decode.string_too_long"),
            (DecodeLimits(max_items=8), "decode.too_many_items"),
        ],
    )
    def test_limits(self, limits: DecodeLimits, reason: str) -> None:
        parsed = parse(EVERYTHING)

        with pytest.raises(DecodeError) as caught:
            compile_decoder(parsed)(encode(parsed, EVERYTHING_VALUE), limits)
        assert reason == caught.value.reason

    @pytest.mark.parametrize(
        ("field_type", "payload"),
        [
            pytest.param(["null", "string", "int"], b"\x01\x02", id="union-index-minus-one"),
            pytest.param(
                {"type": "enum", "name": "E", "symbols": ["A", "B"]}, b"\x01", id="enum-minus-one"
            ),
            pytest.param("long", b"\xff" * 10 + b"\x01", id="varint-of-eleven-bytes"),
            pytest.param("string", b"\x02a\x00", id="trailing-byte"),
        ],
    )
    def test_corrupt(self, field_type: Any, payload: bytes) -> None:
        """What fastavro would misread is corrupt here too."""
        schema = parse(
            {"type": "record", "name": "R", "fields": [{"name": "a", "type": field_type}]}
        )

        with pytest.raises(DecodeError) as caught:
            compile_decoder(schema)(payload, LIMITS)
        assert "decode.corrupt" == caught.value.reason

    def test_huge_count_of_zero_width_items(self) -> None:
        """2**40 nulls claimed in five bytes is refused before any list grows."""
        schema = parse(
            {
                "type": "record",
                "name": "N",
                "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}],
            }
        )

        with pytest.raises(DecodeError) as caught:
            compile_decoder(schema)(b"\x80\x80\x80\x80\x80\x80\x02\x00", LIMITS)
        assert "decode.too_many_items" == caught.value.reason


def test_symbols_and_schema_text_stay_out_of_the_source() -> None:
    """Field names appear (as the keys of the dicts built); symbols and type names do not."""
    source = decoder_source(ORDER)

    assert "'order_id'" in source
    for word in ("OrderEvent", "LineItem", "PAID", "HOME_DELIVERY", "timestamp-millis"):
        assert word not in source


@given(
    data=st.binary(max_size=40),
    precision=st.integers(min_value=1, max_value=60),
    scale=st.integers(min_value=-3, max_value=64),
    kind=st.sampled_from(["bytes", "fixed"]),
)
def test_read_decimal_is_fastavros(data: bytes, precision: int, scale: int, kind: str) -> None:
    """The generated decoders' decimal reader gives fastavro's Decimal digit for digit (same
    coefficient, exponent and sign), rounded to the precision when the bytes hold more digits."""
    schema = {"type": kind, "logicalType": "decimal", "precision": precision, "scale": scale}
    expected = LOGICAL_READERS[f"{kind}-decimal"](data, schema, None)

    assert (precision, scale) == decimal_args(schema)
    actual = read_decimal(data, precision, scale)
    assert (expected.as_tuple(), str(expected)) == (actual.as_tuple(), str(actual))


@given(
    data=st.binary(max_size=120),
    precision=st.integers(min_value=1, max_value=300),
    scale=st.one_of(
        st.integers(min_value=-1100, max_value=1100),
        st.integers(min_value=-(10**6), max_value=10**6),
    ),
)
def test_read_decimal_is_fastavros_at_any_size(data: bytes, precision: int, scale: int) -> None:
    """Wide precisions and scales, either side of the bounds of the reader's shortcut (no
    Context when the value has fewer digits than the precision): fastavro's Decimal, or its
    error."""
    schema = {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    try:
        expected = LOGICAL_READERS["bytes-decimal"](data, schema, None)
    except ArithmeticError as exc:
        with pytest.raises(type(exc)):
            read_decimal(data, precision, scale)
        return
    actual = read_decimal(data, precision, scale)
    assert (expected.as_tuple(), str(expected)) == (actual.as_tuple(), str(actual))


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "bytes", "logicalType": "decimal", "precision": True, "scale": 2},
        {"type": "bytes", "logicalType": "decimal", "precision": 0},
        {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2.0},
    ],
)
def test_odd_decimal_schemas_stay_with_fastavro(schema: dict[str, Any]) -> None:
    """Only a precision decimal.Context accepts and an integer scale get the compiled reader."""
    assert decimal_args(schema) is None
    assert "_read_decimal" not in decoder_source(
        {"type": "record", "name": "R", "fields": [{"name": "d", "type": schema}]}
    )
