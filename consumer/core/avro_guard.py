"""Pure pre-decode guard: walk Avro binary against its writer schema before fastavro reads it.

fastavro reads a string or bytes length prefix safely (it never allocates more than the stream
holds), but it trusts array and map block counts: a 5-byte corrupt count of 2**40 items of a
zero-width type (``null``, an empty record) makes it allocate until the process dies, and even
one-byte items expand about a hundredfold into Python objects. This walker checks every length
and count against the bytes that remain and the configured limits, allocating nothing, so a
hostile payload is rejected as a ``DecodeError`` with a reason before any decoding starts.

It also rejects what fastavro would silently misread: union and enum indexes out of range
(fastavro lets ``-1`` pick the last branch), varints longer than 10 bytes, trailing bytes.

Speed: a schema is compiled once (cached by the caller) into Python source, one straight-line
function per record type, with the one-byte varint case inlined; walking an order takes a few
microseconds, against ~20 µs for a tree of per-field closures. The generated source holds only
generated identifiers and integers taken from the schema (sizes, symbol counts), never a name or
any other string from it, so a hostile writer schema cannot inject code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consumer.errors import DecodeError

__all__ = [
    "RUNTIME",
    "Budget",
    "DecodeLimits",
    "Guard",
    "SourceBuilder",
    "compile_guard",
    "guard_source",
    "lines",
    "union_lines",
]

_FIXED_WIDTH = {"float": 4, "double": 8}
_MAX_DEPTH = 6  # nesting (in indentation levels) before a type gets its own function


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on one record: payload bytes, array/map items in total, one string's bytes."""

    max_message_bytes: int = 1_048_576
    max_items: int = 10_000
    max_string_bytes: int = 65_536


class Budget:
    __slots__ = ("dropped", "items_left", "max_string")

    def __init__(self, limits: DecodeLimits) -> None:
        self.items_left = limits.max_items
        self.max_string = limits.max_string_bytes
        # (field path, reason) of optional logical values that could not be converted
        self.dropped: list[tuple[str, str]] = []


Check = Callable[[bytes, int, Budget], int]
Guard = Callable[[bytes, DecodeLimits], None]


def compile_guard(schema: Any) -> Guard:
    """A guard for payloads written with ``schema`` (a fastavro parsed schema)."""
    check = _build(schema)

    def guard(payload: bytes, limits: DecodeLimits) -> None:
        try:
            end = check(payload, 0, Budget(limits))
        except IndexError:  # a read past the end: checkers index without bounds checks
            raise _truncated() from None
        except RecursionError:  # a recursive type nested deeper than Python's stack
            raise DecodeError("decode.too_deep", "records nested too deeply") from None
        if end > len(payload):
            raise _truncated()
        if end != len(payload):
            raise DecodeError("decode.corrupt", f"{len(payload) - end} trailing bytes")

    return guard


def guard_source(schema: Any) -> str:
    """The generated source of ``schema``'s checker (for tests and curious readers)."""
    generator = _Generator()
    generator.function(schema)
    return generator.source()


def _build(schema: Any) -> Check:
    generator = _Generator()
    entry = generator.function(schema)
    namespace: dict[str, Any] = dict(RUNTIME)
    # Generated identifiers and integers only (see the module docstring): no schema text.
    exec(compile(generator.source(), "<avro guard>", "exec"), namespace)  # noqa: S102
    check: Check = namespace[entry]
    return check


# ---- what the generated code calls: the uncommon paths, each exact --------------------------


def _truncated() -> DecodeError:
    return DecodeError("decode.truncated", "payload ends before the record does")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read one varint as written (before zig-zag); (raw value, new position)."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("decode.corrupt", "varint longer than 10 bytes")


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """Read one zig-zag varint; (value, new position). IndexError past the end."""
    raw, pos = _varint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def _skip_long(buf: bytes, pos: int) -> int:
    return _varint(buf, pos)[1]


def _length(buf: bytes, pos: int, budget: Budget) -> tuple[int, int]:
    """A string or bytes length prefix: (size, position of the first byte), size checked."""
    size, pos = _long(buf, pos)
    if size < 0:
        raise DecodeError("decode.corrupt", f"negative length {size}")
    if size > budget.max_string:
        raise DecodeError(
            "decode.string_too_long", f"{size} bytes is over the {budget.max_string} limit"
        )
    if pos + size > len(buf):
        raise _truncated()
    return size, pos


def _string(buf: bytes, pos: int, budget: Budget) -> int:
    size, pos = _length(buf, pos, budget)
    return pos + size


def _enum_index(buf: bytes, pos: int, symbols: int) -> tuple[int, int]:
    index, pos = _long(buf, pos)
    if not 0 <= index < symbols:
        raise DecodeError("decode.corrupt", f"enum index {index} out of range")
    return index, pos


def _enum(buf: bytes, pos: int, symbols: int) -> int:
    return _enum_index(buf, pos, symbols)[1]


def _bad_union(raw: int) -> DecodeError:
    index = (raw >> 1) ^ -(raw & 1)
    return DecodeError("decode.corrupt", f"union index {index} out of range")


def _count(buf: bytes, pos: int, budget: Budget) -> tuple[int, int]:
    """One array/map block header: (item count, position of the first item); 0 ends the value."""
    count, pos = _long(buf, pos)
    if count < 0:  # a negative count is followed by the block's size in bytes
        count = -count
        size, pos = _long(buf, pos)
        if size < 0 or pos + size > len(buf):
            raise _truncated()
    budget.items_left -= count
    if budget.items_left < 0:
        raise DecodeError("decode.too_many_items", "arrays and maps hold too many items")
    return count, pos


def _unknown_type() -> DecodeError:
    return DecodeError("decode.bad_writer_schema", "the writer schema names an undefined type")


RUNTIME: dict[str, Any] = {  # what generated code may call (avro_decoder's too)
    "_skip_long": _skip_long,
    "_long": _long,
    "_varint": _varint,
    "_length": _length,
    "_string": _string,
    "_enum": _enum,
    "_enum_index": _enum_index,
    "_truncated": _truncated,
    "_bad_union": _bad_union,
    "_count": _count,
    "_unknown_type": _unknown_type,
    "__builtins__": {"range": range, "len": len},
}


# ---- the generator --------------------------------------------------------------------------


class SourceBuilder:
    """Generated functions ``_f<n>``, in order; a name is reserved before its body is built
    (the body may define more functions, and may call its own: recursive types)."""

    def __init__(self) -> None:
        self._functions: list[str] = []

    def source(self) -> str:
        return "\n\n".join(self._functions) + "\n"

    def reserve(self) -> str:
        self._functions.append("")
        return f"_f{len(self._functions) - 1}"

    def define(self, name: str, statements: list[str]) -> None:
        self._functions[int(name[2:])] = "\n".join(statements)


class _Generator(SourceBuilder):
    """Schema -> Python source: functions ``_f<n>(buf, pos, budget) -> pos``, one per record."""

    def __init__(self) -> None:
        super().__init__()
        self._named: dict[str, tuple[str, int | str]] = {}  # name -> (kind, size | function)
        self._loops = 0

    def function(self, schema: Any) -> str:
        """Define a function checking one value of ``schema``; return its name."""
        name = self.reserve()
        if isinstance(schema, dict) and schema.get("type") in ("record", "error"):
            self._named[str(schema["name"])] = ("record", name)  # before the body: recursion
            body = [line for field in schema["fields"] for line in self._emit(field["type"], 1)]
        else:
            body = self._emit(schema, 1)
        head = [f"def {name}(buf, pos, budget):", "    ms = budget.max_string"]
        self.define(name, [*head, *body, "    return pos"])
        return name

    def _emit(self, schema: Any, depth: int) -> list[str]:
        """Statements that check one value of ``schema`` at ``pos`` and advance ``pos``."""
        if isinstance(schema, list):
            return self._nested(schema, depth) or self._union(schema, depth)
        if isinstance(schema, str):
            return self._primitive(schema, depth)
        kind = schema["type"]
        if kind in ("record", "error"):
            return lines(depth, f"pos = {self.function(schema)}(buf, pos, budget)")
        if kind == "enum":
            symbols = len(schema["symbols"])
            self._named[str(schema["name"])] = ("enum", symbols)
            return self._enum(symbols, depth)
        if kind == "fixed":
            size = int(schema["size"])
            self._named[str(schema["name"])] = ("fixed", size)
            return lines(depth, f"pos += {size}")
        if kind in ("array", "map"):
            return self._nested(schema, depth) or self._blocks(schema, kind == "map", depth)
        return self._emit(kind, depth)  # a primitive with a logical type

    def _nested(self, schema: Any, depth: int) -> list[str]:
        """Deep types get a function of their own (Python caps nesting); [] when not deep."""
        if depth <= _MAX_DEPTH:
            return []
        return lines(depth, f"pos = {self.function(schema)}(buf, pos, budget)")

    def _primitive(self, name: str, depth: int) -> list[str]:
        if name == "null":
            return []
        if name == "boolean":
            return lines(depth, "pos += 1")  # an overrun is caught at the end or by the next read
        if name in _FIXED_WIDTH:
            return lines(depth, f"pos += {_FIXED_WIDTH[name]}")
        if name in ("int", "long"):
            return lines(depth, "pos = pos + 1 if buf[pos] < 128 else _skip_long(buf, pos)")
        if name in ("string", "bytes"):
            return self._string(depth)
        named = self._named.get(name)  # a reference to a named type defined earlier
        if named is None:
            return lines(depth, "raise _unknown_type()")
        kind, value = named
        if kind == "record":
            return lines(depth, f"pos = {value}(buf, pos, budget)")
        if kind == "enum":
            return self._enum(int(value), depth)
        return lines(depth, f"pos += {int(value)}")

    @staticmethod
    def _string(depth: int) -> list[str]:
        # One byte, even (not negative), within the limit: skip it here; else the full check.
        return lines(
            depth,
            "b = buf[pos]",
            "if b & 129 or b >> 1 > ms:",
            "    pos = _string(buf, pos, budget)",
            "else:",
            "    pos += 1 + (b >> 1)",
        )

    @staticmethod
    def _enum(symbols: int, depth: int) -> list[str]:
        # One byte, even, below 2 * symbols: a valid index; else the full check.
        return lines(
            depth,
            f"if buf[pos] & 1 or buf[pos] >= {min(2 * symbols, 128)}:",
            f"    pos = _enum(buf, pos, {symbols})",
            "else:",
            "    pos += 1",
        )

    def _union(self, branches: list[Any], depth: int) -> list[str]:
        bodies = [self._emit(branch, depth + 1) or lines(depth + 1, "pass") for branch in branches]
        return union_lines(depth, bodies)

    def _blocks(self, schema: dict[str, Any], with_key: bool, depth: int) -> list[str]:
        self._loops += 1
        count = f"n{self._loops}"
        item = self._emit(schema["values" if with_key else "items"], depth + 2)
        key = self._string(depth + 2) if with_key else []
        return lines(
            depth,
            "while True:",
            f"    {count}, pos = _count(buf, pos, budget)",
            f"    if not {count}:",
            "        break",
            f"    for _ in range({count}):",
        ) + (key + item or lines(depth + 2, "pass"))


def lines(depth: int, *statements: str) -> list[str]:
    """``statements`` indented ``depth`` levels (generated source is built from these)."""
    indent = "    " * depth
    return [indent + statement for statement in statements]


def union_lines(depth: int, bodies: list[list[str]]) -> list[str]:
    """Dispatch on a union's branch index to ``bodies[k]`` (statements at ``depth + 1``).

    Branch k is written as the varint 2k: read the raw varint once and compare, so the common
    one-byte index costs one read and no zig-zag decoding.
    """
    out = lines(
        depth,
        "b = buf[pos]",
        "if b < 128:",
        "    pos += 1",
        "else:",
        "    b, pos = _varint(buf, pos)",
    )
    for index, body in enumerate(bodies):
        out += lines(depth, f"{'if' if index == 0 else 'elif'} b == {2 * index}:") + body
    return out + lines(depth, "else:", "    raise _bad_union(b)")
