"""End to end: events per second from the topic to the CAPI emulator, beside a bare consume loop.

Both read the same topic of N Confluent-framed orders in one run (default 1M, so the consumer
runs with 1M records waiting). The bare loop reads all N; the consumer runs as its own process
(``capi-consumer run``) against the emulator in light accept mode and is measured over its first
``BENCH_E2E_MEASURE`` events (default 150k); its peak RSS is sampled from /proc meanwhile.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from confluent_kafka import Consumer

from consumer.devstack.broker import EmbeddedBroker, client_overrides, create_topics
from consumer.devstack.emulator import EmbeddedEmulator
from consumer.devstack.registry import EmbeddedRegistry
from consumer.devstack.sample import DEMO_PIXELS, produce_bulk_orders

RECORDS = int(os.environ.get("BENCH_E2E_RECORDS", "1000000"))
MEASURE = min(RECORDS, int(os.environ.get("BENCH_E2E_MEASURE", "150000")))
TOPIC = "bench-orders"


def run() -> None:
    tokens = {pixel: secrets.token_hex(8) for pixel in DEMO_PIXELS}
    with EmbeddedBroker() as broker, EmbeddedRegistry() as registry:
        bootstrap, registry_url = broker.start(), registry.start()
        create_topics(bootstrap, {TOPIC: 4, TOPIC + ".dlq": 1, "bench-retry": 1})
        started = time.perf_counter()
        produce_bulk_orders(bootstrap, registry_url, TOPIC, RECORDS)
        print(f"   produced {RECORDS:,} orders in {time.perf_counter() - started:.1f}s")
        raw = _raw_consume_rate(bootstrap)
        with EmbeddedEmulator(
            {p: {"access_token": t} for p, t in tokens.items()}, light=True
        ) as emulator:
            rate, peak = _e2e_rate(bootstrap, registry_url, emulator, tokens)
    print(f"   bare confluent-kafka consume loop: {raw:,.0f} records/s")
    print(
        f"   end to end (decode, map, hash, dedup, batch, send), first {MEASURE:,} events: {rate:,.0f} events/s "
        f"= {rate / raw:.1%} of raw consume"
    )
    print(f"   consumer peak RSS: {peak:.0f} MB with {RECORDS:,} records waiting")


def _raw_consume_rate(bootstrap: str) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{secrets.token_hex(4)}",
            **client_overrides(),
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([TOPIC])
    count, first = 0, None
    while count < RECORDS:
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                first = first or time.perf_counter()
                count += 1
    elapsed = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return count / elapsed


def _e2e_rate(
    bootstrap: str, registry_url: str, emulator: EmbeddedEmulator, tokens: dict[str, str]
) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    config = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": f"bench-{secrets.token_hex(4)}",
            "topics": {TOPIC: {"event_type": "order"}},
            "retry_topic": "bench-retry",
            "consumer": {k.replace(".", "_"): v for k, v in client_overrides().items()},
        },
        "schema_registry": {"url": registry_url},
        "meta": {"base_url": emulator.url},
        "pixels": {pixel: {} for pixel in tokens},
        "batch": {"max_events": 1000},
        "dedup": {"path": str(folder / "dedup")},
        "observability": {"log_level": "warning"},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, **{f"CAPI_PIXELS__{p}__ACCESS_TOKEN": t for p, t in tokens.items()}}
    process = subprocess.Popen(
        [sys.executable, "-m", "consumer", "run", "--config", str(folder / "config.yaml")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return _measure(process.pid, emulator)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def _measure(pid: int, emulator: EmbeddedEmulator) -> tuple[float, float]:
    peak, first, accepted = 0.0, None, 0
    deadline = time.monotonic() + 600
    while accepted < MEASURE and time.monotonic() < deadline:
        peak = max(peak, _rss_mb(pid))
        accepted = sum(pixel["accepted_events"] for pixel in emulator.client.stats().values())
        if accepted and first is None:
            first = time.perf_counter()
        time.sleep(0.2)
    return accepted / (time.perf_counter() - (first or time.perf_counter())), peak


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
