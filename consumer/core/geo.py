"""Pure, cached lookups of countries, US states and postal codes (capi.md §3 ``country``/``st``/``zp``).

pycountry lookups cost about 20 µs each, so every lookup is cached by its input: a shop's customers
come from a handful of countries and states, and the cache turns the lookup into a dict hit.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pycountry

__all__ = ["country_code", "letters_only", "normalize_postal_code", "normalize_state"]

_NOT_LETTERS = re.compile(r"[\W\d_]+")
_NOT_ALNUM = re.compile(r"[\W_]+")
_US_ZIP = re.compile(r"^(\d{5})(?:\d{4})?$")
_US = "US"


def letters_only(value: str) -> str:
    """Lowercase letters only, no digits, spaces or punctuation; combining marks stay (a vowel sign
    is part of its letter in Devanagari or Thai) and are composed to NFC after the rest is dropped,
    so ``Ha\u0300`` and ``Hà`` give the same text."""
    text = value.lower()
    if text.isascii():
        return _NOT_LETTERS.sub("", text)
    kept = "".join(char for char in text if unicodedata.category(char)[0] in "LM")
    return unicodedata.normalize("NFC", kept)


# Names shops and CRMs commonly use that are not ISO names (pycountry knows the ISO ones).
_COUNTRY_ALIASES = {
    **dict.fromkeys(("uk", "great britain", "britain", "england", "scotland", "wales"), "GB"),
    **dict.fromkeys(("northern ireland", "gb"), "GB"),
    **dict.fromkeys(("us", "usa", "america", "united states of america"), "US"),
    **dict.fromkeys(("holland", "the netherlands"), "NL"),
    "russia": "RU",
    "turkey": "TR",
    "deutschland": "DE",
    "ivory coast": "CI",
}


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """ISO 3166-1 alpha-2 (uppercase) for a code or name (``us``, ``USA``, ``United States``)."""
    text = " ".join(value.replace(".", "").split())
    if not text:
        return None
    alias = _COUNTRY_ALIASES.get(text.lower())
    if alias is not None:
        return alias
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        return None
    return str(country.alpha_2)


@lru_cache(maxsize=1)
def _us_states() -> dict[str, str]:
    """US subdivision names and codes (letters only, lowercase) -> two-letter code."""
    table: dict[str, str] = {}
    for subdivision in pycountry.subdivisions.get(country_code=_US) or ():  # type: ignore[no-untyped-call]  # pycountry is untyped
        code = str(subdivision.code).split("-", 1)[1].lower()
        table[letters_only(subdivision.name)] = code
        table[code] = code
    return table


@lru_cache(maxsize=4096)
def normalize_state(value: str, country: str | None) -> str | None:
    """US (or unknown country): the two-letter code, from a code or a name; elsewhere lowercase
    letters without punctuation or spaces, as Meta documents. None when nothing is left.
    """
    letters = letters_only(value)
    if not letters:
        return None
    if country in (None, _US):
        code = _us_states().get(letters)
        if code is not None:
            return code
        if country == _US:
            return None  # a US state Meta would not recognise: drop rather than send noise
    return letters


@lru_cache(maxsize=4096)
def normalize_postal_code(value: str, country: str | None) -> str | None:
    """Lowercase, no spaces or dashes; US: the first 5 digits (ZIP+4 cut). None when unusable.

    UK postcodes keep outward and inward code together (``M1 1AE`` -> ``m11ae``, Meta's example).
    """
    compact = _NOT_ALNUM.sub("", value.lower())
    if not compact:
        return None
    if country == _US:
        match = _US_ZIP.match(compact)
        return match.group(1) if match else None
    return compact
