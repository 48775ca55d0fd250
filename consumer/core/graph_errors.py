"""Pure classification of a Conversions API response, by Graph error code, not HTTP status.

Meta sends throttling as HTTP 400 with an OAuthException body (capi.md §6), so the status alone
says little. The table follows capi.md §6.3 and DESIGN.md §5.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["GraphVerdict", "Kind", "classify", "rejects_request", "transport_failure"]

THROTTLE_CODES = frozenset({4, 17, 32, 341, 368, 613}) | frozenset(range(80000, 80015))
TRANSIENT_CODES = frozenset({1, 2})
AUTH_CODES = frozenset({3, 10, 102, 190}) | frozenset(range(200, 300))
# The API version itself is refused: 2635 "(#2635) You are calling a deprecated version of the
# Ads API. Please update to the latest version: vNN.0." (HTTP 400, OAuthException; seen on the
# CAPI events edge, e.g. github.com/facebook/facebook-nodejs-business-sdk/issues/178) and 12
# "(#12) <feature> is deprecated for versions vX and higher". Checked 2026-12-01.
VERSION_CODES = frozenset({12, 2635})
INVALID_PARAMETER = 100
OBJECT_NOT_FOUND_SUBCODE = 33  # 100/33: wrong pixel id or the token lacks access to it
HTTP_SERVER_ERROR = 500
PAYLOAD_TOO_LARGE = 413  # a proxy's answer to a big body: halves may pass, so it is split
# A code-100 answer without a subcode that names one of these is about the request, not about an
# event in ``data``: the main-body parameters and credentials of capi.md §1.2/§1.4 and Graph's
# wording for a bad body ("param data must be an array", "Unknown path components").
_REQUEST_WORDS = re.compile(
    r"appsecret_proof|access_token|test_event_code|partner_agent|namespace_id|upload_(id|tag|source)"
    r"|unknown path|unknown parameter|content type|\bthe (json )?body\b|\bparam(eter)? data\b"
    r"|\bdata must\b",
    re.IGNORECASE,
)
# ... unless it also names an event: its index or one of its fields.
_EVENT_WORDS = re.compile(
    r"\bevent at index\b|\bindex \d+|data\[\d+\]|\bevent_(name|time|id|source_url)\b"
    r"|user_data|custom_data|action_source|unknown event parameter",
    re.IGNORECASE,
)


class Kind(enum.Enum):
    OK = "ok"
    RETRY = "retry"  # transient: back off and try the same batch again
    THROTTLE = "throttle"  # transient, and slow this pixel down
    INVALID = "invalid"  # the payload is wrong: bisect to find the bad events
    AUTH = "auth"  # token or permission: dead-letter, cool the pixel down
    VERSION = "version"  # the Graph API version is deprecated or gone: hold the pixel, keep events


# HTTP answers without a Graph error body, by status: 408 is a timeout, 401/403 a credential or
# permission refused on the way, 404 a wrong endpoint (base URL, API version or pixel path).
_NO_BODY = {408: Kind.RETRY, 401: Kind.AUTH, 403: Kind.AUTH, 404: Kind.AUTH}


@dataclass(frozen=True, slots=True)
class GraphVerdict:
    kind: Kind
    status: int | None = None
    code: int | None = None
    subcode: int | None = None
    message: str = ""
    fbtrace_id: str | None = None
    events_received: int | None = None
    messages: list[str] = field(default_factory=list)
    detail: str = ""  # Graph's message and error_user_msg, to tell request from event errors

    @property
    def reason_code(self) -> str:
        """``code/subcode`` for metrics and DLQ headers, ``http_<status>`` or the transport error."""
        if self.code is not None:
            return f"{self.code}/{self.subcode}" if self.subcode is not None else str(self.code)
        return f"http_{self.status}" if self.status is not None else self.message or "transport"


def transport_failure(error_name: str) -> GraphVerdict:
    """A timeout or connection error: no answer at all, so retry."""
    return GraphVerdict(Kind.RETRY, message=error_name)


def classify(status: int, body: bytes) -> GraphVerdict:
    """Turn one HTTP answer into a verdict."""
    parsed = _parse(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return _from_error(status, error)
    if status >= HTTP_SERVER_ERROR or b"Service Unavailable" in body:
        return GraphVerdict(Kind.RETRY, status=status, message="server error")
    if (
        200 <= status < 300
        and isinstance(parsed, dict)
        and isinstance(parsed.get("events_received"), int)
    ):
        return GraphVerdict(
            Kind.OK,
            status=status,
            fbtrace_id=_str_or_none(parsed.get("fbtrace_id")),
            events_received=parsed["events_received"],
            messages=_messages(parsed.get("messages")),
        )
    if status == 429:
        return GraphVerdict(Kind.THROTTLE, status=status, message="HTTP 429")
    # No Graph body: a proxy or load balancer answered. Say what its status means, never "the
    # payload is wrong" unless it says so, or a timeout would be bisected into dead letters.
    kind = _NO_BODY.get(status, Kind.RETRY if status < 400 else Kind.INVALID)
    return GraphVerdict(kind, status=status, message="unexpected response")


def _from_error(status: int, error: dict[str, Any]) -> GraphVerdict:
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    verdict = GraphVerdict(
        _kind(code, subcode, error.get("is_transient") is True, status),
        status=status,
        code=code,
        subcode=subcode,
        message=str(error.get("error_user_title") or error.get("message") or "")[:300],
        fbtrace_id=_str_or_none(error.get("fbtrace_id")),
        detail=f"{error.get('message') or ''} {error.get('error_user_msg') or ''}"[:600],
    )
    return verdict


def rejects_request(verdict: GraphVerdict) -> bool:
    """True when an INVALID answer is about the request as a whole, so splitting cannot help.

    That is: a Graph code other than 100 (e.g. 2500, an unknown path or API version); a code 100
    without a subcode whose text names a request parameter and no event; or a 4xx without a
    Graph body other than 413. Anything else may be about one event and is split.
    """
    if verdict.kind is not Kind.INVALID:
        return False
    if verdict.code is None:
        return verdict.status != PAYLOAD_TOO_LARGE
    if verdict.code != INVALID_PARAMETER:
        return True
    text = verdict.detail or verdict.message
    return (
        verdict.subcode is None
        and _REQUEST_WORDS.search(text) is not None
        and _EVENT_WORDS.search(text) is None
    )


def _kind(code: int | None, subcode: int | None, transient: bool, status: int) -> Kind:
    """By code first (capi.md §6.3); the HTTP status decides only for codes the table lacks."""
    if code in THROTTLE_CODES:
        return Kind.THROTTLE
    if code in TRANSIENT_CODES:
        return Kind.RETRY
    if code in VERSION_CODES:
        return Kind.VERSION
    if code in AUTH_CODES or (code == INVALID_PARAMETER and subcode == OBJECT_NOT_FOUND_SUBCODE):
        return Kind.AUTH
    if code == INVALID_PARAMETER:  # bisect a payload error, unless Meta says it is transient
        return Kind.RETRY if transient else Kind.INVALID
    return Kind.RETRY if transient or status >= HTTP_SERVER_ERROR else Kind.INVALID


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _messages(value: Any) -> list[str]:
    """Meta's warnings: a list of strings; anything else is not Graph's shape, so none."""
    return [str(message) for message in value] if isinstance(value, list) else []


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
