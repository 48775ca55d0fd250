"""A compact open-addressing table of dedup entries, with time-bucket expiry (pure, no I/O).

Why not a dict: a dict of 16-byte ``bytes`` keys to small objects costs 130+ bytes per key in
CPython. Here every entry is one fixed 28-byte slot in a single ``bytearray``::

    key (16 bytes, the digest) | owner (8 bytes, owner digest; zeros = delivered) | expires (u32 s)

Lookups use linear probing from the key's first bytes (already uniform: it is a digest), and a
probe reads a slot's last key byte before comparing whole keys (one byte read rejects most
slots); deletion shifts the cluster back, so there are no tombstones. The load factor stays between
0.375 and 0.75 (the table doubles past 0.75), so a slot costs 37-75 bytes per key.

Expiry is O(1) per entry: every write also appends the key (16 bytes) to the time bucket of its
``expires``; when a bucket's time has passed, each key in it is looked up once and deleted if its
own ``expires`` has passed (a key confirmed later sits in a later bucket as well and survives).
A slot image is also the unit of the store's write-ahead log (``expires == 0`` deletes).

The per-batch loops (claim, put, growth, expiry) run in C in the compiled build (``_table.c``,
on the same bytearray); the module functions at the end are their Python reference, which the
pure build runs and the property tests hold the C to.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from consumer.core import native

__all__ = [
    "DELIVERED",
    "NATIVE",
    "SLOT_BYTES",
    "CompactTable",
    "claim_slots",
    "delete_slot",
    "expire_slots",
    "move_slots",
    "probe_slots",
    "put_slots",
    "slots_for",
]

SLOT = struct.Struct("<16s8sI")
SLOT_BYTES = SLOT.size  # 28
DELIVERED = bytes(8)  # owner field of a delivered entry
_PACK = SLOT.pack
_TAIL = struct.Struct("<8sI")
_WORDS = struct.Struct("<QQ12s")  # a slot as its key's two words and owner + expires
_EMPTY_KEY = bytes(16)  # a digest of all zeros is assumed never to occur (odds 2**-128)
_EMPTY_SLOT = bytes(SLOT_BYTES)
_MAX_LOAD = 0.75
_MIN_CAPACITY = 1 << 10


def slots_for(keys: int) -> int:
    """Slots a table needs to hold ``keys`` entries without growing (load <= 0.75)."""
    return -(-keys * 4 // 3)


class CompactTable:
    """Entries by 16-byte key; times are whole seconds (u32, good until 2106)."""

    def __init__(self, capacity: int = _MIN_CAPACITY, bucket_s: int = 60) -> None:
        capacity = max(_MIN_CAPACITY, 1 << (max(capacity, 1) - 1).bit_length())
        self._slots = bytearray(capacity * SLOT_BYTES)
        self._mask = capacity - 1
        self._grow_at = int(capacity * _MAX_LOAD)
        self._count = 0
        self._bucket_s = bucket_s
        self._buckets: dict[int, bytearray] = {}

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def nbytes(self) -> int:
        """Bytes held by the slots and the bucket lists (what a key costs in memory)."""
        return len(self._slots) + sum(len(keys) for keys in self._buckets.values())

    # ------------------------------------------------------------------ lookups

    def get(self, key: bytes) -> tuple[bytes, int] | None:
        """(owner, expires) of ``key``, expired or not, or None."""
        index = self._find(key)
        if index < 0:
            return None
        owner, expires = _TAIL.unpack_from(self._slots, index * SLOT_BYTES + 16)
        return owner, expires

    def _find(self, key: bytes) -> int:
        offset, found = self._probe(key)
        return offset // SLOT_BYTES if found else -1

    def _probe(self, key: bytes) -> tuple[int, bool]:
        return probe_slots(self._slots, self._mask, key)

    # ------------------------------------------------------------------ writes

    def claim(
        self, keys: Sequence[bytes], owners: Sequence[bytes], now: int, expires: int
    ) -> list[bytes | None]:
        """The table rule per key: the new slot image when it proceeds, None when a duplicate.

        Absent or expired -> pending(owner); pending(owner) -> refreshed; otherwise duplicate.
        This is the hot path (``make bench``): the table grows before the batch, not inside it,
        and the loop runs in C in the compiled build (``_table.c``; :func:`claim_slots` here).
        """
        self._reserve(len(keys))
        results, added, written = _CLAIM(self._slots, self._mask, keys, owners, now, expires)
        self._count += added
        self._bucket(expires).extend(written)
        return results

    def put(self, key: bytes, owner: bytes, expires: int) -> bytes:
        """Set ``key`` to (owner, expires) unconditionally; returns the slot image."""
        return self.put_many([key], owner, expires)[0]

    def put_many(self, keys: Sequence[bytes], owner: bytes, expires: int) -> list[bytes]:
        """:meth:`put` for each key with one owner and expiry (a batch's ``confirm``)."""
        self._reserve(len(keys))
        added, images = _PUT_MANY(self._slots, self._mask, keys, owner, expires)
        self._count += added
        self._bucket(expires).extend(b"".join(keys))
        return images

    def release(self, key: bytes, owner: bytes) -> bool:
        """Delete ``key`` if it is pending and owned by ``owner``; True when deleted."""
        index = self._find(key)
        if index < 0 or _TAIL.unpack_from(self._slots, index * SLOT_BYTES + 16)[0] != owner:
            return False
        self._delete_at(index)
        return True

    def delete(self, key: bytes) -> None:
        """Delete ``key`` if present."""
        index = self._find(key)
        if index >= 0:
            self._delete_at(index)

    def apply(self, image: bytes) -> None:
        """Replay one slot image from the log: ``expires == 0`` deletes, anything else sets."""
        key, owner, expires = SLOT.unpack(image)
        if expires == 0:
            self.delete(key)
        else:
            self.put(key, owner, expires)

    def _reserve(self, new_keys: int) -> None:
        """Grow before a batch so that ``new_keys`` more entries keep the load <= 0.75."""
        while self._count + new_keys > self._grow_at:
            self._resize(self.capacity * 2)

    def _bucket(self, expires: int) -> bytearray:
        number = expires // self._bucket_s
        keys = self._buckets.get(number)
        if keys is None:
            keys = self._buckets[number] = bytearray()
        return keys

    def _delete_at(self, hole: int) -> None:
        delete_slot(self._slots, self._mask, hole)
        self._count -= 1

    def _resize(self, capacity: int) -> None:
        old = self._slots
        self._slots = bytearray(capacity * SLOT_BYTES)
        self._mask = capacity - 1
        self._grow_at = int(capacity * _MAX_LOAD)
        _MOVE(old, self._slots, self._mask)

    # ------------------------------------------------------------------ expiry

    def expire(self, now: int) -> int:
        """Drop every entry whose ``expires`` <= ``now`` among the buckets now due; returns count."""
        due = [number for number in self._buckets if (number + 1) * self._bucket_s <= now]
        dropped = 0
        for number in sorted(due):
            dropped += _EXPIRE(self._slots, self._mask, self._buckets.pop(number), now)
        self._count -= dropped
        return dropped

    # ------------------------------------------------------------------ images

    def image_view(self) -> memoryview:
        """The raw slots (a snapshot, read-only view); ``load`` takes a copy back."""
        return memoryview(self._slots).toreadonly()

    @classmethod
    def load(cls, image: bytes, bucket_s: int) -> CompactTable:
        """A table from a snapshot ``image``; time buckets are rebuilt from the slots."""
        table = cls(len(image) // SLOT_BYTES, bucket_s)
        if len(image) != len(table._slots):
            raise ValueError("snapshot size is not a power-of-two number of slots")
        table._slots[:] = image
        for key, expires in table._live():
            table._count += 1
            table._bucket(expires).extend(key)
        return table

    def _live(self) -> Iterator[tuple[bytes, int]]:
        for key, _owner, expires in SLOT.iter_unpack(self._slots):
            if key != _EMPTY_KEY:
                yield key, expires


# ---------------------------------------------------------------------- the batch loops
# The reference for ``_table.c`` (which the compiled build runs; the property tests hold the two
# to the same slots and results): loops over the slots bytearray and its mask, with the probe
# inlined and everything in locals.

ClaimResult = tuple[list[bytes | None], int, bytes]  # images or None, slots added, written keys


def probe_slots(slots: bytearray, mask: int, key: bytes) -> tuple[int, bool]:
    """(byte offset of ``key``'s slot, True) or (offset of the empty slot ending its probe, False).

    A slot's last key byte is read first: it is independent of the slot index (the index comes
    from the first bytes), so a mismatch usually costs one byte read, not a compare.
    """
    size, tag = len(slots), key[15]
    offset = (int.from_bytes(key, "little") & mask) * SLOT_BYTES
    while True:
        byte = slots[offset + 15]
        if byte == tag and slots.startswith(key, offset):
            return offset, True
        if byte == 0 and slots.startswith(_EMPTY_KEY, offset):
            return offset, False
        offset += SLOT_BYTES
        if offset == size:
            offset = 0


def claim_slots(
    slots: bytearray,
    mask: int,
    keys: Sequence[bytes],
    owners: Sequence[bytes],
    now: int,
    expires: int,
) -> ClaimResult:
    """``CompactTable.claim``'s loop: (image or None per key, slots added, written keys)."""
    results: list[bytes | None] = []
    added, tail = 0, expires.to_bytes(4, "little")
    for key, owner in zip(keys, owners, strict=True):
        offset, found = probe_slots(slots, mask, key)
        if found:
            current, until = _TAIL.unpack_from(slots, offset + 16)
            if until > now and current != owner:  # a live entry of another owner
                results.append(None)
                continue
        added += not found
        SLOT.pack_into(slots, offset, key, owner, expires)
        results.append(key + owner + tail)
    written = b"".join([key for key, image in zip(keys, results, strict=True) if image is not None])
    return results, added, written


def put_slots(
    slots: bytearray, mask: int, keys: Sequence[bytes], owner: bytes, expires: int
) -> tuple[int, list[bytes]]:
    """``CompactTable.put_many``'s loop: (slots added, the slot image of each key)."""
    added = 0
    for key in keys:
        offset, found = probe_slots(slots, mask, key)
        SLOT.pack_into(slots, offset, key, owner, expires)
        added += not found
    tail = owner + expires.to_bytes(4, "little")
    return added, [key + tail for key in keys]


def move_slots(old: bytearray, slots: bytearray, mask: int) -> None:
    """``CompactTable._resize``'s loop: every entry of ``old`` into the empty ``slots``."""
    size, startswith, pack_into = len(slots), slots.startswith, _WORDS.pack_into
    # each slot as its key's two little-endian words and the rest: the first word is the
    # home index (what int.from_bytes(key, "little") & mask gives), and both are 0 only
    # for an empty slot
    for low, high, rest in _WORDS.iter_unpack(old):
        if not low and not high:
            continue
        offset = (low & mask) * SLOT_BYTES
        while slots[offset + 15] or not startswith(_EMPTY_KEY, offset):  # occupied
            offset += SLOT_BYTES
            if offset == size:
                offset = 0
        pack_into(slots, offset, low, high, rest)


def delete_slot(slots: bytearray, mask: int, hole: int) -> None:
    """Backward-shift deletion: later members of the cluster move up, leaving no tombstone."""
    index = hole
    while True:
        index = (index + 1) & mask
        offset = index * SLOT_BYTES
        if slots.startswith(_EMPTY_KEY, offset):
            break
        home = int.from_bytes(slots[offset : offset + 8], "little") & mask
        if (index - home) & mask >= (index - hole) & mask:
            hole_at = hole * SLOT_BYTES
            slots[hole_at : hole_at + SLOT_BYTES] = slots[offset : offset + SLOT_BYTES]
            hole = index
    hole_at = hole * SLOT_BYTES
    slots[hole_at : hole_at + SLOT_BYTES] = _EMPTY_SLOT


def expire_slots(slots: bytearray, mask: int, keys: bytearray, now: int) -> int:
    """``CompactTable.expire``'s loop over one due bucket: delete each of its keys whose entry
    has expired by ``now``; how many were deleted."""
    dropped = 0
    for start in range(0, len(keys), 16):
        offset, found = probe_slots(slots, mask, bytes(keys[start : start + 16]))
        if found and _TAIL.unpack_from(slots, offset + 16)[1] <= now:
            delete_slot(slots, mask, offset // SLOT_BYTES)
            dropped += 1
    return dropped


_NATIVE = native.load("_table")
_CLAIM: Final[Callable[..., ClaimResult]] = claim_slots if _NATIVE is None else _NATIVE.claim
_PUT_MANY: Final[Callable[..., tuple[int, list[bytes]]]] = (
    put_slots if _NATIVE is None else _NATIVE.put_many
)
_MOVE: Final[Callable[[bytearray, bytearray, int], None]] = (
    move_slots if _NATIVE is None else _NATIVE.move
)
_EXPIRE: Final[Callable[[bytearray, int, bytearray, int], int]] = (
    expire_slots if _NATIVE is None else _NATIVE.expire
)
NATIVE: Final[bool] = _NATIVE is not None  # True when the loops are _table.c's
