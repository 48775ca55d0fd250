"""The consumer end to end: Kafka (Tansu) -> decode -> map -> dedup -> batch -> CAPI emulator."""

from __future__ import annotations

import datetime as dt

from consumer.devstack.sample import SampleRecord, build_sample, expected_of
from tests.fixtures.pipeline import ConsumerRig

EM_JOHN = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
PH_US = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"


def _vector_order(now: dt.datetime) -> SampleRecord:
    """A paid web order whose customer is Meta's official test vector customer."""
    sample = build_sample(orders=1, leads=0, seed=1, now=now)[0].value
    assert isinstance(sample, dict)
    value = {
        **sample,
        "order_id": "ORD-VECTOR",
        "status": "PAID",
        "channel": "WEB",
        "pixel_id": "1000000000000001",
        "tenant_id": None,
        "is_test": False,
        "customer": {
            **sample["customer"],
            "email": "John_Smith@gmail.com",
            "phone": "(650)555-1212",
            "country": "US",
        },
        "browser": {
            **(sample["browser"] or {}),
            "user_agent": "Mozilla/5.0",
            "page_url": "https://shop.example.com/x",
        },
    }
    return SampleRecord(
        "orders", "ORD-VECTOR", value, "sent", ("1000000000000001", "Purchase", "order_ORD-VECTOR")
    )


def _received(rig: ConsumerRig) -> set[tuple[str, str, str]]:
    return {
        (e["pixel_id"], e["event"]["event_name"], e["event"]["event_id"])
        for e in rig.emulator.client.events()
    }


class TestEndToEnd:
    def test_sample_delivered_exactly(self, consumer_rig: ConsumerRig) -> None:
        """N sample records in: the emulator records exactly the expected events, outcomes match."""
        records = [
            *build_sample(orders=60, leads=20, seed=3),
            _vector_order(dt.datetime.now(dt.UTC)),
        ]
        expected = expected_of(records)
        consumer_rig.produce(records)

        stats = consumer_rig.run(until=lambda p: p.stats.settled >= len(records))

        assert expected.sent == _received(consumer_rig)
        assert dict(expected.outcomes) == dict(stats.outcomes)
        assert dict(expected.sent_per_pixel) == dict(stats.sent_per_pixel)

    def test_official_hash_vectors_reach_meta(self, consumer_rig: ConsumerRig) -> None:
        """em and ph arrive hashed exactly as Meta's published vectors."""
        consumer_rig.produce([_vector_order(dt.datetime.now(dt.UTC))])

        consumer_rig.run(until=lambda p: p.stats.settled >= 1)

        (event,) = consumer_rig.emulator.client.events()
        assert ([EM_JOHN], [PH_US]) == (
            event["event"]["user_data"]["em"],
            event["event"]["user_data"]["ph"],
        )

    def test_match_quality_and_dropped_values_are_counted(self, consumer_rig: ConsumerRig) -> None:
        """Each sent event counts in its pixel's EMQ estimate and every value mapping dropped in
        ``user_data_dropped`` (the poll batch's tally), while Meta gets the event without it."""
        now = dt.datetime.now(dt.UTC)
        good = _vector_order(now)
        bad = _vector_order(now)
        assert isinstance(bad.value, dict) and isinstance(good.value, dict)
        bad_value = {
            **bad.value,
            "order_id": "ORD-BAD-EMAIL",
            "customer": {**bad.value["customer"], "email": "john@"},
        }
        consumer_rig.produce([good, SampleRecord("orders", "ORD-BAD-EMAIL", bad_value, "sent")])

        stats = consumer_rig.run(until=lambda p: p.stats.settled >= 2)

        emq = stats.emq[("1000000000000001", "Purchase")]
        assert (2, 1) == (emq.count, emq.weak)  # without its email the second one is weak
        assert {("em", "no_domain"): 1} == dict(stats.user_data_dropped)
        by_id = {
            e["event"]["event_id"]: e["event"]["user_data"]
            for e in consumer_rig.emulator.client.events()
        }
        assert ("em" in by_id["order_ORD-VECTOR"], "em" in by_id["order_ORD-BAD-EMAIL"]) == (
            True,
            False,
        )

    def test_offsets_committed_and_restart_resends_nothing(self, consumer_rig: ConsumerRig) -> None:
        """After a clean run every partition is committed at its end; a restart sends nothing again."""
        records = build_sample(orders=30, leads=10, seed=5)
        consumer_rig.produce(records)
        consumer_rig.run(until=lambda p: p.stats.settled >= len(records))
        first = len(consumer_rig.emulator.client.events())

        second = consumer_rig.run(until=lambda p: bool(p.assigned) and p.idle_for() > 2.0)

        assert len(records) == sum(max(offset, 0) for offset in consumer_rig.committed().values())
        assert 0 == second.consumed
        assert first == len(consumer_rig.emulator.client.events())
