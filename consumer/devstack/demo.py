"""``make demo``: the whole job on the embedded stack, with a summary a newcomer can read.

Starts broker, registry, Redis and the CAPI emulator on free loopback ports, produces the
seeded sample, runs the consumer until every sample record is settled, compares what the
emulator received with what the sample expects, prints a summary, and stops everything.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from consumer.app import run_consumer
from consumer.core.dataset_quality import parse_answer
from consumer.devstack.emulator_client import EmulatorClient
from consumer.devstack.sample import DEMO_PIXELS, build_sample, expected_of, produce_sample
from consumer.devstack.stack import DevStack, StackUrls
from consumer.logs import configure_logging
from consumer.settings import load_settings
from consumer.stats import RunStats

__all__ = ["DEMO_TOPICS", "run_demo"]

DEMO_TOPICS = {"orders": 3, "leads": 2, "capi.retry": 1, "orders.dlq": 1, "leads.dlq": 1}


def run_demo(config: Path, *, orders: int = 200, leads: int = 60, seed: int = 7) -> int:
    """Run the demo; 0 when the emulator received exactly the expected events."""
    tokens = {pixel: secrets.token_urlsafe(24) for pixel in DEMO_PIXELS}
    stack = DevStack(
        {pixel: {"access_token": token} for pixel, token in tokens.items()}, topics=DEMO_TOPICS
    )
    configure_logging("auto", "info")
    with stack as urls:
        print(
            f"embedded stack up: kafka {urls.kafka_bootstrap}, registry {urls.registry_url}, "
            f"redis {urls.redis_url}, CAPI emulator {urls.emulator_url}"
        )
        sample = build_sample(orders, leads, seed)
        produce_sample(urls.kafka_bootstrap, urls.registry_url, sample)
        print(f"produced {len(sample)} records (Avro, Confluent wire format)")
        os.environ.update(_overrides(urls, tokens))
        with tempfile.TemporaryDirectory(prefix="capi-demo-dedup-") as dedup_dir:
            os.environ["CAPI_DEDUP__PATH"] = dedup_dir  # a fresh window: the sample ids repeat
            settings = load_settings(config)
            stats = asyncio.run(
                run_consumer(settings, stop_when=lambda p: p.stats.settled >= len(sample))
            )
        received = {
            (e["pixel_id"], e["event"]["event_name"], e["event"]["event_id"])
            for e in stack.emulator.events()
        }
        expected = expected_of(sample)
        _print_summary(stats, len(received), _meta_emq(stack.emulator, tokens))
        ok = received == expected.sent and dict(stats.outcomes) == dict(expected.outcomes)
        print(f"emulator received exactly the expected events: {'yes' if ok else 'NO'}")
        if not ok:
            print(
                f"  expected outcomes {dict(expected.outcomes)}; missing {len(expected.sent - received)}, "
                f"unexpected {len(received - expected.sent)}"
            )
    return 0 if ok else 1


def _overrides(urls: StackUrls, tokens: Mapping[str, str]) -> dict[str, str]:
    env = {
        "CAPI_KAFKA__BOOTSTRAP_SERVERS": urls.kafka_bootstrap,
        "CAPI_SCHEMA_REGISTRY__URL": urls.registry_url,
        "CAPI_META__BASE_URL": urls.emulator_url,
        "CAPI_KAFKA__GROUP_ID": f"capi-demo-{secrets.token_hex(4)}",
    }
    env.update({f"CAPI_PIXELS__{pixel}__ACCESS_TOKEN": token for pixel, token in tokens.items()})
    return env


def _meta_emq(client: EmulatorClient, tokens: Mapping[str, str]) -> dict[tuple[str, str], float]:
    """The emulator's Dataset Quality answer per (pixel, event name): what Meta's EMQ would show."""
    scores = {}
    for pixel, token in tokens.items():
        _status, body = client.dataset_quality(pixel, token)
        scores.update({(pixel, q.event_name): q.composite_score for q in parse_answer(body)})
    return scores


def _print_summary(
    stats: RunStats, received: int, meta_emq: Mapping[tuple[str, str], float]
) -> None:
    rows = [
        ("consumed", str(stats.consumed)),
        ("outcomes", " | ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items()))),
        (
            "sent per pixel",
            ", ".join(
                f"{pixel}: {count} in {_batches(stats.batches_per_pixel[pixel])}"
                for pixel, count in sorted(stats.sent_per_pixel.items())
            ),
        ),
        (
            "filtered",
            ", ".join(f"{k} {v}" for k, v in sorted(stats.filtered_reasons.items())) or "-",
        ),
        (
            "dead-lettered",
            ", ".join(f"{k} {v}" for k, v in sorted(stats.dead_letter_reasons.items())) or "-",
        ),
        ("requests to Meta", ", ".join(f"{k} {v}" for k, v in sorted(stats.requests.items()))),
        (
            "EMQ estimate",
            ", ".join(
                f"{pixel[-4:]}/{name} {emq.mean:.1f}"
                for (pixel, name), emq in sorted(stats.emq.items())
            )
            or "-",
        ),
        (
            "Meta EMQ (emulator)",
            ", ".join(f"{p[-4:]}/{name} {v:.1f}" for (p, name), v in sorted(meta_emq.items()))
            or "-",
        ),
        ("emulator recorded", f"{received} events"),
    ]
    print("\nsummary")
    for label, value in rows:
        print(f"  {label:<18} {value}")


def _batches(count: int) -> str:
    return "1 batch" if count == 1 else f"{count} batches"
