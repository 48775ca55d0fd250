"""The embedded dedup backend (default): a compact in-memory table, persisted to a local directory.

Storage, and why (docs/architecture.md "Dedup window"):

- **Memory**: :class:`~consumer.core.dedup_table.CompactTable`, 28 bytes per slot plus 16 bytes per
  time-bucket entry; 60-95 bytes per key measured (``make bench``).
- **Disk**: a snapshot (the raw slot array) plus a write-ahead log of 28-byte slot images, one
  ``os.write`` per batch with a CRC-32 per batch frame. Each change is written once (no B-tree
  pages, no compaction levels); when the log outgrows the snapshot the table is snapshotted and
  the log restarts, so disk holds at most about two table images.
- **Crash safety**: a batch frame reaches the kernel before ``claim``/``confirm``/``release``
  return, so a process crash loses nothing. ``confirm`` also ``fsync``s, because offsets are
  committed after it: a power loss may forget a pending claim (harmless: the record is
  re-delivered and claims again) but never a delivery whose offset was committed. Given an
  ``offload`` (``capi-consumer run`` passes the bridge's disk thread), that fsync runs there on
  a duplicate of the log's descriptor and ``confirm`` awaits it: the event loop goes on meanwhile
  (a network volume's fsync takes milliseconds, once per delivered batch). A torn final
  frame fails its CRC and is cut off at startup. Snapshots are written to a temporary file,
  fsynced and renamed; the log names the snapshot generation it extends, so a crash between the
  two never replays a stale log.
- **Expiry**: time buckets in the table; nothing is scanned.
"""

from __future__ import annotations

import asyncio
import fcntl
import math
import os
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import cast

import structlog

from consumer.core.dedup import Claim, Verdict, owner_digest, owner_digests
from consumer.core.dedup_table import DELIVERED, SLOT_BYTES, CompactTable
from consumer.errors import InfrastructureError

__all__ = ["EmbeddedDedupStore"]

log = structlog.get_logger("consumer.dedup")

_SNAPSHOT_MAGIC = b"CAPIDDS1"
_LOG_MAGIC = b"CAPIDDL1"
_SNAPSHOT_HEADER = struct.Struct("<8sQI")  # magic, generation, crc32 of the image
_LOG_HEADER = struct.Struct("<8sQ")  # magic, generation of the snapshot it extends
_FRAME = struct.Struct("<II")  # payload length, crc32 of the payload
_MIN_COMPACT_BYTES = 64 << 20  # never rewrite the snapshot for less log than this
_PROCEED, _DUPLICATE = Verdict.PROCEED, Verdict.DUPLICATE
_BUCKETS_PER_WINDOW = 96  # ~30 min buckets for a 48 h window

Offload = Callable[[Callable[[], None]], Awaitable[None]]  # run a blocking call off the loop


class EmbeddedDedupStore:
    """``DedupStore`` in process memory, persisted under ``path`` (backend ``embedded``)."""

    def __init__(
        self,
        path: Path,
        window_s: float,
        pending_ttl_s: float,
        clock: Callable[[], float],
        *,
        capacity: int = 1 << 16,
        compact_min_bytes: int = _MIN_COMPACT_BYTES,
        offload: Offload | None = None,
    ) -> None:
        self._dir = Path(path)
        self._offload = offload  # None: confirm's fsync runs on the loop
        self._window_s = window_s
        self._pending_ttl_s = pending_ttl_s
        self._clock = clock
        self._bucket_s = max(1, int(window_s // _BUCKETS_PER_WINDOW))
        self._compact_min_bytes = compact_min_bytes
        self._dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_directory(self._dir)
        self._generation, self._table = self._load_snapshot(capacity)
        self._log_bytes = self._replay_log()
        self._fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND)
        log.info("dedup.embedded.opened", path=str(self._dir), entries=len(self._table))

    @property
    def table(self) -> CompactTable:
        return self._table

    # ---------------------------------------------------------------- the interface

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        now = self._now()
        self._table.expire(now)
        expires = math.ceil(self._clock() + self._pending_ttl_s)
        results = self._table.claim(
            [claim.key for claim in claims],
            owner_digests([claim.owner for claim in claims]),
            now,
            expires,
        )
        if None not in results:  # the common case: every claim proceeds
            self._append(cast("list[bytes]", results), sync=False)
            return [_PROCEED] * len(results)
        self._append([image for image in results if image is not None], sync=False)
        return [_PROCEED if image is not None else _DUPLICATE for image in results]

    async def confirm(self, claims: Sequence[Claim]) -> None:
        expires = math.ceil(self._clock() + self._window_s)
        keys = [claim.key for claim in claims]
        images = self._table.put_many(keys, DELIVERED, expires)
        if self._offload is None or not images:
            self._append(images, sync=True)
            return
        self._append(images, sync=False)
        # A duplicate descriptor: a compaction meanwhile closes ``_fd`` (and snapshots the
        # table, these confirms included, with its own fsync); the duplicate still flushes the
        # log these frames went to. Shielded: a cancelled confirm (shutdown) still gets its
        # fsync, and the duplicate is closed, never left open.
        fd = os.dup(self._fd)
        await asyncio.shield(self._offload(lambda: _fsync_and_close(fd, self._log_path)))

    async def release(self, claims: Sequence[Claim]) -> None:
        released = [
            claim.key
            for claim in claims
            if self._table.release(claim.key, owner_digest(claim.owner))
        ]
        self._append([key + bytes(SLOT_BYTES - len(key)) for key in released], sync=False)

    async def close(self) -> None:
        """Flush the log to disk and close it; the next open replays it."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            os.close(self._lock)  # releases the directory lock
            self._fd = -1

    def _now(self) -> int:
        return math.floor(self._clock())

    # ---------------------------------------------------------------- the log

    @property
    def _log_path(self) -> Path:
        return self._dir / "dedup.log"

    @property
    def _snapshot_path(self) -> Path:
        return self._dir / "dedup.snapshot"

    def _append(self, images: list[bytes], *, sync: bool) -> None:
        if not images:
            return
        payload = b"".join(images)
        frame = _FRAME.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            os.write(self._fd, frame)
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            raise InfrastructureError(f"dedup log {self._log_path}: {exc.strerror}") from exc
        self._log_bytes += len(frame)
        if self._log_bytes > max(self._compact_min_bytes, self._table.capacity * SLOT_BYTES):
            self._compact()

    def _replay_log(self) -> int:
        """Apply the log's intact frames to the table; cut a torn tail; return the log's size."""
        path = self._log_path
        data = path.read_bytes() if path.exists() else b""
        if len(data) < _LOG_HEADER.size or _LOG_HEADER.unpack_from(data) != (
            _LOG_MAGIC,
            self._generation,
        ):
            _write_atomically(path, _LOG_HEADER.pack(_LOG_MAGIC, self._generation))
            return _LOG_HEADER.size
        end = _apply_frames(self._table, data, _LOG_HEADER.size)
        if end < len(data):
            log.warning("dedup.embedded.torn_log", kept_bytes=end, dropped_bytes=len(data) - end)
            os.truncate(path, end)
        return end

    # ---------------------------------------------------------------- snapshots

    def _load_snapshot(self, capacity: int) -> tuple[int, CompactTable]:
        path = self._snapshot_path
        if not path.exists():
            return 0, CompactTable(capacity, self._bucket_s)
        data = path.read_bytes()
        magic, generation, crc = _SNAPSHOT_HEADER.unpack_from(data)
        image = memoryview(data)[_SNAPSHOT_HEADER.size :]
        if magic != _SNAPSHOT_MAGIC or zlib.crc32(image) != crc:
            raise InfrastructureError(
                f"dedup snapshot {path} is damaged; move the directory away to start empty"
            )
        return generation, CompactTable.load(bytes(image), self._bucket_s)

    def _compact(self) -> None:
        """Snapshot the table (generation + 1), then start an empty log for that generation."""
        started = time.perf_counter()
        self._table.expire(self._now())
        image = self._table.image_view()
        generation = self._generation + 1
        header = _SNAPSHOT_HEADER.pack(_SNAPSHOT_MAGIC, generation, zlib.crc32(image))
        _write_atomically(self._snapshot_path, header, image)
        _write_atomically(self._log_path, _LOG_HEADER.pack(_LOG_MAGIC, generation))
        os.close(self._fd)
        self._fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND)
        self._generation, self._log_bytes = generation, _LOG_HEADER.size
        log.info(
            "dedup.embedded.compacted",
            generation=generation,
            entries=len(self._table),
            snapshot_mb=round(len(image) / 1e6, 1),
            took_s=round(time.perf_counter() - started, 3),  # the event loop waits (runbook)
        )


def _fsync_and_close(fd: int, path: Path) -> None:
    """Flush ``fd`` to disk and close it (on the disk thread); an error names the log."""
    try:
        os.fsync(fd)
    except OSError as exc:
        raise InfrastructureError(f"dedup log {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _apply_frames(table: CompactTable, data: bytes, start: int) -> int:
    """Apply whole, checksummed frames from ``start``; the offset after the last good one."""
    offset = start
    while offset + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, offset)
        payload = data[offset + _FRAME.size : offset + _FRAME.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc or length % SLOT_BYTES:
            break
        for begin in range(0, length, SLOT_BYTES):
            table.apply(payload[begin : begin + SLOT_BYTES])
        offset += _FRAME.size + length
    return offset


def _lock_directory(directory: Path) -> int:
    """Hold an exclusive lock on ``directory`` (two writers would corrupt the log); its fd."""
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise InfrastructureError(
            f"dedup directory {directory} is in use by another consumer; "
            "give each replica its own dedup.path, or use the redis backend"
        ) from exc
    return fd


def _write_atomically(path: Path, *parts: bytes | memoryview) -> None:
    """Write ``parts`` to a temporary file, fsync it, rename it over ``path``, fsync the dir."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as file:
        for part in parts:
            file.write(part)
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
