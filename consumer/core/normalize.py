"""Pure normalization and SHA-256 hashing of user_data fields, as Meta documents (capi.md §3).

Each hashed field has a normalizer ``(value, country) -> str | Rejected``; a ``Rejected`` says why
the value cannot be normalized, and the caller drops it and counts the reason. ``country`` is the
customer's ISO alpha-2 code (uppercase) when known: phone numbers, states and postal codes depend
on it. A value that already is a SHA-256 hex digest passes through unchanged (lowercased). Nothing
here logs or keeps a raw value; a ``Rejected`` carries a reason code, never the input.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from consumer.core.digest import sha256_hex
from consumer.core.geo import country_code, letters_only, normalize_postal_code, normalize_state
from consumer.core.phone import normalize_phone, phone_rejection

__all__ = [
    "HASHED_FIELDS",
    "HASHERS",
    "ExternalIdForm",
    "FieldHasher",
    "Rejected",
    "hash_date_of_birth",
    "hash_field",
    "hash_value",
    "is_sha256_hex",
    "normalize_city",
    "normalize_date_of_birth",
    "normalize_email",
    "normalize_external_id",
    "normalize_gender",
    "normalize_name",
    "normalize_phone",
    "sha256_hex",
]

ExternalIdForm = Literal["trimmed", "lowercase"]


@dataclass(frozen=True, slots=True, init=False)
class Rejected:
    """A value that cannot be normalized: ``reason`` is a short code such as ``no_domain``."""

    reason: str

    def __init__(self, reason: str) -> None:
        # compiled, unlike dataclass's __init__: one per rejected value (models._NATIVE_INIT)
        object.__setattr__(self, "reason", reason)


_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_SHA256_HEX_LENGTH = 64
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_NAME_TABLE_MAX = 65_536  # characters remembered; bounds memory against adversarial input


class _NameDrops(dict[int, int | None]):
    """A ``str.translate`` table that deletes punctuation, symbols and control characters
    (Unicode categories P*, S*, C*) but keeps whitespace; filled per character on first sight."""

    def __missing__(self, code: int) -> int | None:
        char = chr(code)
        drop = not char.isspace() and unicodedata.category(char)[0] in "PSC"
        result = None if drop else code
        if len(self) < _NAME_TABLE_MAX:
            self[code] = result
        return result


_NAME_DROPS = _NameDrops()
_DOB_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y")
_MIN_BIRTH_YEAR = 1900  # older dates of birth are typos or placeholders, not customers
_GENDERS = {
    **dict.fromkeys(("f", "female", "woman", "w", "femme", "frau", "mujer", "weiblich"), "f"),
    **dict.fromkeys(("m", "male", "man", "homme", "mann", "hombre", "männlich"), "m"),
}
_EMPTY = Rejected("empty")


def is_sha256_hex(value: str) -> bool:
    """True for exactly 64 lowercase hex characters."""
    return _SHA256_HEX.match(value) is not None


def normalize_email(value: str, _country: str | None = None) -> str | None:
    """Trim and lowercase; None unless it looks like local@domain.tld."""
    email = value.strip().lower()
    # _EMAIL's usual yes by str tests (speed): one "@" after a non-empty local part, a "." in the
    # domain with text either side, no whitespace (printable text has none but the space).
    at = email.find("@")
    if (
        at > 0
        and email.find(".", at + 2, len(email) - 1) >= 0
        and email.count("@") == 1
        and email.isprintable()
        and " " not in email
    ):
        return email
    return email if _EMAIL.match(email) else None


def normalize_name(value: str, _country: str | None = None) -> str | None:
    """Lowercase, Unicode NFC, punctuation and symbols removed, inner spaces collapsed.

    Meta: "lowercase, no punctuation; special characters UTF-8" (``Valéry`` -> ``valéry``).
    """
    if value.isascii() and value.isalpha():  # one plain word (John, Smith): nothing to drop
        return value.lower()
    if value.isalpha() or value.replace(" ", "").isalpha():
        # letters and spaces (Valéry, 정, Ana María): the drop table would keep every character
        text = value.lower()
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        return " ".join(text.split()) or None
    return _normalize_name_full(value)


def _normalize_name_full(value: str) -> str | None:
    """``normalize_name`` for any text (a property test holds its fast path to this)."""
    text = value.translate(_NAME_DROPS).lower()
    if not text.isascii():  # compose after dropping: "C:\u0327" is "ç" once the colon is gone
        text = unicodedata.normalize("NFC", text)
    name = " ".join(text.split())
    return name or None


def normalize_city(value: str, _country: str | None = None) -> str | None:
    """Lowercase letters only, no spaces or punctuation (Meta: ``New York`` -> ``newyork``)."""
    return letters_only(value) or None


def normalize_gender(value: str, _country: str | None = None) -> str | None:
    """``f`` or ``m`` from a gender word (female, Frau, M, ...); None for anything else."""
    return _GENDERS.get(value.strip().lower())


def hash_date_of_birth(value: dt.date) -> str | Rejected:
    """The hash of an Avro ``date`` date of birth (cached: birthdays repeat across customers)."""
    return _hash_date(value)


@lru_cache(maxsize=16384)
def _hash_date(value: dt.date) -> str | Rejected:
    born = normalize_date_of_birth(value)
    return Rejected("unrecognized") if born is None else sha256_hex(born)


def normalize_date_of_birth(value: str | dt.date, _country: str | None = None) -> str | None:
    """``YYYYMMDD`` from a date or a common string form (ISO, compact, US ``MM/DD/YYYY``, ``DD.MM.YYYY``)."""
    if isinstance(value, dt.date):
        born: dt.date | None = value
    else:
        born = _parse_date(value.strip())
    if born is None or not _MIN_BIRTH_YEAR <= born.year <= dt.datetime.now(dt.UTC).year:
        return None
    return born.strftime("%Y%m%d")


def _parse_date(text: str) -> dt.date | None:
    for form in _DOB_FORMATS:
        try:
            return dt.datetime.strptime(text, form).date()  # noqa: DTZ007  # a date, no time zone
        except ValueError:
            continue
    return None


def normalize_external_id(value: str, _country: str | None = None) -> str | None:
    """Trimmed: must equal what the browser pixel sends (``external_id_form: lowercase`` lowercases
    the value before it gets here)."""
    return value.strip() or None


def _country(value: str, _country_hint: str | None) -> str | None:
    code = country_code(value)
    return None if code is None else code.lower()


Normalizer = Callable[[str, str | None], str | None]

# Field -> normalizer; a value it refuses is dropped as "unrecognized" unless ``_why`` knows
# better (an email without "@" or a domain, too few phone digits); empty input is "empty".
HASHED_FIELDS: dict[str, Normalizer] = {
    "em": normalize_email,
    "ph": normalize_phone,
    "fn": normalize_name,
    "ln": normalize_name,
    "db": normalize_date_of_birth,
    "ge": normalize_gender,
    "ct": normalize_city,
    "st": normalize_state,
    "zp": normalize_postal_code,
    "country": _country,
    "external_id": normalize_external_id,
}


# Fields with few distinct values per shop (a city, a state, a country, a gender): their hashes
# are cached by input, which turns normalization and SHA-256 into one dict lookup.
_LOW_CARDINALITY = frozenset({"ct", "st", "zp", "country", "ge"})
_CACHED_VALUES = 16384

FieldHasher = Callable[[str, str | None], str | Rejected]


def _hasher(field: str) -> FieldHasher:
    """``(value, country) -> hash | Rejected`` for one field: one call per value on the hot path."""
    normalize = HASHED_FIELDS[field]

    def hash_one(value: str, country: str | None) -> str | Rejected:
        stripped = value.strip()
        if not stripped:
            return _EMPTY
        if len(stripped) == _SHA256_HEX_LENGTH and is_sha256_hex(stripped.lower()):
            return stripped.lower()
        normalized = normalize(stripped, country)
        if normalized is None:
            return Rejected(_why(field, stripped, country))
        return sha256_hex(normalized)

    return lru_cache(maxsize=_CACHED_VALUES)(hash_one) if field in _LOW_CARDINALITY else hash_one


# Field -> its hasher (normalize, then SHA-256; pre-hashed values pass through).
HASHERS: dict[str, FieldHasher] = {field: _hasher(field) for field in HASHED_FIELDS}


def hash_field(field: str, value: str, country: str | None = None) -> str | Rejected:
    """Normalize then hash ``value`` for ``field``; pre-hashed values pass through."""
    return HASHERS[field](value, country)


def _why(field: str, stripped: str, country: str | None) -> str:
    """A precise reason code for a value ``field``'s normalizer refused (never the value)."""
    if field == "em":
        return "no_at_sign" if "@" not in stripped else "no_domain"
    if field == "ph":
        return phone_rejection(stripped, country)
    return "unrecognized"


def hash_value(field: str, value: str, country: str | None = None) -> str | None:
    """``hash_field`` that says None (drop) instead of why."""
    result = hash_field(field, value, country)
    return None if isinstance(result, Rejected) else result
