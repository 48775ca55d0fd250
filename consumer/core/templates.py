"""Pure fast rendering of event_id templates made of literals and plain field names.

``str.format_map`` with a lookup object costs about 2 µs per event; the common templates
(``order_{order_id}``, ``lead_{lead_id}_{stage}``) are literals and plain names, rendered here by
joining strings. Anything else (format specs, conversions, ``{id.x}``, ``{id[x]}``, positional
fields) and any value that is not a plain str or int is left to ``str.format_map`` (the caller's
slow path), so the result and the errors stay exactly format_map's.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["render_plain"]

Part = tuple[str, str | None]  # a literal, then a field name (None: the literal alone)
_FORMATTER = string.Formatter()


@lru_cache(maxsize=64)
def _plain_parts(template: str) -> tuple[Part, ...] | None:
    """The template as (literal, field name) parts, or None when it needs str.format."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:  # unbalanced braces: format_map reports it
        return None
    parts: list[Part] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (not name.isidentifier() or spec or conversion):
            return None
        parts.append((literal, name))
    return tuple(parts)


def render_plain(template: str, record: Mapping[str, Any]) -> str | None:
    """``template`` filled from ``record``'s str and int fields; None: use str.format_map."""
    parts = _plain_parts(template)
    if parts is None:
        return None
    out: list[str] = []
    for literal, name in parts:
        out.append(literal)
        if name is not None:
            value = record.get(name)
            if type(value) is str:
                out.append(value)
            elif type(value) is int:
                out.append(str(value))
            else:  # missing, bool, another type: format_map decides (and names the field)
                return None
    return "".join(out)
