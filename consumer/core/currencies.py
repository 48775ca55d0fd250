"""ISO 4217 currency codes an event's ``custom_data.currency`` may carry (capi.md §4).

The list is pycountry's ``currencies`` database (the Debian iso-codes copy of ISO 4217's list one,
active codes only: historic codes such as HRK, ANG or CUC are not in it). Codes that ISO 4217
lists but that are not money a purchase can be made in are left out: XXX ("no currency"), XTS
("reserved for testing"), precious metals (XAU, XAG, XPD, XPT), bond-market units (XBA-XBD) and
accounting units (XDR, XSU, XUA, XAD). Pure: read once at import.
"""

from __future__ import annotations

import pycountry

__all__ = ["CURRENCIES", "NOT_MONEY"]

NOT_MONEY = frozenset(
    {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA"}
    | {"XAD"}
)
CURRENCIES: frozenset[str] = (
    frozenset(str(currency.alpha_3) for currency in pycountry.currencies) - NOT_MONEY
)
