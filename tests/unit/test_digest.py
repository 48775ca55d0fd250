"""SHA-256 hex of text: the compiled build's C extension against hashlib, and the choice of one.

The vectors are FIPS 180-2's and Meta's own (capi.md §3: the normalized email's digest); the
property test holds the C function to hashlib's digest of any text, surrogates included.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.build_info import compiled_modules, pure_requested
from consumer.core import digest

VECTORS = {
    "": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    # two 64-byte blocks of padding: the 56-byte FIPS message
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq": (
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    ),
    "john_smith@gmail.com": "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
}


def _hashlib(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "function", [digest.sha256_hex, digest.sha256_hex_hashlib], ids=["selected", "hashlib"]
)
@pytest.mark.parametrize(("text", "expected"), VECTORS.items(), ids=list(VECTORS))
def test_known_digests(function: object, text: str, expected: str) -> None:
    assert callable(function)
    assert function(text) == expected


def test_the_compiled_build_runs_the_c_function() -> None:
    """Compiled core: the extension (an error if it were missing); pure: hashlib."""
    compiled = bool(compiled_modules()) and not pure_requested()
    assert digest.NATIVE is compiled
    assert (digest.sha256_hex is digest.sha256_hex_hashlib) is not compiled
    if compiled:
        assert type(digest.sha256_hex).__name__ == "builtin_function_or_method"


@given(st.text(st.characters(exclude_categories=[])))
def test_agrees_with_hashlib_on_any_text(text: str) -> None:
    """Multi-byte UTF-8, long text spanning blocks, and lone surrogates (an error in both)."""
    try:
        expected: str | type[UnicodeEncodeError] = _hashlib(text)
    except UnicodeEncodeError:
        expected = UnicodeEncodeError
    try:
        result: str | type[UnicodeEncodeError] = digest.sha256_hex(text)
    except UnicodeEncodeError:
        result = UnicodeEncodeError
    assert result == expected


@given(st.binary(min_size=0, max_size=300).map(lambda raw: raw.decode("latin-1")))
def test_agrees_across_block_boundaries(text: str) -> None:
    """Every length from 0 to 300 bytes and beyond (latin-1 above 0x7f is two UTF-8 bytes)."""
    assert digest.sha256_hex(text) == _hashlib(text)
