"""Parallel calls on reused threads: the one home for the fan-out of DynamoDB calls.

A cycle fans out some fifty small calls (shards, write chunks, independent reads). A new
`ThreadPoolExecutor` per fan-out started a new thread for each, and `Thread.start` waits
until the new thread holds the GIL: with the other workers busy, that wait is up to the
interpreter's switch interval (5 ms) per thread. The threads here are started once per
process and reused.

Fan-outs nest (a poll's prepared reads run beside its writes; each read fans out over
shards), yet none can deadlock on the shared pool: the caller works through the jobs
itself alongside its helpers, and helpers that have not started when the jobs run out are
cancelled rather than waited for. A full pool therefore only makes a fan-out serial.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

POOL_THREADS = 32  # shared by every fan-out of the process; at most this many helpers at once

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="prices-fanout")
        return _executor


def parallel_map(function: Callable[[T], R], jobs: Iterable[T], *, workers: int) -> list[R]:
    """`[function(job) for job in jobs]`, at most `workers` at once (the caller's thread is one).

    Results keep the jobs' order. Every started job finishes before the first error (in job
    order) is re-raised, so no call is left running behind the caller's back.
    """
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return [function(job) for job in jobs]
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException | None] = [None] * len(jobs)
    claim = iter(range(len(jobs)))
    claim_lock = threading.Lock()

    def lane() -> None:
        while True:
            with claim_lock:
                index = next(claim, None)
            if index is None:
                return
            try:
                results[index] = function(jobs[index])
            except BaseException as exc:  # re-raised in the caller, after the others finish
                errors[index] = exc

    helpers = [_pool().submit(lane) for _ in range(min(workers, len(jobs)) - 1)]
    lane()
    for helper in helpers:
        if not helper.cancel():  # a helper still queued has no job left: nothing to wait for
            helper.result()
    for error in errors:
        if error is not None:
            raise error
    return results


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent `calls` at once; their results in order; the first error re-raised after all."""
    return parallel_map(lambda call: call(), calls, workers=len(calls))


class Background:
    """`call()` started on a reused thread; `result()` runs it on the caller's if it never started.

    For work that overlaps the caller's own (a poll's reads while it writes its ticks).
    """

    def __init__(self, call: Callable[[], R]) -> None:
        self._call = call
        self._future: Future = _pool().submit(call)

    def result(self) -> Any:
        """The call's result, or its error raised."""
        if self._future.cancel():
            return self._call()
        return self._future.result()

    def wait(self) -> None:
        """Wait for the call to end (or run it), discarding its result and error."""
        with contextlib.suppress(Exception):  # the caller discards it (e.g. a lost claim's reads)
            self.result()
