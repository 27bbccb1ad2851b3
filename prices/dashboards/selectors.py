"""Reads for the dashboard pages, composed only of `prices.selectors` (the API's reads).

Nothing here computes a statistic, a ranking or a candle: it picks windows, calls the
price selectors and arranges their results for the pages. Times are aware UTC; a window
is [start, end) and ends by default where the stored data ends (`window_end_default`), so
imported history is shown as of its last minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prices import selectors
from prices.dashboards.figures import Sparkline, sparkline
from prices.domain import (
    EXCHANGE_BITFINEX,
    HOUR_MS,
    MINUTE,
    Pair,
    Tick,
    from_ms,
    minute_ceil,
    minute_floor,
    to_ms,
)
from prices.exchanges import configured_exchanges
from prices.ohlc import Ohlc
from prices.repository import TickRepository
from prices.selectors_markets import MarketPrices
from prices.statistics import WindowStats

RANGES: dict[str, int] = {"1h": 60, "6h": 360, "24h": 1440, "7d": 10080, "30d": 43200}
DEFAULT_RANGE = "24h"
# Chart views of the pair page: a line of minute prices, or candles of that many minutes.
CHART_VIEWS: dict[str, int | None] = {"line": None, "5m": 5, "15m": 15, "1h": 60, "1d": 1440}
DEFAULT_VIEW = "line"
OVERVIEW_WINDOW = "24h"
OVERVIEW_METRIC = "relative_std"
STALE_AFTER = timedelta(minutes=2)
COMPARE_DEFAULT_PAIRS = 6
COMPARE_MAX_PAIRS = 12


# --- freshness --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Freshness:
    """How recent the newest stored price is at `now`.

    A tick for minute M is the price at the end of M, so it can exist from M + 1 min on:
    `as_of` = newest minute + 1 min, `age` = now − as_of. `stale` when age > STALE_AFTER.
    All None / not stale when nothing is stored.
    """

    newest_minute: datetime | None
    as_of: datetime | None
    age: timedelta | None
    stale: bool


def freshness_of(*, newest_minute: datetime | None, now: datetime) -> Freshness:
    """The Freshness of data whose newest tick is for `newest_minute` (aware UTC), at `now`."""
    if newest_minute is None:
        return Freshness(None, None, None, False)
    as_of = newest_minute + MINUTE
    age = max(now - as_of, timedelta(0))
    return Freshness(newest_minute, as_of, age, age > STALE_AFTER)


def stopped_since(*, last_minute: datetime, end: datetime) -> datetime | None:
    """`last_minute` (the pair's newest tick) when its price is more than STALE_AFTER older
    than `end` (the end of the exchange's newest data), i.e. the pair's prices stopped; else None.
    """
    return last_minute if end - (last_minute + MINUTE) > STALE_AFTER else None


# --- overview ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """One ranked pair of the overview: its rank entry, newest price and 24 h sparkline.

    `price`/`price_minute` are the price shown and its minute: the newest one, or for a window
    ending in the past the last one inside it. `ticker` is the exchange's latest ticker (its
    own 24 h change, volume, high and low) when our coverage of the window is low and the
    pair's prices are current: the figures shown while our own statistics are thin.
    """

    rank: int
    pair: Pair
    last_price: Decimal
    last_minute: datetime
    stats: WindowStats
    low_coverage: bool
    sparkline: Sparkline
    stopped_since: datetime | None
    price: Decimal | None = None
    price_minute: datetime | None = None
    ticker: Tick | None = None

    @property
    def exchange_change_pct(self) -> float | None:
        """The exchange's own 24 h change in percent (from `ticker`), None without one."""
        if self.ticker is None or self.ticker.daily_change_relative is None:
            return None
        return float(self.ticker.daily_change_relative) * 100


@dataclass(frozen=True, slots=True)
class Overview:
    """Every tracked pair ranked over the window [end − window, end); `end` None when empty.

    `latest` is False for a window ending before the newest data (`?end=` in the past).
    """

    end: datetime | None
    window: str
    metric: str
    rows: list[OverviewRow] = field(default_factory=list)
    latest: bool = True

    @property
    def start(self) -> datetime | None:
        """The window's start (aware UTC), None when nothing is stored."""
        return self.end - RANGES[self.window] * MINUTE if self.end else None

    @property
    def newest_minute(self) -> datetime | None:
        """The newest stored minute of any pair, None when nothing is stored."""
        return max((row.last_minute for row in self.rows), default=None)

    @property
    def quotes(self) -> list[str]:
        """The quote currencies of the tracked pairs, sorted."""
        return sorted({row.pair.quote for row in self.rows})

    @property
    def provisional(self) -> int:
        """How many current pairs have less than half of the window's minutes (ranked last)."""
        return sum(1 for row in self.rows if row.low_coverage and row.stopped_since is None)

    @property
    def has_tickers(self) -> bool:
        """True when some row shows the exchange's own 24 h figures."""
        return any(row.ticker is not None for row in self.rows)


def overview_get(
    *, end: datetime | None = None, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None
) -> Overview:
    """Every tracked pair in `pairs_rank` order (24 h relative std, as GET /api/v1/rank/).

    The window ends at `end` (rounded up to a minute), by default where the newest data ends.
    Reads: the pair registry, the window's hour rollups and edge minutes for the ranking, and
    the hour rollups again for the sparklines; none of it per pair. While current pairs have
    under 50 % coverage (a new install's first day), their newest ticks too (one batched read
    per 100 pairs), for the exchange's own 24 h figures. The
    low-coverage pairs that have a ticker are ordered by the size of the exchange's 24 h
    change. Raises RepositoryError.
    """
    summaries = {s.pair.name: s for s in selectors.pairs_list(exchange=exchange, repo=repo)}
    if not summaries:
        return Overview(end=None, window=OVERVIEW_WINDOW, metric=OVERVIEW_METRIC)
    newest_end = selectors.window_end_of(to_ms(s.last_minute) for s in summaries.values())
    end = clip_end(end, default=newest_end)
    latest = end >= newest_end
    minutes = RANGES[OVERVIEW_WINDOW]
    ranking = selectors.pairs_rank(
        window_minutes=minutes, end=end, metric=OVERVIEW_METRIC, exchange=exchange, repo=repo
    )
    hourly = selectors.hourly_points(end=end, minutes=minutes, exchange=exchange, repo=repo)
    start = end - minutes * MINUTE
    thin = [
        summaries[e.pair.name]
        for e in ranking
        if latest
        and e.low_coverage
        and stopped_since(last_minute=summaries[e.pair.name].last_minute, end=end) is None
    ]
    tickers = selectors.ticks_latest(pairs=thin, exchange=exchange, repo=repo) if thin else {}
    rows = []
    for entry in ranking:
        summary = summaries[entry.pair.name]
        stopped = stopped_since(last_minute=summary.last_minute, end=end)
        ticker = tickers.get(entry.pair.name)
        if ticker is not None and ticker.daily_change_relative is None:
            ticker = None  # imported candles carry no 24 h figures of the exchange
        points = hourly.get(entry.pair.name, [])
        if latest:
            points = _with_newest(points, summary, start=start)
        price, price_minute = (summary.last_price, summary.last_minute) if latest else _last_in(entry.stats)
        rows.append(
            OverviewRow(
                rank=entry.rank,
                pair=entry.pair,
                last_price=summary.last_price,
                last_minute=summary.last_minute,
                stats=entry.stats,
                low_coverage=entry.low_coverage,
                sparkline=sparkline(points, start=start, end=end, step_ms=HOUR_MS),
                stopped_since=stopped if latest else None,
                price=price,
                price_minute=price_minute,
                ticker=ticker,
            )
        )
    return Overview(
        end=end, window=OVERVIEW_WINDOW, metric=OVERVIEW_METRIC, rows=_provisional_order(rows), latest=latest
    )


def _last_in(stats: WindowStats) -> tuple[Decimal | None, datetime | None]:
    return stats.last, from_ms(stats.last_ms) if stats.last_ms is not None else None


def _provisional_order(rows: list[OverviewRow]) -> list[OverviewRow]:
    """Rows as ranked, but low-coverage rows with the exchange's figures by |24 h change|, largest first.

    With under half of the minutes our statistics say little; the exchange's own 24 h change
    is the better guess of what moved. The rank numbers follow the new order.
    """
    ranked = [r for r in rows if r.ticker is None or not r.low_coverage]
    guessed = sorted(
        (r for r in rows if r.ticker is not None and r.low_coverage),
        key=lambda r: -abs(r.exchange_change_pct or 0.0),
    )
    covered = [r for r in ranked if not r.low_coverage]
    rest = [r for r in ranked if r.low_coverage]
    ordered = [*covered, *guessed, *rest]
    return [replace(row, rank=i) for i, row in enumerate(ordered, start=1)]


def _with_newest(
    points: list[tuple[datetime, Decimal]], summary: selectors.PairSummary, *, start: datetime
) -> list[tuple[datetime, Decimal]]:
    """Hourly points followed by the pair's newest price (when it is inside the window and newer)."""
    if summary.last_minute >= start and (not points or points[-1][0] < summary.last_minute):
        return [*points, (summary.last_minute, summary.last_price)]
    return points


def overview_row_matches(row: OverviewRow, *, quote: str = "", query: str = "") -> bool:
    """True when the row's quote currency is `quote` (any if empty) and its pair, base or
    quote contains `query` (case-insensitive; "btc/usd" and "btc-usd" match BTCUSD).
    """
    if quote and row.pair.quote != quote.upper():
        return False
    needle = "".join(ch for ch in query.upper() if ch.isalnum())
    haystack = row.pair.name.replace(":", "")
    return not needle or needle in haystack


# --- pair page --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairWindow:
    """The pair page's window: the pair's summary, the range chosen and [start, end) in UTC.

    `latest_end` is where the pair's own data ends (its newest minute + 1 min), the default
    `end`; `exchange_end` where the exchange's newest data ends. `stopped_since` is the pair's
    last minute when the window reaches past it (the chart shades the rest), else None;
    `stopped` is the pair's last minute when its prices stopped before the exchange's.
    """

    summary: selectors.PairSummary
    range_key: str
    start: datetime
    end: datetime
    stopped_since: datetime | None
    latest_end: datetime | None = None
    exchange_end: datetime | None = None

    @property
    def minutes(self) -> int:
        """The window's length in minutes."""
        return RANGES[self.range_key]

    @property
    def is_latest(self) -> bool:
        """True when the window ends where the pair's data ends (no `?end=` in the past)."""
        return self.latest_end is None or self.end >= self.latest_end

    @property
    def stopped(self) -> datetime | None:
        """The pair's last minute when its prices stopped before the exchange's newest data."""
        if self.exchange_end is None:
            return None
        return stopped_since(last_minute=self.summary.last_minute, end=self.exchange_end)


def clip_end(end: datetime | None, *, default: datetime) -> datetime:
    """`end` rounded up to a whole minute and never after the current minute; `default` if None."""
    now_end = minute_floor(datetime.now(UTC)) + MINUTE
    return default if end is None else min(minute_ceil(end), now_end)


def pair_window_get(
    *,
    pair: str,
    range_key: str,
    end: datetime | None = None,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> PairWindow:
    """The window `range_key` (a RANGES key) ending at `end`, by default where the pair's data ends.

    Ending at the pair's own newest minute keeps imported or stopped pairs' history in view
    while other pairs' live prices arrive. Raises PairNotFoundError for a pair never stored,
    KeyError for an unknown range, RepositoryError when the store fails.
    """
    minutes = RANGES[range_key]
    summaries = selectors.pairs_list(exchange=exchange, repo=repo)
    summary = next((s for s in summaries if s.pair.name == pair), None)
    if summary is None:
        raise selectors.PairNotFoundError(f"pair {pair!r} is not tracked on {exchange}")
    latest_end = selectors.window_end_of([to_ms(summary.last_minute)])
    exchange_end = selectors.window_end_of(to_ms(s.last_minute) for s in summaries)
    end = clip_end(end, default=latest_end)
    return PairWindow(
        summary=summary,
        range_key=range_key,
        start=end - minutes * MINUTE,
        end=end,
        stopped_since=stopped_since(last_minute=summary.last_minute, end=end),
        latest_end=latest_end,
        exchange_end=exchange_end,
    )


def pair_ticks(*, window: PairWindow, repo: TickRepository | None = None) -> list[Tick]:
    """The pair's minute ticks in the window, oldest first."""
    return selectors.ticks_between(
        pair=window.summary.pair.name,
        start=window.start,
        end=window.end,
        exchange=window.summary.exchange,
        repo=repo,
    )


def pair_candles(*, window: PairWindow, minutes: int, repo: TickRepository | None = None) -> list[Ohlc]:
    """The pair's OHLCV candles of `minutes` minutes in the window (the API's OHLC)."""
    return selectors.candles_between(
        pair=window.summary.pair.name,
        start=window.start,
        end=window.end,
        minutes=minutes,
        exchange=window.summary.exchange,
        repo=repo,
    )


def pair_window_stats(
    *,
    window: PairWindow,
    start: datetime | None = None,
    end: datetime | None = None,
    repo: TickRepository | None = None,
) -> tuple[datetime, datetime, WindowStats]:
    """(start, end, WindowStats) of [start, end) clipped to the window (default: all of it).

    Bounds are whole minutes; a visible range narrower than a minute becomes one minute.
    """
    lo = max(start or window.start, window.start)
    hi = min(end or window.end, window.end)
    if hi - lo < MINUTE:
        lo = min(lo, window.end - MINUTE)
        hi = lo + MINUTE
    stats = selectors.pair_stats(
        pair=window.summary.pair.name,
        window_minutes=int((hi - lo) / MINUTE),
        end=hi,
        exchange=window.summary.exchange,
        repo=repo,
    )
    return lo, hi, stats


# --- compare ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """Pairs on one chart: the window, the pairs chosen (in order) and their (minute, price) points.

    `tracked` lists every tracked pair (for the chooser); `unknown` the requested names that
    are not tracked; `dropped` those beyond COMPARE_MAX_PAIRS; `empty` the chosen pairs
    without a price in the window. `latest_end` is where the chosen pairs' data ends.
    """

    range_key: str
    start: datetime | None
    end: datetime | None
    tracked: list[str]
    selected: list[str]
    unknown: list[str]
    dropped: list[str]
    series: dict[str, list[tuple[datetime, Decimal]]]
    latest_end: datetime | None = None

    @property
    def empty(self) -> list[str]:
        """The chosen pairs with no price in the window, in order."""
        return [name for name, points in self.series.items() if not points]

    @property
    def is_latest(self) -> bool:
        """True when the window ends where the chosen pairs' data ends."""
        return self.end is None or self.latest_end is None or self.end >= self.latest_end


def comparison_get(
    *,
    pairs: Iterable[str] | None,
    range_key: str,
    end: datetime | None = None,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> Comparison:
    """The minute prices of `pairs` over the window `range_key` ending at `end`, from the snapshots.

    Without `pairs`, the COMPARE_DEFAULT_PAIRS most volatile pairs of the overview ranking.
    Without `end`, the window ends where the newest data of the chosen pairs ends (so pairs of
    imported history compare as of their last minute). Raises KeyError for an unknown range,
    RepositoryError when the store fails.
    """
    minutes = RANGES[range_key]
    summaries = {s.pair.name: s for s in selectors.pairs_list(exchange=exchange, repo=repo)}
    tracked = list(summaries)
    if not tracked:
        return Comparison(range_key, None, None, [], [], list(pairs or []), [], {})
    exchange_end = selectors.window_end_of(to_ms(s.last_minute) for s in summaries.values())
    requested = _unique(p.strip().upper() for p in (pairs or []) if p.strip())
    unknown = [p for p in requested if p not in summaries]
    chosen = [p for p in requested if p in summaries]
    if not requested:
        ranking = selectors.pairs_rank(
            window_minutes=RANGES[OVERVIEW_WINDOW],
            end=clip_end(end, default=exchange_end),
            metric=OVERVIEW_METRIC,
            pairs=tracked,
            limit=COMPARE_DEFAULT_PAIRS,
            exchange=exchange,
            repo=repo,
        )
        chosen = [entry.pair.name for entry in ranking]
    chosen, dropped = chosen[:COMPARE_MAX_PAIRS], chosen[COMPARE_MAX_PAIRS:]
    latest_end = (
        selectors.window_end_of(to_ms(summaries[name].last_minute) for name in chosen)
        if chosen
        else exchange_end
    )
    end = clip_end(end, default=latest_end)
    recent = (
        selectors.recent_prices(end=end, minutes=minutes, pairs=chosen, exchange=exchange, repo=repo)
        if chosen
        else {}
    )
    series = {name: recent.get(name, []) for name in chosen}
    return Comparison(
        range_key, end - minutes * MINUTE, end, tracked, chosen, unknown, dropped, series, latest_end
    )


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return list(seen)


# --- market page ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketWindow:
    """A market over [start, end) on every exchange listing it: `series` label → (minute, price)
    points ("Kraken XBTUSD"), oldest first, and `spread` (minute, max − min) where two or more
    exchanges have a price. Points are minute prices, or hour closes (`step_minutes` 60) past 24 h.
    """

    prices: MarketPrices
    range_key: str
    start: datetime
    end: datetime
    latest_end: datetime
    step_minutes: int
    series: dict[str, list[tuple[datetime, Decimal]]]
    spread: list[tuple[datetime, Decimal]]

    @property
    def is_latest(self) -> bool:
        return self.end >= self.latest_end


def market_window_get(
    *, prices: MarketPrices, range_key: str, end: datetime | None = None, repo: TickRepository | None = None
) -> MarketWindow:
    """The window `range_key` of a market ending at `end` (default: where its newest price ends).

    Reads each listing's ticks (≤ 24 h: 1,440 per exchange) or its hour candles from rollups
    (7 d, 30 d). Raises KeyError for an unknown range, RepositoryError when the store fails.
    """
    minutes = RANGES[range_key]
    latest_end = selectors.window_end_of(to_ms(q.minute) for q in prices.quotes)
    end = clip_end(end, default=latest_end)
    start = end - minutes * MINUTE
    step = 1 if minutes <= RANGES["24h"] else 60
    labels = {c.name: c.label for c in configured_exchanges()}
    series: dict[str, list[tuple[datetime, Decimal]]] = {}
    for q in prices.quotes:
        read = dict(pair=q.pair, start=start, end=end, exchange=q.exchange, repo=repo)
        if step == 1:
            points = [(t.minute, t.last_price) for t in selectors.ticks_between(**read)]
        else:
            points = [(c.start, c.close) for c in selectors.candles_between(minutes=step, **read)]
        series[f"{labels.get(q.exchange, q.exchange)} {q.pair}"] = points
    by_minute: dict[datetime, list[Decimal]] = {}
    for points in series.values():
        for minute, price in points:
            by_minute.setdefault(minute, []).append(price)
    spread = [(m, max(ps) - min(ps)) for m, ps in sorted(by_minute.items()) if len(ps) >= 2]
    return MarketWindow(prices, range_key, start, end, latest_end, step, series, spread)
