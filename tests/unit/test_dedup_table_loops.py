"""The dedup table's batch loops: the compiled build's C (``_table.c``) against the Python loops.

Both work on the same bytearray of slots; on any sequence of claim and put batches they must
leave byte-identical slots and return the same images, counts and written keys, and so must the
growth (every entry moved into a bigger table) and the expiry of a due bucket. Keys are drawn
so that probes collide (a few home slots, a few last bytes), batches repeat keys, owners repeat
and entries expire, which exercises every branch of the claim rule.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.build_info import compiled_modules, pure_requested
from consumer.core import dedup_table
from consumer.core.dedup_table import (
    SLOT_BYTES,
    CompactTable,
    claim_slots,
    expire_slots,
    move_slots,
    put_slots,
)

# The C module itself, whichever build is selected: it is built wherever the project is
# (``make bootstrap``); in the pure build the table runs the Python loops instead.
C = importlib.import_module("consumer.core._table")
CAPACITY = 1024  # the smallest table; at most 14 batches of 12 keys keep it under 0.75 full
MASK = CAPACITY - 1

keys = st.builds(
    lambda home, middle, tag: bytes([home, 0]) + middle + bytes([tag]),
    st.sampled_from([0, 1, 2, 255]),  # home slots 0, 1, 2, 255: long, overlapping probes
    st.binary(min_size=13, max_size=13) | st.just(b"\x07" * 13),
    st.sampled_from([0, 1, 9]),  # last byte 0 reads as "maybe empty"; shared tags
)
owners = st.sampled_from([b"A" * 8, b"B" * 8, bytes(8)])
times = st.integers(min_value=0, max_value=40)
claim_batch = st.tuples(
    st.just("claim"), st.lists(st.tuples(keys, owners), max_size=12), times, times
)
put_batch = st.tuples(st.just("put"), st.lists(keys, max_size=12), owners, times)


def _run(operations: list[tuple[Any, ...]], claim: Any, put: Any) -> tuple[bytes, list[object]]:
    slots = bytearray(CAPACITY * SLOT_BYTES)
    returned: list[object] = []
    for operation in operations:
        if operation[0] == "claim":
            _, pairs, now, expires = operation
            batch_keys, batch_owners = [k for k, _ in pairs], [o for _, o in pairs]
            returned.append(claim(slots, MASK, batch_keys, batch_owners, now, now + expires))
        else:
            _, batch_keys, owner, expires = operation
            returned.append(put(slots, MASK, batch_keys, owner, expires))
    return bytes(slots), returned


@settings(max_examples=300)
@given(st.lists(st.one_of(claim_batch, put_batch), max_size=14))
def test_the_c_loops_match_the_python_loops(operations: list[tuple[Any, ...]]) -> None:
    """Identical slots and results, and the table's selected loops are one of the two."""
    reference = _run(operations, claim_slots, put_slots)
    assert _run(operations, C.claim, C.put_many) == reference
    assert dedup_table._CLAIM in (claim_slots, C.claim)


@settings(max_examples=200)
@given(st.lists(st.one_of(claim_batch, put_batch), max_size=14), st.sampled_from([1, 2, 4]))
def test_the_c_growth_matches_the_python(operations: list[tuple[Any, ...]], factor: int) -> None:
    """Moving a table's entries into one 1, 2 or 4 times its size: the same slots, and every
    entry still found by a probe from its home (a claim by its owner finds it, adds nothing)."""
    old = bytearray(_run(operations, claim_slots, put_slots)[0])
    capacity = CAPACITY * factor
    python, c = bytearray(capacity * SLOT_BYTES), bytearray(capacity * SLOT_BYTES)
    move_slots(old, python, capacity - 1)
    C.move(old, c, capacity - 1)
    assert c == python
    entries = [old[i : i + SLOT_BYTES] for i in range(0, len(old), SLOT_BYTES)]
    live = [bytes(e) for e in entries if any(e[:16])]
    keys, owners = [e[:16] for e in live], [e[16:24] for e in live]
    _images, added, _written = C.claim(c, capacity - 1, keys, owners, 0, 1)
    assert added == 0


@settings(max_examples=300)
@given(
    st.lists(st.one_of(claim_batch, put_batch), max_size=14),
    st.lists(keys, max_size=20),
    st.integers(min_value=0, max_value=90),
)
def test_the_c_expiry_matches_the_python(
    operations: list[tuple[Any, ...]], bucket: list[bytes], now: int
) -> None:
    """A due bucket (present, absent and repeated keys) expired by both: the same slots left
    (backward shifts included) and the same count; the bucket holds the table's own keys too."""
    slots = _run(operations, claim_slots, put_slots)[0]
    entries = [slots[i : i + SLOT_BYTES] for i in range(0, len(slots), SLOT_BYTES)]
    keys_bytes = bytearray(b"".join(bucket + [e[:16] for e in entries if any(e[:16])][::2]))
    python, c = bytearray(slots), bytearray(slots)
    dropped = expire_slots(python, MASK, keys_bytes, now)
    assert (C.expire(c, MASK, keys_bytes, now), c) == (dropped, python)


def test_growth_keeps_every_entry() -> None:
    """A table grown from its smallest size through several doublings loses nothing."""
    table = CompactTable()
    keys = [i.to_bytes(4, "little") + b"\x01" * 12 for i in range(5000)]
    table.put_many(keys, b"A" * 8, 99)
    assert (len(table), table.capacity) == (5000, 8192)
    assert all(table.get(key) == (b"A" * 8, 99) for key in keys)


def test_the_compiled_build_runs_the_c_loops() -> None:
    compiled = bool(compiled_modules()) and not pure_requested()
    assert dedup_table.NATIVE is compiled
    assert (dedup_table._CLAIM is claim_slots) is not compiled
    assert (dedup_table._MOVE is move_slots) is not compiled
    assert (dedup_table._EXPIRE is expire_slots) is not compiled


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: C.claim(bytearray(CAPACITY * SLOT_BYTES), MASK, [b"k"], [b"A" * 8], 0, 1),
            "16 bytes",
        ),
        (lambda: C.claim(bytearray(CAPACITY * SLOT_BYTES), MASK, [b"k" * 16], [], 0, 1), "length"),
        (
            lambda: C.put_many(bytearray(CAPACITY * SLOT_BYTES), MASK, [b"k" * 16], b"A", 1),
            "8 bytes",
        ),
        (
            lambda: C.put_many(
                bytearray(CAPACITY * SLOT_BYTES), MASK, [b"k" * 16], b"A" * 8, 1 << 32
            ),
            "32-bit",
        ),
        (lambda: C.put_many(bytearray(SLOT_BYTES), MASK, [b"k" * 16], b"A" * 8, 1), "mask"),
        (
            lambda: C.move(
                bytearray(2 * CAPACITY * SLOT_BYTES), bytearray(CAPACITY * SLOT_BYTES), MASK
            ),
            "no more than new",
        ),
    ],
    ids=["short-key", "fewer-owners", "short-owner", "expires-too-big", "wrong-size", "shrink"],
)
def test_the_c_loops_refuse_what_the_table_never_passes(call: Any, message: str) -> None:
    """Wrong sizes fail loudly, never by writing past a slot."""
    with pytest.raises((ValueError, OverflowError), match=message):
        call()


def test_the_c_loops_count_their_arguments() -> None:
    with pytest.raises(TypeError, match=r"claim\(\) takes 6 arguments \(5 given\)"):
        C.claim(bytearray(CAPACITY * SLOT_BYTES), MASK, [], [], 0)


def test_a_full_table_raises_instead_of_probing_forever() -> None:
    slots = bytearray(CAPACITY * SLOT_BYTES)
    everything = [i.to_bytes(2, "little") + b"\x01" * 14 for i in range(CAPACITY)]
    C.put_many(slots, MASK, everything, b"A" * 8, 5)
    with pytest.raises(RuntimeError, match="full"):
        C.put_many(slots, MASK, [b"\x02" * 16], b"A" * 8, 5)


def test_the_table_through_the_selected_loops_keeps_its_rule() -> None:
    """Claim, refresh by the owner, refuse another owner, then take over once expired."""
    table, key = CompactTable(), b"\x05" * 16
    assert table.claim([key], [b"A" * 8], now=10, expires=20)[0] is not None
    assert table.claim([key], [b"A" * 8], now=11, expires=21)[0] is not None  # refreshed
    assert table.claim([key], [b"B" * 8], now=12, expires=22) == [None]  # someone else's
    assert table.claim([key], [b"B" * 8], now=21, expires=31)[0] is not None  # expired
    assert (len(table), table.get(key)) == (1, (b"B" * 8, 31))
