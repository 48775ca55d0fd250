"""Pure phone normalization to E.164 digits (capi.md §3 ``ph``), with a fast path.

Meta wants the digits of the international number, country code included and no leading zeros
(``(650)555-1212`` in the US -> ``16505551212``). ``phonenumbers`` gets this right but costs about
40 µs per number, more than everything else in a mapped event together. Most real inputs are
plain digits with ``+``/``00`` or a national number with the customer's country, so the fast path
below applies phonenumbers' own metadata (country codes, national prefixes, the national-number
pattern, possible lengths) directly and hands anything unusual (letters, extensions, regions with
prefix-transform rules, numbers the metadata does not accept) to the full
parser. A property test checks that the fast path always agrees with phonenumbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import PhoneMetadata

from consumer.core import native

__all__ = [
    "MIN_PHONE_DIGITS",
    "NATIVE",
    "digits_python",
    "normalize_phone",
    "normalize_phone_slow",
    "phone_rejection",
]

MIN_PHONE_DIGITS = 7  # shortest national numbers in use; fewer digits cannot be a phone number
_SEPARATORS = (" ", "-", "(", ")", ".", "\u00a0", "/", "\t")
_DIGIT_ALTERNATIVES = re.compile(r"\d+(?:\|\d+)*")


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the fast path needs from one region's metadata."""

    country_code: str
    national_prefix: str | None
    pattern: re.Pattern[str]
    lengths: frozenset[int]
    idd: re.Pattern[str] | None  # the region's international dialling prefix (00, 011, ...)
    other_prefixes: tuple[str, ...]  # more national prefixes to leave to the full parser
    types: tuple[tuple[frozenset[int], re.Pattern[str]], ...]  # is_valid_number's number types


@lru_cache(maxsize=512)
def _plan(region: str) -> _Plan | None:
    """The fast-path plan for ``region``; None when its rules need the full parser."""
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.general_desc is None or meta.national_prefix_transform_rule:
        return None
    prefix = meta.national_prefix
    others = _other_prefixes(prefix, meta.national_prefix_for_parsing)
    pattern = meta.general_desc.national_number_pattern
    types = _number_types(meta)
    if others is None or pattern is None or not types:
        return None
    return _Plan(
        str(meta.country_code),
        prefix,
        re.compile(pattern),
        frozenset(meta.general_desc.possible_length or ()),
        re.compile(meta.international_prefix) if meta.international_prefix else None,
        others,
        types,
    )


# The number types phonenumbers' is_valid_number accepts (_number_type_helper); the common ones
# first, since the first branch that matches ends the search.
_NUMBER_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _number_types(meta: PhoneMetadata) -> tuple[tuple[frozenset[int], re.Pattern[str]], ...]:
    """(lengths, pattern) per number type of the region (an empty lengths set: any length).

    A number can be possible (right length) yet never assigned: a 7-digit US number is possible
    only locally and matches no type, so Meta can never match its hash.
    """
    types: list[tuple[frozenset[int], re.Pattern[str]]] = []
    for name in _NUMBER_TYPES:
        desc = getattr(meta, name, None)
        if desc is None or not desc.national_number_pattern:
            continue
        kind = (frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern))
        if kind not in types:  # mobile often repeats fixed_line
            types.append(kind)
    return tuple(types)


def _is_assigned(digits: str, plan: _Plan) -> bool:
    """Some number type of the region accepts ``digits`` at one of its lengths."""
    size = len(digits)
    for lengths, pattern in plan.types:
        if (not lengths or size in lengths) and pattern.fullmatch(digits):
            return True
    return False


def _other_prefixes(prefix: str | None, for_parsing: str | None) -> tuple[str, ...] | None:
    """Prefixes phonenumbers also strips besides the national prefix (GB: ``0|180020``).

    Only plain digit alternatives that include the national prefix are understood: numbers
    starting with another alternative go to the full parser. None = anything more complex.
    """
    if for_parsing is None or for_parsing == prefix:
        return ()
    if not prefix or not _DIGIT_ALTERNATIVES.fullmatch(for_parsing):
        return None
    alternatives = for_parsing.split("|")
    if prefix not in alternatives:
        return None
    return tuple(other for other in alternatives if other != prefix)


@lru_cache(maxsize=512)
def _region_for_code(code: str) -> str | None:
    """The main region dialled with ``+code`` (``44`` -> GB), None for an unknown code.

    phonenumbers reads every number of a shared country code with its main region's metadata
    (national prefix, possible lengths), so the fast path does the same.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code))
    return str(regions[0]) if regions else None


def _national(digits: str, plan: _Plan) -> str | None:
    """The national significant number, national prefix stripped the way phonenumbers does."""
    if plan.other_prefixes and digits.startswith(plan.other_prefixes):
        return None
    prefix = plan.national_prefix
    if prefix and digits.startswith(prefix):
        digits = digits[len(prefix) :]
        if not plan.pattern.fullmatch(digits):
            return None  # phonenumbers may keep the prefix here; let it decide
    if len(digits) in plan.lengths and _is_assigned(digits, plan):
        return digits
    return None


def digits_python(text: str, start: int) -> str | None:
    """``text[start:]`` without spaces, dashes, brackets, dots and slashes; None unless only
    ASCII digits remain (str.replace beats translate 2x; ``_phone.c`` beats both)."""
    cleaned = text[start:]
    for separator in _SEPARATORS:
        if separator in cleaned:
            cleaned = cleaned.replace(separator, "")
    # Only 0-9: str.isdigit() also accepts superscripts (int() raises on them) and other
    # scripts' digits, which phonenumbers' full parser knows how to read.
    return cleaned if cleaned.isascii() and cleaned.isdigit() else None


_NATIVE = native.load("_phone")
_DIGITS: Final[Callable[[str, int], str | None]] = (
    digits_python if _NATIVE is None else _NATIVE.digits
)
NATIVE: Final[bool] = _NATIVE is not None  # True when the digits are _phone.c's


def _fast(raw: str, region: str | None) -> str | None:
    """E.164 digits via metadata alone, or None when the full parser must decide."""
    if raw.startswith("+"):
        cleaned = _DIGITS(raw, 1)
    elif raw.startswith("00"):
        cleaned = _DIGITS(raw, 2)
    elif region is not None:
        cleaned = _DIGITS(raw, 0)
        plan = _plan(region)
        if plan is None or cleaned is None or (plan.idd and plan.idd.match(cleaned)):
            return None  # an international prefix in national form: the full parser decides
        if cleaned.startswith(plan.country_code):
            return None  # maybe the country code without "+" (49 69...): the full parser decides
        national = _national(cleaned, plan)
        return None if national is None else plan.country_code + national
    else:
        return None
    if cleaned is None or cleaned.startswith("0"):
        return None
    for size in (1, 2, 3):
        intl_region = _region_for_code(cleaned[:size])
        if intl_region is not None:
            plan = _plan(intl_region)
            national = None if plan is None else _national(cleaned[size:], plan)
            return None if national is None else cleaned[:size] + national
    return None


def normalize_phone_slow(raw: str, region: str | None) -> str | None:
    """E.164 digits through the full phonenumbers parser; None when not a valid number (one that
    matches no number type of its region, such as a 7-digit US number, can never match)."""
    parsed = _parse(raw, region)
    if parsed is None or not _is_valid(parsed):
        return None
    digits = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def _is_valid(parsed: phonenumbers.PhoneNumber) -> bool:
    """phonenumbers' is_valid_number, answered by the main region's types first.

    is_valid_number finds the number's region by trying every region of its country code (25
    for +1), about 10 µs; a number some type of the main region accepts is valid (the main region
    comes first in that search), so only the others pay for the search.
    """
    region = _region_for_code(str(parsed.country_code))
    plan = None if region is None else _plan(region)
    national = phonenumbers.national_significant_number(parsed)
    if plan is not None and len(national) in plan.lengths and _is_assigned(national, plan):
        return True
    return bool(phonenumbers.is_valid_number(parsed))


def normalize_phone(value: str, region: str | None = None) -> str | None:
    """Digits of the E.164 form, country code included, no ``+`` (Meta: ``16505551212``).

    A number without a country code is read as a national number of ``region`` (ISO alpha-2,
    uppercase). None when the number cannot be parsed or is not a valid number for its region.
    """
    digits = _fast(value.strip(), region)
    if digits is not None and len(digits) >= MIN_PHONE_DIGITS:
        return digits
    return normalize_phone_slow(value, region)


def phone_rejection(raw: str, region: str | None) -> str:
    """Why ``normalize_phone`` refused ``raw``: a drop reason, never the number.

    ``too_few_digits``; ``invalid_for_region`` when the number has a possible length but matches
    no number type of its region (a 7-digit US number: Meta can never match its hash); else
    ``not_a_phone_number``.
    """
    if sum(ch.isdigit() for ch in raw) < MIN_PHONE_DIGITS:
        return "too_few_digits"
    parsed = _parse(raw, region)
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return "invalid_for_region"
    return "not_a_phone_number"


def _parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """phonenumbers' reading of ``raw`` (``00`` as an international prefix), or None."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        return phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
