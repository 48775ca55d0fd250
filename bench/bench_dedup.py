"""Dedup store throughput and memory: claims per second and bytes per key, per backend.

``python -m bench dedup`` (or ``make bench``). For 1M and 10M distinct keys, each backend
claims every key in batches of 1000 (the pipeline's unit) through the async ``DedupStore``
interface. Only the store calls are timed; building the claims is not.

Memory per key:
- embedded: the table's own bytes (slots + time-bucket lists) / keys, and the growth of the
  process RSS while filling it (RSS includes the transient of the last doubling).
- redis: growth of the server's ``used_memory`` / keys.

Targets (issue #5): embedded >= 500k claims/s, Redis >= 150k claims/s, embedded <= 100 B/key.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import redis

from consumer.core.dedup import Claim, DedupStore, dedup_key
from consumer.core.dedup_table import slots_for
from consumer.dedup_embedded import EmbeddedDedupStore
from consumer.dedup_redis import RedisDedupStore
from consumer.devstack.redis_server import EmbeddedRedis

SIZES = (1_000_000, 10_000_000)
BATCH = 1000
WINDOW_S = 48 * 3600
PENDING_TTL_S = 900


def _batch(start: int) -> list[Claim]:
    return [
        Claim(dedup_key("1000000000000001", "Purchase", f"order_{n}"), f"orders/{n % 12}/{n}")
        for n in range(start, start + BATCH)
    ]


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _fill(store: DedupStore, keys: int) -> float:
    """Claim ``keys`` distinct keys; the seconds spent inside the store."""
    spent = 0.0
    for start in range(0, keys, BATCH):
        claims = _batch(start)
        began = time.perf_counter()
        await store.claim(claims)
        spent += time.perf_counter() - began
    return spent


async def _embedded(keys: int, *, presized: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as path:
        before = _rss()
        capacity = slots_for(keys) if presized else 1 << 16  # as dedup.expected_keys: keys
        store = EmbeddedDedupStore(
            Path(path), WINDOW_S, PENDING_TTL_S, time.time, capacity=capacity
        )
        spent = await _fill(store, keys)
        table_bytes = store.table.nbytes()
        grown = _rss() - before
        await store.close()
    how = "presized" if presized else "growing from 64k slots"
    print(
        f"   embedded {keys:>10,} keys, {how}: {keys / spent:>9,.0f} claims/s, "
        f"{table_bytes / keys:5.1f} B/key in the table, {grown / keys:5.1f} B/key RSS growth"
    )


async def _redis(keys: int, url: str) -> None:
    admin = redis.Redis.from_url(url, socket_timeout=120)  # FLUSHALL of 10M keys takes a while
    admin.flushall()
    before = int(admin.info("memory")["used_memory"])
    store = RedisDedupStore(url, WINDOW_S, PENDING_TTL_S, time.time)
    spent = await _fill(store, keys)
    used = int(admin.info("memory")["used_memory"]) - before
    await store.close()
    print(
        f"   redis    {keys:>10,} keys: {keys / spent:>9,.0f} claims/s "
        f"(batches of {BATCH}), {used / keys:5.1f} B/key in redis-server"
    )
    admin.flushall()
    admin.close()


def run() -> None:
    """Print claims/s and bytes/key for each backend at 1M and 10M keys."""
    asyncio.run(_embedded(SIZES[0], presized=False))
    for keys in SIZES:
        asyncio.run(_embedded(keys, presized=True))
    with EmbeddedRedis() as server:
        for keys in SIZES:
            asyncio.run(_redis(keys, server.url))
