"""Storing and committing offsets for partitions that already left this member."""

# Asserts read ``expected == actual`` (STYLE.md), which is exactly what SIM300 forbids.

from __future__ import annotations

from typing import Any

import pytest
import structlog
from confluent_kafka import KafkaError, KafkaException

from consumer import source
from consumer.errors import InfrastructureError
from consumer.source import KafkaSource


class _Refusing:
    """A librdkafka consumer whose store and commit fail with one error code."""

    def __init__(self, code: int) -> None:
        self.code = code

    def __call__(self, _conf: dict[str, Any]) -> _Refusing:
        return self

    def store_offsets(self, offsets: list[Any]) -> None:
        raise KafkaException(KafkaError(self.code))

    def commit(self, asynchronous: bool) -> None:
        raise KafkaException(KafkaError(self.code))


def _source(monkeypatch: pytest.MonkeyPatch, code: int) -> KafkaSource:
    monkeypatch.setattr(source, "Consumer", _Refusing(code))
    return KafkaSource({}, ["orders"], on_assign=lambda _tps: None, on_revoke=lambda _tps: {})


NOT_OURS = [
    KafkaError._STATE,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError._ASSIGNMENT_LOST,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._DESTROY,
]


@pytest.mark.parametrize("code", NOT_OURS)
def test_store_for_partitions_no_longer_ours_is_skipped_and_logged(
    monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """The next owner resumes from the last commit: a warning, not a crash in the revoke hook."""
    with structlog.testing.capture_logs() as events:
        _source(monkeypatch, code).store({("orders", 1): 10, ("orders", 0): 7})

    assert [("offsets.not_stored", ["orders/0", "orders/1"])] == [
        (e["event"], e["partitions"]) for e in events
    ]


@pytest.mark.parametrize("code", NOT_OURS)
def test_commit_after_losing_the_partitions_is_logged(
    monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    with structlog.testing.capture_logs() as events:
        _source(monkeypatch, code).commit()

    assert ["offsets.not_committed"] == [e["event"] for e in events]


def test_nothing_to_commit_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    with structlog.testing.capture_logs() as events:
        _source(monkeypatch, KafkaError._NO_OFFSET).commit()

    assert [] == events


@pytest.mark.parametrize("code", [KafkaError._TRANSPORT, KafkaError.GROUP_AUTHORIZATION_FAILED])
def test_other_failures_raise(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    refusing = _source(monkeypatch, code)

    with pytest.raises(InfrastructureError, match="storing offsets failed"):
        refusing.store({("orders", 0): 1})
    with pytest.raises(InfrastructureError, match="committing offsets failed"):
        refusing.commit()


class _Recording:
    """A librdkafka consumer that records how it was asked to commit, and revokes on close."""

    def __init__(self) -> None:
        self.commits: list[bool] = []
        self.on_revoke: Any = None

    def __call__(self, _conf: dict[str, Any]) -> _Recording:
        return self

    def store_offsets(self, offsets: list[Any]) -> None: ...

    def commit(self, asynchronous: bool) -> None:
        self.commits.append(asynchronous)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.on_revoke = callbacks["on_revoke"]

    def close(self) -> None:
        self.on_revoke(self, [])


def test_the_revoke_hook_never_blocks_on_its_commit_while_closing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebalance commits synchronously; the revoke hook inside close() commits asynchronously
    (the pipeline committed synchronously just before close)."""
    consumer = _Recording()
    monkeypatch.setattr(source, "Consumer", consumer)
    kafka = KafkaSource({}, ["orders"], on_assign=lambda _tps: None, on_revoke=lambda _tps: {})
    kafka.subscribe()

    consumer.on_revoke(consumer, [])  # a rebalance
    kafka.close()

    assert [False, True] == consumer.commits  # asynchronous=False, then True
