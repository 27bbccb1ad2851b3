"""suspects_flag: the cross-exchange bad-tick guard applied to one polled minute (prices/guard.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from django.conf import settings

from prices.domain import MINUTE_MS, Tick
from prices.exchanges import Market, configured_exchanges, market_of
from prices.guard import GuardSettings, suspect_pairs
from prices.repository import TickRepository

# The other exchanges' prices are compared only while this recent: an exchange that stopped
# answering (or a pair it stopped quoting) says nothing about this minute.
REFERENCE_MAX_AGE_MS = 5 * MINUTE_MS


def guard_settings() -> GuardSettings:
    """PRICES_SUSPECT_MULTIPLE (× the 1 h volatility) and PRICES_SUSPECT_FLOOR_PCT (%)."""
    return GuardSettings(
        multiple=settings.PRICES_SUSPECT_MULTIPLE, floor=settings.PRICES_SUSPECT_FLOOR_PCT / 100
    )


def suspects_flag(*, exchange: str, ticks: Sequence[Tick], repo: TickRepository) -> list[Tick]:
    """`ticks` (one exchange's polled minute), the suspect ones flagged (`suspect=True`).

    Reads, with another exchange configured: each other exchange's latest-price registry
    and this exchange's published 1-hour live window (the volatility); with none, nothing.
    Writes nothing. Raises RepositoryError.
    """
    others = [config.name for config in configured_exchanges() if config.name != exchange]
    if not ticks or not others:
        return list(ticks)
    newest_ms = max(t.minute_ms for t in ticks)
    reference: dict[Market, list[Decimal]] = defaultdict(list)
    for other in others:
        for pair, entry in repo.latest_prices(exchange=other).items():
            market = market_of(other, pair)
            if market is not None and newest_ms - entry.minute_ms <= REFERENCE_MAX_AGE_MS:
                reference[market].append(entry.price)
    markets = {t.pair: market_of(exchange, t.pair) for t in ticks}
    if not any(market in reference for market in markets.values()):
        return list(ticks)
    live = repo.get_live(exchange=exchange, window_minutes=60)
    volatility = {pair: s.volatility for pair, s in live.stats.items()} if live is not None else {}
    suspects = suspect_pairs(
        prices={t.pair: t.last_price for t in ticks},
        markets=markets,
        others=reference,
        volatility=volatility,
        settings=guard_settings(),
    )
    return [replace(t, suspect=True) if t.pair in suspects else t for t in ticks]
