"""The dedup decision table of DESIGN.md §4, and the in-memory store that applies it."""

from __future__ import annotations

import pytest

from consumer.dedup import Claim, Entry, MemoryDedupStore, State, Verdict, decide, dedup_key

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("entry", "owner", "expected"),
    [
        (None, "t/0/1", Verdict.PROCEED),
        (Entry(State.PENDING, "t/0/1", NOW + 10), "t/0/1", Verdict.PROCEED),
        (Entry(State.PENDING, "t/0/1", NOW + 10), "t/0/2", Verdict.DUPLICATE),
        (Entry(State.DELIVERED, "t/0/1", NOW + 10), "t/0/1", Verdict.DUPLICATE),
        (Entry(State.DELIVERED, "t/0/1", NOW - 1), "t/0/2", Verdict.PROCEED),
        (Entry(State.PENDING, "t/0/1", NOW - 1), "t/0/2", Verdict.PROCEED),
    ],
    ids=[
        "absent",
        "own-pending",
        "other-pending",
        "delivered",
        "expired-delivered",
        "expired-pending",
    ],
)
def test_decide(entry: Entry | None, owner: str, expected: Verdict) -> None:
    """Each row of the table gives its verdict."""
    assert expected == decide(entry, owner, NOW)


def test_key_is_fixed_size_and_scoped() -> None:
    """Keys are 16-byte digests, distinct per pixel, event name and event id."""
    keys = {
        dedup_key("p1", "Purchase", "o1"),
        dedup_key("p2", "Purchase", "o1"),
        dedup_key("p1", "Lead", "o1"),
    }

    assert {16} == {len(key) for key in keys}
    assert 3 == len(keys)


class TestMemoryStore:
    async def test_claim_confirm_release(self) -> None:
        """Delivered keys are duplicates; released keys can be claimed again."""
        clock = [NOW]
        store = MemoryDedupStore(window_s=100, pending_ttl_s=10, clock=lambda: clock[0])
        a, b = Claim(b"a" * 16, "t/0/1"), Claim(b"b" * 16, "t/0/2")

        assert [Verdict.PROCEED, Verdict.PROCEED] == await store.claim([a, b])
        await store.confirm([a])
        await store.release([b])

        assert [Verdict.DUPLICATE, Verdict.PROCEED] == await store.claim(
            [Claim(a.key, "t/0/9"), Claim(b.key, "t/0/9")]
        )

    async def test_window_expires(self) -> None:
        """After the window a delivered key can be sent again."""
        clock = [NOW]
        store = MemoryDedupStore(window_s=100, pending_ttl_s=10, clock=lambda: clock[0])
        claim = Claim(b"a" * 16, "t/0/1")
        await store.claim([claim])
        await store.confirm([claim])

        clock[0] += 101

        assert [Verdict.PROCEED] == await store.claim([Claim(claim.key, "t/0/5")])
