"""The HTTP shell: POST one batch to the Conversions API through one pooled aiohttp session.

Only this module speaks HTTP to Meta. It turns every answer, timeout and connection error into
a ``GraphVerdict``; deciding what to do about it is the deliverer's job. One exception: when Meta
refuses a token that comes from a file, the file is re-read and, if the token was rotated, the
request is sent once more with the new one (:mod:`consumer.pixel_credentials`), so a rotation
never dead-letters a cool-down's worth of events.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TypeVar

import aiohttp

from consumer import __version__
from consumer.core.batching import Batch, request_body
from consumer.core.graph_errors import GraphVerdict, Kind, classify, transport_failure
from consumer.pixel_credentials import PixelCredentials
from consumer.settings import MetaSettings, PixelSettings

__all__ = ["CapiSender", "appsecret_proof"]

T = TypeVar("T")
_POOL_SIZE = 64  # connections across all pixels; Meta serves every pixel from one host


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """Hex HMAC-SHA256 of the access token keyed with the app secret (capi.md §1.2)."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class CapiSender:
    """POSTs batches; one ``aiohttp.ClientSession`` for the process, created on first use."""

    def __init__(self, meta: MetaSettings, pixels: dict[str, PixelSettings]) -> None:
        self._meta = meta
        self._pixels = pixels
        self._credentials = {
            pixel_id: PixelCredentials(pixel_id, pixel, check_interval_s=meta.secret_file_check_s)
            for pixel_id, pixel in pixels.items()
        }
        self._refused: dict[str, int] = {}  # pixel -> generation of the credentials Meta refused
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=meta.request_timeout_s)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_POOL_SIZE),
                timeout=self._timeout,
                headers={"User-Agent": f"{self._meta.user_agent}/{__version__}"},
            )
        return self._session

    async def post(self, batch: Batch[T]) -> GraphVerdict:
        """One attempt (two when Meta refused a token its file has since replaced). Never raises
        for HTTP or network trouble: that is a verdict too."""
        credentials = self._credentials[batch.pixel_id]
        await credentials.refresh_if_due()
        token = credentials.access_token
        verdict = await self._post_once(batch, token, credentials.app_secret)
        if verdict.kind is Kind.AUTH and await credentials.reload_after_auth_failure(token):
            verdict = await self._post_once(batch, credentials.access_token, credentials.app_secret)
        if verdict.kind is Kind.AUTH:
            self._refused[batch.pixel_id] = credentials.generation
        return verdict

    async def token_replaced(self, pixel_id: str) -> bool:
        """True once the pixel's secret files hold other credentials than the ones Meta last
        refused (the files are looked at every ``meta.secret_file_check_s``)."""
        credentials = self._credentials[pixel_id]
        await credentials.refresh_if_due()
        refused = self._refused.get(pixel_id)
        return refused is not None and credentials.generation != refused

    async def _post_once(self, batch: Batch[T], token: str, app_secret: str | None) -> GraphVerdict:
        pixel = self._pixels[batch.pixel_id]
        url = f"{self._meta.base_url.rstrip('/')}/{pixel.api_version}/{batch.pixel_id}/events"
        headers, params = self._auth(token, app_secret)
        try:
            async with self._get_session().post(
                url,
                data=request_body(batch, self._meta.partner_agent),
                headers=headers,
                params=params,
            ) as response:
                return classify(response.status, await response.read())
        except TimeoutError:
            return transport_failure("timeout")
        except aiohttp.ClientError as exc:
            return transport_failure(type(exc).__name__)

    @staticmethod
    def _auth(token: str, app_secret: str | None) -> tuple[dict[str, str], dict[str, str]]:
        """Token in the Authorization header (never in a URL that could reach a log)."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        params = {}
        if app_secret is not None:
            params["appsecret_proof"] = appsecret_proof(token, app_secret)
        return headers, params

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
