"""Property tests: the str-test shortcuts in front of the email and cookie regexes give the
regexes' verdicts on any text (non-ASCII, every kind of whitespace, near misses)."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from consumer.core import normalize, user_data
from consumer.core.normalize import normalize_email

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # normalize_email's regex, as first written
_FBC = re.compile(r"fb\.\d+\.\d+\.\S+")
_FBP = re.compile(r"fb\.\d+\.\d+\.[0-9]+(?:\.[A-Za-z0-9_-]+)?")

# Characters the shortcuts look at, and their look-alikes: separators, whitespace of every kind
# (the \x1c-\x1f and \x85 controls count as whitespace), non-ASCII digits and letters.
_PIECES = st.sampled_from(
    [
        *("fb", "FB", ".", "@", "1", "0", "123", "\u0661", "\u00b2", "\uff11", "a", "Z", "_", "-"),
        *(
            " ",
            "\t",
            "\n",
            "\r",
            "\x0b",
            "\x0c",
            "\x1c",
            "\x1f",
            "\x85",
            "\xa0",
            "\u2028",
            "\u3000",
        ),
        *("\x00", "\u200b", "é", "İ", "\U0001f600", "x.y", "example.com", "IwAR2F4-dbP0"),
    ]
)
_TEXT = st.one_of(st.text(), st.lists(_PIECES, max_size=12).map("".join))


@settings(max_examples=1500)
@given(_TEXT)
@example("a@b.c")
@example("a@.c")
@example("a@b.")
@example("@b.c")
@example("a@@b.c")
@example("a@b.c\n")
@example(" A@B.C ")
@example("a@b\x1c.c")
def test_email_shortcut_is_the_regex(raw: str) -> None:
    email = raw.strip().lower()
    assert normalize_email(raw) == (email if _EMAIL.match(email) else None)


@settings(max_examples=1500)
@given(st.one_of(_TEXT, _TEXT.map(lambda rest: "fb.1.1596403881668." + rest)))
@example("fb.1.1596403881668.1098115397")
@example("fb.1.1596403881668.1098115397.AbC_-9")
@example("fb.\u0661.1.1")
@example("fb.1.1.\u00b2")
@example("fb.1.1.")
@example("fb..1.1")
@example("fb.1.1.a b")
@example("fb.1.1.a\x1c")
def test_cookie_shortcuts_are_the_regexes(text: str) -> None:
    assert user_data._is_fbp(text) == (_FBP.fullmatch(text) is not None)
    assert user_data._is_fbc(text) == (_FBC.fullmatch(text) is not None)


def test_the_regexes_here_are_the_modules() -> None:
    """The references above are the patterns the modules keep for the cases the shortcuts pass."""
    assert (_FBC.pattern, _FBP.pattern, _EMAIL.pattern) == (
        user_data._COOKIES["fbc"].pattern,
        user_data._COOKIES["fbp"].pattern,
        normalize._EMAIL.pattern,
    )
