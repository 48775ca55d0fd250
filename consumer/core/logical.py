"""Pure handling of Avro logical values that cannot be converted (a date past year 9999, ...).

fastavro converts ``date``, ``timestamp-*``, ``time-*`` and ``uuid`` values with Python's own
types, which raise on out-of-range input (``date_of_birth`` = 2^31-1 days). One such field must
not lose the event: an optional one (a union with ``null``) becomes ``None`` and is reported in
the decoded record under ``DROPPED_KEY`` as ``(field path, "out_of_range")``; a required one is
``decode.out_of_range`` naming the field, never its value. The generated decoder calls
``out_of_range``; the guard + fastavro path re-reads such a payload with ``lenient_read``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import MAX_PREC, Context, Decimal
from typing import IO, Any, Final, final

import fastavro
from fastavro.read import LOGICAL_READERS

from consumer.errors import DecodeError

__all__ = [
    "CONVERSION_ERRORS",
    "DROPPED_KEY",
    "OUT_OF_RANGE",
    "convert_logical",
    "decimal_args",
    "lenient_read",
    "out_of_range",
    "read_decimal",
    "stripped",
]

# Not an Avro name (no "$" allowed there), so it never collides with a record field.
DROPPED_KEY = "$dropped"
OUT_OF_RANGE = "out_of_range"
CONVERSION_ERRORS = (OverflowError, ValueError)
# Decimals never fail to convert (fastavro rounds to the precision): they stay with fastavro.
_KEPT = frozenset({"decimal"})


def out_of_range(dropped: list[tuple[str, str]], path: str, optional: bool) -> None:
    """Record a dropped optional field (its value becomes None), or raise for a required one."""
    if not optional:
        raise DecodeError("decode.out_of_range", f"{path} is out of its logical type's range")
    dropped.append((path, OUT_OF_RANGE))


def decimal_args(schema: dict[str, Any]) -> tuple[int, int] | None:
    """A decimal schema's (precision, scale) when ``read_decimal`` reads it as fastavro does:
    a precision Context accepts and an integer scale. Else None: fastavro's reader stays."""
    precision, scale = schema.get("precision"), schema.get("scale", 0)
    if type(precision) is not int or type(scale) is not int or not 1 <= precision <= MAX_PREC:
        return None
    return precision, scale


# Up to this precision the reader knows 10**precision: a value of fewer digits, with a scale up
# to _EXACT_SCALE (far from the Context's exponent limits), is read without the Context (speed).
_EXACT_DIGITS: Final = 100
_EXACT_SCALE: Final = 1000
# called positionally: mypyc's keyword call costs more; Final: a C static, no dict look-up
_FROM_BYTES: Final = int.from_bytes
_SIGN_BIT: Final = 0x80


@final
class _DecimalReader:
    """What ``read_decimal`` keeps per precision: a default Context but for prec (created once,
    never changed after: no prec set per value) and 10**precision (0: not computed)."""

    def __init__(self, precision: int) -> None:
        self.context = Context(prec=precision)
        self.limit = 10**precision if precision <= _EXACT_DIGITS else 0


_READERS: Final[dict[int, _DecimalReader]] = {}  # by precision


def read_decimal(data: bytes, precision: int, scale: int) -> Decimal:
    """fastavro's ``bytes-decimal``/``fixed-decimal`` reader, compiled (fastavro's is called
    through the generic path, its schema looked up per value): the same operations, in a
    default ``decimal.Context()`` with this precision, so the same ``Decimal``, digit for digit.
    """
    reader = _READERS.get(precision)
    if reader is None:
        reader = _READERS[precision] = _DecimalReader(precision)
    unscaled: int = _FROM_BYTES(data, "big")  # signed=True, by hand: no keyword call
    if data and data[0] >= _SIGN_BIT:
        unscaled -= 1 << (8 * len(data))
    if -reader.limit < unscaled < reader.limit and -_EXACT_SCALE <= scale <= _EXACT_SCALE:
        # Fewer digits than the precision: create_decimal does not round, scaleb only moves the
        # exponent, far inside the Context's limits. The exact Decimal of this text is that one.
        return Decimal(f"{unscaled}E{-scale}")
    context = reader.context
    return context.create_decimal(unscaled).scaleb(-scale, context)


def lenient_read(stream: IO[bytes], writer: Any, reader: Any) -> dict[str, Any]:
    """fastavro's record with unconvertible logical values handled as ``out_of_range`` says.

    Reads with the writer's convertible logical types stripped, then converts each value along
    the writer schema (fastavro converts by the writer's logical type too).
    """
    record: dict[str, Any] = convert_logical(
        writer, fastavro.schemaless_reader(stream, stripped(writer), reader)
    )
    return record  # a record schema reads as a dict (the caller checks)


def convert_logical(schema: Any, raw: Any) -> Any:
    """``raw`` (read with ``stripped(schema)``) with its logical values converted or dropped."""
    dropped: list[tuple[str, str]] = []
    record = _convert(schema, raw, "", optional=False, dropped=dropped, named={})
    if dropped and isinstance(record, dict):
        record[DROPPED_KEY] = tuple(dropped)
    return record


def stripped(schema: Any) -> Any:
    """A copy of ``schema`` without the logical types that can fail to convert."""
    return _stripped(schema)


def _stripped(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_stripped(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _stripped(value) for key, value in schema.items()}
    logical = copy.get("logicalType")
    if logical is not None and logical not in _KEPT:
        del copy["logicalType"]
    return copy


def _convert(  # the walk's whole state
    schema: Any,
    value: Any,
    path: str,
    *,
    optional: bool,
    dropped: list[tuple[str, str]],
    named: dict[str, Any],
) -> Any:
    """``value`` with ``schema``'s logical types converted (the walk follows the writer)."""
    if isinstance(schema, str):
        schema = named.get(schema, schema)
    if isinstance(schema, list):
        return _convert_union(schema, value, path, dropped, named)
    if not isinstance(schema, dict):
        return value
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        named[str(schema["name"])] = schema
    if kind in ("record", "error") and isinstance(value, dict):
        for field in schema["fields"]:
            name = str(field["name"])
            if name in value:
                where = f"{path}.{name}" if path else name
                value[name] = _convert(
                    field["type"], value[name], where, optional=False, dropped=dropped, named=named
                )
        return value
    if kind == "array" and isinstance(value, list):
        return [
            _convert(schema["items"], item, path, optional=False, dropped=dropped, named=named)
            for item in value
        ]
    if kind == "map" and isinstance(value, dict):
        return {
            key: _convert(
                schema["values"], item, path, optional=False, dropped=dropped, named=named
            )
            for key, item in value.items()
        }
    return _logical(schema, value, path, optional=optional, dropped=dropped)


def _convert_union(
    branches: list[Any],
    value: Any,
    path: str,
    dropped: list[tuple[str, str]],
    named: dict[str, Any],
) -> Any:
    """A union value: convert it by the one branch of its Python type (None stays None)."""
    if value is None:
        return None
    optional = "null" in branches
    for branch in branches:
        resolved = named.get(branch, branch) if isinstance(branch, str) else branch
        if _fits(resolved, value):
            return _convert(resolved, value, path, optional=optional, dropped=dropped, named=named)
    return value


_PYTHON_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: type(v) is int,
    "long": lambda v: type(v) is int,
    "string": lambda v: isinstance(v, str),
    "record": lambda v: isinstance(v, dict),
    "error": lambda v: isinstance(v, dict),
    "map": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _fits(schema: Any, value: Any) -> bool:
    """Whether a raw (unconverted) value could have been read with ``schema``."""
    kind = schema.get("type") if isinstance(schema, dict) else schema
    check = _PYTHON_TYPES.get(kind) if isinstance(kind, str) else None
    return check is not None and check(value)


def _logical(
    schema: dict[str, Any], value: Any, path: str, *, optional: bool, dropped: list[tuple[str, str]]
) -> Any:
    logical = schema.get("logicalType")
    if logical is None or logical in _KEPT:
        return value
    convert = LOGICAL_READERS.get(f"{schema['type']}-{logical}")
    if convert is None:
        return value
    try:
        return convert(value, schema, None)
    except CONVERSION_ERRORS:
        out_of_range(dropped, path, optional)
        return None
