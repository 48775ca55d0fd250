"""Choosing the dedup backend from settings, and the Redis backend while Redis is down."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.app import build_dedup
from consumer.core.dedup import Claim, Verdict, dedup_key, owner_of
from consumer.dedup_embedded import EmbeddedDedupStore
from consumer.dedup_redis import RedisDedupStore
from consumer.devstack.redis_server import EmbeddedRedis
from consumer.errors import ConfigError, InfrastructureError
from consumer.settings import load_settings, masked
from tests.fixtures.factories import make_settings

CLAIM = Claim(dedup_key("1000000000000001", "Purchase", "order_1"), owner_of("orders", 0, 1))


class TestSettings:
    async def test_embedded_is_the_default_backend(self, tmp_path: Path) -> None:
        """With no dedup section (but a path) the consumer gets the persistent embedded store."""
        store = build_dedup(make_settings(dedup={"path": tmp_path}))
        await store.close()

        assert "EmbeddedDedupStore" == type(store).__name__

    async def test_expected_keys_fit_without_growing(self, tmp_path: Path) -> None:
        """``dedup.expected_keys`` counts keys: that many claims fit without the table doubling
        (a doubling pauses the event loop); the default is 2**18 slots (7 MB)."""
        store = build_dedup(make_settings(dedup={"path": tmp_path, "expected_keys": 4000}))
        default = build_dedup(make_settings(dedup={"path": tmp_path / "default"}))
        assert isinstance(store, EmbeddedDedupStore) and isinstance(default, EmbeddedDedupStore)
        before = store.table.capacity
        claims = [
            Claim(dedup_key("1000000000000001", "Purchase", f"o{i}"), owner_of("orders", 0, i))
            for i in range(4000)
        ]
        verdicts = await store.claim(claims)
        await store.close()
        await default.close()

        assert (before, store.table.capacity, len(store.table)) == (8192, 8192, 4000)
        assert set(verdicts) == {Verdict.PROCEED}
        assert default.table.capacity == 1 << 18

    async def test_backend_names_pick_their_stores(self, redis_url: str) -> None:
        """``redis`` and ``memory`` build their own stores."""
        redis = build_dedup(make_settings(dedup={"backend": "redis", "redis_url": redis_url}))
        memory = build_dedup(make_settings(dedup={"backend": "memory"}))
        await redis.close()

        assert ("RedisDedupStore", "MemoryDedupStore") == (
            type(redis).__name__,
            type(memory).__name__,
        )

    def test_redis_backend_needs_a_url(self) -> None:
        """backend=redis without redis_url is a configuration error naming the field."""
        with pytest.raises(ValueError, match="backend redis needs redis_url"):
            make_settings(dedup={"backend": "redis"})

    def test_redis_password_is_refused_in_the_file_and_masked(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The Redis password comes from the environment only and check-config masks it."""
        config = tmp_path / "config.yaml"
        config.write_text(
            "dedup: {backend: redis, redis_url: 'redis://127.0.0.1:1/0', redis_password: x}\n"
        )
        with pytest.raises(ConfigError, match=r"dedup\.redis_password"):
            load_settings(config)
        config.write_text("dedup: {backend: redis, redis_url: 'redis://127.0.0.1:1/0'}\n")
        monkeypatch.setenv("CAPI_DEDUP__REDIS_PASSWORD", "hunter2")

        assert "***" == masked(load_settings(config))["dedup"]["redis_password"]


class TestRedisOutage:
    async def test_unreachable_redis_is_a_retriable_infrastructure_error(
        self, embedded_redis_factory: Callable[..., EmbeddedRedis]
    ) -> None:
        """Redis down: the store raises a retriable InfrastructureError; back up, it works again."""
        server = embedded_redis_factory()
        store = RedisDedupStore(server.url, 3600, 60, time.time)
        server.kill()
        with pytest.raises(InfrastructureError) as raised:
            await store.claim([CLAIM])
        server.start()
        verdicts = await store.claim([CLAIM])
        await store.close()

        assert (True, [Verdict.PROCEED]) == (raised.value.retriable, verdicts)
