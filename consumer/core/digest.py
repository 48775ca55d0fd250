"""SHA-256 of text as lowercase hex: the C extension ``_digest`` in the compiled build.

``hashlib.sha256(text.encode()).hexdigest()`` spends most of its ~780 ns building the hash
object and copying its OpenSSL context for ``hexdigest``; with five to ten customer fields
hashed per event that was the largest single cost of mapping. ``_digest.sha256_hex`` (built by
``setup.py`` beside the mypyc modules, linked to the same OpenSSL) reuses one context and writes
the hex directly: about 180 ns, the call included. The pure build (``CONSUMER_CORE_PURE=1``, or
a pure install) uses hashlib; the property tests hold both to the same digest of any text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from consumer.core import native

__all__ = ["NATIVE", "sha256_hex", "sha256_hex_hashlib"]

_NATIVE_MODULE = "_digest"


def sha256_hex_hashlib(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of ``text`` (hashlib: the reference)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _select() -> tuple[Callable[[str], str], bool]:
    """The C function in a compiled build (an error if it is missing there), else hashlib."""
    module = native.load(_NATIVE_MODULE)
    if module is None:
        return sha256_hex_hashlib, False
    function: Callable[[str], str] = module.sha256_hex
    return function, True


_SELECTED = _select()
sha256_hex: Final[Callable[[str], str]] = _SELECTED[0]
NATIVE: Final[bool] = _SELECTED[1]  # True when sha256_hex is the C extension's
