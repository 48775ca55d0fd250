"""The Dataset Quality poller against the emulator and a stalled server: scores, failures, backoff."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

import pytest
import structlog
from aiohttp import web

from consumer.core.dataset_quality import parse_answer
from consumer.devstack.emulator import EmulatorClient
from consumer.devstack.procs import free_port
from consumer.emq_poller import DatasetQualityPoller, MetaEmqBook
from consumer.settings import DatasetQualitySettings, MetaSettings, PixelSettings
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN

QUALITY_TOKEN = "quality-token"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _website_event(n: int, with_phone: bool) -> dict[str, object]:
    user_data: dict[str, object] = {"em": [_sha(f"u{n}@example.com")], "client_user_agent": "UA"}
    if with_phone:
        user_data["ph"] = [_sha(f"1650555{n:04d}")]
    return {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "event_id": f"order_{n}",
        "action_source": "website",
        "event_source_url": "https://shop.example.com/checkout",
        "user_data": user_data,
        "custom_data": {"value": 10.0, "currency": "USD"},
    }


def _poller(
    base_url: str, token: str, book: MetaEmqBook, **settings: float
) -> DatasetQualityPoller:
    pixels = {
        PIXEL_PLAIN: PixelSettings(
            access_token=EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"],  # type: ignore[arg-type]
            dataset_quality_token=token,  # type: ignore[arg-type]
            api_version="v25.0",
        )
    }
    quality = DatasetQualitySettings(**settings)  # type: ignore[arg-type]
    return DatasetQualityPoller(MetaSettings(base_url=base_url), pixels, quality, book)


@pytest.fixture(name="stalled_url")
async def fixture_stalled_url() -> AsyncIterator[str]:
    """A server that accepts the request and never answers in time."""

    async def stall(_request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="{}")

    app = web.Application()
    app.router.add_get("/{version}/dataset_quality", stall)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


class TestPoll:
    async def test_scores_equal_the_emulators_answer(self, emulator_client: EmulatorClient) -> None:
        """One poll stores Meta's (the emulator's) score per event name and the time of success."""
        emulator_client.set_quality_token(PIXEL_PLAIN, QUALITY_TOKEN)
        body = {"data": [_website_event(n, with_phone=n % 2 == 0) for n in range(4)]}
        token = str(EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"])
        assert 200 == emulator_client.post_events(PIXEL_PLAIN, body, access_token=token)[0]
        book = MetaEmqBook()
        poller = _poller(emulator_client.base_url, QUALITY_TOKEN, book)
        try:
            ok = await poller.poll(PIXEL_PLAIN)
        finally:
            await poller.stop()

        _status, answer = emulator_client.dataset_quality(PIXEL_PLAIN, QUALITY_TOKEN, "v25.0")
        expected = {(PIXEL_PLAIN, q.event_name): q.composite_score for q in parse_answer(answer)}
        assert (True, expected) == (ok, book.scores)
        assert [PIXEL_PLAIN] == list(book.last_success)

    async def test_refused_token_is_a_logged_failure(self, emulator_client: EmulatorClient) -> None:
        """A token Meta refuses: False, one failure counted, a warning with Graph's code, no token."""
        book = MetaEmqBook()
        poller = _poller(emulator_client.base_url, "not-the-quality-token", book)
        try:
            with structlog.testing.capture_logs() as logs:
                ok = await poller.poll(PIXEL_PLAIN)
        finally:
            await poller.stop()

        failed = [e for e in logs if e["event"] == "dataset_quality.failed"]
        assert (False, 1, {}) == (ok, book.failures[PIXEL_PLAIN], book.scores)
        assert [("warning", 190)] == [(e["log_level"], e["code"]) for e in failed]
        assert "not-the-quality-token" not in repr(logs)

    async def test_stalled_endpoint_times_out(self, stalled_url: str) -> None:
        """A server that never answers costs one timeout, not a hang."""
        book = MetaEmqBook()
        poller = _poller(stalled_url, QUALITY_TOKEN, book, timeout_s=0.3)
        started = time.monotonic()
        try:
            ok = await poller.poll(PIXEL_PLAIN)
        finally:
            await poller.stop()

        assert (False, 1) == (ok, book.failures[PIXEL_PLAIN])
        assert time.monotonic() - started < 5


class TestSchedule:
    async def test_failures_back_off_and_success_waits_the_interval(
        self, emulator_client: EmulatorClient
    ) -> None:
        """After failures the next poll comes within the doubling backoff; after a success, the interval."""
        delays: list[float] = []
        fixed = asyncio.Event()

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) == 3:  # two failures so far: let Meta accept the token
                await asyncio.to_thread(
                    emulator_client.set_quality_token, PIXEL_PLAIN, QUALITY_TOKEN
                )
            if len(delays) == 4:
                fixed.set()
                await asyncio.Event().wait()  # park the loop until stop()
            await asyncio.sleep(0)

        emulator_client.set_quality_token(PIXEL_PLAIN, "something-else")
        book = MetaEmqBook()
        pixels = {
            PIXEL_PLAIN: PixelSettings(
                access_token="capi",  # type: ignore[arg-type]
                dataset_quality_token=QUALITY_TOKEN,  # type: ignore[arg-type]
                api_version="v25.0",
            )
        }
        settings = DatasetQualitySettings(interval_s=120, max_backoff_s=600)
        poller = DatasetQualityPoller(
            MetaSettings(base_url=emulator_client.base_url), pixels, settings, book, sleep=sleep
        )
        poller.start()
        try:
            await asyncio.wait_for(fixed.wait(), timeout=10)
        finally:
            await poller.stop()

        assert 0 <= delays[0] <= 60 and 0 <= delays[1] <= 120 and 0 <= delays[2] <= 240
        assert 120 == delays[3]
        assert (3, PIXEL_PLAIN in book.last_success) == (book.failures[PIXEL_PLAIN], True)
