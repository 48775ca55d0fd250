"""Classification of Meta's answers by Graph error code, not HTTP status (capi.md §6.3)."""

from __future__ import annotations

import orjson
import pytest

from consumer.core.graph_errors import Kind, classify


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
