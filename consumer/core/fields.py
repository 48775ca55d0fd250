"""Reading optional text fields of a decoded record: stripped, blank ones left out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["copy_texts", "text_of"]


def text_of(value: object) -> str:
    """A stripped string, or "" for anything else (None, a number, a blank string)."""
    return value.strip() if isinstance(value, str) else ""


def copy_texts(source: Mapping[str, Any], keys: Iterable[str], into: dict[str, Any]) -> None:
    """``into[key]`` = the stripped text of ``source[key]``, for each key whose text is not blank."""
    for key in keys:
        text = text_of(source.get(key))
        if text:
            into[key] = text
