"""manage.py bench_exchanges: the four exchanges polled side by side, and the cross-exchange reads.

Against dynalite (or another local DynamoDB endpoint) in throw-away tables, with one loopback
stub serving each exchange's recorded payloads (prices.sources.stub_exchanges: Bitfinex rows in
its recorded field order, and Binance, Kraken and Coinbase bodies built from their recorded
markets lists and ticker shapes), at the issue's realistic pair counts (Bitfinex 300, Binance
1,500, Kraken 700, Coinbase 600: the recorded lists, then synthetic markets copying a recorded
entry, `padded_bodies`). Each exchange's pairs get
`--minutes` of seeded aggregates (the 24 h live window reads a full block), then every
simulated minute polls the four exchanges at once on four threads, as four qcluster workers
would: the real sources, `ticks_ingest`, the cross-exchange guard. Printed: each exchange's
cycle p50/p95/max and the minute's (all four), failed cycles, the largest item written, and the
market endpoint (`/api/v1/markets/BTC-USD/`) and `/api/v1/exchanges/` uncached and cached,
with DynamoDB writes during those reads. Targets are issue 11's, judged on the minute of all
four exchanges by their total pair count (cycle_target_ms), and each market price must equal
the stub's exactly.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.test import Client, override_settings

from prices.domain import MINUTE
from prices.exchanges import market_of
from prices.management.commands import bench_api
from prices.management.commands._cli import (
    benchmark_tables,
    prices_logs_quiet,
    require_at_least,
    require_migrated,
)
from prices.management.commands.bench_api import WRITES, CallCounter, _five_digits, _p, cycle_target_ms
from prices.services import ticks_ingest
from prices.signals import prices_receivers_only
from prices.sources import source_class
from prices.sources.stub_exchanges import (
    STUB_EXCHANGES,
    ExchangeStubServer,
    binance_tickers_body,
    coinbase_products_body,
    kraken_tickers_body,
    recorded_body,
)

MARKET = "BTC-USD"
MARKET_PAIR = "BTCUSD"  # Bitfinex's id of MARKET


# The realistic pair counts; the recorded lists hold 1,262, 293 and 162 markets.
DEFAULT_PAIRS = {"binance": 1500, "kraken": 700, "coinbase": 600}


def padded_bodies(exchange: str, count: int) -> dict[str, bytes]:
    """Path → body of `exchange`'s markets list and tickers with at least `count` markets: the
    recorded ones, then synthetic markets `Z0000`… quoted in USD(T), each a copy of a recorded
    entry (of the markets list and of the ticker) with only its id and assets changed, so every
    body keeps the recorded shape. Empty when the recorded list holds `count` already."""
    if exchange == "binance":
        info = json.loads(recorded_body("binance_exchange_info_2021.cryptofeed"))
        trading = [s for s in info["symbols"] if s["status"] == "TRADING"]
        extra = [
            {**trading[0], "symbol": f"Z{i:04d}USDT", "baseAsset": f"Z{i:04d}", "quoteAsset": "USDT"}
            for i in range(count - len(trading))
        ]
        if not extra:
            return {}
        info["symbols"] += extra
        template = json.loads(recorded_body("binance_ticker_24hr_doc.txt"))
        rows = [*json.loads(binance_tickers_body()), *({**template, "symbol": s["symbol"]} for s in extra)]
        return {
            "/api/v3/exchangeInfo": json.dumps(info, separators=(",", ":")).encode(),
            "/api/v3/ticker/24hr": json.dumps(rows, separators=(",", ":")).encode(),
        }
    if exchange == "kraken":
        pairs = json.loads(recorded_body("kraken_asset_pairs_2021.cryptofeed"))
        spot = [key for key in pairs["result"] if not key.endswith(".d")]
        first = pairs["result"][spot[0]]
        for i in range(count - len(spot)):
            key = f"Z{i:04d}USD"
            pairs["result"][key] = {
                **first,
                "altname": key,
                "wsname": f"Z{i:04d}/USD",
                "base": f"Z{i:04d}",
                "quote": "ZUSD",
            }
        if count <= len(spot):
            return {}
        tickers = json.loads(kraken_tickers_body())
        entry = next(iter(tickers["result"].values()))
        tickers["result"].update(
            {key: entry for key in pairs["result"] if key not in tickers["result"] and not key.endswith(".d")}
        )
        return {
            "/0/public/AssetPairs": json.dumps(pairs, separators=(",", ":")).encode(),
            "/0/public/Ticker": json.dumps(tickers, separators=(",", ":")).encode(),
        }
    if exchange == "coinbase":
        body = json.loads(coinbase_products_body())
        products = body["products"]
        template = next(p for p in products if p["product_id"] == "BTC-USD")
        for i in range(count - len(products)):
            pid, base = f"Z{i:04d}-USD", f"Z{i:04d}"
            products.append(
                {
                    **template,
                    "product_id": pid,
                    "display_name": pid,
                    "base_currency_id": base,
                    "base_display_symbol": base,
                    "alias_to": [],
                }
            )
        body["num_products"] = len(products)
        return {"/api/v3/brokerage/market/products": json.dumps(body, separators=(",", ":")).encode()}
    return {}


def bitfinex_tickers(seeder: bench_api.Command, count: int) -> bytes:
    """A Bitfinex `GET /v2/tickers` body of `count` trading pairs, each row in the recorded field
    order (SYMBOL, BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE,
    VOLUME, HIGH, LOW), at the recorded snapshot's price levels (bench_api's pairs). BTCUSD is
    always one of them, so that the BTC-USD market compares all four exchanges."""
    levels = seeder._levels(count)
    if MARKET_PAIR not in levels:
        known = seeder._levels(count + 1_000)  # every recorded pair is among these
        levels = {MARKET_PAIR: known[MARKET_PAIR], **dict(list(levels.items())[: count - 1])}
    rows = [[f"t{pair}", p, 1, p, 1, 0, 0, float(_five_digits(p)), 100, p, p] for pair, p in levels.items()]
    return json.dumps(rows).encode()


class Command(BaseCommand):
    help = (
        "Benchmark Bitfinex, Binance, Kraken and Coinbase polled side by side against loopback stubs "
        "of their recorded payloads (65 simulated minutes), and the cross-exchange market endpoint."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cycles", type=int, default=65, help="Consecutive simulated minutes.")
        parser.add_argument(
            "--bitfinex-pairs",
            type=int,
            default=300,
            help="Bitfinex pairs (its recorded tickers body has 8).",
        )
        for name, count in DEFAULT_PAIRS.items():
            parser.add_argument(
                f"--{name}-pairs",
                type=int,
                default=count,
                help=f"{name.capitalize()} pairs at least (its recorded markets, then synthetic ones).",
            )
        parser.add_argument("--minutes", type=int, default=1440, help="Minutes of seeded aggregates.")
        parser.add_argument("--repeat", type=int, default=20, help="Repetitions of each read.")
        parser.add_argument("--seed", type=int, default=11)
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark tables.")

    def handle(self, *args, **options):
        if not settings.DYNAMODB_ENDPOINT_URL:
            raise CommandError(
                "DYNAMODB_ENDPOINT_URL is empty: refusing to seed benchmark tables on AWS; "
                "point it at dynalite (make run) or another local endpoint"
            )
        require_at_least(options, {"cycles": 1, "minutes": 60, "repeat": 1, "bitfinex_pairs": 1})
        require_migrated()
        prefix = f"benchx_{uuid.uuid4().hex[:8]}_"
        rest_framework = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
        seeder = bench_api.Command(stdout=self.stdout, stderr=self.stderr)
        seeder.rng = random.Random(options["seed"])
        with (
            ExchangeStubServer(tickers=bitfinex_tickers(seeder, options["bitfinex_pairs"])) as stub,
            override_settings(
                DYNAMODB_TABLE_PREFIX=prefix,
                ALLOWED_HOSTS=["testserver", "127.0.0.1"],
                REST_FRAMEWORK=rest_framework,
                PRICES_EXCHANGES=list(STUB_EXCHANGES),
                BITFINEX_API_URL=stub.url,
                EXCHANGE_API_URLS={name: stub.url for name in STUB_EXCHANGES},
                EXCHANGE_PAIRS={},
                PRICES_PAIRS=[],
            ),
            benchmark_tables(keep=options["keep"]) as repo,
            prices_logs_quiet(options["verbosity"]),
            prices_receivers_only(),
        ):
            self._run(repo, stub, seeder, options)

    def _run(self, repo, stub, seeder, options) -> None:
        counter = CallCounter(repo.client)
        for name in DEFAULT_PAIRS:
            for path, body in padded_bodies(name, options[f"{name}_pairs"]).items():
                stub.set_body(path, body)
        sources = {
            name: source_class(name)(base_url=stub.url, timeout_s=30, retries=0, rate_limit_retries=0)
            for name in STUB_EXCHANGES
        }
        batches = {name: source.fetch_tickers() for name, source in sources.items()}
        levels = {
            name: {row.pair: float(row.last_price) for row in batch.rows} for name, batch in batches.items()
        }
        # A simulated clock in the past, as bench_api's: the cycles cross an hour boundary.
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        end = now - timedelta(hours=3) + timedelta(minutes=30)
        start = end - options["minutes"] * MINUTE
        for name in STUB_EXCHANGES:
            seeder._seed(repo, levels[name], start, options["minutes"], set(), exchange=name)

        self.stdout.write(
            f"\nIngestion: {options['cycles']} minutes from {end:%Y-%m-%dT%H:%MZ}, the four exchanges "
            "polled at once each minute ("
            + ", ".join(f"{name} {len(levels[name]):,} pairs" for name in STUB_EXCHANGES)
            + ")"
        )
        cycles: dict[str, list[float]] = {name: [] for name in STUB_EXCHANGES}
        minutes_ms: list[float] = []
        failed: list[str] = []
        largest = 0
        with ThreadPoolExecutor(max_workers=len(STUB_EXCHANGES)) as pool:
            for i in range(options["cycles"]):
                minute = end + i * MINUTE
                poll_at = minute + MINUTE + timedelta(seconds=2)
                counter.reset()
                started = time.perf_counter()
                futures = {
                    name: pool.submit(self._poll, sources[name], repo, poll_at) for name in STUB_EXCHANGES
                }
                results = {name: future.result() for name, future in futures.items()}
                minutes_ms.append((time.perf_counter() - started) * 1000)
                largest = max(largest, counter.largest)
                for name, (status, ms) in results.items():
                    cycles[name].append(ms)
                    if status != "stored":
                        failed.append(f"{minute:%H:%M} {name} {status}")
                self.stdout.write(
                    f"  {minute:%H:%M} all four {minutes_ms[-1]:7.1f} ms  "
                    + "  ".join(f"{name} {ms:6.1f}" for name, (_, ms) in results.items())
                )

        self.stdout.write("\nCycles (ms):")
        for name in STUB_EXCHANGES:
            values = cycles[name]
            self.stdout.write(
                f"  {name:<9} {len(levels[name]):>6,} pairs  p50 {statistics.median(values):7.1f}  "
                f"p95 {_p(values, 0.95):7.1f}  max {max(values):7.1f}"
            )
        total_pairs = sum(len(v) for v in levels.values())
        p95 = _p(minutes_ms, 0.95)
        self.stdout.write(
            f"  all four  {total_pairs:>6,} pairs  p50 {statistics.median(minutes_ms):7.1f}  "
            f"p95 {p95:7.1f}  max {max(minutes_ms):7.1f}  (each minute: the four polls at once)"
        )
        self.stdout.write(f"Failed cycles: {len(failed)}{': ' + '; '.join(failed) if failed else ''}")
        self.stdout.write(f"Largest item written: {largest:,} bytes")

        exact, writes = self._reads(counter, batches, options["repeat"])
        target = cycle_target_ms(total_pairs)
        checks = [
            (
                f"minute of all four p95 ≤ {target:,} ms at {total_pairs:,} pairs",
                p95 <= target,
                f"{p95:.0f} ms",
            ),
            ("failed cycles = 0", not failed, str(len(failed))),
            ("largest item written ≤ 100 KB", largest <= 100_000, f"{largest:,} bytes"),
            ("DynamoDB writes during reads = 0", writes == 0, str(writes)),
            (f"{MARKET} prices equal each stub's exactly", exact, "yes" if exact else "no"),
        ]
        self.stdout.write("\nTargets (issues 11 and 16):")
        for label, ok, figure in checks:
            self.stdout.write(f"  [{'ok' if ok else 'MISSED'}] {label}: {figure}")

    @staticmethod
    def _poll(source, repo, poll_at: datetime) -> tuple[str, float]:
        started = time.perf_counter()
        summary = ticks_ingest(source=source, repo=repo, now=lambda: poll_at)
        return summary.status, (time.perf_counter() - started) * 1000

    def _reads(self, counter: CallCounter, batches, repeat: int) -> tuple[bool, int]:
        """Time the market and exchanges endpoints; whether the market's prices are the stubs'."""
        client = Client()
        self.stdout.write("\nReads:")
        writes = 0
        body: dict = {}
        for label, url in (
            (f"markets/{MARKET}/", f"/api/v1/markets/{MARKET}/"),
            ("exchanges/", "/api/v1/exchanges/"),
        ):
            for cached in (False, True):
                times = []
                for _ in range(repeat):
                    if not cached:
                        cache.clear()
                    counter.reset()
                    started = time.perf_counter()
                    response = client.get(url)
                    times.append((time.perf_counter() - started) * 1000)
                    writes += sum(n for op, n in counter.calls.items() if op in WRITES)
                    if response.status_code != 200:
                        raise CommandError(
                            f"GET {url}: HTTP {response.status_code}: {response.content[:200]!r}"
                        )
                    if url.startswith("/api/v1/markets/"):
                        body = response.json()
                kind = "cached" if cached else "uncached"
                p50, p95 = statistics.median(times), _p(times, 0.95)
                self.stdout.write(f"  {label:<18} {kind:<9} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")
        expected = {
            name: str(row.last_price)
            for name, batch in batches.items()
            for row in batch.rows
            if market_of(name, row.pair) is not None and market_of(name, row.pair).name == MARKET
        }
        shown = {entry["exchange"]: entry["price"] for entry in body.get("prices", body.get("results", []))}
        exact = bool(expected) and all(
            Decimal(shown.get(name, "NaN")) == Decimal(p) for name, p in expected.items()
        )
        self.stdout.write(f"  {MARKET}: " + ", ".join(f"{name} {p}" for name, p in sorted(shown.items())))
        return exact, writes
