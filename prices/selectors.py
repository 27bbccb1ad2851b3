"""Price reads for the API, dashboards and alerts: tracked pairs, latest ticks, history."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from prices import exchanges
from prices.domain import (
    EXCHANGE_BITFINEX,
    HOUR_MS,
    MINUTE,
    MINUTE_MS,
    Pair,
    Tick,
    from_ms,
    hour_floor_ms,
    minute_floor,
    to_ms,
)
from prices.models import PairStatus, PollLease
from prices.ohlc import Ohlc
from prices.repository import TickRepository, get_tick_repository
from prices.rollups import BLOCK_HOURS, LIVE_WINDOWS, HourRollup, window_plan, window_segments
from prices.selectors_history import history_rows
from prices.statistics import WindowStats


class PairNotFoundError(LookupError):
    """No tick has ever been stored for this exchange and pair."""


def pair_of(exchange: str, name: str) -> Pair:
    """The Pair of an exchange's pair name: Bitfinex names parsed, others split by `market_of`.

    Another exchange's name keeps its own market id as `name`; base and quote are the
    normalised codes (`XBTUSD` on Kraken → BTC/USD), or the whole name and "" when
    `market_of` cannot tell. Raises InvalidPairError for a malformed Bitfinex name.
    """
    if exchange == EXCHANGE_BITFINEX:
        return Pair.parse(name)
    market = exchanges.market_of(exchange, name)
    return Pair(name, market.base, market.quote) if market is not None else Pair(name, name, "")


def _pair_parser(exchange: str) -> Callable[[str], Pair]:
    return Pair.parse if exchange == EXCHANGE_BITFINEX else lambda name: pair_of(exchange, name)


@dataclass(frozen=True, slots=True)
class PairSummary:
    """A tracked pair with its newest last price (quote currency) and that price's minute (UTC)."""

    exchange: str
    pair: Pair
    last_price: Decimal
    last_minute: datetime


def pairs_list(*, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> list[PairSummary]:
    """Every tracked pair of the exchange, sorted by pair name (one registry read)."""
    repo = repo or get_tick_repository()
    registry = repo.latest_prices(exchange=exchange)
    summaries = []
    parse = _pair_parser(exchange)
    for name in sorted(registry):
        entry = registry[name]
        summaries.append(PairSummary(exchange, parse(name), entry.price, from_ms(entry.minute_ms)))
    return summaries


def tracked_pairs(*, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> set[str]:
    """The names of the exchange's tracked pairs (one registry read, no prices)."""
    return (repo or get_tick_repository()).tracked_pairs(exchange=exchange)


def pair_get(
    *, pair: str, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None
) -> PairSummary:
    """One tracked pair; raises PairNotFoundError (also for a malformed pair name)."""
    for summary in pairs_list(exchange=exchange, repo=repo):
        if summary.pair.name == pair:
            return summary
    raise PairNotFoundError(f"pair {pair!r} is not tracked on {exchange}")


@dataclass(frozen=True, slots=True)
class PairsFreshness:
    """How current the stored prices are: see `pairs_freshness`."""

    pairs: int
    newest_minute: datetime | None
    newest_age_s: float | None
    stale_pairs: int
    delisted_pairs: int


# A pair this far behind the newest tick of any pair is no longer quoted by the exchange.
DELISTED_AFTER = timedelta(hours=1)


def pairs_freshness(
    *,
    now: datetime,
    stale_after: timedelta,
    exchange: str = EXCHANGE_BITFINEX,
    timeout_s: float | None = None,
    delisted: Iterable[str] = (),
    repo: TickRepository | None = None,
) -> PairsFreshness:
    """The age at `now` (aware UTC) of the newest stored tick, and how many pairs are stale.

    One registry read. A tick of minute M is the price at the end of M, so its age is
    now − (M + 1 min). A pair whose newest tick is DELISTED_AFTER or more behind the newest
    tick of any pair is counted as delisted (the exchange stopped quoting it while the others
    went on), not as stale; every other pair whose newest tick is older than `stale_after` is
    stale. Pairs named in `delisted` (off the exchange's pair list) count as delisted at once.
    With `timeout_s`, the store is read with that connect/read timeout and no retries
    (readiness probes). Raises RepositoryError.
    """
    repo = repo or get_tick_repository(timeout_s=timeout_s)
    registry = repo.latest_prices(exchange=exchange)
    minutes = {pair: from_ms(entry.minute_ms) for pair, entry in registry.items()}
    if not minutes:
        return PairsFreshness(pairs=0, newest_minute=None, newest_age_s=None, stale_pairs=0, delisted_pairs=0)
    newest = max(minutes.values())
    off_list = set(delisted)
    gone = {pair for pair, minute in minutes.items() if newest - minute >= DELISTED_AFTER or pair in off_list}
    stale = sum(
        1 for pair, minute in minutes.items() if pair not in gone and now - minute - MINUTE > stale_after
    )
    return PairsFreshness(
        pairs=len(minutes),
        newest_minute=newest,
        newest_age_s=(now - newest - MINUTE).total_seconds(),
        stale_pairs=stale,
        delisted_pairs=len(gone),
    )


def tick_latest(*, pair: str, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> Tick:
    """The pair's newest tick with every stored field; raises PairNotFoundError."""
    repo = repo or get_tick_repository()
    tick = repo.latest(exchange=exchange, pair=pair)
    if tick is None:
        raise PairNotFoundError(f"pair {pair!r} is not tracked on {exchange}")
    return tick


def ticks_latest(
    *, pairs: Iterable[PairSummary], exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None
) -> dict[str, Tick]:
    """The newest tick of each pair (every stored field), by pair name: one batched read per 100 pairs."""
    repo = repo or get_tick_repository()
    return repo.ticks_at(exchange=exchange, minutes={p.pair.name: to_ms(p.last_minute) for p in pairs})


def ticks_between(
    *,
    pair: str,
    start: datetime,
    end: datetime,
    exchange: str = EXCHANGE_BITFINEX,
    limit: int | None = None,
    repo: TickRepository | None = None,
) -> list[Tick]:
    """The pair's ticks with start ≤ minute < end (aware UTC), oldest first, at most `limit`."""
    repo = repo or get_tick_repository()
    return list(repo.between(exchange=exchange, pair=pair, start=start, end=end, limit=limit))


# --- statistics and ranking -------------------------------------------------------------

WINDOWS: dict[str, int] = {"1h": 60, "6h": 360, "24h": 1440, "7d": 10080}
RANK_METRICS = ("relative_std", "std", "volatility")
COVERAGE_FLOOR = 0.5


def window_end_default(*, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> datetime:
    """The end of the newest stored minute (so windows end where data ends), or the current minute.

    Never later than the start of the current minute + 1 min.
    """
    repo = repo or get_tick_repository()
    return window_end_of(minute_ms for minute_ms, _ in _registry(repo, exchange))


def window_end_of(minutes_ms: Iterable[int]) -> datetime:
    """`window_end_default` for already-read newest minutes (ms), e.g. of `pairs_list` entries."""
    now_end = minute_floor(datetime.now(UTC)) + MINUTE
    newest = max(minutes_ms, default=None)
    return now_end if newest is None else min(from_ms(newest) + MINUTE, now_end)


def _registry(repo: TickRepository, exchange: str) -> list[tuple[int, Decimal]]:
    return [(e.minute_ms, e.price) for e in repo.latest_prices(exchange=exchange).values()]


def pairs_stats(
    *,
    window_minutes: int,
    end: datetime,
    pairs: Iterable[str] | None = None,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> dict[str, WindowStats]:
    """WindowStats of [end − window, end) per pair, from aggregates: a few reads for any number of pairs.

    Live windows (1 h and 24 h ending at the newest stored minute) are published by ingestion:
    one BatchGetItem of the live statistics, nothing recomputed. Any other window is computed
    here, without writing anything: its whole hours come from hour rollups, and their last 23
    from one stored block when present (ingestion stores them; when absent the 23 rollups are
    read). The partial hour at the end comes from its own rollup when that ends exactly at
    `end`, else from minute snapshots like the partial hour at the start. Pending minutes (a
    poll died before writing their ticks) are left out everywhere, as in hour rollups.
    `pairs` restricts the result (None = every pair with data). Pairs without data in the
    window are absent.
    """
    stats, _ = _window_stats(
        window_minutes=window_minutes, end=end, pairs=pairs, exchange=exchange, repo=repo
    )
    return stats


def _window_stats(
    *,
    window_minutes: int,
    end: datetime,
    pairs: Iterable[str] | None,
    exchange: str,
    repo: TickRepository | None,
) -> tuple[Mapping[str, WindowStats], frozenset[str] | None]:
    """`pairs_stats`, and the tracked pairs without data that a published live window lists (else None)."""
    repo = repo or get_tick_repository()
    end_ms = to_ms(end)
    start_ms = end_ms - window_minutes * MINUTE_MS
    plan = window_plan(start_ms, end_ms)
    wanted = list(pairs) if pairs is not None else None
    if window_minutes in LIVE_WINDOWS:
        live = repo.get_live(exchange=exchange, window_minutes=window_minutes, pairs=wanted)
        if live is not None and live.end_ms == end_ms:
            return dict(live.stats), live.idle
    rollups: list[HourRollup] = []
    hours_end_ms = plan.hours_end_ms
    if plan.has_hours and plan.hours_end_ms - plan.hours_start_ms >= BLOCK_HOURS * HOUR_MS:
        block = repo.get_block(exchange=exchange, end_ms=plan.hours_end_ms, pairs=wanted)
        if block is not None:
            rollups.append(block.as_rollup())
            hours_end_ms = block.start_ms
    last_hour_ms = hour_floor_ms(end_ms)
    current_hour_edge = (last_hour_ms, end_ms) in plan.edges and last_hour_ms >= start_ms
    ranges = [(plan.hours_start_ms, hours_end_ms)] if plan.has_hours else []
    if current_hour_edge:
        ranges.append((last_hour_ms, last_hour_ms + HOUR_MS))
    for a, b in _joined(ranges):
        rollups += repo.rollups_between(exchange=exchange, start_ms=a, end_ms=b, pairs=wanted)
    if current_hour_edge and any(
        r.hour_ms == last_hour_ms and r.last_minute_ms == end_ms - MINUTE_MS for r in rollups
    ):
        plan = replace(
            plan,
            hours_start_ms=plan.hours_start_ms if plan.has_hours else last_hour_ms,
            hours_end_ms=last_hour_ms + HOUR_MS,
        )
    snapshots = [
        snapshot
        for a, b in plan.edges
        for snapshot in repo.snapshots_between(exchange=exchange, start_ms=a, end_ms=b, pairs=wanted)
    ]
    segments = window_segments(plan=plan, rollups=rollups, snapshots=snapshots, pairs=wanted)
    return {
        pair: WindowStats.of(segment, expected=window_minutes) for pair, segment in segments.items()
    }, None


def _joined(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Non-empty [a, b) ranges with touching neighbours joined into one."""
    joined: list[tuple[int, int]] = []
    for a, b in ranges:
        if b <= a:
            continue
        if joined and joined[-1][1] == a:
            joined[-1] = (joined[-1][0], b)
        else:
            joined.append((a, b))
    return joined


def pair_stats(
    *,
    pair: str,
    window_minutes: int,
    end: datetime,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> WindowStats:
    """WindowStats of one pair over [end − window, end); an empty window gives count 0 and nulls."""
    stats = pairs_stats(window_minutes=window_minutes, end=end, pairs=[pair], exchange=exchange, repo=repo)
    return stats.get(pair) or WindowStats.of(None, expected=window_minutes)


@dataclass(frozen=True, slots=True)
class RankEntry:
    """One ranked pair: 1-based `rank`, the metric's `value` (None if undefined), its window stats.

    `low_coverage` is True when stats.coverage < the coverage floor; such pairs rank last.
    """

    rank: int
    pair: Pair
    value: float | None
    stats: WindowStats
    low_coverage: bool
    exchange: str = EXCHANGE_BITFINEX

    def sort_key(self) -> tuple[bool, bool, float, str, str]:
        """The ranking order of `pairs_rank` (best covered, defined, largest value, name), then exchange."""
        return (self.low_coverage, self.value is None, -(self.value or 0.0), self.pair.name, self.exchange)


def pairs_rank(
    *,
    window_minutes: int,
    end: datetime,
    metric: str = "relative_std",
    pairs: Iterable[str] | None = None,
    limit: int | None = None,
    coverage_floor: float = COVERAGE_FLOOR,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
    stats: Mapping[str, WindowStats] | None = None,
) -> list[RankEntry]:
    """Pairs ordered by `metric` descending (relative_std, std or volatility), best covered first.

    Pairs whose coverage is below `coverage_floor` follow all others (flagged); pairs whose
    metric is undefined (fewer than two values) come last in their group. Ties break by name.
    Tracked pairs with no data in the window are included with count 0: a published live
    window lists them (as of its poll: a pair first tracked by a backfill since then joins at
    the next poll), else the registry is read when they can be among the first `limit`.
    `stats`: the pairs_stats of this window and end when the caller already has them (ranking
    by several metrics reads them once). Raises ValueError for an unknown metric.
    """
    if metric not in RANK_METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(RANK_METRICS)}")
    repo = repo or get_tick_repository()
    wanted = set(pairs) if pairs is not None else None
    idle: frozenset[str] | None = None
    # Without `pairs`, read whole aggregate items: projecting every tracked pair only splits the reads.
    if stats is None:
        stats, idle = _window_stats(
            window_minutes=window_minutes,
            end=end,
            pairs=sorted(wanted) if wanted is not None else None,
            exchange=exchange,
            repo=repo,
        )
    rows = []
    for name, pair_stats_ in stats.items():
        if wanted is None or name in wanted:
            value = getattr(pair_stats_, metric)
            low = pair_stats_.coverage < coverage_floor
            rows.append((low, value is None, -(value or 0.0), name, pair_stats_, value))
    # A tracked pair without data in the window sorts among the pairs without a value: when
    # `limit` pairs with data sort before those, the tracked names (the registry) are not read.
    without_data = (coverage_floor > 0.0, True)
    missing: Iterable[str] = ()
    if wanted is None and idle is not None:
        missing = idle  # the live window lists the tracked pairs it has no data of
    elif wanted is None and (limit is None or sum(1 for r in rows if r[:2] < without_data) < limit):
        wanted = repo.tracked_pairs(exchange=exchange)
        rows = [row for row in rows if row[3] in wanted]
    if wanted is not None:
        missing = [name for name in wanted if name not in stats]
    if missing:
        empty = WindowStats.of(None, expected=window_minutes)
        rows += [(*without_data, -0.0, name, empty, None) for name in missing]
    rows.sort(key=lambda row: row[:4])
    if limit is not None:
        rows = rows[:limit]
    parse = _pair_parser(exchange)
    return [
        RankEntry(rank=i, pair=parse(name), value=value, stats=s, low_coverage=low, exchange=exchange)
        for i, (low, _, _, name, s, value) in enumerate(rows, start=1)
    ]


def pairs_rank_across(
    *,
    exchange_names: Sequence[str],
    window_minutes: int,
    end: datetime,
    metric: str = "relative_std",
    pairs: Iterable[str] | None = None,
    limit: int | None = None,
    repo: TickRepository | None = None,
) -> list[RankEntry]:
    """`pairs_rank` over several exchanges at one `end`, merged into one ranking (ranks from 1).

    Each exchange is ranked on its own (at most `limit` entries each), then the entries are
    ordered as `pairs_rank` orders them, ties broken by exchange name. `pairs` keeps the named
    pairs on whichever exchange tracks them. Raises ValueError for an unknown metric.
    """
    repo = repo or get_tick_repository()
    wanted = set(pairs) if pairs is not None else None
    entries: list[RankEntry] = []
    for exchange in exchange_names:
        names = None
        if wanted is not None:
            names = sorted(wanted & repo.tracked_pairs(exchange=exchange))
            if not names:
                continue
        entries += pairs_rank(
            window_minutes=window_minutes,
            end=end,
            metric=metric,
            pairs=names,
            limit=limit,
            exchange=exchange,
            repo=repo,
        )
    entries.sort(key=RankEntry.sort_key)
    if limit is not None:
        entries = entries[:limit]
    return [replace(entry, rank=i) for i, entry in enumerate(entries, start=1)]


def candles_between(
    *,
    pair: str,
    start: datetime,
    end: datetime,
    minutes: int,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> list[Ohlc]:
    """OHLCV candles of `minutes` minutes of the pair's ticks in [start, end) (see `history_rows`).

    Candles of whole hours come from hour rollups: a 30-day chart reads ~750 items, not 43,200.
    """
    return list(history_rows(pair=pair, start=start, end=end, minutes=minutes, exchange=exchange, repo=repo))


def recent_prices(
    *,
    end: datetime,
    minutes: int,
    pairs: Iterable[str] | None = None,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> dict[str, list[tuple[datetime, Decimal]]]:
    """Per pair, the (minute, last price) points of [end − minutes, end), oldest first.

    Read from the exchange-wide minute snapshots: one Query per UTC day touched, whatever the
    number of pairs (for evaluating many alert rules at once).
    """
    repo = repo or get_tick_repository()
    end_ms = to_ms(end)
    snapshots = repo.snapshots_between(
        exchange=exchange,
        start_ms=end_ms - minutes * MINUTE_MS,
        end_ms=end_ms,
        pairs=list(pairs) if pairs is not None else None,
    )
    series: dict[str, list[tuple[datetime, Decimal]]] = {}
    for snapshot in snapshots:
        minute = from_ms(snapshot.minute_ms)
        for pair, price in snapshot.prices.items():
            series.setdefault(pair, []).append((minute, price))
    return series


@dataclass(frozen=True, slots=True)
class PairOverview:
    """A tracked pair with its newest price and its statistics over a window ending at `end`."""

    exchange: str
    pair: Pair
    last_price: Decimal
    last_minute: datetime
    stats: WindowStats
    status: str = PairStatus.State.ACTIVE
    status_since: datetime | None = None


def pairs_overview(
    *,
    window_minutes: int = 1440,
    end: datetime | None = None,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> list[PairOverview]:
    """Every tracked pair with its window statistics (default: 24 h ending at the newest data)
    and its status (active, inactive, delisted: see prices.services.pairs)."""
    repo = repo or get_tick_repository()
    pairs = pairs_list(exchange=exchange, repo=repo)
    end = end or window_end_of(to_ms(p.last_minute) for p in pairs)
    stats = pairs_stats(window_minutes=window_minutes, end=end, exchange=exchange, repo=repo)
    states = pair_states(exchange=exchange)
    empty = WindowStats.of(None, expected=window_minutes)
    return [
        PairOverview(
            p.exchange,
            p.pair,
            p.last_price,
            p.last_minute,
            stats.get(p.pair.name, empty),
            *states.get(p.pair.name, PairState()),
        )
        for p in pairs
    ]


# Sort keys of `pairs_page`; "-key" sorts descending. Pairs whose key is null come last either way.
PAIR_ORDERINGS: dict[str, Callable[[PairOverview], Any]] = {
    "pair": lambda o: o.pair.name,
    "last_price": lambda o: o.last_price,
    "last_minute": lambda o: o.last_minute,
    "change_24h_pct": lambda o: o.stats.change_pct,
    "std_24h": lambda o: o.stats.std,
    "relative_std_24h": lambda o: o.stats.relative_std,
}
PAIR_ORDERING_CHOICES = (*PAIR_ORDERINGS, *(f"-{key}" for key in PAIR_ORDERINGS))


@dataclass(frozen=True, slots=True)
class PairsPage:
    """One page of `pairs_page`: `count` matching pairs in `pages` pages (≥ 1), `results` of page `page`."""

    count: int
    page: int
    pages: int
    results: list[PairOverview]


def pairs_page(
    *,
    overview: Sequence[PairOverview],
    quote: str = "",
    search: str = "",
    ordering: str = "pair",
    page: int = 1,
    page_size: int = 100,
) -> PairsPage:
    """The pairs of `overview` (from `pairs_overview`) filtered, sorted and cut into pages (no I/O).

    `quote` keeps one quote currency, `search` a case-insensitive substring of the pair name;
    `ordering` is a key of PAIR_ORDERINGS, "-" first for descending. A page past the last is
    empty. Raises ValueError for an unknown ordering or a page or page_size below 1.
    """
    key = PAIR_ORDERINGS.get(ordering.removeprefix("-"))
    if key is None or page < 1 or page_size < 1:
        raise ValueError(f"bad pairs_page arguments: ordering={ordering!r} page={page} page_size={page_size}")
    quote, search = quote.upper(), search.upper()
    rows = [o for o in overview if (not quote or o.pair.quote == quote) and search in o.pair.name]
    present = [o for o in rows if key(o) is not None]
    rows = sorted(present, key=key, reverse=ordering.startswith("-")) + [o for o in rows if key(o) is None]
    offset = (page - 1) * page_size
    return PairsPage(
        count=len(rows),
        page=page,
        pages=max(1, -(-len(rows) // page_size)),
        results=rows[offset : offset + page_size],
    )


def hourly_points(
    *,
    end: datetime,
    minutes: int,
    pairs: Iterable[str] | None = None,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> dict[str, list[tuple[datetime, Decimal]]]:
    """Per pair, the first and last (minute, price) of every whole hour in [end − minutes, end).

    A coarse series for sparklines: one Query of hour rollups instead of every minute
    snapshot (a partial hour at either edge is left out; append the newest price from
    `pairs_list` to reach the present).
    """
    repo = repo or get_tick_repository()
    end_ms = to_ms(end)
    plan = window_plan(end_ms - minutes * MINUTE_MS, end_ms)
    if not plan.has_hours:
        return {}
    rollups = repo.rollups_between(
        exchange=exchange,
        start_ms=plan.hours_start_ms,
        end_ms=plan.hours_end_ms,
        pairs=list(pairs) if pairs is not None else None,
    )
    series: dict[str, list[tuple[datetime, Decimal]]] = {}
    for rollup in rollups:
        for pair, segment in rollup.segments.items():
            points = series.setdefault(pair, [])
            points.append((from_ms(segment.first_ms), segment.first))
            if segment.last_ms != segment.first_ms:
                points.append((from_ms(segment.last_ms), segment.last))
    return series


@dataclass(frozen=True, slots=True)
class PollProgress:
    """Which minutes polls have taken (prices.services.lease), for judging missing data.

    `minute` is the newest minute a poll took (None: no poll ever ran, e.g. history imported
    only); `down_from`..`down_until` (inclusive) the most recent minutes no poll took, because
    no cluster ran. Aware UTC minute starts.
    """

    minute: datetime | None = None
    down_from: datetime | None = None
    down_until: datetime | None = None

    def awaits_poll(self, minute: datetime) -> bool:
        """True when polls ran before but none has taken `minute` yet (our own downtime)."""
        return self.minute is not None and minute > self.minute

    def was_down(self, minute: datetime) -> bool:
        """True when `minute` is in the most recent run of minutes no poll took."""
        return self.down_from is not None and self.down_from <= minute <= self.down_until


def poll_progress(*, exchange: str = EXCHANGE_BITFINEX) -> PollProgress:
    """The exchange's poll progress, read from its poll lease (one database query)."""
    row = PollLease.objects.filter(exchange=exchange).values("minute", "down_from", "down_until").first()
    return PollProgress(**row) if row else PollProgress()


@dataclass(frozen=True, slots=True)
class PairState:
    """A pair's status: "active", "inactive" (its candles are rejected) or "delisted" (not in the
    exchange's pair list), and since when (aware UTC; None for active)."""

    status: str = PairStatus.State.ACTIVE
    since: datetime | None = None

    def __iter__(self):  # noqa: ANN204 - unpacks as (status, since)
        return iter((self.status, self.since))


def pair_states(*, exchange: str = EXCHANGE_BITFINEX) -> dict[str, PairState]:
    """The pairs of the exchange that are not active, by name (one database query)."""
    rows = PairStatus.objects.filter(exchange=exchange).exclude(state=PairStatus.State.ACTIVE)
    return {
        pair: PairState(state, since) for pair, state, since in rows.values_list("pair", "state", "since")
    }


@dataclass(frozen=True, slots=True)
class PairDetail:
    """The newest tick of a pair (its fields readable as attributes) with the pair's status."""

    tick: Tick
    status: str
    status_since: datetime | None

    def __getattr__(self, name: str) -> object:
        return getattr(self.tick, name)


def pair_detail(
    *, pair: str, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None
) -> PairDetail:
    """The pair's newest tick and status; raises PairNotFoundError."""
    tick = tick_latest(pair=pair, exchange=exchange, repo=repo)
    state = pair_states(exchange=exchange).get(pair, PairState())
    return PairDetail(tick, state.status, state.since)
