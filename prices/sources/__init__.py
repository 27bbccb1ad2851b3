"""Exchange sources; the configured ones are built once per process (they keep back-off state)."""

from __future__ import annotations

from functools import lru_cache

from prices.sources.base import CandleSource, SourceError, TickerSource

__all__ = ["CandleSource", "SourceError", "TickerSource", "get_candle_source", "get_ticker_source"]


@lru_cache(maxsize=1)
def _bitfinex():  # noqa: ANN202 - BitfinexSource, imported lazily
    from prices.sources.bitfinex import BitfinexSource

    return BitfinexSource.from_settings()


def get_ticker_source() -> TickerSource:
    """The configured tickers source (Bitfinex, from BITFINEX_API_URL and PRICES_PAIRS)."""
    return _bitfinex()


def get_candle_source() -> CandleSource:
    """The configured 1-minute candle source (Bitfinex)."""
    return _bitfinex()
