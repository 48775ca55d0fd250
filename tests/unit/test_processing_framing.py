"""Processor dispatch: each topic's framing, writer schema and limits apply, replays included."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from consumer.core.decoding import LocalWriters, confluent_schema_id, unframe
from consumer.core.emq import tally
from consumer.core.models import CapiEvent, Failure, SourceRecord
from consumer.core.processing import SOURCE_TOPIC_HEADER, Processor
from consumer.devstack.framing import encode_raw, encode_single_object
from consumer.errors import DecodeError
from consumer.schemas import load_schema_file, schema_fingerprint
from tests.fixtures.factories import make_order, make_settings

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ORDER = load_schema_file(SCHEMAS / "order_event.avsc")
SETTINGS = make_settings(
    kafka={
        "topics": {
            "so": {"event_type": "order", "framing": "single_object"},
            "raw": {
                "event_type": "order",
                "framing": "raw",
                "writer_schema": SCHEMAS / "order_event.avsc",
                "max_message_bytes": 64,
            },
        }
    }
)
PROCESSOR = Processor(
    SETTINGS,
    {"order": ORDER},
    lambda _id: None,
    lambda: 0.0,
    LocalWriters({schema_fingerprint(ORDER): ORDER}, {"raw": ORDER}),
)


def record(
    topic: str, value: bytes, headers: tuple[tuple[str, bytes | None], ...] = ()
) -> SourceRecord:
    """A consumed record at offset 0."""
    return SourceRecord(topic, 0, 0, None, value, headers)


class TestProcessorDecode:
    def test_single_object_topic(self) -> None:
        """A single-object topic decodes by fingerprint."""
        order = make_order()

        assert ("order", order) == PROCESSOR.decode(
            record("so", encode_single_object(order, ORDER))
        )

    def test_replay_uses_the_original_topic_framing(self) -> None:
        """A replayed record on the retry topic is decoded with its source topic's framing."""
        order = make_order()
        replay = record(
            SETTINGS.kafka.retry_topic,
            encode_single_object(order, ORDER),
            ((SOURCE_TOPIC_HEADER, b"so"),),
        )

        assert ("order", order) == PROCESSOR.decode(replay)

    def test_each_replay_keeps_its_own_topic(self) -> None:
        """Topic settings are remembered per topic, never for the retry topic: replays of two
        topics, one after the other, each get their own topic's framing and limits."""
        order = make_order()
        retry = SETTINGS.kafka.retry_topic
        so_replay = record(
            retry, encode_single_object(order, ORDER), ((SOURCE_TOPIC_HEADER, b"so"),)
        )
        raw_replay = record(retry, encode_raw(order, ORDER), ((SOURCE_TOPIC_HEADER, b"raw"),))
        processor = dataclasses.replace(PROCESSOR)  # nothing remembered yet

        outcomes = [
            processor.decode(so_replay),
            processor.process(raw_replay),
            processor.decode(record("so", encode_single_object(order, ORDER))),
            processor.process(raw_replay),
            processor.decode(so_replay),
        ]

        assert ("order", order) == outcomes[0] == outcomes[2] == outcomes[4]
        assert ["decode.oversize"] * 2 == [
            getattr(outcome, "reason", None) for outcome in (outcomes[1], outcomes[3])
        ]

    def test_topic_limits_apply(self) -> None:
        """The raw topic's 64-byte limit dead-letters a larger record as decode.oversize."""
        result = PROCESSOR.process(record("raw", encode_raw(make_order(), ORDER)))

        assert isinstance(result, Failure)
        assert ("decode.oversize", "decode") == (result.reason, result.stage)


class TestProcessBatch:
    def test_a_batch_is_split_by_outcome_like_records_one_by_one(self) -> None:
        """process_batch gives what process gives per record, grouped: events, failures (with the
        records), filtered; records that got past decoding are counted."""
        now = make_order()["occurred_at"].timestamp()
        processor = Processor(
            SETTINGS,
            {"order": ORDER},
            lambda _id: None,
            lambda: now,
            LocalWriters({schema_fingerprint(ORDER): ORDER}, {"raw": ORDER}),
        )
        good = record("so", encode_single_object(make_order(), ORDER))
        cancelled = record("so", encode_single_object(make_order(status="CANCELLED"), ORDER))
        garbage = record("so", b"\xc3\x01garbage")
        records = [good, garbage, cancelled, good]

        processed = processor.process_batch(records)
        one_by_one = [processor.process(r) for r in records]

        assert [good, good] == [r for r, _ in processed.events]
        assert [one_by_one[0].body, one_by_one[3].body] == [  # type: ignore[union-attr]
            e.body for _, e in processed.events
        ]
        assert [(garbage, one_by_one[1])] == processed.failures
        assert [(cancelled, one_by_one[2])] == processed.filtered
        assert 3 == processed.decoded

    def test_a_batch_counts_its_events_then_keeps_only_what_is_sent(self) -> None:
        """process_batch counts each event (EMQ estimate, dropped values) as ``tally`` does over
        the same events mapped one by one, then empties its payload: the body is what is sent."""
        now = make_order()["occurred_at"].timestamp()
        processor = dataclasses.replace(PROCESSOR, clock=lambda: now)
        orders = [
            make_order(order_id="O-1"),
            make_order(order_id="O-2", customer={"email": "bad@", "city": "Paris"}),
            make_order(order_id="O-3", customer={"phone": ""}),
        ]
        records = [record("so", encode_single_object(order, ORDER)) for order in orders]
        one_by_one = [processor.process(r) for r in records]

        processed = processor.process_batch(records)

        expected = tally([(None, event) for event in one_by_one if isinstance(event, CapiEvent)])
        assert 3 == sum(count for count, _total, _weak in expected.sums.values())
        assert [("em", "no_domain"), ("ph", "empty")] == expected.dropped
        assert (expected.sums, expected.dropped) == (processed.tally.sums, processed.tally.dropped)
        assert [{}] * 3 == [event.payload for _, event in processed.events]
        assert [e.body for e in one_by_one] == [  # type: ignore[union-attr]
            event.body for _, event in processed.events
        ]


class TestWriterLookup:
    def test_a_schema_is_looked_up_until_the_registry_has_it_then_kept(self) -> None:
        """by_id asks writer_lookup again while it answers None (the registry may not have
        answered yet); once it has a schema for an id, that id is not looked up again."""
        registry: dict[int, dict[str, object]] = {}
        asked: list[int] = []

        def lookup(schema_id: int) -> dict[str, object] | None:
            asked.append(schema_id)
            return registry.get(schema_id)

        processor = Processor(SETTINGS, {"order": ORDER}, lookup, lambda: 0.0)

        assert processor.by_id(7) is None
        registry[7] = ORDER
        assert [processor.by_id(7), processor.by_id(7)] == [ORDER, ORDER]
        assert [7, 7] == asked


class TestConfluentSchemaId:
    def test_same_id_and_errors_as_unframe(self) -> None:
        """The id read without copying the payload equals unframe's, and so does each refusal."""
        assert 258 == confluent_schema_id(b"\x00\x00\x00\x01\x02payload")
        assert unframe(b"\x00\x00\x00\x01\x02", "confluent", has_raw_writer=False).key == 258
        for bad in (b"", None, b"\x07abcd", b"\x00\x00\x01"):
            with pytest.raises(DecodeError) as ours:
                confluent_schema_id(bad)
            with pytest.raises(DecodeError) as theirs:
                unframe(bad, "confluent", has_raw_writer=False)
            assert (theirs.value.reason, str(theirs.value)) == (ours.value.reason, str(ours.value))
