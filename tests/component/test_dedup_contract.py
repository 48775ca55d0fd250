"""The dedup contract (DESIGN.md §4), one suite run against every backend.

``memory`` and ``embedded`` run in process; ``redis`` runs against a real ``redis-server``
(the session's embedded one, or ``$REDIS_URL``), each test in its own key namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from consumer.core.dedup import Claim, DedupStore, MemoryDedupStore, Verdict, dedup_key, owner_of
from consumer.dedup_embedded import EmbeddedDedupStore
from consumer.dedup_redis import RedisDedupStore

WINDOW_S = 48 * 3600
PENDING_TTL_S = 900
START = 1_800_000_000.0
PROCEED, DUPLICATE = Verdict.PROCEED, Verdict.DUPLICATE


class FakeClock:
    """Seconds since the epoch that move only when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


StoreFactory = Callable[[FakeClock], DedupStore]


@pytest.fixture(params=["memory", "embedded", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of stores of one backend, all sharing this test's state (path or namespace)."""
    prefix = f"test:{uuid.uuid4().hex}:"

    def make(clock: FakeClock) -> DedupStore:
        if request.param == "memory":
            return MemoryDedupStore(WINDOW_S, PENDING_TTL_S, clock)
        if request.param == "embedded":
            return EmbeddedDedupStore(tmp_path / "dedup", WINDOW_S, PENDING_TTL_S, clock)
        url = request.getfixturevalue("redis_url")
        return RedisDedupStore(url, WINDOW_S, PENDING_TTL_S, clock, prefix=prefix)

    return make


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at a fixed start time."""
    return FakeClock()


@pytest.fixture
async def store(make_store: StoreFactory, clock: FakeClock) -> AsyncIterator[DedupStore]:
    """One store of the backend under test, closed afterwards."""
    made = make_store(clock)
    yield made
    await made.close()


def claim(event_id: str, offset: int, *, partition: int = 0, event: str = "Purchase") -> Claim:
    """The claim a record at ``orders/partition/offset`` makes for ``event_id``."""
    return Claim(
        dedup_key("1000000000000001", event, event_id), owner_of("orders", partition, offset)
    )


class TestClaim:
    async def test_absent_key_is_claimed_and_proceeds(self, store: DedupStore) -> None:
        """A key never seen proceeds."""
        assert [PROCEED] == await store.claim([claim("order_1", 10)])

    async def test_pending_claim_blocks_another_record(self, store: DedupStore) -> None:
        """A repeat from another record while the first is in flight is a duplicate."""
        await store.claim([claim("order_1", 10)])

        assert [DUPLICATE] == await store.claim([claim("order_1", 11)])

    async def test_redelivery_of_the_owner_proceeds(self, store: DedupStore) -> None:
        """Crash after claim, before send: the same record re-delivered is sent, not dropped."""
        await store.claim([claim("order_1", 10)])

        assert [PROCEED] == await store.claim([claim("order_1", 10)])

    async def test_delivered_key_is_a_duplicate_for_other_records(self, store: DedupStore) -> None:
        """After Meta's ack, a producer retry of the same event is dropped."""
        await store.claim([claim("order_1", 10)])
        await store.confirm([claim("order_1", 10)])

        assert [DUPLICATE] == await store.claim([claim("order_1", 99, partition=2)])

    async def test_delivered_then_crash_redelivery_is_dropped(self, store: DedupStore) -> None:
        """Crash after delivery, before the offset commit: the re-delivered owner is dropped."""
        await store.claim([claim("order_1", 10)])
        await store.confirm([claim("order_1", 10)])

        assert [DUPLICATE] == await store.claim([claim("order_1", 10)])

    async def test_same_event_name_differs_by_event(self, store: DedupStore) -> None:
        """The key includes the event name: a Lead and a Purchase with one id are both kept."""
        await store.claim([claim("id-1", 1, event="Purchase")])

        assert [PROCEED] == await store.claim([claim("id-1", 2, event="Lead")])

    async def test_batch_keeps_order_and_drops_repeats_inside_it(self, store: DedupStore) -> None:
        """One batch: verdicts come back in order, and a repeat within the batch is a duplicate."""
        await store.claim([claim("old", 1)])
        batch = [claim("a", 2), claim("old", 3), claim("b", 4), claim("a", 5)]

        assert [PROCEED, DUPLICATE, PROCEED, DUPLICATE] == await store.claim(batch)

    async def test_empty_batches_are_fine(self, store: DedupStore) -> None:
        """Empty claim, confirm and release batches do nothing."""
        await store.confirm([])
        await store.release([])

        assert [] == await store.claim([])


class TestRelease:
    async def test_released_claim_can_be_sent_by_a_replay(self, store: DedupStore) -> None:
        """Permanent failure releases the claim, so the DLQ replay (another record) proceeds."""
        await store.claim([claim("order_1", 10)])
        await store.release([claim("order_1", 10)])

        assert [PROCEED] == await store.claim([claim("order_1", 0, partition=7)])

    async def test_release_by_another_owner_keeps_the_claim(self, store: DedupStore) -> None:
        """Only the owner can release its pending claim."""
        await store.claim([claim("order_1", 10)])
        await store.release([claim("order_1", 11)])

        assert [DUPLICATE] == await store.claim([claim("order_1", 12)])

    async def test_release_never_forgets_a_delivery(self, store: DedupStore) -> None:
        """A release after a confirm leaves the key delivered."""
        await store.claim([claim("order_1", 10)])
        await store.confirm([claim("order_1", 10)])
        await store.release([claim("order_1", 10)])

        assert [DUPLICATE] == await store.claim([claim("order_1", 12)])


class TestExpiry:
    async def test_pending_claim_expires_when_its_owner_never_settles(
        self, store: DedupStore, clock: FakeClock
    ) -> None:
        """After pending_ttl_s a stuck claim no longer blocks another record."""
        await store.claim([claim("order_1", 10)])
        clock.advance(PENDING_TTL_S + 2)

        assert [PROCEED] == await store.claim([claim("order_1", 11)])

    async def test_pending_claim_holds_before_its_ttl(
        self, store: DedupStore, clock: FakeClock
    ) -> None:
        """Before pending_ttl_s a pending claim still blocks another record."""
        await store.claim([claim("order_1", 10)])
        clock.advance(PENDING_TTL_S - 2)

        assert [DUPLICATE] == await store.claim([claim("order_1", 11)])

    async def test_delivered_key_lasts_the_window(
        self, store: DedupStore, clock: FakeClock
    ) -> None:
        """A delivered key is a duplicate until just before the window ends, then proceeds."""
        await store.claim([claim("order_1", 10)])
        clock.advance(60)
        await store.confirm([claim("order_1", 10)])
        clock.advance(WINDOW_S - 2)
        inside = await store.claim([claim("order_1", 11)])
        clock.advance(4)

        assert ([DUPLICATE], [PROCEED]) == (inside, await store.claim([claim("order_1", 12)]))
