"""Reads for the dashboard pages, composed only of `prices.selectors` (the API's reads).

Nothing here computes a statistic, a ranking or a candle: it picks windows, calls the
price selectors and arranges their results for the pages. Times are aware UTC; a window
is [start, end) and ends by default where the stored data ends (`window_end_default`), so
imported history is shown as of its last minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from prices import selectors
from prices.dashboards.figures import Sparkline, sparkline
from prices.domain import EXCHANGE_BITFINEX, HOUR_MS, MINUTE, Pair, Tick, to_ms
from prices.ohlc import Ohlc
from prices.repository import TickRepository
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
    """One ranked pair of the overview: its rank entry, newest price and 24 h sparkline."""

    rank: int
    pair: Pair
    last_price: Decimal
    last_minute: datetime
    stats: WindowStats
    low_coverage: bool
    sparkline: Sparkline
    stopped_since: datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    """Every tracked pair ranked over the window [end − window, end); `end` None when empty."""

    end: datetime | None
    window: str
    metric: str
    rows: list[OverviewRow] = field(default_factory=list)

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


def overview_get(*, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> Overview:
    """Every tracked pair in `pairs_rank` order (24 h relative std, as GET /api/v1/rank/).

    Reads: the pair registry twice, the window's hour rollups and edge minutes for the ranking,
    and the hour rollups again for the sparklines (first and last price of each hour, then the
    newest price); none of it per pair. Raises RepositoryError.
    """
    summaries = {s.pair.name: s for s in selectors.pairs_list(exchange=exchange, repo=repo)}
    if not summaries:
        return Overview(end=None, window=OVERVIEW_WINDOW, metric=OVERVIEW_METRIC)
    end = selectors.window_end_of(to_ms(s.last_minute) for s in summaries.values())
    minutes = RANGES[OVERVIEW_WINDOW]
    ranking = selectors.pairs_rank(
        window_minutes=minutes, end=end, metric=OVERVIEW_METRIC, exchange=exchange, repo=repo
    )
    hourly = selectors.hourly_points(end=end, minutes=minutes, exchange=exchange, repo=repo)
    start = end - minutes * MINUTE
    rows = []
    for entry in ranking:
        summary = summaries[entry.pair.name]
        rows.append(
            OverviewRow(
                rank=entry.rank,
                pair=entry.pair,
                last_price=summary.last_price,
                last_minute=summary.last_minute,
                stats=entry.stats,
                low_coverage=entry.low_coverage,
                sparkline=sparkline(
                    _with_newest(hourly.get(entry.pair.name, []), summary, start=start),
                    start=start,
                    end=end,
                    step_ms=HOUR_MS,
                ),
                stopped_since=stopped_since(last_minute=summary.last_minute, end=end),
            )
        )
    return Overview(end=end, window=OVERVIEW_WINDOW, metric=OVERVIEW_METRIC, rows=rows)


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

    `stopped_since` is the pair's last minute when its prices stopped before the exchange's
    newest data (see `stopped_since`), else None.
    """

    summary: selectors.PairSummary
    range_key: str
    start: datetime
    end: datetime
    stopped_since: datetime | None

    @property
    def minutes(self) -> int:
        """The window's length in minutes."""
        return RANGES[self.range_key]


def pair_window_get(
    *, pair: str, range_key: str, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None
) -> PairWindow:
    """The window `range_key` (a RANGES key) ending at the exchange's newest data.

    Raises PairNotFoundError for a pair never stored, KeyError for an unknown range,
    RepositoryError when the store fails.
    """
    minutes = RANGES[range_key]
    summary = selectors.pair_get(pair=pair, exchange=exchange, repo=repo)
    end = selectors.window_end_default(exchange=exchange, repo=repo)
    return PairWindow(
        summary=summary,
        range_key=range_key,
        start=end - minutes * MINUTE,
        end=end,
        stopped_since=stopped_since(last_minute=summary.last_minute, end=end),
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
    are not tracked; `dropped` those beyond COMPARE_MAX_PAIRS.
    """

    range_key: str
    start: datetime | None
    end: datetime | None
    tracked: list[str]
    selected: list[str]
    unknown: list[str]
    dropped: list[str]
    series: dict[str, list[tuple[datetime, Decimal]]]


def comparison_get(
    *,
    pairs: Iterable[str] | None,
    range_key: str,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> Comparison:
    """The minute prices of `pairs` over the window `range_key`, from the minute snapshots.

    Without `pairs`, the COMPARE_DEFAULT_PAIRS most volatile pairs of the overview ranking.
    Raises KeyError for an unknown range, RepositoryError when the store fails.
    """
    minutes = RANGES[range_key]
    tracked = [s.pair.name for s in selectors.pairs_list(exchange=exchange, repo=repo)]
    if not tracked:
        return Comparison(range_key, None, None, [], [], list(pairs or []), [], {})
    end = selectors.window_end_default(exchange=exchange, repo=repo)
    requested = _unique(p.strip().upper() for p in (pairs or []) if p.strip())
    unknown = [p for p in requested if p not in tracked]
    chosen = [p for p in requested if p in tracked]
    if not requested:
        ranking = selectors.pairs_rank(
            window_minutes=RANGES[OVERVIEW_WINDOW],
            end=end,
            metric=OVERVIEW_METRIC,
            pairs=tracked,
            limit=COMPARE_DEFAULT_PAIRS,
            exchange=exchange,
            repo=repo,
        )
        chosen = [entry.pair.name for entry in ranking]
    chosen, dropped = chosen[:COMPARE_MAX_PAIRS], chosen[COMPARE_MAX_PAIRS:]
    recent = (
        selectors.recent_prices(end=end, minutes=minutes, pairs=chosen, exchange=exchange, repo=repo)
        if chosen
        else {}
    )
    series = {name: recent.get(name, []) for name in chosen}
    return Comparison(range_key, end - minutes * MINUTE, end, tracked, chosen, unknown, dropped, series)


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return list(seen)
