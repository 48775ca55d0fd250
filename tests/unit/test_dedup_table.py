"""The compact dedup table: probing, backward-shift deletion, growth and time-bucket expiry."""

from __future__ import annotations

import random

from consumer.core.dedup import dedup_key
from consumer.core.dedup_table import DELIVERED, CompactTable

OWNER_A = b"A" * 8
OWNER_B = b"B" * 8


def key(number: int) -> bytes:
    """The dedup key of event ``n<number>``."""
    return dedup_key("1000000000000001", "Purchase", f"n{number}")


class TestCompactTable:
    def test_matches_a_dict_model_under_random_puts_and_deletes(self) -> None:
        """Random puts and deletes through growth leave exactly what a dict would hold."""
        rng = random.Random(5)
        table, model = CompactTable(), {}
        for step in range(20_000):
            number = rng.randrange(3_000)
            if rng.random() < 0.3:
                table.delete(key(number))
                model.pop(key(number), None)
            else:
                table.put(key(number), OWNER_A, step + 1)
                model[key(number)] = (OWNER_A, step + 1)

        assert (model, len(model)) == (
            {k: table.get(k) for k in model},
            len(table),
        )
        assert all(table.get(key(n)) is None for n in range(3_000) if key(n) not in model)

    def test_grows_past_three_quarters_full(self) -> None:
        """The table doubles once more than 75% of its slots are used, keeping every entry."""
        table = CompactTable(1024)
        for number in range(769):
            table.put(key(number), OWNER_A, 10)

        assert (2048, 769) == (
            table.capacity,
            sum(table.get(key(n)) is not None for n in range(769)),
        )

    def test_claim_follows_the_table(self) -> None:
        """Absent proceeds, other owner is a duplicate, same owner proceeds, delivered is a duplicate."""
        table = CompactTable()
        first = table.claim([key(1)], [OWNER_A], 100, 200)
        other = table.claim([key(1)], [OWNER_B], 100, 200)
        same = table.claim([key(1)], [OWNER_A], 100, 200)
        table.put(key(1), DELIVERED, 500)
        after = table.claim([key(1)], [OWNER_A], 100, 200)

        assert ([True], [None], [True], [None]) == (
            [r is not None for r in first],
            other,
            [r is not None for r in same],
            after,
        )

    def test_claim_matches_the_rule_per_key_over_random_batches_through_growth(self) -> None:
        """Random claim batches (repeats, other owners, expiry) give exactly the rule's verdicts."""
        rng = random.Random(7)
        table, model = CompactTable(), {}
        expected, actual = [], []
        for now in range(1, 400):
            batch = [key(rng.randrange(3_000)) for _ in range(rng.randrange(1, 40))]
            owners = [rng.choice((OWNER_A, OWNER_B)) for _ in batch]
            expires = now + rng.randrange(1, 4)
            for k, owner in zip(batch, owners, strict=True):
                current = model.get(k)
                proceeds = current is None or current[1] <= now or current[0] == owner
                expected.append(proceeds)
                if proceeds:
                    model[k] = (owner, expires)
            actual += [image is not None for image in table.claim(batch, owners, now, expires)]

        assert (expected, model) == (actual, {k: table.get(k) for k in model})

    def test_put_many_counts_a_repeated_key_once_and_returns_an_image_per_key(self) -> None:
        """A batch put writes each key once, even when it repeats or already exists."""
        table = CompactTable()
        table.put(key(1), OWNER_A, 10)
        images = table.put_many([key(1), key(2), key(2)], DELIVERED, 50)

        assert (2, [key(1) + DELIVERED + (50).to_bytes(4, "little")], (DELIVERED, 50)) == (
            len(table),
            images[:1],
            table.get(key(2)),
        )

    def test_expire_drops_only_entries_whose_time_has_passed(self) -> None:
        """Due buckets drop their expired keys; a key rewritten with a later expiry survives."""
        table = CompactTable(bucket_s=10)
        table.put(key(1), OWNER_A, 15)
        table.put(key(2), OWNER_A, 15)
        table.put(key(2), DELIVERED, 95)  # confirmed later: also in a later bucket

        dropped = table.expire(30)

        assert (1, None, (DELIVERED, 95)) == (dropped, table.get(key(1)), table.get(key(2)))

    def test_bucket_lists_hold_sixteen_bytes_per_write(self) -> None:
        """Memory is the slots plus 16 bytes per write in a time bucket."""
        table = CompactTable(1024, bucket_s=10)
        for number in range(100):
            table.put(key(number), OWNER_A, 15)

        assert 1024 * 28 + 100 * 16 == table.nbytes()

    def test_a_snapshot_image_loads_back(self) -> None:
        """load(image) restores every entry and its expiry bucket."""
        table = CompactTable(bucket_s=10)
        for number in range(50):
            table.put(key(number), OWNER_B, 15)
        loaded = CompactTable.load(bytes(table.image_view()), bucket_s=10)

        assert (50, (OWNER_B, 15), 50) == (len(loaded), loaded.get(key(7)), loaded.expire(20))
