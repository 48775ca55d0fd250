"""Drive a running CAPI emulator: a synchronous stdlib client and a child-process launcher.

Both are for tests, the demo and benchmarks. The client uses ``urllib`` only, so it works from
synchronous code and from fixtures without an event loop.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from consumer.devstack.service import EmbeddedService
from consumer.errors import DevStackError

__all__ = ["DEFAULT_API_VERSION", "EmbeddedEmulator", "EmulatorClient"]

DEFAULT_API_VERSION = "v26.0"  # the version of the pinned SDK (capi.md §1.1)


class EmulatorClient:
    """Synchronous client of one emulator's control API (and of its events edge, for tests)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"the emulator URL must be http(s), not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def healthy(self) -> bool:
        """True when ``GET /_emulator/health`` answers 200."""
        try:
            return self._call("GET", "/_emulator/health")[0] == 200
        except (OSError, DevStackError):
            return False

    def events(self, pixel_id: str | None = None) -> list[dict[str, Any]]:
        """Accepted events ``{pixel_id, test_event_code, received_at, event}``, oldest first."""
        query = "" if pixel_id is None else "?" + urllib.parse.urlencode({"pixel_id": pixel_id})
        result: list[dict[str, Any]] = self._ok("GET", "/_emulator/events" + query)
        return result

    def requests(self) -> list[dict[str, Any]]:
        """The request log: pixel, status, events, error code/subcode, rule and fault."""
        result: list[dict[str, Any]] = self._ok("GET", "/_emulator/requests")
        return result

    def stats(self) -> dict[str, Any]:
        """Counters per pixel: requests, accepted requests/events, rejected by code, dropped."""
        result: dict[str, Any] = self._ok("GET", "/_emulator/stats")
        return result

    def inject(self, kind: str, pixel_id: str = "*", **params: Any) -> None:
        """Activate a fault (see :mod:`emulator_faults` for kinds and parameters)."""
        self._ok("POST", "/_emulator/faults", {"kind": kind, "pixel_id": pixel_id, **params})

    def clear_faults(self, pixel_id: str | None = None) -> None:
        """Clear faults (all, or one pixel's) and release stalled requests."""
        query = "" if pixel_id is None else "?" + urllib.parse.urlencode({"pixel_id": pixel_id})
        self._ok("DELETE", "/_emulator/faults" + query)

    def reset(self) -> None:
        """Forget accepted events, the request log and the stats."""
        self._ok("DELETE", "/_emulator/events")

    def set_pixel(self, pixel_id: str, access_token: str, app_secret: str | None = None) -> None:
        """Set or replace a pixel's credentials."""
        spec = {"access_token": access_token, "app_secret": app_secret}
        self._ok("PUT", f"/_emulator/pixels/{urllib.parse.quote(pixel_id)}", spec)

    def set_versions(self, refused: Sequence[str] = (), accepted: Sequence[str] = ()) -> None:
        """Force Graph API versions refused (code 2635) or accepted; both empty: the schedule."""
        self._ok(
            "PUT", "/_emulator/versions", {"refused": list(refused), "accepted": list(accepted)}
        )

    def set_quality_token(self, pixel_id: str, access_token: str) -> None:
        """The token the Dataset Quality API accepts for ``pixel_id``."""
        path = f"/_emulator/dataset_quality/{urllib.parse.quote(pixel_id)}"
        self._ok("PUT", path, {"access_token": access_token})

    def dataset_quality(
        self, pixel_id: str, access_token: str, version: str = DEFAULT_API_VERSION
    ) -> tuple[int, dict[str, Any]]:
        """``GET /{version}/dataset_quality`` for one pixel; (status, JSON body)."""
        query = urllib.parse.urlencode({"dataset_id": pixel_id, "access_token": access_token})
        status, payload = self._call("GET", f"/{version}/dataset_quality?{query}")
        return status, payload if isinstance(payload, dict) else {"raw": payload}

    def post_events(
        self,
        pixel_id: str,
        body: Mapping[str, Any],
        *,
        access_token: str | None = None,
        appsecret_proof: str | None = None,
        version: str = DEFAULT_API_VERSION,
    ) -> tuple[int, dict[str, Any]]:
        """Send a CAPI request as JSON with the token in the query; return (status, JSON body)."""
        params = {"access_token": access_token, "appsecret_proof": appsecret_proof}
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        path = f"/{version}/{urllib.parse.quote(pixel_id)}/events" + (f"?{query}" if query else "")
        status, payload = self._call("POST", path, dict(body))
        return status, payload if isinstance(payload, dict) else {"raw": payload}

    def _ok(self, method: str, path: str, payload: object = None) -> Any:
        """Call the control API and return its JSON, or raise DevStackError on a non-2xx."""
        status, result = self._call(method, path, payload)
        if not 200 <= status < 300:
            raise DevStackError(f"emulator {method} {path} answered {status}: {result}")
        return result

    def _call(self, method: str, path: str, payload: object = None) -> tuple[int, Any]:
        """One HTTP exchange; returns the status and the decoded JSON (or text) body."""
        data = None if payload is None else json.dumps(payload).encode()
        url = self.base_url + path
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http only)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            # The scheme is checked to be http(s) in __init__, so S310's file:// risk is absent.
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _decode(exc.read())


def _decode(raw: bytes) -> Any:
    """JSON if the body is JSON, else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


class EmbeddedEmulator(EmbeddedService):
    """The emulator as a child process on loopback, started and stopped by PID.

    Pixels (with their tokens) reach the child through a private temp file that is deleted once
    the start attempt is over (ready or not), never through argv, so tokens do not show in ``ps``.
    """

    process_name = "capi-emulator"
    start_timeout_s = 20.0  # a cold Python start plus aiohttp import takes a second or two

    def __init__(
        self,
        pixels: Mapping[str, Mapping[str, str | None]],
        *,
        port: int | None = None,
        light: bool = False,
        host: str = "127.0.0.1",
        future_tolerance_s: float | None = None,
    ) -> None:
        super().__init__(port=port, host=host)
        self.pixels = {pixel_id: dict(auth) for pixel_id, auth in pixels.items()}
        self.light = light
        self.future_tolerance_s = future_tolerance_s
        self._pixels_file: Path | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT`` (the port is kept across restarts)."""
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return self.url

    @property
    def client(self) -> EmulatorClient:
        """A client of this emulator's control API."""
        return EmulatorClient(self.url)

    def _command(self) -> tuple[list[str], dict[str, str]]:
        """The child's command line: no secrets in it, only the pixels file's path."""
        self._pixels_file = _write_private_json(self.pixels)
        argv = [sys.executable, "-m", "consumer.devstack.emulator", "--host", self.host]
        argv += ["--port", str(self.port), "--pixels-file", str(self._pixels_file)]
        if self.light:
            argv.append("--light")
        if self.future_tolerance_s is not None:
            argv += ["--future-tolerance-s", str(self.future_tolerance_s)]
        return argv, self._environment()

    def _ready(self) -> bool:
        return self.client.healthy()

    def _launched(self) -> None:
        """The child has read its pixels (or failed): remove the file holding the tokens."""
        pixels_file, self._pixels_file = self._pixels_file, None
        if pixels_file is not None:
            pixels_file.unlink(missing_ok=True)


def _write_private_json(payload: object) -> Path:
    """Write ``payload`` to a new temp file readable only by this user (mkstemp is 0600)."""
    fd, name = tempfile.mkstemp(prefix="capi-emulator-pixels-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle)
    return Path(name)
