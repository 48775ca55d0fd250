"""The embedded dedup store on disk: restarts, crashes, torn logs, compaction and expiry."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from consumer.core.dedup import Claim, Verdict, dedup_key, owner_of
from consumer.dedup_embedded import EmbeddedDedupStore
from consumer.errors import InfrastructureError

WINDOW_S = 48 * 3600
START = 1_800_000_000.0
PROCEED, DUPLICATE = Verdict.PROCEED, Verdict.DUPLICATE


def claims(count: int, first_offset: int = 0) -> list[Claim]:
    """Claims for events ``e0..e<count-1>`` made by records at consecutive offsets."""
    return [
        Claim(
            dedup_key("1000000000000001", "Purchase", f"e{n}"),
            owner_of("orders", 0, first_offset + n),
        )
        for n in range(count)
    ]


def open_store(path: Path, now: float = START, **kwargs: Any) -> EmbeddedDedupStore:
    """An embedded store under ``path`` whose clock stands still at ``now``."""
    return EmbeddedDedupStore(path, WINDOW_S, 900, lambda: now, **kwargs)


def run_in_child(path: Path, script: str) -> int:
    """Run ``script`` in a fresh interpreter with ``store`` open under ``path``; its exit code."""
    prelude = textwrap.dedent(
        f"""
        import asyncio, os
        from pathlib import Path
        from tests.component.test_dedup_embedded import claims, open_store
        store = open_store(Path({str(path)!r}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
        check=False,
    )
    return done.returncode


class TestLock:
    async def test_a_second_store_on_the_same_directory_is_refused(self, tmp_path: Path) -> None:
        """Two writers on one directory would corrupt the log, so the second open fails."""
        store = open_store(tmp_path)
        with pytest.raises(InfrastructureError, match="in use by another consumer"):
            open_store(tmp_path)
        await store.close()
        reopened = open_store(tmp_path)  # free again once closed
        await reopened.close()


class TestRestart:
    async def test_window_survives_a_clean_restart(self, tmp_path: Path) -> None:
        """Delivered and pending keys are still known after close and reopen."""
        store = open_store(tmp_path)
        await store.claim(claims(10))
        await store.confirm(claims(5))
        await store.close()

        reopened = open_store(tmp_path)
        verdicts = await reopened.claim(claims(10, first_offset=100))
        await reopened.close()

        assert [DUPLICATE] * 10 == verdicts

    async def test_window_survives_a_killed_process(self, tmp_path: Path) -> None:
        """A process killed (SIGKILL, no close) after confirm keeps the delivery on disk."""
        code = run_in_child(
            tmp_path,
            """
            asyncio.run(store.claim(claims(3)))
            asyncio.run(store.confirm(claims(2)))
            os.kill(os.getpid(), 9)
            """,
        )
        store = open_store(tmp_path)
        delivered_redelivery = await store.claim(claims(2))  # same owners: crash before commit
        pending_redelivery = await store.claim(claims(3)[2:])  # claimed, never sent
        await store.close()

        assert (-9, [DUPLICATE, DUPLICATE], [PROCEED]) == (
            code,
            delivered_redelivery,
            pending_redelivery,
        )

    async def test_entries_expire_after_the_window_across_a_restart(self, tmp_path: Path) -> None:
        """Reopened two days and a minute later, the old keys are gone and claim again."""
        store = open_store(tmp_path)
        await store.claim(claims(4))
        await store.confirm(claims(4))
        await store.close()

        later = open_store(tmp_path, now=START + WINDOW_S + 60)
        verdicts = await later.claim(claims(4, first_offset=50))
        await later.close()

        assert [PROCEED] * 4 == verdicts

    async def test_a_torn_log_tail_is_cut_and_the_rest_kept(self, tmp_path: Path) -> None:
        """Half a frame at the end of the log (a crash mid-write) is dropped at startup."""
        store = open_store(tmp_path)
        await store.claim(claims(3))
        await store.confirm(claims(3))
        await store.close()
        with (tmp_path / "dedup.log").open("ab") as log:
            log.write(b"\x38\x00\x00\x00garbage")

        reopened = open_store(tmp_path)
        verdicts = await reopened.claim(claims(4, first_offset=9))
        await reopened.close()

        assert [DUPLICATE, DUPLICATE, DUPLICATE, PROCEED] == verdicts

    async def test_each_compaction_logs_how_long_the_loop_waited(self, tmp_path: Path) -> None:
        """The snapshot is written on the event loop: its line says how long and how big
        (operations.md, sizing the store), so an operator can see the pause."""
        store = open_store(tmp_path, compact_min_bytes=0, capacity=1024)
        with capture_logs() as logs:
            for start in range(0, 3000, 500):
                batch = claims(3000)[start : start + 500]
                await store.claim(batch)
                await store.confirm(batch)
        await store.close()

        compacted = [entry for entry in logs if entry["event"] == "dedup.embedded.compacted"]
        assert compacted
        slot_arrays_mb = {round(slots * 28 / 1e6, 1) for slots in (1024, 2048, 4096, 8192)}
        assert all(
            entry["took_s"] >= 0 and entry["snapshot_mb"] in slot_arrays_mb for entry in compacted
        ), compacted

    async def test_compaction_snapshots_and_restarts_the_log(self, tmp_path: Path) -> None:
        """Past the log budget the table is snapshotted; the reopened store has every key."""
        store = open_store(tmp_path, compact_min_bytes=0, capacity=1024)
        for start in range(0, 3000, 500):
            batch = claims(3000)[start : start + 500]
            await store.claim(batch)
            await store.confirm(batch)
        await store.close()
        log_size = (tmp_path / "dedup.log").stat().st_size
        written = 6000 * 28  # a claim and a confirm image per key

        reopened = open_store(tmp_path)
        verdicts = await reopened.claim(claims(3000, first_offset=10_000))
        await reopened.close()

        assert (True, True, {DUPLICATE}) == (
            (tmp_path / "dedup.snapshot").exists(),
            log_size < written,
            set(verdicts),
        )


class TestOffloadedSync:
    async def test_confirm_returns_only_after_its_fsync_which_runs_off_the_loop(
        self, tmp_path: Path
    ) -> None:
        """With an offload, confirm hands its fsync over and waits for it; meanwhile the loop
        goes on (here: a claim is answered) and nothing was fsynced on the loop."""
        handed: list[Callable[[], None]] = []
        go = asyncio.Event()

        async def offload(fn: Callable[[], None]) -> None:
            handed.append(fn)
            await go.wait()
            await asyncio.to_thread(fn)

        store = open_store(tmp_path, offload=offload)
        await store.claim(claims(5))
        confirming = asyncio.create_task(store.confirm(claims(5)))
        await asyncio.sleep(0.05)
        meanwhile = await store.claim(claims(3, first_offset=100))  # the loop is not blocked
        waited = (confirming.done(), len(handed))
        go.set()
        await confirming
        await store.close()

        assert ((False, 1), [DUPLICATE] * 3) == (waited, meanwhile)

    async def test_offloaded_confirms_close_their_descriptors_and_persist(
        self, tmp_path: Path
    ) -> None:
        """Each offloaded fsync closes the duplicate descriptor it was given, compactions
        included, and the confirmed keys are known after a restart."""

        async def offload(fn: Callable[[], None]) -> None:
            await asyncio.to_thread(fn)

        store = open_store(tmp_path, offload=offload, compact_min_bytes=0, capacity=1024)
        before = len(os.listdir("/proc/self/fd"))
        for start in range(0, 3000, 500):
            batch = claims(3000)[start : start + 500]
            await store.claim(batch)
            await store.confirm(batch)
        after = len(os.listdir("/proc/self/fd"))
        await store.close()
        reopened = open_store(tmp_path)
        verdicts = await reopened.claim(claims(3000, first_offset=10_000))
        await reopened.close()

        assert (before, {DUPLICATE}) == (after, set(verdicts))

    async def test_a_cancelled_confirm_still_flushes_and_closes_its_descriptor(
        self, tmp_path: Path
    ) -> None:
        """Shutdown may cancel a confirm while its fsync waits for the disk thread: the fsync
        still runs and the duplicate descriptor is closed, not leaked."""
        go = asyncio.Event()
        ran: list[bool] = []

        async def offload(fn: Callable[[], None]) -> None:
            await go.wait()
            await asyncio.to_thread(fn)
            ran.append(True)

        store = open_store(tmp_path, offload=offload)
        before = len(os.listdir("/proc/self/fd"))
        confirming = asyncio.create_task(store.confirm(claims(5)))
        await asyncio.sleep(0.05)
        confirming.cancel()
        with pytest.raises(asyncio.CancelledError):
            await confirming
        go.set()
        for _ in range(100):  # the shielded flush finishes on its own
            if ran:
                break
            await asyncio.sleep(0.01)
        after = len(os.listdir("/proc/self/fd"))
        await store.close()

        assert (True, before) == (bool(ran), after)
