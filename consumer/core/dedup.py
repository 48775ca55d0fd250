"""The 48-hour keyed dedup window (DESIGN.md §4): pure rules plus the store interface.

Key: a 16-byte BLAKE2b digest of (pixel_id, event_name, event_id). Each entry has an owner
(the source ``topic/partition/offset`` that claimed it) and a state:

====================  =====================  ============================================
entry found           record is its owner    verdict
====================  =====================  ============================================
none (or expired)     -                      claim as pending(owner), PROCEED
pending(owner)        yes (re-delivery)      PROCEED
pending(other)        no                     DUPLICATE
delivered             any                    DUPLICATE
====================  =====================  ============================================

Meta's ack -> ``confirm`` (delivered for the window). Permanent failure -> ``release`` (only by
the owner), so a DLQ replay can send it. A pending claim expires after ``pending_ttl_s`` so an
owner that never settles cannot block the key forever.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mypy_extensions import mypyc_attr

__all__ = [
    "Claim",
    "DedupStore",
    "Entry",
    "MemoryDedupStore",
    "State",
    "Verdict",
    "decide",
    "dedup_key",
    "owner_digest",
    "owner_digests",
    "owner_of",
]

KEY_BYTES = 16  # 128-bit digest: collision odds are negligible at billions of keys
OWNER_BYTES = 8  # owners are compared only among claims of one key: 64 bits is plenty
_NO_OWNER = bytes(OWNER_BYTES)  # the owner field of a delivered entry
_OWNER_HASH = hashlib.blake2b(digest_size=OWNER_BYTES)  # never updated: only copied
_KEY_HASH = hashlib.blake2b(digest_size=KEY_BYTES)  # the same: a copy skips the keyword call


class Verdict(enum.Enum):
    PROCEED = "proceed"
    DUPLICATE = "duplicate"


class State(enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True, init=False)
class Claim:
    """One record's claim on a key (one per event)."""

    key: bytes
    owner: str

    def __init__(self, key: bytes, owner: str) -> None:
        # compiled, where dataclass's generated __init__ (or a NamedTuple's __new__) would be
        # interpreted Python: a frame per event
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "owner", owner)


@dataclass(frozen=True, slots=True)
class Entry:
    state: State
    owner: str
    expires_at: float


def dedup_key(pixel_id: str, event_name: str, event_id: str) -> bytes:
    material = "\x1f".join((pixel_id, event_name, event_id)).encode("utf-8")
    hasher = _KEY_HASH.copy()
    hasher.update(material)
    return hasher.digest()


def owner_of(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}/{offset}"


def owner_digest(owner: str) -> bytes:
    """A fixed 8-byte digest of an owner, never all zeros (zeros mark ``delivered`` on disk)."""
    return owner_digests([owner])[0]


def owner_digests(owners: Iterable[str]) -> list[bytes]:
    """:func:`owner_digest` of each owner, in one pass (the claim hot path)."""
    digests: list[bytes] = []
    append, fresh = digests.append, _OWNER_HASH.copy  # copying a hasher beats building one
    for owner in owners:
        hasher = fresh()
        hasher.update(owner.encode())
        append(hasher.digest())
    if _NO_OWNER in digests:  # odds 2**-64 per owner; the rule must still hold
        digests = [b"\x01" + d[1:] if d == _NO_OWNER else d for d in digests]
    return digests


def decide(entry: Entry | None, owner: str, now: float) -> Verdict:
    """The table above, for one key."""
    if entry is None or entry.expires_at <= now:
        return Verdict.PROCEED
    if entry.state is State.PENDING and entry.owner == owner:
        return Verdict.PROCEED
    return Verdict.DUPLICATE


class DedupStore(Protocol):
    """Backends (memory, embedded persistent, Redis) share this batch interface."""

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        """Verdict per claim, in order; PROCEED claims are now pending(owner)."""
        ...

    async def confirm(self, claims: Sequence[Claim]) -> None:
        """Mark delivered for the whole window (Meta acknowledged)."""
        ...

    async def release(self, claims: Sequence[Claim]) -> None:
        """Drop pending claims still owned by the given owners (permanent failure)."""
        ...

    async def close(self) -> None: ...


@mypyc_attr(allow_interpreted_subclasses=True)  # tests subclass it to simulate outages
class MemoryDedupStore:
    """In-process, not persisted: for unit tests and throwaway runs (backend ``memory``)."""

    def __init__(self, window_s: float, pending_ttl_s: float, clock: Callable[[], float]) -> None:
        self._entries: dict[bytes, Entry] = {}
        self._window_s = window_s
        self._pending_ttl_s = pending_ttl_s
        self._clock = clock

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        now = self._clock()
        verdicts = []
        for claim in claims:
            verdict = decide(self._entries.get(claim.key), claim.owner, now)
            if verdict is Verdict.PROCEED:
                self._entries[claim.key] = Entry(
                    State.PENDING, claim.owner, now + self._pending_ttl_s
                )
            verdicts.append(verdict)
        return verdicts

    async def confirm(self, claims: Sequence[Claim]) -> None:
        now = self._clock()
        for claim in claims:
            self._entries[claim.key] = Entry(State.DELIVERED, claim.owner, now + self._window_s)

    async def release(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            entry = self._entries.get(claim.key)
            if entry is not None and entry.state is State.PENDING and entry.owner == claim.owner:
                del self._entries[claim.key]

    async def close(self) -> None:
        self._entries.clear()
