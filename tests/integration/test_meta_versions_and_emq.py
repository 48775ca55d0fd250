"""A real consumer against an emulator that refuses its Graph API version, and Meta's own EMQ.

The embedded stack (broker, registry, CAPI emulator) runs the sample: a refused version holds the
pixels (nothing dead-lettered by the send stage, readiness and metrics say why) until the emulator
serves the version again; the Dataset Quality poller's gauges match the emulator's endpoint, and a
pixel whose quality token is refused still gets every event delivered.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from consumer.app import run_consumer
from consumer.core.dataset_quality import parse_answer
from consumer.devstack.broker import EmbeddedBroker, create_topics
from consumer.devstack.emulator import STATE_KEY, EmbeddedEmulator, EmulatorClient, build_app
from consumer.devstack.procs import free_port
from consumer.devstack.sample import DEMO_PIXELS, build_sample, expected_of, produce_sample
from consumer.settings import Settings
from consumer.stats import RunStats
from tests.integration.test_observability import (
    TOPICS,
    Samples,
    consumer_settings,
    get,
    scrape,
    settled,
    until,
)

pytestmark = pytest.mark.integration

SEND_REASONS = {"auth", "rejected", "retries_exhausted"}
QUALITY_TOKEN = "quality-read-token"


@pytest.fixture(name="stack")
def fixture_stack(
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    registry_url: str,
    emulator_factory: Callable[..., EmbeddedEmulator],
) -> tuple[EmbeddedBroker, str, EmbeddedEmulator, dict[str, str]]:
    """Its own broker (fixed topic names), the registry and an emulator with the demo pixels."""
    tokens = {pixel: secrets.token_urlsafe(24) for pixel in DEMO_PIXELS}
    broker = embedded_broker_factory()
    create_topics(broker.bootstrap, TOPICS)
    emulator = emulator_factory(
        {p: {"access_token": t, "app_secret": None} for p, t in tokens.items()}
    )
    return broker, registry_url, emulator, tokens


def _settings(base: Settings, **sections: dict[str, Any]) -> Settings:
    """``base`` with some sections replaced (validated like a file would be)."""
    return Settings(**{**base.model_dump(), **sections})


def _labelled(found: Samples, name: str) -> dict[str, float]:
    """Samples of one metric keyed by their pixel_id label."""
    return {dict(labels)["pixel_id"]: v for (n, labels), v in found.items() if n == name}


async def test_refused_version_holds_then_delivers(
    stack: tuple[EmbeddedBroker, str, EmbeddedEmulator, dict[str, str]],
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
) -> None:
    """While Meta refuses v25.0 nothing is sent or dead-lettered by the send stage, consumption
    pauses, and the hold is reported (log, metrics, /readyz); once the version is served again
    the run ends like a healthy one."""
    broker, registry, emulator, tokens = stack
    sample = build_sample(orders=30, leads=10, seed=5)
    expected = expected_of(sample)
    produce_sample(broker.bootstrap, registry, sample)
    base = consumer_settings(
        broker.bootstrap, registry, emulator.url, tokens, unique_name("g"), kafka_consumer_overrides
    )
    settings = _settings(
        base,
        delivery={"version_hold_s": 0.3, "max_in_flight_events": 10},  # held batches fill it
        dataset_quality={"enabled": False},
    )
    emulator.client.set_versions(refused=["v25.0"])
    stop = asyncio.Event()

    async def held() -> bool:
        found = await scrape(settings)
        return set(DEMO_PIXELS) == {
            p for p, v in _labelled(found, "capi_pixel_version_held").items() if v == 1
        }

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(run_consumer(settings, stop=stop))
        await until(held, "every pixel held")
        await asyncio.sleep(1.0)  # a few holds and refused probes go by
        during = await scrape(settings)
        ready_status, ready_text = await get(settings, "/readyz")
        accepted_during = await asyncio.to_thread(emulator.client.events)
        await asyncio.to_thread(emulator.client.set_versions)  # Meta serves v25.0 again
        await until(lambda: settled(settings, len(sample)), "every sample record settled")
        after = await scrape(settings)
        stop.set()
        stats: RunStats = await task

    assert [] == accepted_during
    sent_during = sum(
        v
        for (n, lb), v in during.items()
        if n == "capi_records_settled_total" and dict(lb)["outcome"] == "sent"
    )
    assert 0 == sent_during
    dead_during = {
        dict(lb)["reason"]
        for (n, lb), v in during.items()
        if n == "capi_records_dead_lettered_total" and v
    }
    assert set() == dead_during & SEND_REASONS
    version_errors = sum(
        v
        for (n, lb), v in during.items()
        if n == "capi_request_errors_total" and dict(lb)["kind"] == "version"
    )
    assert version_errors >= len(DEMO_PIXELS)
    paused = [v for (n, _lb), v in during.items() if n == "capi_paused"]
    assert [1.0] == paused  # the held batches filled the in-flight budget: consumption paused
    assert 503 == ready_status
    assert all(f"pixel {p}: API version refused" in ready_text for p in DEMO_PIXELS)
    assert dict.fromkeys(DEMO_PIXELS, 1.0) == _labelled(during, "capi_pixel_version_held")
    assert dict.fromkeys(DEMO_PIXELS, 0.0) == _labelled(after, "capi_pixel_version_held")
    assert expected.outcomes == stats.outcomes
    assert expected.sent_per_pixel == stats.sent_per_pixel
    assert set() == set(stats.dead_letter_reasons) & SEND_REASONS
    refused_logs = [e for e in logs if e["event"] == "pixel.version_refused"]
    assert set(DEMO_PIXELS) == {e["pixel_id"] for e in refused_logs}
    assert {("error", "v25.0")} == {(e["log_level"], e["api_version"]) for e in refused_logs}


async def test_meta_emq_gauges_follow_the_dataset_quality_api(
    stack: tuple[EmbeddedBroker, str, EmbeddedEmulator, dict[str, str]],
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
) -> None:
    """Meta's EMQ on /metrics equals the emulator's Dataset Quality answer per pixel and event;
    the pixel whose quality token is refused counts failures and still gets all events sent."""
    broker, registry, emulator, tokens = stack
    sample = build_sample(orders=40, leads=10, seed=9)
    expected = expected_of(sample)
    produce_sample(broker.bootstrap, registry, sample)
    good, refused = list(DEMO_PIXELS[:2]), DEMO_PIXELS[2]
    for pixel in DEMO_PIXELS:
        emulator.client.set_quality_token(pixel, QUALITY_TOKEN)
    base = consumer_settings(
        broker.bootstrap, registry, emulator.url, tokens, unique_name("g"), kafka_consumer_overrides
    )
    pixels = base.model_dump()["pixels"]
    pixels[refused]["dataset_quality_token"] = "a-token-meta-refuses"
    settings = _settings(
        base,
        pixels=pixels,
        dataset_quality={
            "interval_s": 0.3,
            "max_backoff_s": 0.5,
            "timeout_s": 2,
            "access_token": QUALITY_TOKEN,
        },
    )

    def answers() -> dict[tuple[str, str], float]:
        scores = {}
        for pixel in good:
            _status, body = emulator.client.dataset_quality(pixel, QUALITY_TOKEN, "v25.0")
            scores.update({(pixel, q.event_name): q.composite_score for q in parse_answer(body)})
        return scores

    async def gauges_match() -> bool:
        found = await scrape(settings)
        gauges = {
            (dict(lb)["pixel_id"], dict(lb)["event_name"]): v
            for (n, lb), v in found.items()
            if n == "capi_meta_emq"
        }
        return bool(gauges) and gauges == await asyncio.to_thread(answers)

    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(settings, stop=stop))
    await until(lambda: settled(settings, len(sample)), "every sample record settled")
    await until(gauges_match, "Meta EMQ gauges equal the emulator's answer")
    found = await scrape(settings)
    stop.set()
    stats: RunStats = await task

    assert set(good) == set(_labelled(found, "capi_meta_emq_last_success_timestamp_seconds"))
    failures = _labelled(found, "capi_meta_emq_poll_failures_total")
    assert failures[refused] >= 1
    assert {0.0} == {failures[p] for p in good}
    assert expected.outcomes == stats.outcomes
    assert expected.sent_per_pixel == stats.sent_per_pixel  # the refused token touched nothing


def test_emulator_dataset_quality_endpoint(emulator_client: EmulatorClient) -> None:
    """The endpoint answers per event name, refuses a wrong token (190), an unknown dataset
    (100/33) and a retired version (2635)."""
    pixel = "1111111111111111"
    status, body = emulator_client.dataset_quality(pixel, "test-token-plain")
    wrong_token = emulator_client.dataset_quality(pixel, "nope")[1]["error"]["code"]
    unknown = emulator_client.dataset_quality("999", "test-token-plain")[1]["error"]
    retired = emulator_client.dataset_quality(pixel, "test-token-plain", "v20.0")[1]["error"]

    assert (200, {"web": []}) == (status, body)
    assert 190 == wrong_token
    assert (100, 33) == (unknown["code"], unknown["error_subcode"])
    assert 2635 == retired["code"]


async def test_emulator_refuses_a_version_from_its_end_date() -> None:
    """In-process with an injected clock: v21.0 is served on 2027-01-20 and refused (2635, the
    whole request, before any rule) from 2027-01-21; the control API validates its lists."""
    now = [datetime.datetime(2027, 1, 20, 12, tzinfo=datetime.UTC).timestamp()]
    app = build_app({"42": {"access_token": "t", "app_secret": None}}, clock=lambda: now[0])
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    body = {"data": [{"event_name": "Purchase"}]}  # invalid on purpose: the version decides first
    try:
        async with aiohttp.ClientSession() as session:
            served = await _post(session, f"{base}/v21.0/42/events", body)
            now[0] += 86_400
            refused = await _post(session, f"{base}/v21.0/42/events", body)
            async with session.put(f"{base}/_emulator/versions", json={"refused": "v25.0"}) as r:
                bad_control = r.status
    finally:
        await runner.cleanup()

    assert (400, 100) == (served[0], served[1]["error"]["code"])
    assert (400, 2635, "OAuthException") == (
        refused[0],
        refused[1]["error"]["code"],
        refused[1]["error"]["type"],
    )
    assert 400 == bad_control
    assert "request.version_deprecated" == app[STATE_KEY].requests[-1]["rule"]


async def _post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=body, headers={"Authorization": "Bearer t"}) as response:
        return response.status, await response.json()


def test_run_refuses_an_ended_version(tmp_path: Path) -> None:
    """``run`` with a pixel on an ended version exits 1 with one line, before any connection."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka: {bootstrap_servers: 127.0.0.1:1}\n"  # nothing listens: the check comes first
        'pixels: {"1000000000000001": {api_version: v20.0}}\n'
    )
    env = {**os.environ, "CAPI_PIXELS__1000000000000001__ACCESS_TOKEN": "t"}

    result = subprocess.run(
        [sys.executable, "-m", "consumer", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )

    assert 1 == result.returncode
    assert [
        "capi-consumer: error: pixels.1000000000000001.api_version: Graph API v20.0 ended on "
        "2026-09-24; Meta refuses it. Set it to v25.0 or newer "
        '(see docs/operations.md "Graph API versions")'
    ] == result.stderr.strip().splitlines()
