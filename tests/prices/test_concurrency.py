"""prices.concurrency: fan-outs on reused threads keep order, bound, errors and never deadlock."""

import threading
import time

import pytest

from prices import concurrency
from prices.concurrency import Background, concurrently, parallel_map


def test_results_keep_the_jobs_order_whatever_order_they_finish_in():
    def slow_first(n: int) -> int:
        time.sleep(0.02 if n == 0 else 0)
        return n * n

    assert parallel_map(slow_first, range(10), workers=4) == [n * n for n in range(10)]


def test_at_most_workers_jobs_run_at_once_the_callers_thread_being_one():
    running, peak, lock = 0, 0, threading.Lock()
    threads = set()

    def job(_: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.01)
        with lock:
            running -= 1

    parallel_map(job, range(20), workers=3)

    assert 2 <= peak <= 3
    assert threading.get_ident() in threads  # the caller works too


def test_threads_are_reused_across_fan_outs():
    names: set[str] = set()

    def job(_: int) -> None:
        time.sleep(0.005)
        names.add(threading.current_thread().name)

    for _ in range(30):
        parallel_map(job, range(4), workers=4)

    helpers = {name for name in names if name.startswith("prices-fanout")}
    assert helpers, "some jobs ran on the shared pool"
    assert len(helpers) <= concurrency.POOL_THREADS


def test_the_first_error_in_job_order_is_raised_after_every_job_finished():
    finished = []

    def job(n: int) -> int:
        if n == 2:
            raise ValueError("two")
        if n == 5:
            raise KeyError("five")
        time.sleep(0.01)
        finished.append(n)
        return n

    with pytest.raises(ValueError, match="two"):
        parallel_map(job, range(8), workers=3)

    assert sorted(finished) == [0, 1, 3, 4, 6, 7]


def test_nested_fan_outs_finish_when_the_shared_pool_is_full(monkeypatch):
    """Waiting callers hold every pool thread: queued helpers are cancelled, the callers do the work."""
    monkeypatch.setattr(concurrency, "POOL_THREADS", 2)
    monkeypatch.setattr(concurrency, "_executor", None)
    try:

        def inner(n: int) -> int:
            return sum(parallel_map(lambda m: m + n, range(6), workers=4))

        def outer(n: int) -> int:
            return sum(parallel_map(inner, range(n, n + 4), workers=4))

        done = []
        worker = threading.Thread(target=lambda: done.append(parallel_map(outer, range(5), workers=5)))
        worker.start()
        worker.join(timeout=20)

        assert not worker.is_alive(), "nested fan-outs deadlocked on a full pool"
        expected = [sum(sum(m + k for m in range(6)) for k in range(n, n + 4)) for n in range(5)]
        assert done == [expected]
    finally:
        if concurrency._executor is not None:
            concurrency._executor.shutdown(wait=False, cancel_futures=True)


def test_concurrently_returns_each_calls_result_in_order():
    assert concurrently(lambda: "a", lambda: 2, lambda: None) == ["a", 2, None]


def test_background_runs_beside_the_caller_and_gives_its_result():
    started = threading.Event()

    def call() -> str:
        started.set()
        return threading.current_thread().name

    background = Background(call)
    assert started.wait(5)
    assert background.result().startswith("prices-fanout")


def test_background_never_started_runs_on_the_callers_thread(monkeypatch):
    monkeypatch.setattr(concurrency, "POOL_THREADS", 1)
    monkeypatch.setattr(concurrency, "_executor", None)
    release = threading.Event()
    try:
        blocker = Background(release.wait)  # holds the pool's only thread
        queued = Background(lambda: threading.current_thread().name)

        ran_on = []
        caller = threading.Thread(
            target=lambda: ran_on.append((queued.result(), threading.current_thread().name))
        )
        caller.start()
        caller.join(timeout=10)

        assert not caller.is_alive(), "result() waited for a call the full pool never started"
        assert ran_on[0][0] == ran_on[0][1]
        release.set()
        assert blocker.result() is True
    finally:
        release.set()
        concurrency._executor.shutdown(wait=False, cancel_futures=True)


def test_background_error_is_raised_by_result_and_swallowed_by_wait():
    def fail() -> None:
        raise RuntimeError("reads failed")

    background = Background(fail)
    with pytest.raises(RuntimeError, match="reads failed"):
        background.result()
    Background(fail).wait()  # a discarded result: no error
