"""Exchange sources; the configured ones are built once per process (they keep back-off state)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prices.domain import EXCHANGE_BITFINEX
from prices.sources.base import CandleSource, PairListSource, SourceError, TickerSource

__all__ = [
    "CandleSource",
    "PairListSource",
    "SourceError",
    "TickerSource",
    "get_candle_source",
    "get_ticker_source",
    "source_class",
]


def source_class(exchange: str) -> Any:
    """The source class of a supported exchange (imported lazily); UnknownExchangeError otherwise."""
    from prices.exchanges import UnknownExchangeError

    if exchange == EXCHANGE_BITFINEX:
        from prices.sources.bitfinex import BitfinexSource

        return BitfinexSource
    if exchange == "binance":
        from prices.sources.binance import BinanceSource

        return BinanceSource
    if exchange == "kraken":
        from prices.sources.kraken import KrakenSource

        return KrakenSource
    if exchange == "coinbase":
        from prices.sources.coinbase import CoinbaseSource

        return CoinbaseSource
    raise UnknownExchangeError(f"no source for exchange {exchange!r}")


@lru_cache(maxsize=16)
def _source(exchange: str, wait_on_rate_limit: bool) -> Any:
    if exchange != EXCHANGE_BITFINEX:
        from prices.exchanges import exchange_config

        exchange_config(exchange)  # UnknownExchangeError unless configured
    overrides = {} if wait_on_rate_limit else {"rate_limit_retries": 0}
    return source_class(exchange).from_settings(**overrides)


def get_ticker_source(exchange: str = EXCHANGE_BITFINEX) -> TickerSource:
    """The configured tickers source of `exchange` (default Bitfinex, from BITFINEX_API_URL and
    PRICES_PAIRS; others from `<NAME>_API_URL` and `<NAME>_PAIRS`). It is also the exchange's
    PairListSource. Raises UnknownExchangeError for an exchange not in PRICES_EXCHANGES."""
    return _source(exchange, True)


def get_candle_source(exchange: str = EXCHANGE_BITFINEX, *, wait_on_rate_limit: bool = True) -> CandleSource:
    """The configured 1-minute candle source of `exchange` (default Bitfinex).

    With `wait_on_rate_limit=False`, a rate limit raises SourceError at once instead of sleeping
    through the exchange's back-off (60 s and more) and retrying: for scheduled tasks, which must
    end within django-q2's timeout and are run again later anyway.
    """
    return _source(exchange, wait_on_rate_limit)
