"""The dedup window in a running consumer: a Redis outage, and a rebalance between two processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from consumer.app import run_consumer
from consumer.devstack.broker import EmbeddedBroker
from consumer.devstack.emulator_client import EmbeddedEmulator
from consumer.devstack.redis_server import EmbeddedRedis
from consumer.devstack.sample import SampleRecord, build_sample, expected_of
from consumer.pipeline import Pipeline
from consumer.settings import load_settings
from tests.integration.dedup_support import (
    CONFIG,
    consumer_env,
    emulator_pixels,
    produce,
    received_counts,
    wait_until,
)

pytestmark = pytest.mark.integration

UniqueName = Callable[..., str]
_REPO = Path(__file__).resolve().parents[2]


async def _eventually(condition: Callable[[], bool], within: float = 60.0) -> bool:
    """Poll ``condition`` on the event loop until it holds or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not condition():  # noqa: ASYNC110  # state of other tasks and processes
        await asyncio.sleep(0.05)
    return condition()


def _split(records: list[SampleRecord]) -> int:
    """An index near the middle that does not separate a record from its repeat."""
    index = len(records) // 2
    while records[index].expect == "duplicate":
        index += 1
    return index


class TestRedisOutage:
    async def test_outage_pauses_settles_nothing_and_resumes_without_loss(
        self,
        embedded_broker_factory: Callable[..., EmbeddedBroker],
        embedded_redis_factory: Callable[..., EmbeddedRedis],
        emulator_factory: Callable[..., EmbeddedEmulator],
        registry_url: str,
        kafka_consumer_overrides: dict[str, str],
        unique_name: UniqueName,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Redis killed mid-run: consumption pauses, nothing needing dedup settles, then all is sent once."""
        broker, redis = embedded_broker_factory(), embedded_redis_factory()
        emulator = emulator_factory(emulator_pixels())
        records = build_sample(40, 12, seed=11)
        half = _split(records)
        env = consumer_env(
            bootstrap=broker.bootstrap,
            registry_url=registry_url,
            emulator_url=emulator.url,
            group_id=unique_name("group"),
            consumer_overrides=kafka_consumer_overrides,
            dedup={"backend": "redis", "redis_url": redis.url},
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        await asyncio.to_thread(produce, broker.bootstrap, registry_url, records[:half])
        seen: list[Pipeline] = []
        stop = asyncio.Event()
        run = asyncio.create_task(
            run_consumer(load_settings(CONFIG), stop=stop, stop_when=lambda p: bool(seen.append(p)))
        )
        assert await _eventually(lambda: bool(seen) and seen[-1].stats.settled == half)
        stats = seen[-1].stats

        redis.kill()
        await asyncio.to_thread(produce, broker.bootstrap, registry_url, records[half:])
        paused = await _eventually(lambda: seen[-1].paused)
        await asyncio.sleep(1.0)
        during = (stats.outcomes["sent"], stats.outcomes["duplicate"])
        received_during = len(await asyncio.to_thread(emulator.client.events))
        redis.start()
        resumed = await _eventually(lambda: stats.settled == len(records))
        stop.set()
        await run

        expected = expected_of(records)
        first = expected_of(records[:half])
        counts = received_counts(await asyncio.to_thread(emulator.client.events))
        assert (True, True) == (paused, resumed)
        assert (first.outcomes["sent"], first.outcomes["duplicate"]) == during
        assert len(first.sent) == received_during
        assert (expected.sent, {1}) == (set(counts), set(counts.values()))
        assert dict(expected.outcomes) == dict(stats.outcomes)
        assert expected.outcomes["duplicate"] == sum(stats.duplicates_per_event.values())


def _start_runner(env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    """One consumer process (tests.integration.dedup_runner) writing its stats to ``out``.

    Its log goes to ``out`` with a ``.log`` suffix (kept in the test's tmp_path for a post-mortem).
    """
    with out.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.dedup_runner", str(out)],
            cwd=_REPO,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID and wait; SIGKILL if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _with_cross_partition_repeats(records: list[SampleRecord]) -> list[SampleRecord]:
    """Every fifth sent order again under another key (so on another partition): a duplicate."""
    repeats = [
        replace(record, key=f"{record.key}-again", expect="duplicate", event=None)
        for index, record in enumerate(records)
        if record.expect == "sent" and record.topic == "orders" and index % 5 == 0
    ]
    return records + repeats


class TestRebalance:
    def test_partition_moves_while_duplicates_are_in_flight(
        self,
        embedded_broker_factory: Callable[..., EmbeddedBroker],
        emulator_factory: Callable[..., EmbeddedEmulator],
        registry_url: str,
        redis_url: str,
        kafka_consumer_overrides: dict[str, str],
        unique_name: UniqueName,
        tmp_path: Path,
    ) -> None:
        """Two consumer processes share Redis; a rebalance mid-run sends no event twice and loses none."""
        broker = embedded_broker_factory()
        emulator = emulator_factory(emulator_pixels())
        emulator.client.inject("latency", ms=1000, count=-1)
        records = _with_cross_partition_repeats(build_sample(120, 30, seed=5))
        produce(broker.bootstrap, registry_url, records)
        env = consumer_env(
            bootstrap=broker.bootstrap,
            registry_url=registry_url,
            emulator_url=emulator.url,
            group_id=unique_name("group"),
            # The first member's drain on revocation (up to 8 batches at 1 s, 2 at a time) must
            # fit in the session timeout, or Tansu evicts it and its in-flight batches race the
            # new owner: that is the crash-window repeat, not what this test is about.
            consumer_overrides={**kafka_consumer_overrides, "session.timeout.ms": "10000"},
            dedup={"backend": "redis", "redis_url": redis_url, "redis_prefix": unique_name("dd")},
        )
        env.update(
            {
                "CAPI_BATCH__MAX_EVENTS": "4",
                "CAPI_KAFKA__POLL_BATCH_SIZE": "10",
                "CAPI_DELIVERY__MAX_IN_FLIGHT_EVENTS": "30",
                "CAPI_DELIVERY__MAX_CONCURRENT_REQUESTS": "2",
            }
        )
        expected = expected_of(records)
        outputs = [tmp_path / "a.json", tmp_path / "b.json"]
        first = _start_runner(env, outputs[0])
        second: subprocess.Popen[bytes] | None = None
        try:
            started = wait_until(lambda: len(emulator.client.events()) > 0)
            second = _start_runner(env, outputs[1])
            complete = wait_until(
                lambda: set(received_counts(emulator.client.events())) >= expected.sent,
                timeout=120,
            )
            time.sleep(2.0)  # anything sent twice would arrive now
        finally:
            _stop(first)
            if second is not None:
                _stop(second)

        counts = received_counts(emulator.client.events())
        stats = [json.loads(out.read_text()) for out in outputs]
        assert (True, True) == (started, complete)
        assert (expected.sent, {1}) == (set(counts), set(counts.values()))
        assert (True, True) == (stats[0]["consumed"] > 0, stats[1]["consumed"] > 0)
        assert expected.outcomes["duplicate"] <= stats[0]["duplicates"] + stats[1]["duplicates"]
