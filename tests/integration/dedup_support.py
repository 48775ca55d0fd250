"""Helpers for the dedup integration tests: a sample on its own broker, consumer settings as env."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

from consumer.devstack.broker import create_topics
from consumer.devstack.sample import DEMO_PIXELS, SampleRecord, produce_sample

__all__ = [
    "CONFIG",
    "TOPICS",
    "consumer_env",
    "emulator_pixels",
    "produce",
    "received_counts",
    "wait_until",
]

CONFIG = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
TOPICS = {"orders": 4, "leads": 2, "capi.retry": 1, "orders.dlq": 1, "leads.dlq": 1}
TOKENS = {pixel: f"token-{pixel[-1]}-{secrets.token_hex(4)}" for pixel in DEMO_PIXELS}


def emulator_pixels() -> dict[str, dict[str, str | None]]:
    """The demo pixels with this run's tokens, as the emulator takes them."""
    return {pixel: {"access_token": token, "app_secret": None} for pixel, token in TOKENS.items()}


def consumer_env(
    *,
    bootstrap: str,
    registry_url: str,
    emulator_url: str,
    group_id: str,
    consumer_overrides: Mapping[str, str],
    dedup: Mapping[str, str],
) -> dict[str, str]:
    """Environment overrides that point config/example.yaml at the test's stack."""
    env = {
        "CAPI_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CAPI_KAFKA__GROUP_ID": group_id,
        "CAPI_KAFKA__COMMIT_INTERVAL_S": "0.5",
        "CAPI_SCHEMA_REGISTRY__URL": registry_url,
        "CAPI_META__BASE_URL": emulator_url,
        "CAPI_BATCH__LINGER_S": "0.05",
    }
    for key, value in consumer_overrides.items():
        env[f"CAPI_KAFKA__CONSUMER__{key.replace('.', '_').upper()}"] = value
    for key, value in dedup.items():
        env[f"CAPI_DEDUP__{key.upper()}"] = value
    env.update({f"CAPI_PIXELS__{pixel}__ACCESS_TOKEN": token for pixel, token in TOKENS.items()})
    return env


def produce(bootstrap: str, registry_url: str, records: list[SampleRecord]) -> None:
    """Create the topics (idempotent) and produce ``records``."""
    create_topics(bootstrap, TOPICS)
    produce_sample(bootstrap, registry_url, records)


def received_counts(events: list[dict[str, object]]) -> Counter[tuple[str, str, str]]:
    """How often the emulator received each (pixel, event_name, event_id)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for entry in events:
        event = entry["event"]
        assert isinstance(event, dict)
        counts[(str(entry["pixel_id"]), str(event["event_name"]), str(event["event_id"]))] += 1
    return counts


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, step: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
