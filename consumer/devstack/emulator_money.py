"""The emulator's own reading of Meta's money rules (an independent judge: no consumer code).

Meta asks for an ISO 4217 currency code (capi.md §4, "Required for purchase events") and a
Purchase carries what was paid: a negative value or a line item with a non-positive quantity is
not a purchase. Currency codes come from pycountry's ISO 4217 data, read here on its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import pycountry

__all__ = ["is_iso_currency", "purchase_problem"]

# ISO 4217 codes that are not money one pays with: no currency, testing, metals, units.
_NOT_CURRENCIES = {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR"}
_NOT_CURRENCIES |= {"XSU", "XUA", "XAD"}
_ISO_4217 = frozenset(
    code
    for code in (str(currency.alpha_3) for currency in pycountry.currencies)
    if code not in _NOT_CURRENCIES
)


def is_iso_currency(code: str) -> bool:
    """An active ISO 4217 code, in either case (Meta's docs show ``USD`` and ``usd``)."""
    return code.upper() in _ISO_4217


def purchase_problem(custom: Mapping[str, object]) -> str | None:
    """Why a Purchase's custom_data is not one (negative value, bad contents), or None."""
    value = custom.get("value")
    if isinstance(value, int | float) and value < 0:
        return "a Purchase value must not be negative"
    contents = custom.get("contents")
    for item in contents if isinstance(contents, list) else ():
        quantity = item.get("quantity") if isinstance(item, Mapping) else None
        if quantity is not None and (type(quantity) is not int or quantity <= 0):
            return "contents[].quantity must be a positive integer"
    return None
