"""The one place where threads meet the event loop.

librdkafka objects belong to threads: the consumer to one dedicated thread (all its calls,
including the rebalance callbacks it runs inside ``poll``), blocking producer flushes and the
registry client to a small worker pool, the embedded dedup log's fsyncs to one disk thread (in
order, never queued behind a producer flush). The asyncio loop owns HTTP, dedup and all
pipeline state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["Bridge"]

P = ParamSpec("P")
T = TypeVar("T")


class Bridge:
    """Run blocking calls off the loop, and loop coroutines from librdkafka's threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._consumer = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="kafka-consumer"
        )
        self._blocking = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="blocking-io")
        self._disk = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="disk-sync")

    async def on_consumer_thread(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn`` on the consumer's own thread (the only thread that touches the consumer)."""
        return await self._loop.run_in_executor(
            self._consumer, functools.partial(fn, *args, **kwargs)
        )

    async def blocking(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call a blocking ``fn`` (producer flush, registry lookup) on the worker pool."""
        return await self._loop.run_in_executor(
            self._blocking, functools.partial(fn, *args, **kwargs)
        )

    async def on_disk_thread(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (an fsync of the dedup log) on the disk thread, one at a time, in order."""
        await self._loop.run_in_executor(self._disk, fn)

    def from_thread(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """From a librdkafka thread: run ``coro`` on the loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def shutdown(self) -> None:
        self._consumer.shutdown(wait=True)
        self._blocking.shutdown(wait=True)
        self._disk.shutdown(wait=True)
