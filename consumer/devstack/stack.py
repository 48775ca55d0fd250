"""The embedded dev stack: broker, schema registry, Redis and CAPI emulator on loopback.

Each part is started by this project's own code on a free port and stopped by PID, unless an
environment variable points at an external service instead: ``KAFKA_BOOTSTRAP``,
``SCHEMA_REGISTRY_URL``, ``REDIS_URL``. (The CAPI emulator always runs locally: nothing here
may reach Meta.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from consumer.devstack.broker import EmbeddedBroker, create_topics
from consumer.devstack.emulator_client import EmbeddedEmulator, EmulatorClient
from consumer.devstack.redis_server import EmbeddedRedis
from consumer.devstack.registry import EmbeddedRegistry

__all__ = ["DevStack", "StackUrls"]


@dataclass(frozen=True, slots=True)
class StackUrls:
    kafka_bootstrap: str
    registry_url: str
    redis_url: str
    emulator_url: str


@dataclass
class DevStack:
    """Start with ``with DevStack(pixels) as stack:``; everything started is stopped on exit."""

    pixels: Mapping[str, Mapping[str, str | None]]
    topics: Mapping[str, int] = field(default_factory=dict)  # topic -> partitions, created at start
    light_emulator: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _started: list[EmbeddedBroker | EmbeddedRegistry | EmbeddedRedis | EmbeddedEmulator] = field(
        default_factory=list
    )
    urls: StackUrls | None = None

    def start(self) -> StackUrls:
        try:
            kafka = self.env.get("KAFKA_BOOTSTRAP") or self._own(EmbeddedBroker()).start()
            registry = self.env.get("SCHEMA_REGISTRY_URL") or self._own(EmbeddedRegistry()).start()
            redis = self.env.get("REDIS_URL") or self._own(EmbeddedRedis()).start()
            emulator = self._own(EmbeddedEmulator(self.pixels, light=self.light_emulator)).start()
            create_topics(kafka, dict(self.topics))
        except BaseException:
            self.stop()
            raise
        self.urls = StackUrls(kafka, registry, redis, emulator)
        return self.urls

    @property
    def emulator(self) -> EmulatorClient:
        if self.urls is None:
            raise RuntimeError("the stack has not been started")
        return EmulatorClient(self.urls.emulator_url)

    def stop(self) -> None:
        """Stop everything this stack started, newest first, by PID."""
        while self._started:
            self._started.pop().stop()

    def _own(
        self, part: EmbeddedBroker | EmbeddedRegistry | EmbeddedRedis | EmbeddedEmulator
    ) -> EmbeddedBroker | EmbeddedRegistry | EmbeddedRedis | EmbeddedEmulator:
        self._started.append(part)
        return part

    def __enter__(self) -> StackUrls:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
