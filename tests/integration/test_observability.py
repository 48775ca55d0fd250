"""Metrics, probes and logs of a real consumer on the embedded stack (broker, registry, emulator)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import aiohttp
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from consumer.app import run_consumer
from consumer.devstack.broker import EmbeddedBroker, create_topics
from consumer.devstack.procs import free_port
from consumer.devstack.sample import DEMO_PIXELS, build_sample, expected_of, produce_sample
from consumer.logs import configure_logging
from consumer.settings import Settings
from consumer.stats import RunStats

pytestmark = pytest.mark.integration

TOPICS = {"orders": 2, "leads": 1, "capi.retry": 1, "orders.dlq": 1, "leads.dlq": 1}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def consumer_settings(
    bootstrap: str,
    registry: str,
    emulator: str,
    tokens: Mapping[str, str],
    group: str,
    overrides: Mapping[str, str],
) -> Settings:
    """Settings like config/example.yaml, pointed at the embedded stack, health on a free port."""
    consumer = {key.replace(".", "_"): value for key, value in overrides.items()}
    consumer["reconnect_backoff_max_ms"] = "500"  # come back quickly after the broker restarts
    return Settings(
        kafka={"bootstrap_servers": bootstrap, "group_id": group, "consumer": consumer},
        schema_registry={"url": registry},
        meta={"base_url": emulator},
        pixels={
            pixel: {"access_token": token}
            | ({"test_event_code": "TEST4242"} if pixel == DEMO_PIXELS[1] else {})
            for pixel, token in tokens.items()
        },
        tenants={"shop-eu": DEMO_PIXELS[2]},
        batch={"linger_s": 0.05},
        dedup={"backend": "memory"},  # a fresh window per test
        observability={"port": free_port(), "kafka_statistics_interval_s": 0.2},
    )


async def get(settings: Settings, path: str) -> tuple[int, str]:
    """GET a path of the consumer's health server."""
    url = f"http://127.0.0.1:{settings.observability.port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def scrape(settings: Settings) -> Samples:
    """The consumer's /metrics as {(sample name, sorted labels): value}."""
    _status, text = await get(settings, "/metrics")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def until(check: Callable[[], Coroutine[Any, Any, bool]], what: str) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after a generous deadline."""
    for _ in range(600):
        try:
            if await check():
                return
        except aiohttp.ClientError:
            pass  # the server is not up yet
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def settled(settings: Settings, total: int) -> bool:
    """True once the consumer's metrics say ``total`` records are settled."""
    found = await scrape(settings)
    return total == sum(v for (n, _), v in found.items() if n == "capi_records_settled_total")


async def caught_up(settings: Settings) -> bool:
    """True once librdkafka reports lag 0 for every partition of orders and leads."""
    found = await scrape(settings)
    lag = {
        (dict(labels)["topic"], dict(labels)["partition"]): value
        for (name, labels), value in found.items()
        if name == "capi_consumer_lag"
    }
    wanted = {("orders", "0"), ("orders", "1"), ("leads", "0")}
    return wanted <= set(lag) and {0.0} == {lag[tp] for tp in wanted}


@pytest.fixture(name="stack")
def fixture_stack(
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    registry_url: str,
    emulator_factory: Callable[..., Any],
) -> tuple[EmbeddedBroker, str, str, dict[str, str]]:
    """Its own broker (the sample uses fixed topic names), the registry and an emulator."""
    tokens = {pixel: secrets.token_urlsafe(24) for pixel in DEMO_PIXELS}
    broker = embedded_broker_factory()
    create_topics(broker.bootstrap, TOPICS)
    emulator = emulator_factory(
        {p: {"access_token": t, "app_secret": None} for p, t in tokens.items()}
    )
    return broker, registry_url, emulator.url, tokens


async def test_metrics_count_what_the_run_did(
    stack: tuple[EmbeddedBroker, str, str, dict[str, str]],
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
) -> None:
    """A scrape during a run shows the sample's outcomes, per-pixel sends, reasons and latencies."""
    broker, registry, emulator, tokens = stack
    sample = build_sample(orders=30, leads=10, seed=3)
    expected = expected_of(sample)
    produce_sample(broker.bootstrap, registry, sample)
    settings = consumer_settings(
        broker.bootstrap, registry, emulator, tokens, unique_name("g"), kafka_consumer_overrides
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(settings, stop=stop))
    await until(lambda: settled(settings, len(sample)), "every sample record settled")
    await until(lambda: caught_up(settings), "lag 0 on every source partition")
    found = await scrape(settings)
    stop.set()
    stats: RunStats = await task

    outcomes = {
        dict(labels)["outcome"]: value
        for (name, labels), value in found.items()
        if name == "capi_records_settled_total"
    }
    sent = {
        dict(labels)["pixel_id"]: value
        for (name, labels), value in found.items()
        if name == "capi_events_sent_total"
    }
    batches = sum(v for (n, _), v in found.items() if n == "capi_send_latency_seconds_count")
    assert dict(expected.outcomes) == outcomes
    assert dict(expected.sent_per_pixel) == sent
    assert len(sample) == found[("capi_records_consumed_total", ())]
    assert len(sample) - 1 == found[("capi_records_decoded_total", ())]  # one malformed record
    assert 1 == found[("capi_records_dead_lettered_total", (("reason", "decode.unknown_magic"),))]
    assert sum(stats.batches_per_pixel.values()) == batches
    assert 0 == found[("capi_in_flight_events", ())]
    assert 1 == found[("capi_ready", ())]
    assert found[("capi_dedup_latency_seconds_count", (("operation", "claim"),))] >= 1


async def test_readiness_follows_the_broker(
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    registry_url: str,
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
) -> None:
    """/readyz turns 503 when the broker stops and 200 again once it is back; /livez stays 200."""
    broker = embedded_broker_factory()
    create_topics(broker.bootstrap, TOPICS)
    tokens = dict.fromkeys(DEMO_PIXELS, "unused-token")
    settings = consumer_settings(
        broker.bootstrap,
        registry_url,
        "http://127.0.0.1:1",
        tokens,
        unique_name("g"),
        kafka_consumer_overrides,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(settings, stop=stop))

    async def ready(expected: int) -> bool:
        return expected == (await get(settings, "/readyz"))[0]

    await until(lambda: ready(200), "ready after the first assignment")
    await asyncio.to_thread(broker.stop)
    await until(lambda: ready(503), "unready with the broker stopped")
    down_status, down_body = await get(settings, "/readyz")
    live_while_down = (await get(settings, "/livez"))[0]
    await asyncio.to_thread(broker.start)
    await asyncio.to_thread(create_topics, broker.bootstrap, TOPICS)  # memory storage was lost
    await until(lambda: ready(200), "ready again once the broker is back")
    stop.set()
    await task

    assert (503, 200) == (down_status, live_while_down)
    assert down_body.startswith("broker: ")


async def test_logs_carry_no_token_and_no_raw_email(
    stack: tuple[EmbeddedBroker, str, str, dict[str, str]],
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Debug-level JSON logs of a run with auth failures hold neither tokens nor customer emails."""
    broker, registry, emulator, tokens = stack
    sample = build_sample(orders=20, leads=8, seed=11)
    produce_sample(broker.bootstrap, registry, sample)
    wrong = {**tokens, DEMO_PIXELS[0]: "wrong-" + secrets.token_urlsafe(16)}  # auth failures too
    settings = consumer_settings(
        broker.bootstrap, registry, emulator, wrong, unique_name("g"), kafka_consumer_overrides
    )
    configure_logging("json", "debug", cache=False)
    try:
        stats = await run_consumer(settings, stop_when=lambda p: p.stats.settled >= len(sample))
    finally:
        structlog.reset_defaults()
    captured = capfd.readouterr()
    output = captured.out + captured.err
    emails = {
        record.value["customer"]["email"]
        for record in sample
        if isinstance(record.value, dict) and (record.value.get("customer") or {}).get("email")
    }

    assert stats.dead_letter_reasons["auth"] > 0  # the wrong token was really used
    assert "batch.delivered" in output
    assert "record.dead_lettered" in output
    assert [] == [token for token in wrong.values() if token in output]
    assert [] == sorted(email for email in emails if email in output or email.lower() in output)


async def test_a_taken_port_does_not_stop_consumption(
    embedded_broker_factory: Callable[..., EmbeddedBroker],
    registry_url: str,
    unique_name: Callable[..., str],
    kafka_consumer_overrides: dict[str, str],
) -> None:
    """When the health port is taken the consumer still runs, and says so in one log line."""
    broker = embedded_broker_factory()
    create_topics(broker.bootstrap, TOPICS)
    settings = consumer_settings(
        broker.bootstrap,
        registry_url,
        "http://127.0.0.1:1",
        dict.fromkeys(DEMO_PIXELS, "unused-token"),
        unique_name("g"),
        kafka_consumer_overrides,
    )
    blocker = await asyncio.start_server(
        lambda _r, w: w.close(), "127.0.0.1", settings.observability.port
    )
    try:
        with structlog.testing.capture_logs() as logs:
            stats = await run_consumer(settings, stop_when=lambda p: p.assignment_received)
    finally:
        blocker.close()
        await blocker.wait_closed()

    assert 0 == stats.consumed
    assert ["health.unavailable"] == [e["event"] for e in logs if e["event"].startswith("health.")]
