"""The pure dedup rules: the verdict table, key and owner digests."""

from __future__ import annotations

import pytest

from consumer.core.dedup import Entry, State, Verdict, decide, dedup_key, owner_digest, owner_of

NOW = 1_000.0
OWNER = owner_of("orders", 3, 42)
OTHER = owner_of("orders", 3, 43)


class TestDecide:
    @pytest.mark.parametrize(
        ("entry", "owner", "expected"),
        [
            (None, OWNER, Verdict.PROCEED),
            (Entry(State.PENDING, OWNER, NOW + 10), OWNER, Verdict.PROCEED),
            (Entry(State.PENDING, OWNER, NOW + 10), OTHER, Verdict.DUPLICATE),
            (Entry(State.DELIVERED, OWNER, NOW + 10), OWNER, Verdict.DUPLICATE),
            (Entry(State.DELIVERED, OWNER, NOW + 10), OTHER, Verdict.DUPLICATE),
            (Entry(State.PENDING, OTHER, NOW), OWNER, Verdict.PROCEED),
            (Entry(State.DELIVERED, OTHER, NOW - 1), OWNER, Verdict.PROCEED),
        ],
        ids=[
            "absent",
            "pending-own-redelivery",
            "pending-other",
            "delivered-own-redelivery",
            "delivered-other",
            "pending-expired",
            "delivered-expired",
        ],
    )
    def test_table(self, entry: Entry | None, owner: str, expected: Verdict) -> None:
        """Each row of DESIGN.md §4, plus expiry, gives its verdict."""
        assert expected == decide(entry, owner, NOW)


class TestDigests:
    def test_key_is_sixteen_bytes_and_separates_fields(self) -> None:
        """The key is a 16-byte digest; moving text between fields changes it."""
        one = dedup_key("1", "Purchase", "x")

        assert (16, True) == (len(one), one != dedup_key("1", "Purchasex", ""))

    def test_digests_never_change_across_releases(self) -> None:
        """Keys and owners persist in the dedup store (48 h, Redis or disk) across an upgrade: they
        are BLAKE2b of the UTF-8 text, byte for byte as earlier releases computed them."""
        assert (
            "69dca68587d1f3da3954f7a912341a23"
            == dedup_key("1234567890", "Purchase", "order-1").hex()
        )
        assert "6b8b23b55ac45417" == owner_digest("orders/3/1234").hex()

    def test_owner_digest_is_stable_eight_nonzero_bytes(self) -> None:
        """Owner digests are deterministic, 8 bytes, and never the all-zero 'delivered' marker."""
        digest = owner_digest(OWNER)

        assert (8, digest, True, True) == (
            len(digest),
            owner_digest(OWNER),
            any(digest),
            digest != owner_digest(OTHER),
        )
