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


@lru_cache(maxsize=1)
def _bitfinex_candles_no_wait():  # noqa: ANN202 - BitfinexSource, imported lazily
    from prices.sources.bitfinex import BitfinexSource

    return BitfinexSource.from_settings(rate_limit_retries=0)


def get_candle_source(*, wait_on_rate_limit: bool = True) -> CandleSource:
    """The configured 1-minute candle source (Bitfinex).

    With `wait_on_rate_limit=False`, a rate limit raises SourceError at once instead of sleeping
    through Bitfinex's back-off (60 s and more) and retrying: for scheduled tasks, which must end
    within django-q2's timeout and are run again later anyway.
    """
    return _bitfinex() if wait_on_rate_limit else _bitfinex_candles_no_wait()
