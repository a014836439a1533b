"""A bounded thread pool for CPU-bound sampling work, awaited from the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class PoolBusy(RuntimeError):
    """Too many requests are already waiting for the pool; the client should retry later."""


class SamplingPool:
    """Runs forward passes and encoding off the event loop, with a cap on waiting work.

    Threads (not processes) suffice: torch releases the GIL inside its kernels. The cap turns
    overload into quick 503s instead of an ever-growing queue of requests that time out anyway.
    """

    def __init__(self, workers: int, max_pending: int) -> None:
        self.workers = workers
        self.max_pending = max_pending
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0

    def start(self) -> None:
        """Create the thread pool (a no-op if it is running); called when the app's lifespan starts."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="sampling")

    def shutdown(self) -> None:
        """Cancel waiting calls, wait for running ones and drop the threads; ``start`` may follow."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    @property
    def pending(self) -> int:
        """Calls admitted by ``run`` and not yet finished, running or waiting (capped at ``max_pending``)."""
        return self._pending

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` in the pool and return its result."""
        if self._executor is None:
            raise RuntimeError("the sampling pool is not running (app lifespan not started)")
        if self._pending >= self.max_pending:
            raise PoolBusy("server busy: too many sampling requests waiting; retry shortly")
        self._pending += 1  # only touched from the event loop thread: no lock needed
        try:
            loop = asyncio.get_running_loop()
            call = functools.partial(function, *args, **kwargs)
            return await loop.run_in_executor(self._executor, call)
        finally:
            self._pending -= 1
