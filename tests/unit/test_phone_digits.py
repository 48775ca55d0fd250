"""A phone number's digits without separators: ``_phone.c`` against the Python it replaces.

The fast path of ``normalize_phone`` takes a number only when nothing but ASCII digits is left
once spaces, dashes, brackets, dots, slashes, no-break spaces and tabs are gone; anything else
(letters, a "+", superscripts, other scripts' digits, an empty number) is the full parser's.
"""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.build_info import compiled_modules, pure_requested
from consumer.core import phone
from consumer.core.phone import digits_python

# The C module itself, whichever build is selected (built wherever the project is).
C = importlib.import_module("consumer.core._phone")

phone_like = st.text(
    st.sampled_from("0123456789 -().\u00a0/\t+x#٣²０") | st.characters(), max_size=24
)


@given(phone_like, st.integers(min_value=0, max_value=3))
def test_the_c_digits_match_the_python(text: str, start: int) -> None:
    start = min(start, len(text))
    assert C.digits(text, start) == digits_python(text, start)


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        ("(415) 555-0123", 0, "4155550123"),
        ("+49 30\u00a01234/567", 1, "49301234567"),
        ("0044\t20.7946.0123", 2, "442079460123"),
        ("415 555 CALL", 0, None),
        ("+٤١٥", 1, None),  # Arabic-Indic digits: the full parser reads them
        ("²12", 0, None),  # a superscript is a digit to str.isdigit, not to Meta
        ("- ( ) .", 0, None),  # no digit at all
        ("+", 1, None),
    ],
)
def test_known_numbers(text: str, start: int, expected: str | None) -> None:
    assert (C.digits(text, start), digits_python(text, start)) == (expected, expected)


def test_the_compiled_build_runs_the_c_function() -> None:
    compiled = bool(compiled_modules()) and not pure_requested()
    assert phone.NATIVE is compiled
    assert (phone._DIGITS is digits_python) is not compiled


def test_a_start_outside_the_text_is_refused() -> None:
    with pytest.raises(IndexError):
        C.digits("123", 4)
