"""Poll Meta's Dataset Quality API for its real Event Match Quality, apart from delivery.

One asyncio task per polled pixel, with its own aiohttp session (its own connections), its own
read-only token (``pixels.<id>.dataset_quality_token`` or ``dataset_quality.access_token``; never
the CAPI token) and its own failure handling: every error is caught here, logged as a warning,
counted, and retried with backoff. Nothing in delivery waits on, or can be failed by, this task.
The scores land in a :class:`MetaEmqBook`, which ``consumer.metrics`` exports.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
import orjson
import structlog

from consumer.core.dataset_quality import FIELDS, QualityAnswerError, parse_answer, request_path
from consumer.core.retry import Backoff
from consumer.settings import DatasetQualitySettings, MetaSettings, PixelSettings

__all__ = ["DatasetQualityPoller", "MetaEmqBook", "quality_tokens"]

log = structlog.get_logger("consumer.emq_poller")
_FIRST_RETRY_S = 60.0  # after a failure, try again within a minute (then double, capped)


@dataclass(slots=True)
class MetaEmqBook:
    """Meta's latest EMQ per (pixel, event name), and each pixel's poll health."""

    scores: dict[tuple[str, str], float] = field(default_factory=dict)
    last_success: dict[str, float] = field(default_factory=dict)  # pixel -> Unix seconds
    failures: Counter[str] = field(default_factory=Counter)  # pixel -> failed polls

    def record(self, pixel_id: str, scores: Mapping[str, float], at: float) -> None:
        """Replace the pixel's scores with a fresh answer."""
        for key in [key for key in self.scores if key[0] == pixel_id]:
            del self.scores[key]
        self.scores.update({(pixel_id, name): score for name, score in scores.items()})
        self.last_success[pixel_id] = at


def quality_tokens(
    pixels: Mapping[str, PixelSettings], settings: DatasetQualitySettings
) -> dict[str, str]:
    """The token to poll each pixel with; pixels without one (and everything, when off) are not polled."""
    if not settings.enabled:
        return {}
    shared = settings.access_token
    tokens = {}
    for pixel_id, pixel in pixels.items():
        token = pixel.dataset_quality_token or shared
        if token is not None:
            tokens[pixel_id] = token.get_secret_value()
    return tokens


class DatasetQualityPoller:
    """Polls each pixel every ``interval_s``; after failures, sooner, with jittered backoff."""

    def __init__(
        self,
        meta: MetaSettings,
        pixels: Mapping[str, PixelSettings],
        settings: DatasetQualitySettings,
        book: MetaEmqBook,
        *,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._meta = meta
        self._versions = {pixel_id: pixel.api_version for pixel_id, pixel in pixels.items()}
        self._tokens = quality_tokens(pixels, settings)
        self._settings = settings
        self._book = book
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        first = min(settings.interval_s, _FIRST_RETRY_S)
        self._backoff = Backoff(first, max(first, settings.max_backoff_s), math.inf)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def polled_pixels(self) -> list[str]:
        return sorted(self._tokens)

    def start(self) -> None:
        """Start one task per pixel that has a token (none when the feature is off)."""
        if not self._tokens:
            log.info("dataset_quality.off", reason="disabled or no dataset_quality token")
            return
        self._tasks = [asyncio.create_task(self._loop(pixel)) for pixel in self.polled_pixels]
        log.info("dataset_quality.polling", pixels=self.polled_pixels)

    async def stop(self) -> None:
        """Cancel the polling tasks and close the session."""
        self._stopping = True  # ends a loop whose cancellation aiohttp's timeout swallowed
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _loop(self, pixel_id: str) -> None:
        failures = 0
        while not self._stopping:
            if await self.poll(pixel_id):
                failures = 0
                delay = self._settings.interval_s
            else:
                delay = self._backoff.delay(failures, self._rng)
                failures += 1
            if not self._stopping:
                await self._sleep(delay)

    async def poll(self, pixel_id: str) -> bool:
        """One poll of one pixel; True on success. Never raises (a bug here must not stop us)."""
        try:
            scores = await self._fetch(pixel_id)
        except Exception as exc:  # isolation: any failure is logged and retried
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # stop() while aiohttp timed out
                raise asyncio.CancelledError from exc
            self._book.failures[pixel_id] += 1
            log.warning(
                "dataset_quality.failed",
                pixel_id=pixel_id,
                error=str(exc)[:200] or type(exc).__name__,
                code=getattr(exc, "code", None),
            )
            return False
        self._book.record(pixel_id, scores, self._wall_clock())
        log.info("dataset_quality.polled", pixel_id=pixel_id, events=len(scores))
        return True

    async def _fetch(self, pixel_id: str) -> dict[str, float]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
                headers={"User-Agent": self._meta.user_agent},
            )
        url = self._meta.base_url.rstrip("/") + request_path(self._versions[pixel_id])
        params = {"dataset_id": pixel_id, "fields": FIELDS}  # every source, not only ours
        headers = {"Authorization": f"Bearer {self._tokens[pixel_id]}"}
        async with self._session.get(url, params=params, headers=headers) as response:
            raw = await response.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise QualityAnswerError(f"HTTP {response.status}: not JSON") from None
        return {score.event_name: score.composite_score for score in parse_answer(body)}
