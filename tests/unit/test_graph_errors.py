"""Classification of Meta's answers by Graph error code, not HTTP status (capi.md §6.3)."""

from __future__ import annotations

import orjson
import pytest

from consumer.core.graph_errors import Kind, classify, rejects_request


def _error(code: int, subcode: int | None = None, transient: bool | None = None) -> bytes:
    error: dict[str, object] = {
        "message": "m",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "T",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    return orjson.dumps({"error": error})


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, b'{"events_received": 3, "messages": [], "fbtrace_id": "x"}', Kind.OK),
        (400, _error(4, transient=True), Kind.THROTTLE),
        (400, _error(17, 2446079, True), Kind.THROTTLE),
        (400, _error(32), Kind.THROTTLE),
        (400, _error(613, 1487742), Kind.THROTTLE),
        (400, _error(80004, 2446079), Kind.THROTTLE),
        (500, _error(1), Kind.RETRY),
        (503, _error(2, transient=True), Kind.RETRY),
        (502, b"<html>Bad Gateway</html>", Kind.RETRY),
        (200, b"Service Unavailable", Kind.RETRY),
        (400, _error(190, 460), Kind.AUTH),
        (400, _error(10), Kind.AUTH),
        (400, _error(200), Kind.AUTH),
        (400, _error(100, 33), Kind.AUTH),
        (400, _error(100, 2804003), Kind.INVALID),
        (400, _error(100, 2804050), Kind.INVALID),
        (400, _error(100), Kind.INVALID),
        (429, b"", Kind.THROTTLE),
        # By code even when the HTTP status says otherwise (capi.md §6.3).
        (500, _error(190, 460), Kind.AUTH),
        (503, _error(100, 33), Kind.AUTH),
        (500, _error(100, 2804003), Kind.INVALID),
        (500, _error(4), Kind.THROTTLE),
        (400, _error(100, transient=True), Kind.RETRY),
        (500, _error(12345), Kind.RETRY),
        (400, _error(12345), Kind.INVALID),
        # No Graph body: a proxy's status, never a payload verdict it did not give.
        (408, b"<html>Request Timeout</html>", Kind.RETRY),
        (401, b"Unauthorized", Kind.AUTH),
        (403, b"", Kind.AUTH),
        (404, b"<html>Not Found</html>", Kind.AUTH),
        (413, b"<html>Request Entity Too Large</html>", Kind.INVALID),
        (200, b"<html>captive portal</html>", Kind.RETRY),
    ],
    ids=lambda value: str(value)[:40] if not isinstance(value, bytes) else None,
)
def test_classify(status: int, body: bytes, kind: Kind) -> None:
    """Each documented code lands in its handling class, whatever the HTTP status says."""
    assert kind == classify(status, body).kind


def test_details_kept() -> None:
    """Code, subcode and fbtrace_id are kept for the DLQ headers."""
    verdict = classify(400, _error(100, 2804003))

    assert (100, 2804003, "T", "100/2804003") == (
        verdict.code,
        verdict.subcode,
        verdict.fbtrace_id,
        verdict.reason_code,
    )


@pytest.mark.parametrize("messages", [b"5", b"true", b'{"w": 1}'])
def test_success_with_odd_messages(messages: bytes) -> None:
    """A 2xx acknowledgement whose ``messages`` is not a list is still an acknowledgement."""
    verdict = classify(200, b'{"events_received": 1, "messages": ' + messages + b"}")

    assert (Kind.OK, 1, []) == (verdict.kind, verdict.events_received, verdict.messages)


def _graph(code: int, message: str, user_msg: str = "", subcode: int | None = None) -> bytes:
    error: dict[str, object] = {"message": message, "code": code, "error_user_msg": user_msg}
    if subcode is not None:
        error["error_subcode"] = subcode
    return orjson.dumps({"error": error})


@pytest.mark.parametrize(
    ("status", "body", "whole_request"),
    [
        (400, _graph(2500, "Unknown path components: /v99.x/1/events"), True),
        (400, _graph(100, "API calls from the server require an appsecret_proof argument"), True),
        (400, _graph(100, "(#100) Invalid parameter: data must be a non-empty array"), True),
        (400, _graph(100, "(#100) Invalid parameter: unknown parameter 'test_event_cod'"), True),
        (400, b"<html>Bad Request</html>", True),
        (413, b"<html>Request Entity Too Large</html>", False),
        (400, _graph(100, "Invalid parameter", subcode=2804003), False),
        (400, _graph(100, "(#100) Invalid parameter: event_time must be an integer"), False),
        (400, _graph(100, "Invalid parameter", "Event at index 3: custom_data.value"), False),
        (400, _graph(100, "(#100) Invalid parameter: the batch contains a rejected event"), False),
        (400, _graph(100, "Invalid parameter"), False),
    ],
    ids=[
        "version",
        "appsecret_proof",
        "data",
        "body-key",
        "proxy-400",
        "proxy-413",
        "2804003",
        "event-field",
        "event-index",
        "unnamed",
        "bare",
    ],
)
def test_rejects_request(status: int, body: bytes, whole_request: bool) -> None:
    """A rejection that names no event (and can be about none) is not worth splitting."""
    verdict = classify(status, body)

    assert (Kind.INVALID, whole_request) == (verdict.kind, rejects_request(verdict))
