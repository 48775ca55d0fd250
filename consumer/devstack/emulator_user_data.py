"""The CAPI emulator's ``user_data`` rules, written from capi.md §3 (pure: no I/O).

These rules are the emulator's own reading of Meta's docs. They share no code with the consumer's
normalization or validation, so a bug there cannot hide behind the same bug here.

Subcodes used here:

- ``2804050`` insufficient customer information: observed in a captured Meta response (capi.md §3).
- ``2804001`` malformed or unhashed customer information: INVENTED mapping. 2804001 is a real CAPI
  subcode whose meaning Meta does not publish (capi.md §6.3); the emulator reuses it for every
  ``user_data`` format problem. The consumer must not branch on it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping

from consumer.devstack.emulator_errors import Violation

__all__ = [
    "HASHED_KEYS",
    "INSUFFICIENT_COMBINATIONS",
    "SUBCODE_BAD_USER_DATA",
    "SUBCODE_INSUFFICIENT",
    "check_user_data",
]

SUBCODE_INSUFFICIENT = 2804050  # documented by a captured response (capi.md §3, §6.3)
SUBCODE_BAD_USER_DATA = (
    2804001  # invented mapping: real subcode, unpublished meaning (capi.md §6.3)
)

# Contact information Meta wants as lowercase hex SHA-256 (capi.md §3 table; the last six are SDK-only).
HASHED_KEYS = frozenset(
    {"em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country"}
    | {"f5first", "f5last", "fi", "dobd", "dobm", "doby"}
)
# Identifiers Meta wants raw ("do not hash"); a 64-hex value here means someone hashed by mistake.
_RAW_STRING_KEYS = frozenset(
    {"client_user_agent", "subscription_id", "anon_id", "madid", "page_id"}
    | {"page_scoped_user_id", "ctwa_clid", "ig_account_id", "ig_sid"}
    | {"whatsapp_business_account_id"}  # business messaging, WhatsApp (2024)
)
_OTHER_KEYS = frozenset(
    {"external_id", "client_ip_address", "fbc", "fbp", "lead_id", "fb_login_id"}
)
_KNOWN_KEYS = HASHED_KEYS | _RAW_STRING_KEYS | _OTHER_KEYS

# Since Graph v13 an event whose customer information is only one of these sets, or a subset of
# one, is rejected (capi.md §3, [DOC:best-practices]).
INSUFFICIENT_COMBINATIONS: tuple[frozenset[str], ...] = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_FBC = re.compile(r"fb\.\d+\.\d+\.\S+")  # fb.{subdomain}.{ms}.{fbclid}[.{appendix}] (capi.md §3.1)
_FBP = re.compile(r"fb\.\d+\.\d+\.\d+(\.[A-Za-z0-9_-]+)?")  # optional param-builder appendix
_LEAD_ID = re.compile(r"\d{15,17}")  # Meta Lead Ads ids have 15-17 digits (capi.md §3)

_Check = Callable[[str, object], Violation | None]


def _bad(key: str, detail: str) -> Violation:
    """A ``user_data`` format violation for ``key``."""
    return Violation(
        rule=f"user_data.{key}",
        detail=f"user_data.{key} {detail}",
        subcode=SUBCODE_BAD_USER_DATA,
        title="Invalid customer information parameter",
    )


def _is_hash(value: object) -> bool:
    """True for a 64-character lowercase hex string (a SHA-256 digest)."""
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def _string_or_list(value: object) -> list[object] | None:
    """The values of a "string or list<string>" field, or None when the shape is wrong."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        return list(value)
    return None


def _check_hashed(key: str, value: object) -> Violation | None:
    """Contact information must be SHA-256 lowercase hex, as a string or a non-empty list."""
    values = _string_or_list(value)
    if values is None or not all(_is_hash(item) for item in values):
        return Violation(
            rule="user_data.unhashed",
            detail=f"user_data.{key} must be SHA-256 lowercase hex (unhashed contact information)",
            subcode=SUBCODE_BAD_USER_DATA,
            title="Unhashed customer information",
        )
    return None


def _check_external_id(key: str, value: object) -> Violation | None:
    """``external_id`` may be raw or hashed, a non-empty string or list of them."""
    values = _string_or_list(value)
    if values is None or not all(isinstance(item, str) and item for item in values):
        return _bad(key, "must be a non-empty string or list of strings")
    return None


def _check_raw_string(key: str, value: object) -> Violation | None:
    """Identifiers sent raw must be non-empty strings that do not look like a SHA-256 hash."""
    if not isinstance(value, str) or not value.strip():
        return _bad(key, "must be a non-empty string")
    if _is_hash(value.lower()):
        return _bad(key, "must not be hashed")
    return None


def _check_ip(key: str, value: object) -> Violation | None:
    """``client_ip_address`` is a valid IPv4 or IPv6 address, unhashed, without spaces."""
    if not isinstance(value, str):
        return _bad(key, "must be a string")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return _bad(key, "must be a valid IPv4 or IPv6 address")
    return None


def _check_pattern(pattern: re.Pattern[str], shape: str) -> _Check:
    """A check that a raw string fully matches ``pattern`` (cookies fbc/fbp)."""

    def check(key: str, value: object) -> Violation | None:
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            return _bad(key, f"must look like {shape}")
        return None

    return check


def _check_lead_id(key: str, value: object) -> Violation | None:
    """``lead_id`` is an integer (or digit string) of 15 to 17 digits."""
    text = str(value) if type(value) is int else value
    if not isinstance(text, str) or _LEAD_ID.fullmatch(text) is None:
        return _bad(key, "must be a Meta lead id of 15-17 digits")
    return None


def _check_login_id(key: str, value: object) -> Violation | None:
    """``fb_login_id`` is an integer app-scoped id (a digit string is tolerated)."""
    if type(value) is int or (isinstance(value, str) and value.isdigit()):
        return None
    return _bad(key, "must be an integer")


_CHECKS: dict[str, _Check] = {
    **dict.fromkeys(HASHED_KEYS, _check_hashed),
    **dict.fromkeys(_RAW_STRING_KEYS, _check_raw_string),
    "external_id": _check_external_id,
    "client_ip_address": _check_ip,
    "fbc": _check_pattern(_FBC, "fb.<subdomain>.<creation_ms>.<fbclid>"),
    "fbp": _check_pattern(_FBP, "fb.<subdomain>.<creation_ms>.<random>"),
    "lead_id": _check_lead_id,
    "fb_login_id": _check_login_id,
}


def _check_insufficient(keys: frozenset[str]) -> Violation | None:
    """Reject customer information that is only one of Meta's weak combinations, or a subset."""
    if any(keys <= combination for combination in INSUFFICIENT_COMBINATIONS):
        return Violation(
            rule="user_data.insufficient",
            detail=f"user_data has only {sorted(keys)}, too little to match a person",
            subcode=SUBCODE_INSUFFICIENT,
            title="Insufficient customer information",
        )
    return None


def check_user_data(user_data: object) -> Violation | None:
    """Check ``user_data`` against capi.md §3; None when it is acceptable."""
    if not isinstance(user_data, Mapping) or not user_data:
        return Violation(
            rule="user_data.missing",
            detail="user_data must be an object with at least one customer information parameter",
        )
    for key, value in user_data.items():
        check = _CHECKS.get(key)
        if check is None:
            return _bad(str(key), "is not a customer information parameter")
        violation = check(key, value)
        if violation is not None:
            return violation
    return _check_insufficient(frozenset(user_data))
