"""A pixel's access token and app secret, following their mounted files: rotation needs no restart.

Meta system-user tokens get rotated. A token configured as ``access_token_file`` (a Kubernetes
Secret volume) is re-read when the file changes, and :class:`~consumer.sender.CapiSender`
re-reads it at once when Meta refuses the token, before the pixel's auth cool-down starts.

The kubelet updates a Secret volume by writing the new keys into a fresh timestamped directory
and swapping the ``..data`` symlink; the path we read (``token -> ..data/token``) never changes.
So a change is seen by ``stat`` through the symlinks: (device, inode, mtime, size) of the file the
path resolves to. A file rewritten in place changes its mtime. A file that is missing or empty
for a moment (a swap in progress, a careless writer) keeps the value we have.

Tokens from the environment (``CAPI_PIXELS__<id>__ACCESS_TOKEN``) are fixed for the process.
Values never reach a log: lines carry the pixel id and which field changed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import structlog

from consumer.settings import PixelSettings

__all__ = ["CHECK_INTERVAL_S", "PixelCredentials"]

# How often a pixel's files are stat()ed while it sends (meta.secret_file_check_s): the kubelet
# takes up to a minute or two to project a changed Secret, so seconds here are noise, and a stat
# costs microseconds.
CHECK_INTERVAL_S = 5.0
_FIELDS = ("access_token", "app_secret")
Trigger = Literal["file_changed", "auth_failure"]
log = structlog.get_logger("consumer.credentials")


class _SecretFile:
    """One secret read from ``path``; re-read when the file behind the path changes."""

    def __init__(self, path: Path, value: str) -> None:
        self.path = path
        self.value = value
        self._identity: tuple[int, int, int, int] | None = None

    def refresh(self, *, force: bool) -> bool:
        """Re-read the file if it changed (``force``: whatever its identity); True if the value
        changed. Blocking: run it in a thread."""
        try:
            stat = os.stat(self.path)  # follows the ..data symlink to the current file
            identity = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if identity == self._identity and not force:
                return False
            text = self.path.read_text().strip()
        except OSError:
            return False  # mid-swap or unmounted: keep the value we have
        self._identity = identity
        if not text or text == self.value:
            return False
        self.value = text
        return True


class PixelCredentials:
    """The current token and app secret of one pixel, re-read from their files when they change."""

    def __init__(
        self,
        pixel_id: str,
        pixel: PixelSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self._pixel_id = pixel_id
        self._clock = clock
        self._interval = check_interval_s
        self._next_check = clock()  # the first send looks once: the file may have moved on
        self._lock = asyncio.Lock()
        self._fixed: dict[str, str | None] = {}
        self._files: dict[str, _SecretFile] = {}
        self.generation = 0  # counts the changes read from the files
        for field in _FIELDS:
            secret = getattr(pixel, field)
            value = None if secret is None else secret.get_secret_value()
            path: Path | None = getattr(pixel, f"{field}_file")
            if path is not None and value is not None:
                self._files[field] = _SecretFile(path, value)
            else:
                self._fixed[field] = value

    @property
    def access_token(self) -> str:
        """The token to send now (settings guarantee there is one)."""
        token = self._value("access_token")
        assert token is not None  # noqa: S101  # PixelSettings refuses a pixel without one
        return token

    @property
    def app_secret(self) -> str | None:
        """The app secret for ``appsecret_proof``, if the pixel has one."""
        return self._value("app_secret")

    async def refresh_if_due(self) -> None:
        """Look at the files when the check interval has passed (cheap otherwise)."""
        if self._files and self._clock() >= self._next_check:
            self._next_check = self._clock() + self._interval
            await self._refresh("file_changed", force=False)

    async def reload_after_auth_failure(self, used_token: str) -> bool:
        """Meta refused ``used_token``: re-read the files now. True when the token (or app
        secret) to send differs from what the refused request used, so a retry is worth it."""
        if not self._files:
            return False
        secret_changed = await self._refresh("auth_failure", force=True)
        return secret_changed or self.access_token != used_token

    def _value(self, field: str) -> str | None:
        file = self._files.get(field)
        return file.value if file is not None else self._fixed.get(field)

    async def _refresh(self, trigger: Trigger, *, force: bool) -> bool:
        async with self._lock:
            changed = [
                field
                for field, file in self._files.items()
                if await asyncio.to_thread(file.refresh, force=force)
            ]
        self.generation += bool(changed)
        for field in changed:
            log.info(
                "pixel.credentials_reloaded", pixel_id=self._pixel_id, field=field, trigger=trigger
            )
        return "app_secret" in changed
