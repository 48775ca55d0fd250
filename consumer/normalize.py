"""Pure normalization and SHA-256 hashing of user_data fields, as Meta documents (capi.md §3).

Each hashed field has a normalizer ``str -> str | None``; ``None`` means the value cannot be
normalized and is dropped (the caller counts the reason). A value that already is a SHA-256
hex digest passes through unchanged. Nothing here logs or keeps a raw value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import phonenumbers

__all__ = [
    "HASHED_FIELDS",
    "hash_value",
    "is_sha256_hex",
    "normalize_email",
    "normalize_external_id",
    "normalize_phone",
    "sha256_hex",
]

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MIN_PHONE_DIGITS = 7  # shortest national numbers in use; fewer digits cannot be a phone number


def sha256_hex(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    return _SHA256_HEX.match(value) is not None


def normalize_email(value: str) -> str | None:
    """Trim and lowercase; None unless it looks like local@domain.tld."""
    email = value.strip().lower()
    return email if _EMAIL.match(email) else None


def normalize_phone(value: str, country: str | None = None) -> str | None:
    """Digits of the E.164 form, country code included, no '+' (Meta: ``16505551212``).

    A number without a country code is read as a national number of ``country`` (ISO alpha-2).
    None when the number cannot be parsed or is not a possible number.
    """
    raw = value.strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    region = country.upper() if country and len(country.strip()) == 2 else None
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    digits = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    return digits if len(digits) >= _MIN_PHONE_DIGITS else None


def normalize_external_id(value: str) -> str | None:
    """Trimmed as-is: external_id must equal what the browser pixel sends, byte for byte."""
    trimmed = value.strip()
    return trimmed or None


Normalizer = Callable[[str, str | None], str | None]

HASHED_FIELDS: dict[str, Normalizer] = {
    "em": lambda value, _country: normalize_email(value),
    "ph": normalize_phone,
    "external_id": lambda value, _country: normalize_external_id(value),
}


def hash_value(field: str, value: str, country: str | None = None) -> str | None:
    """Normalize then hash ``value`` for ``field``; pre-hashed values pass through; None = drop."""
    lowered = value.strip().lower()
    if is_sha256_hex(lowered):
        return lowered
    normalized = HASHED_FIELDS[field](value, country)
    return None if normalized is None else sha256_hex(normalized)
