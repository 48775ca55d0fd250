"""Per-pixel batching: flush on count, bytes and linger; bodies built from pre-serialized events."""

from __future__ import annotations

import orjson

from consumer.core.batching import Batcher, request_body
from consumer.core.models import CapiEvent


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _event(pixel: str = "p1", test: str | None = None, n: int = 0) -> CapiEvent:
    payload = {"event_name": "Purchase", "event_id": f"e{n}"}
    return CapiEvent(pixel, test, "Purchase", f"e{n}", 0, "website", payload, orjson.dumps(payload))


class TestBatcher:
    def test_flush_on_count(self) -> None:
        """A batch is handed out as soon as it holds max_events."""
        batcher: Batcher[int] = Batcher(
            max_events=3, max_bytes=10**6, linger_s=60, clock=FakeClock()
        )

        ready = [batcher.add(_event(n=i), i) for i in range(3)]

        assert [(), ()] == ready[:2]
        assert [0, 1, 2] == ready[2][0].tokens

    def test_test_events_never_share_a_batch(self) -> None:
        """Events with a test_event_code are batched apart from production events of the pixel."""
        batcher: Batcher[int] = Batcher(
            max_events=10, max_bytes=10**6, linger_s=60, clock=FakeClock()
        )
        batcher.add(_event(), 1)
        batcher.add(_event(test="TEST1"), 2)

        keys = {batch.key: batch.tokens for batch in batcher.drain()}

        assert {("p1", None): [1], ("p1", "TEST1"): [2]} == keys

    def test_flush_on_bytes(self) -> None:
        """Adding an event that would pass max_bytes first hands out the open batch."""
        size = len(_event().body)
        batcher: Batcher[int] = Batcher(
            max_events=100, max_bytes=64 + 2 * (size + 1), linger_s=60, clock=FakeClock()
        )
        batcher.add(_event(n=1), 1)
        batcher.add(_event(n=2), 2)

        ready = batcher.add(_event(n=3), 3)

        assert [[1, 2]] == [batch.tokens for batch in ready]

    def test_flush_on_linger(self) -> None:
        """A partial batch is due once it is older than linger_s."""
        clock = FakeClock()
        batcher: Batcher[int] = Batcher(max_events=100, max_bytes=10**6, linger_s=0.5, clock=clock)
        batcher.add(_event(), 1)
        assert [] == batcher.due()

        clock.now += 0.5

        assert [[1]] == [batch.tokens for batch in batcher.due()]

    def test_split_halves(self) -> None:
        """Splitting keeps events and tokens aligned, in order."""
        batcher: Batcher[int] = Batcher(
            max_events=100, max_bytes=10**6, linger_s=60, clock=FakeClock()
        )
        for i in range(5):
            batcher.add(_event(n=i), i)
        (batch,) = batcher.drain()

        left, right = batch.split()

        assert ([0, 1], [2, 3, 4]) == (left.tokens, right.tokens)
        assert ["e2", "e3", "e4"] == [event.event_id for event in right.events]


def test_request_body_is_valid_json() -> None:
    """The joined body parses to data + test_event_code + partner_agent."""
    batcher: Batcher[int] = Batcher(max_events=100, max_bytes=10**6, linger_s=60, clock=FakeClock())
    batcher.add(_event(test="TEST1", n=1), 1)
    batcher.add(_event(test="TEST1", n=2), 2)
    (batch,) = batcher.drain()

    body = orjson.loads(request_body(batch, partner_agent="capi-consumer"))

    assert {
        "data": [
            {"event_name": "Purchase", "event_id": "e1"},
            {"event_name": "Purchase", "event_id": "e2"},
        ],
        "test_event_code": "TEST1",
        "partner_agent": "capi-consumer",
    } == body
