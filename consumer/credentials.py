"""Secret-shaped settings: which keys name a secret, which URLs carry credentials, and masking.

One rule for every place that must keep secrets out of a file or an output: the settings loader
(refuses them in the config file), ``check-config`` (masks them whatever their source, the
environment included), the log processors and the librdkafka log adapter. The chart's
``values.schema.json`` mirrors the same rule for ``config:`` (tests/component/test_helm_chart.py
checks each form against both).

A key names a secret when its last word (words split on ``.``, ``_``, ``-``) contains
``password``, ``passwd`` or ``secret``, ends in ``token``/``tokens``, or is ``pwd``,
``credential(s)``, ``apikey``, ``privatekey``, ``privkey`` or ``userinfo``; when it ends in
``private key``, ``api key``, ``key pem`` or ``user info``; or when it is librdkafka's
``sasl.oauthbearer.config``. So ``access_token_file`` (where a token is) and
``sasl.oauthbearer.token.endpoint.url`` are not secrets. A URL carries credentials when it has
userinfo (``scheme://user:pw@host``). Both rules are regular expressions, copied verbatim into the
chart's ``values.schema.json`` (a test keeps the two identical).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "MASK",
    "SENSITIVE_KEY_PATTERN",
    "URL_CREDENTIALS_PATTERN",
    "Finding",
    "find_secrets",
    "has_credentials",
    "is_secret_key",
    "mask_secrets",
    "mask_url_credentials",
]

MASK = "***"
# Go's RE2 (Helm's schema validator) and Python's re read both patterns the same way.
SENSITIVE_KEY_PATTERN = (
    r"(?i)(^|[._\-\s])[a-z0-9]*(password|passwd|secret)[a-z0-9]*$|tokens?$"
    r"|(^|[._\-\s])(pwd|credentials?|apikey|privatekey|privkey|userinfo)$"
    r"|(private|api)[._\-\s]key$|user[._\-\s]info$|key[._\-\s]pem$"
    r"|^sasl[._\-]oauthbearer[._\-]config$"
)
URL_CREDENTIALS_PATTERN = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#@]+@"
_SENSITIVE_KEY = re.compile(SENSITIVE_KEY_PATTERN)
_URL_CREDENTIALS = re.compile(URL_CREDENTIALS_PATTERN)
# Dict keys that are names the user chose (topics, tenants, mapping vocabularies), not settings:
# a tenant called "secret-shop" is not a secret. Their values are still checked.
_NAME_PARENTS = frozenset({("kafka", "topics"), ("tenants",)})
_NAME_ROOTS = frozenset({("mapping",)})
_ENV_UNSAFE = re.compile(r"[^A-Za-z0-9]+")
# Secrets that may also come from a mounted file named by "<field>_file".
_FILE_FIELDS = frozenset({"access_token", "app_secret"})


def is_secret_key(key: str) -> bool:
    """True when the config key ``key`` names a secret value (see the module docstring)."""
    return _SENSITIVE_KEY.search(key) is not None


def has_credentials(text: str) -> bool:
    """True when ``text`` holds a URL with userinfo (``https://user:pw@host``)."""
    return _URL_CREDENTIALS.search(text) is not None


def mask_url_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{MASK}@", text)


@dataclass(frozen=True, slots=True)
class Finding:
    """One secret in a config tree: where (the keys leading to it) and what gave it away."""

    parts: tuple[str, ...]
    kind: Literal["key", "url"]  # a secret-shaped key, or credentials in a URL

    @property
    def path(self) -> str:
        """The dotted path, as error messages name fields."""
        return ".".join(self.parts)

    @property
    def env_name(self) -> str:
        """The environment variable that sets this field (``CAPI_A__B_C``)."""
        return "CAPI_" + "__".join(_ENV_UNSAFE.sub("_", part).upper() for part in self.parts)

    def refusal(self) -> str:
        """The one-line error for this finding in a config file; never includes the value."""
        if self.kind == "url":
            return (
                f"{self.path}: the URL carries credentials (user:password@); keep the URL in the "
                f"file without them and set the whole URL in the environment as {self.env_name} "
                "(from a Kubernetes Secret), or use the field's own password setting"
            )
        hint = ""
        if self.parts[-1] in _FILE_FIELDS:
            hint = f", or mount it as a file and set {self.path}_file"
        return (
            f"{self.path}: secrets are not allowed in the config file; set "
            f"{self.env_name} in the environment (from a Kubernetes Secret){hint}"
        )


def find_secrets(node: Any, parts: tuple[str, ...] = ()) -> Iterator[Finding]:
    """Every secret-shaped key with a value and every URL with credentials under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*parts, str(key))
            if value is not None and _is_setting_name(parts) and is_secret_key(str(key)):
                yield Finding(here, "key")
            else:
                yield from find_secrets(value, here)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from find_secrets(item, parts)
    elif isinstance(node, str) and has_credentials(node):
        yield Finding(parts, "url")


def mask_secrets(node: Any, parts: tuple[str, ...] = ()) -> Any:
    """A copy of ``node`` with secret-shaped keys' values and URL credentials masked."""
    if isinstance(node, dict):
        masked: dict[Any, Any] = {}
        for key, value in node.items():
            secret = value is not None and _is_setting_name(parts) and is_secret_key(str(key))
            masked[key] = MASK if secret else mask_secrets(value, (*parts, str(key)))
        return masked
    if isinstance(node, list | tuple):
        return [mask_secrets(item, parts) for item in node]
    if isinstance(node, str):
        return mask_url_credentials(node)
    return node


def _is_setting_name(parent: tuple[str, ...]) -> bool:
    """False for the keys of user-named maps (topics, tenants, mapping vocabularies)."""
    return parent not in _NAME_PARENTS and parent[:1] not in _NAME_ROOTS
