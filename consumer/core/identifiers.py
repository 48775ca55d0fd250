"""Pure checks of identifiers that must equal the browser pixel's byte for byte.

``event_id`` (pixel/server deduplication), ``order_id`` and content ids are sent exactly as the
record has them. One with a control character (a newline, an ANSI escape, a NUL) or longer than
the configured cap cannot be what the pixel sent and would break deduplication silently: it is
refused with a reason, never cut or cleaned.
"""

from __future__ import annotations

import re

from consumer.errors import ValidationError

__all__ = ["check_id"]

# C0 controls, DEL and C1 controls (Unicode category Cc).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_id(name: str, value: str, max_length: int) -> None:
    """Raise ValidationError when ``value`` is longer than ``max_length`` or has a control character."""
    if len(value) > max_length:
        raise ValidationError(
            "invalid.id_too_long", f"{name} is longer than {max_length} characters"
        )
    # isprintable (C, fast) is False for every control character and a few more (U+00A0, ...):
    # only then does the exact test run.
    if not value.isprintable() and _CONTROL.search(value) is not None:
        raise ValidationError("invalid.id_control_character", f"{name} has a control character")
