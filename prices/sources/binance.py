"""Binance spot public REST: all 24 h tickers, 1-minute klines and exchangeInfo (URLs, params, parsing).

Formats (shared/data README §9–12; developers.binance.com/docs/binance-spot-api-docs/rest-api):

* `GET /api/v3/ticker/24hr` without `symbol` → a JSON array of the single-symbol objects
  (`symbol`, `lastPrice`, `bidPrice`, `bidQty`, `askPrice`, `askQty`, `priceChange`,
  `priceChangePercent` (percent), `volume` (base units), `highPrice`, `lowPrice`, … every price a
  string; `openTime`/`closeTime` ms numbers). Request weight 80: once a minute is far inside
  the 6,000/min limit.
* `GET /api/v3/klines?symbol=&interval=1m&startTime=&endTime=&limit=1000` → arrays of 12:
  [openTime ms, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBase,
  takerQuote, "0"]; both times inclusive; minutes without trades are absent.
* `GET /api/v3/exchangeInfo` → `{"symbols": [{"symbol": "BTCUSDT", "status": "TRADING",
  "baseAsset": "BTC", "quoteAsset": "USDT", …}], …}`: the markets list (status `BREAK` = halted).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prices.domain import MINUTE_MS, from_ms, to_ms
from prices.exchanges import Market, normalise_asset, valid_pair
from prices.sources.base import Candle, SourceError, TickerBatch, TickerRow
from prices.sources.rest import (
    SKIP_INVALID_SYMBOL,
    SKIP_NOT_TRACKED,
    SKIP_NOT_TRADING,
    SKIP_ZERO_PRICE,
    RestSource,
    decimal_text,
    optional_decimal,
    short,
    signed_decimal,
)

logger = logging.getLogger(__name__)

EXCHANGE = "binance"
TICKERS_PATH = "/api/v3/ticker/24hr"
KLINES_PATH = "/api/v3/klines"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
KLINE_LIMIT = 1000
KLINE_FIELDS = 12
TRADING = "TRADING"


def parse_tickers(
    payload: Any, *, pairs: Iterable[str] | None = None, trading: Iterable[str] | None = None
) -> TickerBatch:
    """Parse a `GET /api/v3/ticker/24hr` (all symbols) body into ticker rows plus skip counts.

    `pairs` restricts the rows (empty = all); `trading`, when known, is the set of TRADING
    symbols of exchangeInfo: others ("not_trading", e.g. BREAK) are skipped, their 24 h
    ticker being stale. Zero last prices are skipped ("zero_price"). Prices are the exact
    Decimal of their text. Raises SourceError(permanent=True) for any shape problem.
    """
    if not isinstance(payload, list):
        raise SourceError(
            f"binance tickers: expected an array of objects, got {short(payload)}", permanent=True
        )
    tracked = frozenset(pairs or ())
    listed = frozenset(trading) if trading is not None else None
    rows: list[TickerRow] = []
    seen: set[str] = set()
    skipped: Counter[str] = Counter()
    for index, item in enumerate(payload):
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            raise SourceError(
                f"binance tickers: entry {index}: expected an object with a symbol", permanent=True
            )
        symbol = item["symbol"]
        if symbol in seen:
            raise SourceError(f"binance tickers: duplicate symbol {symbol}", permanent=True)
        seen.add(symbol)
        if not valid_pair(EXCHANGE, symbol):
            skipped[SKIP_INVALID_SYMBOL] += 1
            continue
        if tracked and symbol not in tracked:
            skipped[SKIP_NOT_TRACKED] += 1
            continue
        if listed is not None and symbol not in listed:
            skipped[SKIP_NOT_TRADING] += 1
            continue
        try:
            last = decimal_text(item.get("lastPrice"), "lastPrice")
            change_pct = item.get("priceChangePercent")
            row = TickerRow(
                pair=symbol,
                last_price=last,
                bid=optional_decimal(item.get("bidPrice"), "bidPrice"),
                bid_size=optional_decimal(item.get("bidQty"), "bidQty"),
                ask=optional_decimal(item.get("askPrice"), "askPrice"),
                ask_size=optional_decimal(item.get("askQty"), "askQty"),
                daily_change=signed_decimal(item.get("priceChange"), "priceChange"),
                # Binance sends percent ("-95.960"); the tick holds a fraction, like Bitfinex's.
                daily_change_relative=None
                if change_pct in (None, "")
                else signed_decimal(change_pct, "pct") / 100,
                volume_24h=optional_decimal(item.get("volume"), "volume"),
                high_24h=optional_decimal(item.get("highPrice"), "highPrice"),
                low_24h=optional_decimal(item.get("lowPrice"), "lowPrice"),
            )
        except ValueError as exc:
            raise SourceError(f"binance tickers: entry {index} ({symbol}): {exc}", permanent=True) from exc
        if not last:
            skipped[SKIP_ZERO_PRICE] += 1
            continue
        rows.append(row)
    return TickerBatch(rows=rows, skipped=skipped)


def parse_exchange_info(payload: Any) -> dict[str, tuple[Market, bool]]:
    """Parse `GET /api/v3/exchangeInfo` into {symbol: (normalised Market, trading?)}.

    Raises SourceError(permanent=True) when `symbols` is not a list of objects with
    symbol/baseAsset/quoteAsset strings.
    """
    symbols = payload.get("symbols") if isinstance(payload, dict) else None
    if not isinstance(symbols, list):
        raise SourceError(
            f"binance exchangeInfo: expected an object with symbols, got {short(payload)}", permanent=True
        )
    markets: dict[str, tuple[Market, bool]] = {}
    for index, item in enumerate(symbols):
        fields = [
            item.get(k) if isinstance(item, dict) else None for k in ("symbol", "baseAsset", "quoteAsset")
        ]
        if not all(isinstance(f, str) for f in fields):
            raise SourceError(
                f"binance exchangeInfo: symbol {index}: expected symbol, baseAsset, quoteAsset",
                permanent=True,
            )
        symbol, base, quote = fields
        if valid_pair(EXCHANGE, symbol):
            market = Market(normalise_asset(EXCHANGE, base), normalise_asset(EXCHANGE, quote))
            markets[symbol] = (market, item.get("status") == TRADING)
    return markets


def parse_klines(payload: Any, *, where: str = "binance klines") -> list[Candle]:
    """Parse a `GET /api/v3/klines` (1m) body into Candles, oldest first; SourceError if malformed."""
    if not isinstance(payload, list):
        raise SourceError(f"{where}: expected an array of klines, got {short(payload)}", permanent=True)
    candles = []
    for index, row in enumerate(payload):
        try:
            if not isinstance(row, list) or len(row) != KLINE_FIELDS:
                raise ValueError(f"expected {KLINE_FIELDS} fields, got {short(row)}")
            open_ms = row[0]
            if isinstance(open_ms, bool) or not isinstance(open_ms, int) or open_ms % MINUTE_MS:
                raise ValueError(f"open time {open_ms!r} is not a minute start in ms")
            open_, high, low, close, volume = (
                decimal_text(v, n)
                for v, n in zip(row[1:6], ("open", "high", "low", "close", "volume"), strict=True)
            )
        except ValueError as exc:
            raise SourceError(f"{where}: kline {index}: {exc}", permanent=True) from exc
        candles.append(
            Candle(minute=from_ms(open_ms), open=open_, close=close, high=high, low=low, volume=volume)
        )
    candles.sort(key=lambda c: c.minute)
    return candles


class BinanceSource(RestSource):
    """TickerSource, CandleSource and PairListSource for Binance spot (api.binance.com)."""

    exchange = EXCHANGE
    candle_min_interval_s = 0.25  # klines weigh 2 of 6,000 per minute; 4 a second is polite

    def fetch_tickers(self) -> TickerBatch:
        """One `GET /api/v3/ticker/24hr` (all symbols), Decimal prices; raises SourceError.

        The TRADING symbols come from exchangeInfo, read at the first poll and hourly after; a
        failed read of it is logged and the poll goes on unfiltered (never a lost minute).
        """
        if self._markets_due():
            try:
                self.fetch_pair_list()
            except SourceError as exc:
                logger.warning("binance: exchangeInfo unavailable, tickers not filtered by status: %s", exc)
        trading = self._trading if self.markets else None
        return parse_tickers(self._get(TICKERS_PATH), pairs=self.pairs, trading=trading)

    def fetch_pair_list(self) -> list[str]:
        """One `GET /api/v3/exchangeInfo`: the TRADING symbols (their markets kept in `markets`)."""
        info = parse_exchange_info(self._get(EXCHANGE_INFO_PATH))
        self._trading = frozenset(symbol for symbol, (_, trading) in info.items() if trading)
        self._remember_markets({symbol: market for symbol, (market, _) in info.items()})
        return sorted(self._trading)

    _trading: frozenset[str] = frozenset()

    def fetch_candles(self, *, pair: str, start: datetime, end: datetime) -> list[Candle]:
        """1-minute klines of `pair` with start ≤ open time < end, oldest first, paged by 1,000."""
        if not valid_pair(EXCHANGE, pair):
            raise SourceError(f"binance: invalid symbol {pair!r}", permanent=True)
        start_ms, end_ms = to_ms(start), to_ms(end)
        candles: list[Candle] = []
        cursor = start_ms
        while cursor < end_ms:
            params = {
                "symbol": pair,
                "interval": "1m",
                "startTime": cursor,
                "endTime": end_ms - 1,
                "limit": KLINE_LIMIT,
            }
            page = parse_klines(
                self._get_candle_page(KLINES_PATH, params), where=f"GET {KLINES_PATH} {pair} start={cursor}"
            )
            candles.extend(c for c in page if cursor <= to_ms(c.minute) < end_ms)
            if len(page) < KLINE_LIMIT:
                break
            cursor = to_ms(page[-1].minute) + MINUTE_MS
        return candles
