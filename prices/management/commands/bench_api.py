"""manage.py bench_api: seed 300 pairs × 1,440 minutes and measure ingestion, rank, stats, history.

A benchmark, not a test: it prints figures (median and p95 over repeated requests, DynamoDB
calls and items read per request, counted with botocore event hooks) and the targets of
issue 3. It runs against the configured DynamoDB endpoint (dynalite under `make run`) in a
throw-away table prefix that is dropped at the end (unless --keep).

Prices are synthetic but realistic: a random walk per pair started from the real last prices
of the recorded Bitfinex snapshot (tests/fixtures/history), rounded to 5 significant digits
like Bitfinex. The tickers body served by the loopback stub uses Bitfinex's documented field
order; only LAST_PRICE varies, the other fields repeat the real tBTCUSD row's shape.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.test import Client, override_settings

from prices import selectors
from prices.bench_history import history_figures
from prices.domain import EXCHANGE_BITFINEX, HOUR_MS, MINUTE, Tick, TickSource, minute_floor, to_ms
from prices.importers import read_snapshot_file
from prices.repository import LatestPrice, RepositoryError, _repository, get_tick_repository
from prices.rollups import MinuteSnapshot
from prices.services import rollups_refresh, ticks_ingest
from prices.signals import prices_receivers_only
from prices.sources.bitfinex import BitfinexSource
from prices.sources.stub_server import ROOT, BitfinexStubServer

SNAPSHOT = ROOT / "tests" / "fixtures" / "history" / "4min_of_bitfinex_prices_fixed.json"


def _five_digits(value: float) -> Decimal:
    return Decimal(f"{value:.5g}")


class CallCounter:
    """Counts DynamoDB calls by operation and items read, via botocore's after-call event."""

    def __init__(self, client) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        client.meta.events.register("after-call.dynamodb", self._after_call)

    def _after_call(self, http_response, parsed, model, **kwargs) -> None:
        self.calls[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items += len(parsed.get("Items", []))
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())

    def reset(self) -> None:
        self.calls.clear()
        self.items = 0


class Command(BaseCommand):
    help = "Benchmark ingestion, rank (aggregates vs naive), stats and history on 300 pairs × 1,440 minutes."

    def add_arguments(self, parser):
        parser.add_argument("--pairs", type=int, default=300)
        parser.add_argument("--minutes", type=int, default=1440)
        parser.add_argument("--repeat", type=int, default=15, help="Repetitions of each cheap measurement.")
        parser.add_argument("--naive-repeat", type=int, default=3, help="Repetitions of the naive rank.")
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
        prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        self.rng = random.Random(options["seed"])
        # The API is measured, not its rate limits: the benchmark's own requests would hit them.
        rest_framework = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
        with override_settings(
            DYNAMODB_TABLE_PREFIX=prefix,
            ALLOWED_HOSTS=["testserver", "127.0.0.1"],
            REST_FRAMEWORK=rest_framework,
        ):
            _repository.cache_clear()
            repo = get_tick_repository()
            try:
                repo.ensure_tables()
            except RepositoryError as exc:
                raise CommandError(f"cannot create benchmark tables: {exc}") from exc
            try:
                self._run(repo, options)
            finally:
                if not options["keep"]:
                    repo.delete_tables()
                _repository.cache_clear()
                cache.clear()

    # --- seeding --------------------------------------------------------------------------

    def _levels(self, count: int) -> dict[str, float]:
        records = [r for r in read_snapshot_file(SNAPSHOT) if r.price > 0 and r.listed]
        levels = {}
        for record in records:
            levels.setdefault(record.pair, float(record.price))
        names = sorted(levels)[:count]
        if len(names) < count:
            raise CommandError(f"only {len(names)} real pair levels available")
        return {name: levels[name] for name in names}

    def _walk(self, levels: dict[str, float]) -> dict[str, float]:
        return {pair: price * math.exp(self.rng.gauss(0, 0.0008)) for pair, price in levels.items()}

    def _seed(self, repo, levels: dict[str, float], start: datetime, minutes: int) -> dict[str, float]:
        self.stdout.write(f"Seeding {len(levels)} pairs × {minutes} minutes into {repo.ticks_table} ...")
        started = time.monotonic()
        prices = dict(levels)
        batches = []
        for i in range(minutes):
            minute = start + i * MINUTE
            prices = self._walk(prices)
            ticks = [
                Tick(EXCHANGE_BITFINEX, pair, minute, _five_digits(p), source=TickSource.TICKER)
                for pair, p in prices.items()
            ]
            batches.append(ticks)

        def write(ticks: list[Tick]) -> None:
            minute_ms = ticks[0].minute_ms
            repo.claim_snapshot(
                MinuteSnapshot(EXCHANGE_BITFINEX, minute_ms, {t.pair: t.last_price for t in ticks})
            )
            repo.put_many(ticks)

        with ThreadPoolExecutor(max_workers=8) as pool:
            for done, _ in enumerate(pool.map(write, batches), start=1):
                if done % 120 == 0:
                    self.stdout.write(f"  {done}/{minutes} minutes")
        first = to_ms(start)
        hours = range(first - first % HOUR_MS, to_ms(start + minutes * MINUTE), HOUR_MS)
        rollups_refresh(exchange=EXCHANGE_BITFINEX, hours_ms=hours, repo=repo)
        repo.update_latest(
            exchange=EXCHANGE_BITFINEX,
            prices={t.pair: LatestPrice(t.minute_ms, t.last_price) for t in batches[-1]},
        )
        self.stdout.write(f"Seeded {minutes * len(levels):,} ticks in {time.monotonic() - started:.1f} s")
        return prices

    # --- measuring -------------------------------------------------------------------------

    def _measure(self, counter: CallCounter, name: str, repeat: int, action: Callable[[], object]) -> dict:
        times = []
        calls: Counter[str] = Counter()
        items = 0
        for _ in range(repeat):
            counter.reset()
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
            calls, items = Counter(counter.calls), counter.items
        times.sort()
        p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
        row = {"name": name, "p50": statistics.median(times), "p95": p95, "calls": calls, "items": items}
        self.stdout.write(
            f"  {name:<34} p50 {row['p50']:9.2f} ms  p95 {p95:9.2f} ms  "
            f"calls {sum(calls.values()):4d} {dict(calls)}  items read {items:,}"
        )
        return row

    def _run(self, repo, options) -> None:
        counter = CallCounter(repo.client)
        levels = self._levels(options["pairs"])
        minutes = options["minutes"]
        end = minute_floor(datetime.now(UTC))
        start = end - minutes * MINUTE
        prices = self._seed(repo, levels, start, minutes)
        repeat = options["repeat"]
        client = Client()
        window = 1440
        btc = "BTCUSD" if "BTCUSD" in levels else sorted(levels)[0]
        self.stdout.write(f"\nMeasurements (window 24 h ending {end:%Y-%m-%dT%H:%MZ}, {len(levels)} pairs):")

        def rank_aggregates() -> None:
            selectors.pairs_rank(window_minutes=window, end=end, repo=repo)

        def rank_cached() -> None:
            response = client.get("/api/v1/rank/?window=24h")
            assert response.status_code == 200, response.content[:200]

        def rank_naive() -> None:
            values = {}
            for pair in levels:
                ticks = list(
                    repo.between(exchange=EXCHANGE_BITFINEX, pair=pair, start=end - window * MINUTE, end=end)
                )
                closes = [float(t.last_price) for t in ticks]
                values[pair] = statistics.stdev(closes) / statistics.fmean(closes)
            sorted(values, key=values.get, reverse=True)

        def stats_one() -> None:
            selectors.pair_stats(pair=btc, window_minutes=window, end=end, repo=repo)

        history_url = f"/api/v1/pairs/{btc}/history/?end={end:%Y-%m-%dT%H:%M:%SZ}"
        response = client.get(history_url)
        assert response.status_code == 200 and response.json()["count"] == minutes, response.content[:200]

        def history_24h() -> None:
            # The server's time is measured; decoding the body is the client's (checked above).
            assert client.get(history_url).status_code == 200

        results = {}
        results["rank"] = self._measure(counter, "rank via aggregates (uncached)", repeat, rank_aggregates)
        cache.clear()
        client.get("/api/v1/rank/?window=24h")  # fill the cache
        results["rank_cached"] = self._measure(counter, "rank via API, cached", repeat, rank_cached)
        results["naive"] = self._measure(
            counter, "rank naive (every tick)", options["naive_repeat"], rank_naive
        )
        results["stats"] = self._measure(counter, "stats for one pair (24h)", repeat, stats_one)
        results["history"] = self._measure(
            counter, f"history 24h via API ({minutes:,} ticks)", repeat, history_24h
        )
        results["ingest"] = self._measure_ingestion(counter, repo, prices, end, min(repeat, 10))
        results["history_checks"] = history_figures(
            repo=repo,
            client=client,
            measure=lambda name, times, action: self._measure(counter, name, times, action),
            end=end,
            repeat=repeat,
            days=options["history_days"],
            write=self.stdout.write,
        )
        self._report(results, len(levels))

    def _measure_ingestion(
        self, counter: CallCounter, repo, prices: dict[str, float], end: datetime, repeat: int
    ):
        state = {"prices": prices}

        def body() -> bytes:
            state["prices"] = self._walk(state["prices"])
            rows = [
                [f"t{pair}", p, 1, p, 1, 0, 0, float(_five_digits(p)), 100, p, p]
                for pair, p in state["prices"].items()
            ]
            return json.dumps(rows).encode()

        cycle = {"n": 0}
        with BitfinexStubServer(tickers=body) as stub:
            source = BitfinexSource(base_url=stub.url, timeout_s=5, retries=0)

            def ingest() -> None:
                cycle["n"] += 1
                poll = end + cycle["n"] * MINUTE + timedelta(seconds=2)
                summary = ticks_ingest(source=source, repo=repo, now=lambda: poll)
                assert summary.status == "stored" and summary.stored == len(prices), summary.line()

            # Listeners outside the prices app (alerts enqueues an evaluation task) are not
            # part of the cycle, and must not put tasks for throw-away tables in the queue.
            with prices_receivers_only():
                return self._measure(counter, "ingestion cycle (fetch→store→rollups)", repeat, ingest)

    def _report(self, results: dict, pairs: int) -> None:
        rank, naive, cached = results["rank"], results["naive"], results["rank_cached"]
        ratio = naive["p50"] / rank["p50"]
        writes = results["ingest"]["calls"].get("BatchWriteItem", 0)
        checks = [
            (f"uncached rank ≥ 100× faster than naive: {ratio:.0f}×", ratio >= 100),
            (
                f"uncached rank ≤ 25 DynamoDB calls: {sum(rank['calls'].values())}",
                sum(rank["calls"].values()) <= 25,
            ),
            (f"uncached rank ≤ 10,000 items read: {rank['items']:,}", rank["items"] <= 10_000),
            (f"cached rank ≤ 3 ms: {cached['p50']:.2f} ms", cached["p50"] <= 3),
            (f"history 24h p50 ≤ 60 ms: {results['history']['p50']:.1f} ms", results["history"]["p50"] <= 60),
            (f"ingestion cycle ≤ 2 s: {results['ingest']['p50']:.0f} ms", results["ingest"]["p50"] <= 2000),
            (
                f"tick writes ≤ ⌈{pairs}/25⌉ = {math.ceil(pairs / 25)}: {writes}",
                writes <= math.ceil(pairs / 25),
            ),
            *results.get("history_checks", []),
        ]
        self.stdout.write(
            f"\nnaive/aggregate: time {ratio:.0f}×, "
            f"calls {sum(naive['calls'].values())}/{sum(rank['calls'].values())}, "
            f"items {naive['items']:,}/{rank['items']:,}"
        )
        self.stdout.write("\nTargets:")
        for text, ok in checks:
            self.stdout.write(f"  [{'ok' if ok else 'MISSED'}] {text}")
