"""manage.py bench_api: seed N pairs × 24 h, run 65 minutes of real ingestion, measure rank and history.

A benchmark, not a test: it prints figures and the targets of issue 11. It runs against the
configured DynamoDB endpoint (dynalite under `make run`) in a throw-away table prefix that
is dropped at the end (unless --keep).

1. Seeds `--minutes` (1,440) of aggregates for `--pairs` pairs (minute snapshots, hour
   rollups, the registry) ending at a simulated clock's hh:30, and ticks for `--tick-pairs`
   of them (the naive rank and history read ticks; seeding 1,440 ticks of 10,000 pairs
   would take hours). Prices are a random walk per pair from the real last prices of the
   recorded Bitfinex snapshot (tests/fixtures/history; more pairs get synthetic names with
   those levels), rounded to 5 significant digits like Bitfinex. Then the live windows of the
   first simulated hour are prepared as the cycle closing the previous hour would have.
2. Runs `--cycles` (65) consecutive minutes of real ingestion (`ticks_ingest` against the
   loopback Bitfinex stub, whose tickers body uses Bitfinex's documented field order) on
   the simulated clock, crossing an hour boundary: per cycle its time, status, DynamoDB calls,
   items read and written, and the largest item written (DynamoDB's size rules).
3. After every cycle, the live 24 h rank uncached (`selectors.pairs_rank`, no cache), so the
   best and worst minute of the hour are measured, then again replayed with the minutes
   interleaved (`_rank_replayed`, the figure judged); the naive rank (every tick) once; the
   cached rank through the API; history 24 h and 30 d at 1 h (prices.bench_history). Every
   read is watched for DynamoDB writes (there must be none).
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.test import Client, override_settings

from prices import selectors
from prices.bench_history import history_figures
from prices.domain import EXCHANGE_BITFINEX, HOUR_MS, MINUTE, MINUTE_MS, Tick, TickSource, from_ms, to_ms
from prices.importers import read_snapshot_file
from prices.management.commands._cli import benchmark_tables, prices_logs_quiet, require_migrated
from prices.repository import LatestPrice
from prices.repository.dynamodb_items import item_size
from prices.rollups import LiveWindow, MinuteSnapshot, rollup_from_snapshots
from prices.services import ticks_ingest
from prices.services.aggregates import live_prepare, tail_ensure
from prices.signals import prices_receivers_only
from prices.sources.bitfinex import BitfinexSource
from prices.sources.stub_server import ROOT, BitfinexStubServer

SNAPSHOT = ROOT / "tests" / "fixtures" / "history" / "4min_of_bitfinex_prices_fixed.json"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
WINDOW = 1440


def _five_digits(value: float) -> Decimal:
    return Decimal(f"{value:.5g}")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def cycle_target_ms(pairs: int) -> int:
    """Issue 11's cycle p95 target for a pair count: 150 ms to 300 pairs, 1 s to 3,000, else 3 s."""
    return 150 if pairs <= 300 else 1000 if pairs <= 3000 else 3000


def local_server_pid(endpoint_url: str | None) -> int | None:
    """The pid of the process listening on a loopback endpoint's port (Linux /proc), else None.

    Lets the benchmark report the CPU the DynamoDB endpoint (dynalite, one single-threaded
    node process) spends per cycle: a figure the machine's load does not change.
    """
    url = urlsplit(endpoint_url or "")
    if url.hostname not in ("127.0.0.1", "localhost", "::1") or url.port is None:
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()  # local address "0100007F:4567" (hex), state 0A = LISTEN, inode
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == url.port:
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or not inodes:
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def process_cpu_ms(pid: int | None) -> float | None:
    """User + system CPU time of a process so far, in ms (None without the pid or once it is gone)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


RANK_RATIO_SETTING = (300, 1440)  # issue 11 sets the naive/live ratios at 300 pairs × 24 h of data
RANK_RATIO_NOTE = "(target set for 300 pairs × 1,440 minutes)"


def rank_checks(
    pairs: int, *, minutes: int, ratio: float, spread: float, live_ms: float
) -> list[tuple[str, bool | None]]:
    """Issue 11's live rank targets, each judged (True/False) only where the issue sets it, else None.

    Naive/live ≥ 1,000× and worst minute ≤ 1.5× best are set at 300 pairs over 1,440 minutes of
    data (the naive rank's cost grows with both), so elsewhere the figure carries a note instead
    of a verdict; p50 ≤ 60 ms is judged to 3,000 pairs.
    """
    judged = (pairs, minutes) == RANK_RATIO_SETTING
    note = "" if judged else f" {RANK_RATIO_NOTE}"
    checks: list[tuple[str, bool | None]] = [
        (
            f"live rank ≥ 1,000× faster than naive: {ratio:,.0f}× (worst minute){note}",
            ratio >= 1000 if judged else None,
        ),
        (f"live rank worst minute ≤ 1.5× best: {spread:.2f}×{note}", spread <= 1.5 if judged else None),
    ]
    if pairs <= 3000:
        checks.append((f"live rank p50 ≤ 60 ms: {live_ms:.1f} ms", live_ms <= 60))
    return checks


def _best_and_worst(by_offset: dict[int, float]) -> tuple[tuple[int, float], tuple[int, float]]:
    """(minute, ms) of the fastest and the slowest minute of the hour."""
    best = min(by_offset, key=by_offset.get)
    worst = max(by_offset, key=by_offset.get)
    return (best, by_offset[best]), (worst, by_offset[worst])


def _best_worst_text(figures: tuple[tuple[int, float], tuple[int, float]]) -> str:
    (best_offset, best), (worst_offset, worst) = figures
    return (
        f"best minute of the hour :{best_offset:02d} {best:.1f} ms, worst :{worst_offset:02d} "
        f"{worst:.1f} ms (worst/best {worst / best:.2f}×)"
    )


def machine_reference_ms() -> float:
    """The time of a fixed pure-Python loop: how fast this machine is right now, for context.

    Shared and virtual machines change speed by the second; timed next to each cycle, the
    loop shows how much of a run's spread is the machine's (its work never changes).
    """
    started = time.perf_counter()
    total = 0
    for i in range(200_000):
        total += i
    return (time.perf_counter() - started) * 1000


class CallCounter:
    """DynamoDB calls by operation, items read and written, largest item written (botocore hooks).

    The hook before a write only keeps a reference to the request body (already serialised by
    botocore); the items are counted and sized (`item_size`) when `written` or `largest` is
    read, after the timed section: sizing every tick of a cycle inside it cost ~0.25 s per
    cycle at 3,000 pairs, measurement counted as cycle time. Every item is still sized.
    """

    def __init__(self, client) -> None:
        self._lock = threading.Lock()
        self.reset()
        client.meta.events.register("after-call.dynamodb", self._after_call)
        client.meta.events.register("before-call.dynamodb", self._before_call)

    def _before_call(self, params, model, **kwargs) -> None:
        with self._lock:  # the repository's calls come from several threads
            self.sent += len(params.get("body") or b"")
        if model.name in ("PutItem", "BatchWriteItem"):
            self._bodies.append((model.name, params["body"]))  # list.append is atomic across threads

    def _size_bodies(self) -> None:
        bodies, self._bodies = self._bodies, []
        for name, raw in bodies:
            body = json.loads(raw)
            items = [body["Item"]] if name == "PutItem" else [
                request["PutRequest"]["Item"]
                for requests in body["RequestItems"].values()
                for request in requests
                if "PutRequest" in request
            ]  # fmt: skip
            self._written += len(items)
            self._largest = max([self._largest, *(item_size(item) for item in items)])

    @property
    def written(self) -> int:
        self._size_bodies()
        return self._written

    @property
    def largest(self) -> int:
        self._size_bodies()
        return self._largest

    def _after_call(self, http_response, parsed, model, **kwargs) -> None:
        if model.name in ("Query", "Scan"):
            items = len(parsed.get("Items", []))
        elif model.name == "GetItem":
            items = 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            items = sum(len(v) for v in parsed.get("Responses", {}).values())
        else:
            items = 0
        with self._lock:
            self.calls[model.name] += 1
            self.received += len(http_response.content or b"")
            self.items += items

    @property
    def writes(self) -> int:
        return sum(n for name, n in self.calls.items() if name in WRITES)

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        self.sent = 0  # request body bytes
        self.received = 0  # response body bytes
        self._bodies: list[tuple[str, bytes]] = []
        self._written = 0
        self._largest = 0


class Command(BaseCommand):
    help = "Benchmark ingestion (65 simulated minutes), the live rank, naive rank and history on N pairs."

    def add_arguments(self, parser):
        parser.add_argument(
            "--pairs", type=int, default=300, help="Pairs served by the stub and seeded (default 300)."
        )
        parser.add_argument("--minutes", type=int, default=1440, help="Minutes of seeded aggregates.")
        parser.add_argument("--cycles", type=int, default=65, help="Consecutive minutes of ingestion.")
        parser.add_argument(
            "--tick-pairs",
            type=int,
            default=300,
            help="Pairs whose seeded minutes also get ticks, for the naive rank (scaled to --pairs).",
        )
        parser.add_argument("--repeat", type=int, default=15, help="Repetitions of each cheap measurement.")
        parser.add_argument("--rank-repeat", type=int, default=5, help="Live rank repetitions per cycle.")
        parser.add_argument(
            "--replay-rounds",
            type=int,
            default=30,
            help="Rounds of the live rank replayed at every minute of the hour, interleaved (0: none).",
        )
        parser.add_argument("--naive-repeat", type=int, default=1, help="Repetitions of the naive rank.")
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark tables.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--history-days", type=int, default=30, help="Days of one pair's candles for the history figures."
        )

    def handle(self, *args, **options):
        if not settings.DYNAMODB_ENDPOINT_URL:
            raise CommandError(
                "DYNAMODB_ENDPOINT_URL is empty: refusing to seed 432,000 items on AWS; "
                "point it at dynalite (make run) or another local endpoint"
            )
        if options["pairs"] < 1 or options["cycles"] < 1 or options["minutes"] < 60:
            raise CommandError("--pairs and --cycles must be at least 1, --minutes at least 60")
        require_migrated()  # the pages read pair states from the database
        prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        self.rng = random.Random(options["seed"])
        # The API is measured, not its rate limits: the benchmark's own requests would hit them.
        rest_framework = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
        with (
            override_settings(
                DYNAMODB_TABLE_PREFIX=prefix,
                ALLOWED_HOSTS=["testserver", "127.0.0.1"],
                REST_FRAMEWORK=rest_framework,
                # One exchange is measured (bench_exchanges measures several): no cross-exchange guard.
                PRICES_EXCHANGES=[EXCHANGE_BITFINEX],
            ),
            benchmark_tables(keep=options["keep"]) as repo,
            prices_logs_quiet(options["verbosity"]),  # each cycle prints its own line
        ):
            self._run(repo, options)

    # --- seeding --------------------------------------------------------------------------

    def _levels(self, count: int) -> dict[str, float]:
        records = [r for r in read_snapshot_file(SNAPSHOT) if r.price > 0 and r.listed]
        real: dict[str, float] = {}
        for record in records:
            real.setdefault(record.pair, float(record.price))
        names = sorted(real)[:count]
        levels = {name: real[name] for name in names}
        reals = list(real.values())
        for i in range(count - len(names)):  # beyond the recorded pairs: synthetic names, real levels
            levels[f"B{i:05d}:TESTUSD"] = reals[i % len(reals)]
        return levels

    def _walk(self, levels: dict[str, float]) -> dict[str, float]:
        gauss = self.rng.gauss
        return {pair: price * math.exp(gauss(0, 0.0008)) for pair, price in levels.items()}

    def _seed(
        self,
        repo,
        levels: dict[str, float],
        start: datetime,
        minutes: int,
        tick_pairs: set[str],
        *,
        exchange: str = EXCHANGE_BITFINEX,
    ) -> dict[str, float]:
        """Store `minutes` of aggregates of `levels`' pairs (random walks from the levels) from
        `start`, and ticks of `tick_pairs`; prepare the live windows. Returns the last prices."""
        self.stdout.write(
            f"Seeding {len(levels):,} pairs × {minutes:,} minutes of aggregates "
            f"({len(tick_pairs):,} pairs with ticks) into {repo.aggregates_table} ..."
        )
        started = time.monotonic()
        prices = dict(levels)
        hour: list[MinuteSnapshot] = []
        pool = ThreadPoolExecutor(max_workers=4)

        def write(snapshot: MinuteSnapshot) -> None:
            ticks = [
                Tick(exchange, pair, from_ms(snapshot.minute_ms), price, source=TickSource.TICKER)
                for pair, price in snapshot.prices.items()
                if pair in tick_pairs
            ]
            repo.put_many(ticks)  # ticks first, as minutes_store writes them
            repo.claim_snapshot(snapshot)

        def close_hour(snapshots: list[MinuteSnapshot]) -> None:
            hour_ms = snapshots[0].minute_ms - snapshots[0].minute_ms % HOUR_MS
            repo.put_rollup(rollup_from_snapshots(exchange=exchange, hour_ms=hour_ms, snapshots=snapshots))

        futures = []
        for i in range(minutes):
            minute_ms = to_ms(start) + i * MINUTE_MS
            prices = self._walk(prices)
            snapshot = MinuteSnapshot(exchange, minute_ms, {p: _five_digits(v) for p, v in prices.items()})
            futures.append(pool.submit(write, snapshot))
            hour.append(snapshot)
            if (minute_ms + MINUTE_MS) % HOUR_MS == 0 or i == minutes - 1:
                futures.append(pool.submit(close_hour, hour))
                hour = []
            if (i + 1) % 240 == 0:
                self.stdout.write(f"  {i + 1:,}/{minutes:,} minutes")
        for future in futures:
            future.result()
        pool.shutdown()
        newest = to_ms(start) + (minutes - 1) * MINUTE_MS
        repo.update_latest(
            exchange=exchange,
            prices={p: LatestPrice(newest, _five_digits(v)) for p, v in prices.items()},
        )
        seeded = time.monotonic() - started
        end_ms = newest + MINUTE_MS
        # What the cycle closing the previous hour (and the one 23 hours before) would have stored.
        hour_ms = end_ms - end_ms % HOUR_MS
        live_prepare(exchange=exchange, hour_ms=hour_ms, repo=repo)
        tail_ensure(repo=repo, exchange=exchange, hour_ms=hour_ms - 23 * HOUR_MS, offset=1)
        self.stdout.write(
            f"Seeded {minutes * len(levels):,} minute prices and {minutes * len(tick_pairs):,} ticks in "
            f"{seeded:.1f} s; live windows prepared in {time.monotonic() - started - seeded:.1f} s"
        )
        return prices

    # --- measuring -------------------------------------------------------------------------

    def _measure(self, counter: CallCounter, name: str, repeat: int, action: Callable[[], object]) -> dict:
        times = []
        writes = 0
        for _ in range(repeat):
            counter.reset()
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
            writes += counter.writes
        calls, items = Counter(counter.calls), counter.items
        row = {"name": name, "p50": statistics.median(times), "p95": _p(times, 0.95), "calls": calls}
        row.update(items=items, writes=writes)
        self.stdout.write(
            f"  {name:<40} p50 {row['p50']:9.2f} ms  p95 {row['p95']:9.2f} ms  "
            f"calls {sum(calls.values()):4d} {dict(calls)}  items read {items:,}  writes {writes}"
        )
        return row

    def _run(self, repo, options) -> None:
        counter = CallCounter(repo.client)
        pairs = options["pairs"]
        levels = self._levels(pairs)
        minutes = options["minutes"]
        # A simulated clock in the past (so that no real-time cap moves the API's window end):
        # the seed ends at hh:30, and the cycles run from hh:30 across the next hour boundary.
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        end = now - timedelta(hours=3) + timedelta(minutes=30)
        start = end - minutes * MINUTE
        tick_pairs = set(sorted(levels)[: options["tick_pairs"]])
        prices = self._seed(repo, levels, start, minutes, tick_pairs)
        client = Client()
        results: dict = {"pairs": pairs, "minutes": minutes}
        naive_end = end  # the seeded 24 h: every tick pair has its 1,440 ticks
        results["cycles"], results["rank_by_offset"], results["rank_replayed"] = self._cycles(
            counter, repo, prices, end, options
        )
        live_end = end + options["cycles"] * MINUTE
        self.stdout.write(f"\nReads (window 24 h; live end {live_end:%Y-%m-%dT%H:%MZ}, {pairs:,} pairs):")

        def rank_cached() -> None:
            response = client.get("/api/v1/rank/?window=24h&limit=5000")
            assert response.status_code == 200, response.content[:200]

        naive_pairs = sorted(tick_pairs)

        def rank_naive() -> None:
            values = {}
            for pair in naive_pairs:
                ticks = list(
                    repo.between(
                        exchange=EXCHANGE_BITFINEX,
                        pair=pair,
                        start=naive_end - WINDOW * MINUTE,
                        end=naive_end,
                    )
                )
                closes = [float(t.last_price) for t in ticks]
                values[pair] = statistics.stdev(closes) / statistics.fmean(closes)
            sorted(values, key=values.get, reverse=True)

        def rank_live() -> None:
            selectors.pairs_rank(window_minutes=WINDOW, end=live_end, repo=repo)

        def pairs_uncached() -> None:
            cache.clear()
            assert client.get("/api/v1/pairs/").status_code == 200

        cache.clear()
        rank_cached()  # fill the cache
        results["rank_live"] = self._measure(
            counter, "live rank uncached (newest minute)", options["repeat"], rank_live
        )
        results["rank_cached"] = self._measure(
            counter, "rank via API, cached", options["repeat"], rank_cached
        )
        results["pairs_uncached"] = self._measure(
            counter, "pairs/ via API, uncached", options["repeat"], pairs_uncached
        )
        results["naive"] = self._measure(
            counter,
            f"rank naive (every tick, {len(naive_pairs):,} pairs)",
            options["naive_repeat"],
            rank_naive,
        )
        results["naive_scale"] = pairs / len(naive_pairs)
        results["history_checks"] = history_figures(
            repo=repo,
            client=client,
            measure=lambda name, times, action: self._measure(counter, name, times, action),
            end=live_end,
            repeat=options["repeat"],
            days=options["history_days"],
            write=self.stdout.write,
        )
        self._report(results)

    def _cycles(self, counter: CallCounter, repo, prices: dict[str, float], end: datetime, options):
        """Run the ingestion cycles; after each, time the uncached live rank. Returns both series."""
        state = {"prices": prices}

        def body() -> bytes:
            state["prices"] = self._walk(state["prices"])
            rows = [
                [f"t{pair}", p, 1, p, 1, 0, 0, float(_five_digits(p)), 100, p, p]
                for pair, p in state["prices"].items()
            ]
            return json.dumps(rows).encode()

        cycles: list[dict] = []
        rank_by_offset: dict[int, float] = {}
        published: dict[int, tuple[datetime, LiveWindow | None, int]] = {}
        self.stdout.write(f"\nIngestion: {options['cycles']} consecutive minutes from {end:%Y-%m-%dT%H:%MZ}")
        with BitfinexStubServer(tickers=body) as stub, prices_receivers_only():
            # Listeners outside the prices app (alerts enqueues an evaluation task) are not
            # part of the cycle, and must not put tasks for throw-away tables in the queue.
            source = BitfinexSource(base_url=stub.url, timeout_s=30, retries=0)
            endpoint = local_server_pid(settings.DYNAMODB_ENDPOINT_URL)
            for i in range(options["cycles"]):
                minute = end + i * MINUTE
                poll = minute + MINUTE + timedelta(seconds=2)
                reference = machine_reference_ms()
                counter.reset()
                endpoint_cpu = process_cpu_ms(endpoint)
                started, cpu = time.perf_counter(), time.process_time()
                summary = ticks_ingest(source=source, repo=repo, now=lambda p=poll: p)
                elapsed = (time.perf_counter() - started) * 1000
                cpu_ms = (time.process_time() - cpu) * 1000  # this process only (not dynalite's)
                endpoint_after = process_cpu_ms(endpoint)
                cycles.append(
                    {
                        "minute": minute,
                        "ms": elapsed,
                        "cpu": cpu_ms,
                        "endpoint_cpu": None
                        if endpoint_cpu is None or endpoint_after is None
                        else endpoint_after - endpoint_cpu,
                        "sent": counter.sent,
                        "received": counter.received,
                        "status": summary.status,
                        "calls": sum(counter.calls.values()),
                        "by_op": Counter(counter.calls),
                        "read": counter.items,
                        "written": counter.written,
                        "largest": counter.largest,
                        "reference": reference,
                    }
                )
                times = []
                reads_wrote = 0
                for _ in range(options["rank_repeat"]):
                    counter.reset()
                    started = time.perf_counter()
                    selectors.pairs_rank(window_minutes=WINDOW, end=minute + MINUTE, repo=repo)
                    times.append((time.perf_counter() - started) * 1000)
                    reads_wrote += counter.writes
                cycles[-1]["rank_writes"] = reads_wrote
                # What the rank read at this minute: the same at every minute of the hour by design.
                cycles[-1]["rank_reads"] = (sum(counter.calls.values()), counter.items, counter.received)
                offset = (to_ms(minute) % HOUR_MS) // MINUTE_MS
                rank_received = counter.received
                live_window = repo.get_live(exchange=EXCHANGE_BITFINEX, window_minutes=WINDOW)
                published[offset] = (minute + MINUTE, live_window, rank_received)
                # Every minute's rank does the same reads; the fastest of the repetitions is the
                # figure least disturbed by other work on a shared machine.
                rank_by_offset[offset] = min(rank_by_offset.get(offset, math.inf), min(times))
                self.stdout.write(
                    f"  {minute:%H:%M} {summary.status:<8} {elapsed:8.1f} ms  "
                    f"calls {cycles[-1]['calls']:4d}  "
                    f"read {cycles[-1]['read']:,}  written {cycles[-1]['written']:,}  "
                    f"largest item {cycles[-1]['largest']:,} B  live rank {min(times):6.1f} ms"
                    + (f"  {summary.error}" if summary.error else "")
                )
        replayed = self._rank_replayed(counter, repo, published, options)
        return cycles, rank_by_offset, replayed

    def _rank_replayed(
        self,
        counter: CallCounter,
        repo,
        published: dict[int, tuple[datetime, LiveWindow | None, int]],
        options,
    ) -> dict | None:
        """The live rank at every minute of the hour again, minutes interleaved: median per minute.

        Timed right after each cycle, a minute's rank shares the moment with that minute only,
        and this machine's speed drifts over minutes: the spread between minutes is then the
        machine's as much as the rank's. Here each minute's published 24 h window (what its
        cycle stored, read back after it) is put back and ranked, the minutes in a new random
        order every round, so every minute is sampled across the same stretch of time. The
        bytes the replayed rank reads are compared with what it read after the cycle.
        Each minute's figure is the median of its rounds: interleaved, the samples of every
        minute meet the same moments, and the median of 30 is stable where the fastest is not
        (on the 2-core machine at 300 pairs, one run's fastest-of-30 ranged 5.3–7.7 ms between
        minutes that read the same bytes, their medians 9.0–10.6 ms).
        """
        rounds = options["replay_rounds"]
        if rounds <= 0 or not published or any(live is None for _, live, _ in published.values()):
            return None
        self.stdout.write(f"\nLive rank replayed: {rounds} rounds over {len(published)} minutes of the hour")
        order = sorted(published)
        shuffle = random.Random(options["seed"]).shuffle
        samples: dict[int, list[float]] = {offset: [] for offset in order}
        writes = 0
        bytes_differ = 0
        for _ in range(rounds):
            shuffle(order)
            for offset in order:
                end, live, received = published[offset]
                repo.put_live(live)  # the minute's window, as its cycle published it
                counter.reset()
                started = time.perf_counter()
                selectors.pairs_rank(window_minutes=WINDOW, end=end, repo=repo)
                elapsed = (time.perf_counter() - started) * 1000
                writes += counter.writes
                bytes_differ = max(bytes_differ, abs(counter.received - received))
                samples[offset].append(elapsed)
        newest = max(published.values(), key=lambda entry: entry[0])
        repo.put_live(newest[1])  # the reads that follow see the newest minute again
        medians = {offset: statistics.median(times) for offset, times in samples.items()}
        return {"by_offset": medians, "rounds": rounds, "writes": writes, "bytes_differ": bytes_differ}

    @staticmethod
    def _endpoint_lines(cycles: list[dict]) -> list[str]:
        """The endpoint's CPU per cycle (when it is a local process) and the bytes exchanged with it."""
        lines = []
        endpoint = [c["endpoint_cpu"] for c in cycles if c["endpoint_cpu"] is not None]
        if len(endpoint) == len(cycles):
            # /proc counts in clock ticks (10 ms): p50 and p95 are to a tick, the mean is finer.
            lines.append(
                f"  CPU of the DynamoDB endpoint process per cycle (e.g. dynalite): mean "
                f"{statistics.fmean(endpoint):.0f} ms, p50 {statistics.median(endpoint):.0f} ms, "
                f"p95 {_p(endpoint, 0.95):.0f} ms"
            )
        sent = statistics.median(c["sent"] for c in cycles)
        received = statistics.median(c["received"] for c in cycles)
        lines.append(f"  bytes per cycle (p50): sent to DynamoDB {sent:,.0f}, received {received:,.0f}")
        return lines

    @staticmethod
    def _rank_reads_line(cycles: list[dict]) -> str:
        """The calls, items and bytes of the live rank's reads, and whether every minute read the same."""
        reads = [c["rank_reads"] for c in cycles]
        calls, items = {r[0] for r in reads}, {r[1] for r in reads}
        sizes = [r[2] for r in reads]
        same = len(calls) == len(items) == 1
        return (
            f"calls {'/'.join(map(str, sorted(calls)))}, items {'/'.join(map(str, sorted(items)))}, "
            f"bytes {min(sizes):,}–{max(sizes):,} ({max(sizes) / min(sizes):.2f}×)"
            + (" — the same calls and items at every minute" if same else "")
        )

    @staticmethod
    def _reference_line(cycles: list[dict]) -> str:
        refs = [c["reference"] for c in cycles]
        return (
            f"Machine reference (a fixed 200,000-step Python loop, before each cycle): p50 "
            f"{statistics.median(refs):.1f} ms, min {min(refs):.1f}, max {max(refs):.1f} "
            f"(max/min {max(refs) / min(refs):.2f}×: the machine's own spread during the run)"
        )

    def _report(self, results: dict) -> None:
        pairs, cycles = results["pairs"], results["cycles"]
        times = [c["ms"] for c in cycles]
        cpu = [c["cpu"] for c in cycles]
        failed = sum(1 for c in cycles if c["status"] != "stored")
        largest = max(c["largest"] for c in cycles)
        ops: Counter[str] = Counter()
        for c in cycles:
            ops.update(c["by_op"])
        per_cycle = {op: round(n / len(cycles), 1) for op, n in sorted(ops.items())}
        after_cycle = _best_and_worst(results["rank_by_offset"])
        replayed = results["rank_replayed"]
        # The interleaved replay is the figure judged: it samples every minute over the same time.
        judged = after_cycle if replayed is None else _best_and_worst(replayed["by_offset"])
        (_, best), (_, worst) = judged
        live = results["rank_live"]["p50"]
        naive = results["naive"]["p50"] * results["naive_scale"]
        read_writes = sum(c["rank_writes"] for c in cycles) + sum(
            results[k]["writes"] for k in ("rank_live", "rank_cached", "pairs_uncached", "naive")
        )
        rank_lines = [
            f"Live rank uncached: p50 {live:.1f} ms at the newest minute; timed after each cycle, "
            + _best_worst_text(after_cycle),
            f"  the live rank's reads at each minute of the run: {self._rank_reads_line(cycles)}",
        ]
        if replayed is not None:
            rank_lines.append(
                f"  replayed {replayed['rounds']} rounds, minutes interleaved (each minute's published "
                "window put back; median per minute; what the targets use): "
                + _best_worst_text(judged)
                + f"; bytes read differ from the cycle's by at most {replayed['bytes_differ']:,}"
            )
            read_writes += replayed["writes"]
        target = cycle_target_ms(pairs)
        p50_calls = statistics.median(c["calls"] for c in cycles)
        scaled = ""
        if results["naive_scale"] != 1:
            measured = results["naive"]["name"].split(", ")[1][:-1]
            scaled = f" (measured on {measured}, ×{results['naive_scale']:.1f})"
        lines = [
            f"Cycles: {len(cycles)}, p50 {statistics.median(times):.0f} ms, p95 {_p(times, 0.95):.0f} ms, "
            f"max {max(times):.0f} ms, failed {failed}; largest item written {largest:,} bytes",
            f"  CPU of this process per cycle (the machine's load aside): p50 "
            f"{statistics.median(cpu):.0f} ms, p95 {_p(cpu, 0.95):.0f} ms",
            *self._endpoint_lines(cycles),
            f"  per cycle (p50): calls {p50_calls:.0f}, items read "
            f"{statistics.median(c['read'] for c in cycles):,.0f}, items written "
            f"{statistics.median(c['written'] for c in cycles):,.0f}; mean calls by operation {per_cycle}",
            *rank_lines,
            f"Naive rank: {naive:,.0f} ms{scaled}; naive/live {naive / live:,.0f}× (newest minute), "
            f"{naive / worst:,.0f}× (worst minute)",
            self._reference_line(cycles),
            f"DynamoDB writes issued during reads: {read_writes}",
        ]
        self.stdout.write("\n" + "\n".join(lines))
        checks = [
            (
                f"cycle p95 ≤ {target:,} ms at {pairs:,} pairs: {_p(times, 0.95):.0f} ms",
                _p(times, 0.95) <= target,
            ),
            (f"failed cycles = 0: {failed}", failed == 0),
            (f"largest item written ≤ 100 KB: {largest:,} bytes", largest <= 100_000),
            *rank_checks(
                pairs, minutes=results["minutes"], ratio=naive / worst, spread=worst / best, live_ms=live
            ),
            (f"DynamoDB writes during reads = 0: {read_writes}", read_writes == 0),
            *results.get("history_checks", []),
        ]
        self.stdout.write("\nTargets (issue 11):")
        for text, ok in checks:
            verdict = "not judged" if ok is None else "ok" if ok else "MISSED"
            self.stdout.write(f"  [{verdict}] {text}")
