"""Pure pre-decode guard: walk Avro binary against its writer schema before fastavro reads it.

fastavro reads a string or bytes length prefix safely (it never allocates more than the stream
holds), but it trusts array and map block counts: a 5-byte corrupt count of 2**40 items of a
zero-width type (``null``, an empty record) makes it allocate until the process dies, and even
one-byte items expand about a hundredfold into Python objects. This walker checks every length
and count against the bytes that remain and the configured limits, allocating nothing, so a
hostile payload is rejected as a ``DecodeError`` with a reason before any decoding starts.

Schemas are compiled once into a tree of small checker closures (cached by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consumer.errors import DecodeError

__all__ = ["DecodeLimits", "Guard", "compile_guard"]

_FIXED_WIDTH = {"float": 4, "double": 8}


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on one record: payload bytes, array/map items in total, one string's bytes."""

    max_message_bytes: int = 1_048_576
    max_items: int = 10_000
    max_string_bytes: int = 65_536


class _Budget:
    __slots__ = ("items_left", "max_string")

    def __init__(self, limits: DecodeLimits) -> None:
        self.items_left = limits.max_items
        self.max_string = limits.max_string_bytes


Check = Callable[[bytes, int, _Budget], int]
Guard = Callable[[bytes, DecodeLimits], None]


def compile_guard(schema: Any) -> Guard:
    """A guard for payloads written with ``schema`` (a fastavro parsed schema)."""
    named: dict[str, Check] = {}
    check = _compile(schema, named)

    def guard(payload: bytes, limits: DecodeLimits) -> None:
        try:
            end = check(payload, 0, _Budget(limits))
        except IndexError:  # a read past the end: checkers index without bounds checks
            raise _truncated() from None
        except RecursionError:  # a recursive type nested deeper than Python's stack
            raise DecodeError("decode.too_deep", "records nested too deeply") from None
        if end > len(payload):
            raise _truncated()
        if end != len(payload):
            raise DecodeError("decode.corrupt", f"{len(payload) - end} trailing bytes")

    return guard


def _truncated() -> DecodeError:
    return DecodeError("decode.truncated", "payload ends before the record does")


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """Read one zig-zag varint; (value, new position). IndexError past the end."""
    byte = buf[pos]
    if byte < 0x80:  # the common one-byte case
        return (byte >> 1) ^ -(byte & 1), pos + 1
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise DecodeError("decode.corrupt", "varint longer than 10 bytes")


def _skip(buf: bytes, pos: int, size: int) -> int:
    if pos + size > len(buf):
        raise _truncated()
    return pos + size


def _check_long(buf: bytes, pos: int, _budget: _Budget) -> int:
    if buf[pos] < 0x80:
        return pos + 1
    return _long(buf, pos)[1]


def _check_null(_buf: bytes, pos: int, _budget: _Budget) -> int:
    return pos


def _check_boolean(_buf: bytes, pos: int, _budget: _Budget) -> int:
    return pos + 1  # an overrun is caught at the end or by the next read


def _check_string(buf: bytes, pos: int, budget: _Budget) -> int:
    size, pos = _long(buf, pos)
    if size < 0:
        raise DecodeError("decode.corrupt", f"negative length {size}")
    if size > budget.max_string:
        raise DecodeError(
            "decode.string_too_long", f"{size} bytes is over the {budget.max_string} limit"
        )
    return _skip(buf, pos, size)


def _compile(schema: Any, named: dict[str, Check]) -> Check:
    if isinstance(schema, list):
        return _union([_compile(branch, named) for branch in schema])
    if isinstance(schema, str):
        return _primitive(schema, named)
    kind = schema["type"]
    if kind in ("record", "error"):
        return _record(schema, named)
    if kind == "enum":
        return _register(schema, named, _enum(len(schema["symbols"])))
    if kind == "fixed":
        size = schema["size"]
        return _register(schema, named, lambda _buf, pos, _budget: pos + size)
    if kind in ("array", "map"):
        item = _compile(schema["items" if kind == "array" else "values"], named)
        return _blocks(item, with_key=kind == "map")
    return _compile(kind, named)  # a primitive with a logical type


def _primitive(name: str, named: dict[str, Check]) -> Check:
    if name in _FIXED_WIDTH:  # overruns are caught at the end or by the next read
        width = _FIXED_WIDTH[name]
        return lambda _buf, pos, _budget: pos + width
    simple: dict[str, Check] = {
        "null": _check_null,
        "boolean": _check_boolean,
        "int": _check_long,
        "long": _check_long,
        "string": _check_string,
        "bytes": _check_string,
    }
    if name in simple:
        return simple[name]
    # A reference to a named type; it may still be compiling (recursive types).
    return lambda buf, pos, budget: named[name](buf, pos, budget)


def _register(schema: dict[str, Any], named: dict[str, Check], check: Check) -> Check:
    named[schema["name"]] = check
    return check


def _record(schema: dict[str, Any], named: dict[str, Check]) -> Check:
    fields: list[Check] = []

    def check(buf: bytes, pos: int, budget: _Budget) -> int:
        for field in fields:
            pos = field(buf, pos, budget)
        return pos

    _register(schema, named, check)
    fields.extend(_compile(field["type"], named) for field in schema["fields"])
    return check


def _enum(symbols: int) -> Check:
    def check(buf: bytes, pos: int, _budget: _Budget) -> int:
        index, pos = _long(buf, pos)
        if not 0 <= index < symbols:
            raise DecodeError("decode.corrupt", f"enum index {index} out of range")
        return pos

    return check


def _union(branches: list[Check]) -> Check:
    def check(buf: bytes, pos: int, budget: _Budget) -> int:
        index, pos = _long(buf, pos)
        if not 0 <= index < len(branches):
            raise DecodeError("decode.corrupt", f"union index {index} out of range")
        return branches[index](buf, pos, budget)

    return check


def _blocks(item: Check, *, with_key: bool) -> Check:
    def check(buf: bytes, pos: int, budget: _Budget) -> int:
        while True:
            count, pos = _long(buf, pos)
            if count == 0:
                return pos
            if count < 0:  # a negative count is followed by the block's size in bytes
                count = -count
                size, pos = _long(buf, pos)
                if size < 0 or pos + size > len(buf):
                    raise _truncated()
            budget.items_left -= count
            if budget.items_left < 0:
                raise DecodeError("decode.too_many_items", "arrays and maps hold too many items")
            for _ in range(count):
                if with_key:
                    pos = _check_string(buf, pos, budget)
                pos = item(buf, pos, budget)

    return check
