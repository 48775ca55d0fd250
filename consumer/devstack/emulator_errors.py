"""Graph API error answers of the CAPI emulator, in Meta's shape (capi.md §6.2), pure.

Every error body is ``{"error": {"message", "type", "code", "error_subcode"?, "error_user_title",
"error_user_msg", "is_transient", "fbtrace_id"}}``. The ``rule`` of a :class:`GraphError` is the
emulator's own stable id for what went wrong; it goes to the request log, never to the client,
because Meta sends nothing like it and the consumer must not come to rely on it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = [
    "GraphError",
    "Violation",
    "bad_token",
    "invalid_parameter",
    "missing_appsecret_proof",
    "new_fbtrace_id",
    "unknown_object",
    "unknown_path",
    "wrong_appsecret_proof",
]

_FBTRACE_BYTES = 12  # 16 url-safe characters, about the length of Meta's own trace ids


def new_fbtrace_id() -> str:
    """A random trace id, like the ``fbtrace_id`` Meta puts in every answer."""
    return secrets.token_urlsafe(_FBTRACE_BYTES)


@dataclass(frozen=True, slots=True)
class GraphError:
    """One Graph API error answer: the HTTP status and the fields of the ``error`` object."""

    code: int
    message: str
    subcode: int | None = None
    title: str = ""
    user_msg: str = ""
    error_type: str = "OAuthException"
    is_transient: bool = False
    status: int = 400
    rule: str = ""

    def body(self, fbtrace_id: str) -> dict[str, object]:
        """The JSON body Meta would send for this error."""
        error: dict[str, object] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["error_user_title"] = self.title
        error["error_user_msg"] = self.user_msg
        error["is_transient"] = self.is_transient
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


@dataclass(frozen=True, slots=True)
class Violation:
    """One event breaking one rule. ``subcode`` None means plain code 100 (invalid parameter)."""

    rule: str
    detail: str
    subcode: int | None = None
    title: str = "Invalid parameter"

    def to_error(self, index: int) -> GraphError:
        """The whole-batch rejection this violation causes; the index goes in the text only."""
        return invalid_parameter(
            self.detail,
            subcode=self.subcode,
            title=self.title,
            user_msg=f"Event at index {index}: {self.detail}.",
            rule=self.rule,
        )


def invalid_parameter(
    detail: str,
    *,
    subcode: int | None = None,
    title: str = "Invalid parameter",
    user_msg: str | None = None,
    rule: str = "request.invalid",
) -> GraphError:
    """Code 100, the payload problem answer: never transient, never worth resending as is."""
    return GraphError(
        code=100,
        message=f"(#100) Invalid parameter: {detail}",
        subcode=subcode,
        title=title,
        user_msg=detail if user_msg is None else user_msg,
        rule=rule,
    )


def unknown_object(pixel_id: str) -> GraphError:
    """Code 100 subcode 33: the pixel does not exist or the token cannot see it (capi.md §6.3)."""
    return GraphError(
        code=100,
        subcode=33,
        message=(
            f"Unsupported post request. Object with ID '{pixel_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation."
        ),
        error_type="GraphMethodException",
        rule="auth.unknown_pixel",
    )


def bad_token(detail: str) -> GraphError:
    """Code 190: the access token is missing, invalid, expired or revoked."""
    return GraphError(
        code=190,
        message=f"Error validating access token: {detail}",
        rule="auth.token",
    )


def missing_appsecret_proof() -> GraphError:
    """Code 100 when the app requires ``appsecret_proof`` and none came (Graph's real answer)."""
    return GraphError(
        code=100,
        message="API calls from the server require an appsecret_proof argument",
        error_type="GraphMethodException",
        rule="auth.appsecret_proof_missing",
    )


def wrong_appsecret_proof() -> GraphError:
    """Code 100 when ``appsecret_proof`` is not HMAC-SHA256(app_secret, token) (Graph's answer)."""
    return GraphError(
        code=100,
        message="Invalid appsecret_proof provided in the API argument",
        error_type="GraphMethodException",
        rule="auth.appsecret_proof",
    )


def unknown_path(path: str) -> GraphError:
    """Code 2500: Graph's answer when the path (here: the version segment) makes no sense."""
    return GraphError(
        code=2500,
        message=f"Unknown path components: {path}",
        rule="request.version",
    )
