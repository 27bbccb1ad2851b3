"""A small keep-alive HTTP load client for `bench_http` (standard library only; tooling).

Each process holds one persistent connection and sends GETs back to back for a fixed time;
the parent adds up the responses. Used when `wrk` is not installed.
"""

from __future__ import annotations

import http.client
import time
from multiprocessing import get_context


def _drive(host: str, port: int, path: str, seconds: float, start_at: float, results) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    ok = failed = 0
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = time.time() + seconds
    while time.time() < deadline:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            ok += 1
        else:
            failed += 1
    connection.close()
    results.put((ok, failed))


def drive(*, host: str, port: int, path: str, seconds: float, processes: int) -> tuple[int, int, float]:
    """(responses 200, other responses, seconds) of `processes` keep-alive clients for `seconds`."""
    context = get_context("spawn")  # a clean interpreter: no Django, no boto3 threads
    results = context.Queue()
    start_at = time.time() + 1.0 + 0.2 * processes  # all clients start together
    workers = [
        context.Process(target=_drive, args=(host, port, path, seconds, start_at, results))
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            worker.start()
        totals = [results.get(timeout=seconds + 60) for _ in workers]
    finally:  # interrupted (a kill, gunicorn gone): no client left hammering the port
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            if worker.pid is not None:
                worker.join()
    return sum(ok for ok, _ in totals), sum(failed for _, failed in totals), seconds
