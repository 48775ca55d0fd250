"""Pure construction of ``user_data`` from a record's customer and browser context (capi.md §3).

Hashed fields are normalized and SHA-256 hashed here, before anything is batched. A value that
cannot be normalized is dropped and reported as ``(field, reason)``: the event still goes if what
remains is valid, and neither the value nor a hash of it appears in the report.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from consumer.core.fields import text_of
from consumer.core.geo import country_code
from consumer.core.normalize import (
    HASHERS,
    ExternalIdForm,
    FieldHasher,
    Rejected,
    hash_date_of_birth,
    is_sha256_hex,
)

__all__ = ["CUSTOMER_FIELDS", "Dropped", "UserDataResult", "build_user_data", "fbc_from_click"]

Dropped = tuple[str, str]  # (user_data field, reason code)

# user_data key -> Customer record field (schemas/*.avsc).
CUSTOMER_FIELDS: dict[str, str] = {
    "em": "email",
    "ph": "phone",
    "fn": "first_name",
    "ln": "last_name",
    "db": "date_of_birth",
    "ge": "gender",
    "ct": "city",
    "st": "state",
    "zp": "postal_code",
    "country": "country",
    "external_id": "external_id",
}


def _lowercased(hasher: FieldHasher) -> FieldHasher:
    return lambda value, region: hasher(value.lower(), region)


# Per external_id form: (user_data key, Customer field, hasher), in the order Meta lists the
# fields; with ``lowercase`` the external_id hasher lowercases first (the browser pixel's form).
_CUSTOMER_HASHERS: dict[ExternalIdForm, tuple[tuple[str, str, FieldHasher], ...]] = {
    "trimmed": tuple((key, source, HASHERS[key]) for key, source in CUSTOMER_FIELDS.items()),
    "lowercase": tuple(
        (key, source, _lowercased(HASHERS[key]) if key == "external_id" else HASHERS[key])
        for key, source in CUSTOMER_FIELDS.items()
    ),
}
_SHA256_HEX_LENGTH = 64
# capi.md §3.1: fb.{subdomain}.{creation_ms}.{fbclid} and fb.{subdomain}.{creation_ms}.{random},
# the random part a number; both may carry Meta's param-builder appendix as a 5th segment.
_COOKIES = {
    "fbc": re.compile(r"fb\.\d+\.\d+\.\S+"),
    "fbp": re.compile(r"fb\.\d+\.\d+\.[0-9]+(?:\.[A-Za-z0-9_-]+)?"),
}
_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)  # Final: no module lookups per call
_INET_PTON: Final = socket.inet_pton
_COOKIE_PARTS: Final = 4  # fb, subdomain, creation time, click id or random number
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_PORT_DIGITS = 5  # 65535
_LEAD_ID = re.compile(r"\d{15,17}")  # Meta Lead Ads ids: 15-17 digits (capi.md §3)


@dataclass(frozen=True, slots=True, init=False)
class UserDataResult:
    """The ``user_data`` object to send and what was dropped from it, by field and reason."""

    user_data: dict[str, Any]
    dropped: tuple[Dropped, ...]

    def __init__(self, user_data: dict[str, Any], dropped: tuple[Dropped, ...]) -> None:
        # compiled, unlike dataclass's __init__: one per event (models._NATIVE_INIT)
        object.__setattr__(self, "user_data", user_data)
        object.__setattr__(self, "dropped", dropped)


def build_user_data(
    record: Mapping[str, Any],
    occurred_at: dt.datetime,
    external_id_form: ExternalIdForm,
    default_country: str | None = None,
) -> UserDataResult:
    """``user_data`` for one record: hashed customer fields, raw browser fields, lead id.

    ``default_country`` (ISO alpha-2) reads national phone numbers, states and postal codes of
    customers without a country; it is not sent as the customer's country.
    """
    user_data: dict[str, Any] = {}
    dropped: list[Dropped] = []
    customer = record.get("customer") or {}
    if customer:
        raw_country = customer.get("country")
        known = country_code(raw_country) if isinstance(raw_country, str) else None
        region = known or default_country
        # a dict (as decoded) gets mypyc's native dict.get in the per-field loop, not a method call
        fields = customer if type(customer) is dict else dict(customer)
        _hash_customer(fields, region, external_id_form, user_data, dropped)
    browser = record.get("browser") or {}
    _add_browser(
        browser if type(browser) is dict else dict(browser), occurred_at, user_data, dropped
    )
    if record.get("meta_lead_id"):
        _add_lead_id(str(record["meta_lead_id"]), user_data, dropped)
    return UserDataResult(user_data, tuple(dropped))


def _hash_customer(
    customer: dict[str, Any],
    region: str | None,
    external_id_form: ExternalIdForm,
    user_data: dict[str, Any],
    dropped: list[Dropped],
) -> None:
    for field, source, hasher in _CUSTOMER_HASHERS[external_id_form]:
        value = customer.get(source)
        if value is None:
            continue
        if type(value) is str:  # the common case, one plain string: no list to walk
            result = hasher(value, region)
            if type(result) is str:
                user_data[field] = [result]
            else:
                dropped.append((field, cast(Rejected, result).reason))
            continue
        hashes: list[str] = []
        for item in value if isinstance(value, list) else (value,):
            one = _hash_one(hasher, item, region)
            if isinstance(one, Rejected):
                dropped.append((field, one.reason))
            elif one not in hashes:
                hashes.append(one)
        if hashes:
            user_data[field] = hashes


def _hash_one(hasher: FieldHasher, value: object, region: str | None) -> str | Rejected:
    if isinstance(value, str):
        return hasher(value, region)
    if isinstance(value, dt.date):  # Avro date logical type (date_of_birth)
        return hash_date_of_birth(value)
    return Rejected("not_a_string")


def _add_browser(
    browser: dict[str, Any],
    occurred_at: dt.datetime,
    user_data: dict[str, Any],
    dropped: list[Dropped],
) -> None:
    """Raw identifiers: a valid IP, the user agent (never a hash), well-formed fbp/fbc cookies."""
    ip = text_of(browser.get("client_ip"))
    if ip:
        if ":" in ip and (ip[0] == "[" or ip.count(":") == 1):  # [v6], [v6]:port, v4:port
            ip = _without_port(ip)
        if _is_ip(ip):
            user_data["client_ip_address"] = ip
        else:
            dropped.append(("client_ip_address", "not_an_ip_address"))
    agent = text_of(browser.get("user_agent"))
    if agent:
        if len(agent) == _SHA256_HEX_LENGTH and is_sha256_hex(agent.lower()):
            dropped.append(("client_user_agent", "hashed"))
        else:
            user_data["client_user_agent"] = agent
    fbp = text_of(browser.get("fbp"))
    if fbp and _is_fbp(fbp):
        user_data["fbp"] = fbp
    elif fbp:
        dropped.append(("fbp", "malformed_cookie"))
    if browser.get("fbc") or browser.get("fbclid"):
        fbc = _fbc(browser, occurred_at, dropped)
        if fbc:
            user_data["fbc"] = fbc


def _fbc(browser: Mapping[str, Any], occurred_at: dt.datetime, dropped: list[Dropped]) -> str:
    """The ``_fbc`` cookie, unless the landing URL's fbclid is a newer, different click.

    capi.md §3.1: overwrite the cookie when the URL's fbclid differs from the one it holds; the
    new click wins. A cookie carrying the same click id is kept (its creation time is the first
    sighting); a cookie created after ``fbclid_seen_at`` is the newer click and is kept too.
    """
    cookie = text_of(browser.get("fbc"))
    if cookie and not _is_fbc(cookie):
        dropped.append(("fbc", "malformed_cookie"))
        cookie = ""
    fresh = fbc_from_click(browser, occurred_at)
    if not fresh or (cookie and not _click_is_newer(cookie, fresh, browser)):
        return cookie
    if _is_fbc(fresh):
        return fresh
    dropped.append(("fbc", "malformed_fbclid"))
    return cookie


def _is_fbp(text: str) -> bool:
    """``_COOKIES["fbp"].fullmatch(text)``; the usual ``fb.1.<ms>.<digits>`` by str tests (speed).

    ``\\d`` is ``str.isdecimal``, ``[0-9]`` ASCII ``isdigit``; anything else goes to the regex.
    """
    parts = text.split(".")
    if (
        len(parts) == _COOKIE_PARTS
        and parts[0] == "fb"
        and parts[1].isdecimal()
        and parts[2].isdecimal()
        and parts[3].isascii()
        and parts[3].isdigit()
    ):
        return True
    return _COOKIES["fbp"].fullmatch(text) is not None


def _is_fbc(text: str) -> bool:
    """``_COOKIES["fbc"].fullmatch(text)``; the usual ``fb.1.<ms>.<click id>`` by str tests (speed).

    ``\\d`` is ``str.isdecimal``; printable text holds no ``\\s`` but the space (every
    ``str.isspace`` character is a control or separator). Anything else goes to the regex.
    """
    parts = text.split(".", _COOKIE_PARTS - 1)
    if (
        len(parts) == _COOKIE_PARTS
        and parts[0] == "fb"
        and parts[1].isdecimal()
        and parts[2].isdecimal()
        and parts[3].isprintable()
        and parts[3]
        and " " not in parts[3]
    ):
        return True
    return _COOKIES["fbc"].fullmatch(text) is not None


def _click_is_newer(cookie: str, fresh: str, browser: Mapping[str, Any]) -> bool:
    """The fbclid is another click than the cookie's, and not seen before the cookie was set."""
    _, _, created, click = cookie.split(".", 4)[:4]
    if click == fresh.split(".", 4)[3]:
        return False
    if browser.get("fbclid_seen_at") is None:
        return True  # the URL's click id of this visit: Meta's rule, the new click wins
    return int(created) <= int(fresh.split(".", 3)[2])


def _without_port(text: str) -> str:
    """``203.0.113.9:443`` -> ``203.0.113.9``, ``[2001:db8::1]:443`` -> ``2001:db8::1``.

    Load balancers and proxies write client addresses with the port; a bare IPv6 address has
    several colons and is left alone.
    """
    if text.startswith("["):
        end = text.find("]")
        port = text[end + 2 :] if end > 0 and text[end + 1 : end + 2] == ":" else None
        if end == len(text) - 1 or (port is not None and _is_port(port)):
            return text[1:end]
        return text
    host, colon, port = text.partition(":")
    if colon and ":" not in port and _is_port(port):
        return host
    return text


def _is_port(text: str) -> bool:
    return 0 < len(text) <= _PORT_DIGITS and text.isascii() and text.isdigit()


def _is_ip(text: str) -> bool:
    """A valid IPv4 or IPv6 address (inet_pton parses strictly and is 20x faster than ipaddress).

    inet_pton raises ValueError, not OSError, for a NUL character or a lone surrogate.
    """
    for family in _FAMILIES:
        try:
            _INET_PTON(family, text)
        except (OSError, ValueError):
            continue
        return True
    return False


def fbc_from_click(browser: Mapping[str, Any], occurred_at: dt.datetime) -> str | None:
    """``fb.1.<ms>.<fbclid>`` (capi.md §3.1): subdomain index 1, fbclid verbatim.

    The creation time is when the click id was first seen, or the event time without one.
    """
    fbclid = browser.get("fbclid")
    if not fbclid:
        return None
    seen_at = browser.get("fbclid_seen_at") or occurred_at
    if seen_at.tzinfo is None:
        seen_at = seen_at.replace(tzinfo=dt.UTC)  # Avro timestamp-millis is UTC
    millis = (seen_at - _EPOCH) // dt.timedelta(milliseconds=1)  # integer maths: no float drift
    return f"fb.1.{millis}.{fbclid}"


def _add_lead_id(value: str, user_data: dict[str, Any], dropped: list[Dropped]) -> None:
    """Meta rejects an event whose lead_id is not a 15-17 digit id: drop a bad one instead."""
    digits = value.strip()
    if _LEAD_ID.fullmatch(digits):
        user_data["lead_id"] = int(digits)
    else:
        dropped.append(("lead_id", "not_15_to_17_digits"))
