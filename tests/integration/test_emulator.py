"""The CAPI emulator as a real process (and once in-process): answers, faults and recordings.

Run with the fixtures plugin: ``pytest -p tests.fixtures.emulator tests/integration/test_emulator.py``
(the root conftest lists it in ``pytest_plugins``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from consumer.devstack.emulator import STATE_KEY, EmbeddedEmulator, EmulatorClient, build_app
from consumer.devstack.procs import free_port, port_open
from consumer.errors import DevStackError
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN, PIXEL_PROOFED

pytestmark = pytest.mark.integration

EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # Meta's official vector
TOKEN = str(EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"])
PROOFED_TOKEN = str(EMULATOR_PIXELS[PIXEL_PROOFED]["access_token"])
APP_SECRET = str(EMULATOR_PIXELS[PIXEL_PROOFED]["app_secret"])
TIMEOUT = aiohttp.ClientTimeout(total=10)


def event(event_id: str, *, event_time: int | None = None, em: str = EM) -> dict[str, Any]:
    """A valid website Purchase stamped now (the child process uses the real clock)."""
    return {
        "event_name": "Purchase",
        "event_time": int(time.time()) if event_time is None else event_time,
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout",
        "event_id": event_id,
        "user_data": {"em": [em], "client_user_agent": "Mozilla/5.0", "fbp": "fb.1.1.1"},
        "custom_data": {"value": 10.0, "currency": "EUR"},
    }


def batch(*event_ids: str) -> dict[str, Any]:
    """A JSON body with one valid event per id."""
    return {"data": [event(event_id) for event_id in event_ids]}


def events_url(base: str, pixel_id: str = PIXEL_PLAIN, version: str = "v26.0") -> str:
    """The events edge of ``pixel_id``."""
    return f"{base}/{version}/{pixel_id}/events"


@pytest.fixture(name="session")
async def fixture_session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str | None = TOKEN
) -> tuple[int, Any]:
    """POST a JSON body with the token in the query; return (status, JSON or text)."""
    params = {} if token is None else {"access_token": token}
    async with session.post(url, json=body, params=params) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def error_of(payload: dict[str, Any]) -> tuple[Any, ...]:
    """(code, subcode, type, is_transient) of a Graph error body."""
    error = payload["error"]
    return error["code"], error.get("error_subcode"), error["type"], error["is_transient"]


class TestAnswers:
    def test_success_shape_and_recording(self, emulator_client: EmulatorClient) -> None:
        """A valid batch gets Meta's success shape and every event is recorded with its pixel."""
        body = {**batch("o-1", "o-2"), "test_event_code": "TEST123", "partner_agent": "capi"}

        status, answer = emulator_client.post_events(PIXEL_PLAIN, body, access_token=TOKEN)

        expected: tuple[int, int, list[str]] = (200, 2, [])
        assert expected == (status, answer["events_received"], answer["messages"])
        assert isinstance(answer["fbtrace_id"], str)
        recorded = emulator_client.events(PIXEL_PLAIN)
        expected_ids = [("o-1", "TEST123", PIXEL_PLAIN), ("o-2", "TEST123", PIXEL_PLAIN)]
        assert expected_ids == [
            (r["event"]["event_id"], r["test_event_code"], r["pixel_id"]) for r in recorded
        ]

    def test_full_batch_over_one_mebibyte(self, emulator_client: EmulatorClient) -> None:
        """A 1000-event batch larger than aiohttp's default 1 MiB body limit is accepted."""
        events = [event(f"big-{i}") for i in range(1000)]
        for item in events:
            item["custom_data"]["description"] = "x" * 1500
        body = {"data": events}

        status, answer = emulator_client.post_events(PIXEL_PLAIN, body, access_token=TOKEN)

        assert len(json.dumps(body)) > 1024 * 1024
        assert (200, 1000) == (status, answer.get("events_received"))

    async def test_sdk_form_encoding_and_bearer(
        self, emulator_client: EmulatorClient, session: aiohttp.ClientSession
    ) -> None:
        """The SDK's form body (data as a list of JSON strings) and a Bearer header both work."""
        wire = json.dumps([json.dumps(event("form-1"))])
        url = events_url(emulator_client.base_url)
        async with session.post(url, data={"data": wire, "access_token": TOKEN}) as form:
            form_status = form.status
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with session.post(url, json=batch("bearer-1"), headers=headers) as bearer:
            bearer_status = bearer.status

        assert (200, 200) == (form_status, bearer_status)
        expected = ["form-1", "bearer-1"]
        assert expected == [r["event"]["event_id"] for r in emulator_client.events()]

    @pytest.mark.parametrize(
        ("pixel_id", "token", "expected"),
        [
            pytest.param(PIXEL_PLAIN, "wrong", (400, 190, None, "OAuthException"), id="bad-token"),
            pytest.param(PIXEL_PLAIN, None, (400, 190, None, "OAuthException"), id="no-token"),
            pytest.param("999", TOKEN, (400, 100, 33, "GraphMethodException"), id="unknown-pixel"),
        ],
    )
    def test_auth_errors(
        self,
        emulator_client: EmulatorClient,
        pixel_id: str,
        token: str | None,
        expected: tuple[int, int, int | None, str],
    ) -> None:
        """Bad tokens answer 190 and unknown pixels 100/33, never transient."""
        status, answer = emulator_client.post_events(pixel_id, batch("a-1"), access_token=token)

        assert (*expected, False) == (status, *error_of(answer))
        assert [] == emulator_client.events()

    def test_appsecret_proof(self, emulator_client: EmulatorClient) -> None:
        """A pixel whose app requires proofs refuses a missing or wrong proof and takes the right one."""
        right = hmac.new(APP_SECRET.encode(), PROOFED_TOKEN.encode(), hashlib.sha256).hexdigest()
        statuses = []
        for proof in (None, "0" * 64, right):
            status, answer = emulator_client.post_events(
                PIXEL_PROOFED, batch("p-1"), access_token=PROOFED_TOKEN, appsecret_proof=proof
            )
            statuses.append((status, answer.get("error", {}).get("code")))

        expected = [(400, 100), (400, 100), (200, None)]
        assert expected == statuses

    def test_one_bad_event_rejects_batch(self, emulator_client: EmulatorClient) -> None:
        """An unhashed email in one event sinks the whole batch; nothing is recorded."""
        body = {"data": [event("ok-1"), event("bad-1", em="john@example.com"), event("ok-2")]}

        status, answer = emulator_client.post_events(PIXEL_PLAIN, body, access_token=TOKEN)

        assert (400, 100, 2804001, "OAuthException", False) == (status, *error_of(answer))
        assert "index 1" in answer["error"]["error_user_msg"]
        assert [] == emulator_client.events()

    def test_stale_event_subcode(self, emulator_client: EmulatorClient) -> None:
        """An event 8 days old answers 2804003 (Event Timestamp Too Old)."""
        stale = event("old-1", event_time=int(time.time()) - 8 * 86_400)

        status, answer = emulator_client.post_events(
            PIXEL_PLAIN, {"data": [stale]}, access_token=TOKEN
        )

        assert (400, 100, 2804003) == (status, *error_of(answer)[:2])

    async def test_bad_version_and_bad_json(
        self, emulator_client: EmulatorClient, session: aiohttp.ClientSession
    ) -> None:
        """A malformed version is a Graph path error; a non-JSON body is code 100."""
        bad_version = await post(session, events_url(emulator_client.base_url, version="26"), {})
        url = events_url(emulator_client.base_url)
        headers = {"Content-Type": "application/json"}
        async with session.post(
            url, data=b"{nope", headers=headers, params={"access_token": TOKEN}
        ) as response:
            not_json = response.status, (await response.json())["error"]["code"]

        assert (400, 2500) == (bad_version[0], bad_version[1]["error"]["code"])
        assert (400, 100) == not_json


class TestFaults:
    async def test_latency(
        self, emulator_client: EmulatorClient, session: aiohttp.ClientSession
    ) -> None:
        """A latency fault delays the answer by at least the injected time, then answers 200."""
        emulator_client.inject("latency", ms=300)
        started = time.monotonic()

        status, _ = await post(session, events_url(emulator_client.base_url), batch("l-1"))

        assert 200 == status
        assert time.monotonic() - started >= 0.3

    async def test_http_5xx(
        self, emulator_client: EmulatorClient, session: aiohttp.ClientSession
    ) -> None:
        """503 answers a transient Graph code 2; 502 answers an HTML page."""
        emulator_client.inject("http_5xx")
        emulator_client.inject("http_5xx", status=502)
        url = events_url(emulator_client.base_url)

        first, first_body = await post(session, url, batch("s-1"))
        second, second_body = await post(session, url, batch("s-1"))

        assert (503, 2, None, "OAuthException", True) == (first, *error_of(first_body))
        assert 502 == second
        assert "Bad Gateway" in second_body

    @pytest.mark.parametrize(
        ("code", "subcode"),
        [
            pytest.param(4, None, id="4"),
            pytest.param(17, 2446079, id="17"),
            pytest.param(32, None, id="32"),
            pytest.param(613, 1487742, id="613"),
            pytest.param(80004, 2446079, id="80004"),
        ],
    )
    async def test_throttle(
        self,
        emulator_client: EmulatorClient,
        session: aiohttp.ClientSession,
        code: int,
        subcode: int | None,
    ) -> None:
        """Throttle codes arrive as HTTP 400, OAuthException, is_transient true."""
        emulator_client.inject("throttle", code=code)

        status, answer = await post(session, events_url(emulator_client.base_url), batch("t-1"))

        assert (400, code, subcode, "OAuthException", True) == (status, *error_of(answer))

    async def test_auth_fault(
        self, emulator_client: EmulatorClient, session: aiohttp.ClientSession
    ) -> None:
        """An auth fault answers 190 even with the right token."""
        emulator_client.inject("auth", subcode=463)

        status, answer = await post(session, events_url(emulator_client.base_url), batch("x-1"))

        assert (400, 190, 463, "OAuthException", False) == (status, *error_of(answer))

    async def test_drop(
        self, emulator_client: EmulatorClient, session: aiohttp.ClientSession
    ) -> None:
        """A drop fault closes the connection: the client sees a disconnect, then recovers."""
        emulator_client.inject("drop")
        url = events_url(emulator_client.base_url)

        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await post(session, url, batch("d-1"))
        status, _ = await post(session, url, batch("d-1"))

        assert 200 == status
        expected = [(None, "drop"), (200, None)]
        assert expected == [(r["status"], r["fault"]) for r in emulator_client.requests()]

    def test_reject_with_subcode(self, emulator_client: EmulatorClient) -> None:
        """A reject fault refuses the whole batch with code 100 and the given subcode."""
        emulator_client.inject("reject", subcode=2804019)

        status, answer = emulator_client.post_events(PIXEL_PLAIN, batch("r-1"), access_token=TOKEN)

        assert (400, 100, 2804019, "OAuthException", False) == (status, *error_of(answer))

    def test_reject_event_allows_bisecting(self, emulator_client: EmulatorClient) -> None:
        """A batch containing the poisoned id is refused whole; its halves tell where it is."""
        emulator_client.inject("reject_event", event_ids=["e-3"], count=-1)

        def send(*ids: str) -> int:
            return emulator_client.post_events(PIXEL_PLAIN, batch(*ids), access_token=TOKEN)[0]

        statuses = [send("e-1", "e-2", "e-3", "e-4"), send("e-1", "e-2"), send("e-3"), send("e-4")]

        assert [400, 200, 400, 200] == statuses
        expected = ["e-1", "e-2", "e-4"]
        assert expected == [r["event"]["event_id"] for r in emulator_client.events()]

    def test_count_semantics(self, emulator_client: EmulatorClient) -> None:
        """count=2 affects two requests; count=-1 lasts until the faults are cleared."""

        def send() -> int:
            return emulator_client.post_events(PIXEL_PLAIN, batch("c-1"), access_token=TOKEN)[0]

        emulator_client.inject("http_5xx", count=2)
        limited = [send(), send(), send()]
        emulator_client.inject("http_5xx", count=-1)
        endless = [send() for _ in range(4)]
        emulator_client.clear_faults()

        assert [503, 503, 200] == limited
        assert [503] * 4 == endless
        assert 200 == send()

    def test_pixel_scoping(self, emulator_client: EmulatorClient) -> None:
        """A fault for one pixel leaves the other pixel's requests alone."""
        emulator_client.inject("http_5xx", pixel_id=PIXEL_PROOFED, count=-1)

        plain, _ = emulator_client.post_events(PIXEL_PLAIN, batch("k-1"), access_token=TOKEN)
        proofed, _ = emulator_client.post_events(
            PIXEL_PROOFED, batch("k-1"), access_token=PROOFED_TOKEN
        )

        assert (200, 503) == (plain, proofed)

    async def test_stall_until_cleared(
        self, emulator_client: EmulatorClient, session: aiohttp.ClientSession
    ) -> None:
        """A stalled request stays unanswered until the faults are cleared, then succeeds."""
        emulator_client.inject("stall")
        pending = asyncio.create_task(
            post(session, events_url(emulator_client.base_url), batch("st-1"))
        )

        await asyncio.sleep(0.3)
        held = not pending.done()
        await asyncio.to_thread(emulator_client.clear_faults)
        status, _ = await asyncio.wait_for(pending, timeout=5)

        assert (True, 200) == (held, status)

    def test_bad_fault_spec_is_refused(self, emulator_client: EmulatorClient) -> None:
        """The control API refuses an unknown fault kind with an error naming it."""
        with pytest.raises(DevStackError, match="kind must be one of"):
            emulator_client.inject("meltdown")


class TestRecordings:
    def test_requests_stats_and_reset(self, emulator_client: EmulatorClient) -> None:
        """Requests and stats count accepted and rejected requests per pixel; reset clears them."""
        emulator_client.post_events(PIXEL_PLAIN, batch("s-1", "s-2"), access_token=TOKEN)
        emulator_client.post_events(PIXEL_PLAIN, batch("s-3"), access_token="nope")

        stats = emulator_client.stats()[PIXEL_PLAIN]
        log = [(r["status"], r["events"], r["error_code"]) for r in emulator_client.requests()]
        emulator_client.reset()

        expected_stats = {"requests": 2, "accepted_requests": 1, "accepted_events": 2}
        assert expected_stats == {key: stats[key] for key in expected_stats}
        assert {"190": 1} == stats["rejected"]
        assert [(200, 2, None), (400, 1, 190)] == log
        assert ([], [], {}) == (
            emulator_client.events(),
            emulator_client.requests(),
            emulator_client.stats(),
        )

    def test_set_pixel_rotates_token(self, emulator_client: EmulatorClient) -> None:
        """After a token rotation the old token is refused and the new one accepted."""
        emulator_client.set_pixel(PIXEL_PLAIN, "rotated-token")

        old, _ = emulator_client.post_events(PIXEL_PLAIN, batch("rot-1"), access_token=TOKEN)
        new, _ = emulator_client.post_events(
            PIXEL_PLAIN, batch("rot-1"), access_token="rotated-token"
        )

        assert (400, 200) == (old, new)

    def test_events_filter_by_pixel(self, emulator_client: EmulatorClient) -> None:
        """GET /_emulator/events?pixel_id= returns only that pixel's events."""
        proof = hmac.new(APP_SECRET.encode(), PROOFED_TOKEN.encode(), hashlib.sha256).hexdigest()
        emulator_client.post_events(PIXEL_PLAIN, batch("f-1"), access_token=TOKEN)
        emulator_client.post_events(
            PIXEL_PROOFED, batch("f-2"), access_token=PROOFED_TOKEN, appsecret_proof=proof
        )

        plain = [r["event"]["event_id"] for r in emulator_client.events(PIXEL_PLAIN)]
        proofed = [r["event"]["event_id"] for r in emulator_client.events(PIXEL_PROOFED)]

        assert (["f-1"], ["f-2"]) == (plain, proofed)


class TestProcess:
    def test_light_mode_counts_without_storing(
        self, emulator_factory: Callable[..., EmbeddedEmulator]
    ) -> None:
        """Light mode accepts what strict mode would refuse, counts it, stores nothing, caps 1000."""
        client = emulator_factory(light=True).client
        loose = {"data": [{"event_name": "anything"}] * 3}

        accepted, answer = client.post_events(PIXEL_PLAIN, loose, access_token=TOKEN)
        too_many, _ = client.post_events(PIXEL_PLAIN, {"data": [{}] * 1001}, access_token=TOKEN)
        bad_token, _ = client.post_events(PIXEL_PLAIN, loose, access_token="nope")

        assert (200, 3) == (accepted, answer["events_received"])
        assert (400, 400) == (too_many, bad_token)
        stats = client.stats()[PIXEL_PLAIN]
        assert ([], []) == (client.events(), client.requests())
        assert (3, 3, {"100": 1, "190": 1}) == (
            stats["accepted_events"],
            stats["requests"],
            stats["rejected"],
        )

    def test_tokens_stay_out_of_argv(self, capi_emulator: EmbeddedEmulator) -> None:
        """The child's command line names no token and its pixels file is gone once it is ready."""
        assert capi_emulator.pid is not None
        argv = Path(f"/proc/{capi_emulator.pid}/cmdline").read_bytes().split(b"\0")
        pixels_file = Path(argv[argv.index(b"--pixels-file") + 1].decode())

        assert all(TOKEN.encode() not in part for part in argv)
        assert not pixels_file.exists()

    def test_main_exits_zero_on_sigterm(self, tmp_path: Path) -> None:
        """``python -m consumer.devstack.emulator`` serves, then exits 0 on SIGTERM."""
        port = free_port()
        pixels = tmp_path / "pixels.json"
        pixels.write_text(json.dumps(EMULATOR_PIXELS))
        argv = [sys.executable, "-m", "consumer.devstack.emulator", "--port", str(port)]
        process = subprocess.Popen([*argv, "--pixels-file", str(pixels)])
        try:
            deadline = time.monotonic() + 20
            while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.05)
            healthy = EmulatorClient(f"http://127.0.0.1:{port}").healthy()
        finally:
            os.kill(process.pid, signal.SIGTERM)
            returncode = process.wait(10)

        assert (True, 0) == (healthy, returncode)

    def test_stopped_emulator_is_gone(self) -> None:
        """stop() ends the child: its port closes and its client reports unhealthy."""
        emulator = EmbeddedEmulator(EMULATOR_PIXELS)
        emulator.start()
        client = emulator.client

        emulator.stop()

        assert (False, None) == (client.healthy(), emulator.pid)


async def test_in_process_with_injected_clock() -> None:
    """In-process, the injected clock decides staleness and stamps the recorded events."""
    frozen = 1_700_000_000.0
    app = build_app({"42": {"access_token": "t", "app_secret": None}}, clock=lambda: frozen)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            url = events_url(f"http://127.0.0.1:{port}", pixel_id="42")
            fresh = await post(session, url, {"data": [event("i-1", event_time=int(frozen))]}, "t")
            now = await post(session, url, batch("i-2"), "t")
    finally:
        await runner.cleanup()

    recorded = app[STATE_KEY].accepted
    assert 200 == fresh[0]
    assert (400, 2804004) == (now[0], now[1]["error"]["error_subcode"])
    assert [("i-1", frozen)] == [(r.event["event_id"], r.received_at) for r in recorded]
