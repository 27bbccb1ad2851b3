"""Soak run: the tracker against the loopback Bitfinex stub on an accelerated clock, with faults.

Every simulated minute one polling cycle runs (`ticks_ingest`, as the schedule would), and
every 2 simulated minutes gap repair (`gaps_repair`, as `prices.tasks.repair_gaps` would). A
share of cycles (`failure_rate`) meets a random exchange fault queued on the stub: HTTP 429,
HTTP 500 with an error body, an HTML page, a truncated body, a timeout or an empty list. The
stub's tickers report, as last price of each pair, the recorded close of the minute being
polled (tests/fixtures/history, 2019-12-30/31), so the candles gap repair asks for exist
unless nobody traded that minute. After the last cycle, gap repair runs until nothing is
left to do and `gaps_scan` judges the run: it passes when every minute of every pair is
present (polled or backfilled) or a known gap.

Time is simulated: cycles get an injected `now`, and the exchange source sleeps and measures
its back-offs and candle spacing on the same clock, so 30 minutes take seconds. Only the
timeout fault waits for real (a little longer than the source's read timeout).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prices.domain import EXCHANGE_BITFINEX, MINUTE, decimal_str, minute_of_observation, to_ms
from prices.repository import TickRepository
from prices.services import gaps_repair, gaps_scan, ticks_ingest
from prices.services.gaps import GapRepairSummary, GapScan
from prices.sources.base import Candle, CandleSource
from prices.sources.bitfinex import BitfinexSource
from prices.sources.stub_server import BitfinexStubServer, load_candle_history

RECORDED_PAIRS = ("BTCUSD", "EOSUSD", "ETHUSD", "IOTUSD", "LTCUSD", "NEOUSD", "XRPUSD")
FAULTS = ("rate_limit_429", "error_500", "html", "truncated", "timeout", "empty_list")
READ_TIMEOUT_S = 0.5
REPAIR_EVERY_MINUTES = 2  # as prices.schedules
FINAL_REPAIR_PASSES = 20


class SimulatedClock:
    """A UTC clock that only moves when told to; `sleep` advances it instead of waiting."""

    def __init__(self, start: datetime) -> None:
        self._t = start.timestamp()

    def now(self) -> datetime:
        """The simulated time (aware UTC)."""
        return datetime.fromtimestamp(self._t, UTC)

    def monotonic(self) -> float:
        """The simulated time in seconds (for the source's back-off and request spacing)."""
        return self._t

    def sleep(self, seconds: float) -> None:
        """Advance by `seconds` at once."""
        self._t += max(0.0, seconds)

    def advance_to(self, moment: datetime) -> None:
        """Move forward to `moment` (never backwards)."""
        self._t = max(self._t, moment.timestamp())


class RecordedTickers:
    """Tickers bodies of the recorded pairs whose last price is the close of the minute a poll now
    describes (or the latest earlier close, as a ticker reports when nobody traded)."""

    def __init__(self, pairs: Sequence[str], clock: SimulatedClock) -> None:
        history = load_candle_history()
        self.closes = {pair: [(int(row[0]), row[2]) for row in history[pair]] for pair in pairs}
        self.clock = clock

    def last_price(self, pair: str, minute_ms: int) -> Decimal:
        """The close of `minute_ms`, else of the newest earlier recorded minute."""
        price = None
        for mts, close in self.closes[pair]:
            if mts > minute_ms:
                break
            price = close
        if price is None:
            raise ValueError(f"no recorded close of {pair} at or before {minute_ms}")
        return price

    def body(self) -> bytes:
        """Bitfinex's trading-row layout: SYMBOL, BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE,
        DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW (numbers written exactly)."""
        minute_ms = to_ms(minute_of_observation(self.clock.now()))
        rows = []
        for pair in self.closes:
            p = decimal_str(self.last_price(pair, minute_ms))
            rows.append(f'["t{pair}",{p},1.5,{p},2.5,0,0,{p},1000,{p},{p}]')
        rows.append('["fUSD",0.0001,30,1000,0.0001,2,1000,0,0,0.0001,1000,null,null,0.0001,0.0001,100,0]')
        return ("[" + ",".join(rows) + "]").encode()


def queue_fault(stub: BitfinexStubServer, fault: str, body: bytes) -> None:
    """Make the stub's next answer the named fault."""
    if fault == "rate_limit_429":
        stub.fail_next(429, '["error",11010,"ratelimit: error"]')
    elif fault == "error_500":
        stub.fail_next(500, '["error",20060,"maintenance"]')
    elif fault == "html":
        stub.fail_next(200, "<html><body><h1>Bitfinex is under maintenance</h1></body></html>")
    elif fault == "truncated":
        stub.fail_next(200, body[: len(body) // 2])
    elif fault == "timeout":
        stub.fail_next(200, body, delay_s=READ_TIMEOUT_S + 0.5)
    elif fault == "empty_list":
        stub.fail_next(200, "[]")
    else:
        raise ValueError(f"unknown fault {fault!r}")


class TimedCandles:
    """A CandleSource recording the simulated time of every call (one request per gap window)."""

    def __init__(self, source: CandleSource, clock: SimulatedClock) -> None:
        self.source = source
        self.exchange = source.exchange
        self.clock = clock
        self.times: list[datetime] = []

    def fetch_candles(self, *, pair: str, start: datetime, end: datetime) -> list[Candle]:
        """Delegate, then note when the request was made."""
        try:
            return self.source.fetch_candles(pair=pair, start=start, end=end)
        finally:
            self.times.append(self.clock.now())

    def busiest_minute(self) -> int:
        """The most requests made within any 60 s of simulated time."""
        times = sorted(self.times)
        return max(
            (sum(1 for t in times[i:] if t - start < timedelta(minutes=1)) for i, start in enumerate(times)),
            default=0,
        )


@dataclass
class SoakResult:
    """What a soak run did and found; `ok` when every minute is present or a known gap."""

    start: datetime
    minutes: int
    pairs: Sequence[str]
    statuses: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    failed_minutes: list[datetime] = field(default_factory=list)
    repairs: list[GapRepairSummary] = field(default_factory=list)
    final_repairs: list[GapRepairSummary] = field(default_factory=list)
    candle_requests: int = 0
    busiest_minute: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    scan: GapScan | None = None

    @property
    def ok(self) -> bool:
        """True when every simulated minute of every pair is present or a known gap."""
        return self.scan is not None and self.scan.complete and len(self.scan.pairs) == len(self.pairs)

    def lines(self) -> list[str]:
        """The soak report."""
        end = self.start + self.minutes * MINUTE
        failed = ", ".join(m.strftime("%H:%M") for m in self.failed_minutes) or "none"
        repaired = sum(r.backfilled for r in self.repairs + self.final_repairs)
        known = sum(r.known_gaps for r in self.repairs + self.final_repairs)
        lines = [
            f"Soak: {self.minutes} simulated minutes {self.start:%Y-%m-%dT%H:%MZ}..{end:%H:%MZ}, "
            f"{len(self.pairs)} pairs",
            "Cycles: " + ", ".join(f"{status} {n}" for status, n in sorted(self.statuses.items())),
            "Faults injected: " + (", ".join(f"{f} {n}" for f, n in sorted(self.faults.items())) or "none"),
            f"Failed minutes: {failed}",
            f"Gap repair: {len(self.repairs)} scheduled runs and {len(self.final_repairs)} final runs, "
            f"{repaired} ticks backfilled, {known} known gaps recorded",
            f"Candle requests: {self.candle_requests}, at most {self.busiest_minute} in any simulated minute "
            "(Bitfinex allows 30)",
            "Ticks by source: " + ", ".join(f"{s} {n}" for s, n in sorted(self.sources.items())),
        ]
        if self.scan is not None:
            lines.extend(self.scan.lines())
        verdict = "every minute of every pair is present or a known gap" if self.ok else "MINUTES MISSING"
        lines.append(f"Soak {'passed' if self.ok else 'FAILED'}: {verdict}")
        return lines


def soak_run(
    *,
    repo: TickRepository,
    minutes: int = 30,
    failure_rate: float = 0.1,
    seed: int = 1,
    start: datetime = datetime(2019, 12, 31, 12, 0, tzinfo=UTC),
    pairs: Sequence[str] = RECORDED_PAIRS,
    candle_interval_s: float = 2.0,
    max_requests: int = 15,
    progress: Callable[[int], None] | None = None,
) -> SoakResult:
    """Poll `minutes` simulated minutes from `start` with random faults, repair gaps, judge coverage.

    `repo` should be empty. Raises RepositoryError if the store fails (the stub's faults
    never make it raise).
    """
    clock = SimulatedClock(start)
    tickers = RecordedTickers(pairs, clock)
    rng = random.Random(seed)
    result = SoakResult(start=start, minutes=minutes, pairs=list(pairs))
    with BitfinexStubServer(tickers=tickers.body) as stub:
        exchange = BitfinexSource(
            base_url=stub.url,
            timeout_s=(READ_TIMEOUT_S, READ_TIMEOUT_S),
            retries=0,
            pairs=pairs,
            candle_min_interval_s=candle_interval_s,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
        candles = TimedCandles(exchange, clock)
        for i in range(minutes):
            minute = start + i * MINUTE
            clock.advance_to(minute + MINUTE + timedelta(seconds=5))  # the schedule fires ~5 s late
            # The first minute is never faulted: coverage starts at a pair's first stored minute.
            fault = rng.choice(FAULTS) if i and rng.random() < failure_rate else None
            if fault:
                queue_fault(stub, fault, tickers.body())
            summary = ticks_ingest(source=exchange, repo=repo, now=clock.now)
            # A cycle refused without a request (backing off after a 429) leaves its fault unmet.
            if fault and not stub.clear_faults():
                result.faults[fault] += 1
            result.statuses[summary.status] += 1
            if not summary.ok:
                result.failed_minutes.append(minute)
            if (i + 1) % REPAIR_EVERY_MINUTES == 0:
                clock.advance_to(minute + MINUTE + timedelta(seconds=20))
                result.repairs.append(
                    gaps_repair(now=clock.now(), source=candles, repo=repo, max_requests=max_requests)
                )
            if progress:
                progress(1)
        # The tracker stops polling: repair the whole run (its last minutes included) until done.
        end = start + minutes * MINUTE
        clock.advance_to(end + 10 * MINUTE)
        for _ in range(FINAL_REPAIR_PASSES):
            summary = gaps_repair(
                now=clock.now(), source=candles, repo=repo, since=start, until=end, max_requests=max_requests
            )
            result.final_repairs.append(summary)
            if not summary.left or not (summary.requests or summary.pending_completed):
                break
            clock.sleep(120)
    result.candle_requests = len(candles.times)
    result.busiest_minute = candles.busiest_minute()
    for pair in pairs:
        result.sources.update(
            str(t.source) for t in repo.between(exchange=EXCHANGE_BITFINEX, pair=pair, start=start, end=end)
        )
    result.scan = gaps_scan(now=clock.now(), since=start, until=end, repo=repo)
    return result
