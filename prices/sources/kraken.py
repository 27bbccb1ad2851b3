"""Kraken spot public REST: all tickers, 1-minute OHLC and AssetPairs (URLs, params, parsing).

Formats (shared/data README §9–12; docs.kraken.com/api/docs/rest-api/get-ticker-information):

* Every body is `{"error": [...], "result": ...}`; a non-empty `error` is an error body even
  with HTTP 200 (prices.sources.http).
* `GET /0/public/Ticker` without `pair` → `result` = one object per pair, keyed by the
  AssetPairs key (legacy `XXBTZUSD`, newer `XBTUSDT`): `a` ask [price, whole lot volume, lot
  volume], `b` bid (same), `c` last trade [price, lot volume], `v` volume [today, 24 h], `h`/`l`
  high/low [today, 24 h], `o` today's opening price; every price a string.
* `GET /0/public/OHLC?pair=&interval=1&since=` → `result` = {key: [[time s, open, high, low,
  close, vwap, volume, count]], "last": s}: the newest 720 minutes at most, minutes without
  trades present (o = h = l = c = previous close, count 0); the newest candle is still open.
* `GET /0/public/AssetPairs` → `result` = {key: {altname, wsname "XBT/USD", base "XXBT", quote
  "ZUSD", status "online" (newer bodies)}}; dark-pool keys end in `.d`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prices.domain import from_ms, to_ms
from prices.exchanges import Market, normalise_asset, valid_pair
from prices.sources.base import Candle, SourceError, TickerBatch, TickerRow
from prices.sources.rest import (
    SKIP_INVALID_SYMBOL,
    SKIP_NOT_TRACKED,
    SKIP_ZERO_PRICE,
    RestSource,
    decimal_text,
    short,
)

logger = logging.getLogger(__name__)

EXCHANGE = "kraken"
TICKER_PATH = "/0/public/Ticker"
OHLC_PATH = "/0/public/OHLC"
ASSET_PAIRS_PATH = "/0/public/AssetPairs"
OHLC_FIELDS = 8


def _result(payload: Any, where: str) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("result"), dict):
        raise SourceError(
            f'{where}: expected {{"error": [], "result": {{...}}}}, got {short(payload)}', permanent=True
        )
    return payload["result"]


def _entry(values: Any, index: int, name: str) -> Any:
    if not isinstance(values, list) or len(values) <= index:
        raise ValueError(f"{name}: expected a list with at least {index + 1} values, got {short(values)}")
    return values[index]


def parse_tickers(payload: Any, *, pairs: Iterable[str] | None = None) -> TickerBatch:
    """Parse a `GET /0/public/Ticker` body into ticker rows plus skip counts (exact Decimal prices).

    `pairs` (AssetPairs keys) restricts the rows; zero last prices are skipped. Raises
    SourceError(permanent=True) for any shape problem (never partial data).
    """
    result = _result(payload, "kraken tickers")
    tracked = frozenset(pairs or ())
    rows: list[TickerRow] = []
    skipped: Counter[str] = Counter()
    for key, item in result.items():
        if not valid_pair(EXCHANGE, key):
            skipped[SKIP_INVALID_SYMBOL] += 1
            continue
        if tracked and key not in tracked:
            skipped[SKIP_NOT_TRACKED] += 1
            continue
        try:
            if not isinstance(item, dict):
                raise ValueError(f"expected an object, got {short(item)}")
            last = decimal_text(_entry(item.get("c"), 0, "c"), "c[0]")
            row = TickerRow(
                pair=key,
                last_price=last,
                bid=decimal_text(_entry(item.get("b"), 0, "b"), "b[0]"),
                bid_size=decimal_text(_entry(item.get("b"), 2, "b"), "b[2]"),
                ask=decimal_text(_entry(item.get("a"), 0, "a"), "a[0]"),
                ask_size=decimal_text(_entry(item.get("a"), 2, "a"), "a[2]"),
                # `o` is the opening price of the UTC day, not of a rolling 24 h: no daily change.
                volume_24h=decimal_text(_entry(item.get("v"), 1, "v"), "v[1]"),
                high_24h=decimal_text(_entry(item.get("h"), 1, "h"), "h[1]"),
                low_24h=decimal_text(_entry(item.get("l"), 1, "l"), "l[1]"),
            )
        except ValueError as exc:
            raise SourceError(f"kraken tickers: {key}: {exc}", permanent=True) from exc
        if not last:
            skipped[SKIP_ZERO_PRICE] += 1
            continue
        rows.append(row)
    return TickerBatch(rows=rows, skipped=skipped)


def parse_asset_pairs(payload: Any) -> dict[str, tuple[Market, bool]]:
    """Parse `GET /0/public/AssetPairs` into {key: (normalised Market, online?)}; dark pools left out.

    `base`/`quote` are Kraken asset codes (XXBT, ZUSD, USDT) normalised by
    prices.exchanges.normalise_asset (XXBT → BTC, ZUSD → USD, XXDG → DOGE). A body without a
    `status` (before ~2023) counts every pair online. Raises SourceError(permanent=True).
    """
    result = _result(payload, "kraken AssetPairs")
    markets: dict[str, tuple[Market, bool]] = {}
    for key, item in result.items():
        if key.endswith(".d"):
            continue
        base = item.get("base") if isinstance(item, dict) else None
        quote = item.get("quote") if isinstance(item, dict) else None
        if not (isinstance(base, str) and isinstance(quote, str)):
            raise SourceError(f"kraken AssetPairs: {key}: expected base and quote strings", permanent=True)
        if valid_pair(EXCHANGE, key):
            market = Market(normalise_asset(EXCHANGE, base), normalise_asset(EXCHANGE, quote))
            markets[key] = (market, item.get("status", "online") == "online")
    return markets


def parse_ohlc(payload: Any, *, where: str = "kraken OHLC") -> list[Candle]:
    """Parse a `GET /0/public/OHLC?interval=1` body into closed Candles, oldest first.

    The candle after `result.last` is still open (its close would change) and is left out.
    Raises SourceError(permanent=True) for any shape problem.
    """
    result = _result(payload, where)
    last = result.get("last")
    series = [value for key, value in result.items() if key != "last"]
    if len(series) != 1 or not isinstance(series[0], list):
        raise SourceError(
            f"{where}: expected one pair's candles beside `last`, got {short(list(result))}", permanent=True
        )
    candles = []
    for index, row in enumerate(series[0]):
        try:
            if not isinstance(row, list) or len(row) != OHLC_FIELDS:
                raise ValueError(f"expected {OHLC_FIELDS} fields, got {short(row)}")
            seconds = row[0]
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds % 60:
                raise ValueError(f"time {seconds!r} is not a minute start in seconds")
            open_, high, low, close = (decimal_text(v, n) for v, n in zip(row[1:5], "ohlc", strict=True))
            volume = decimal_text(row[6], "volume")
        except ValueError as exc:
            raise SourceError(f"{where}: candle {index}: {exc}", permanent=True) from exc
        if isinstance(last, int) and seconds > last:
            continue
        candles.append(
            Candle(minute=from_ms(seconds * 1000), open=open_, close=close, high=high, low=low, volume=volume)
        )
    candles.sort(key=lambda c: c.minute)
    return candles


class KrakenSource(RestSource):
    """TickerSource, CandleSource and PairListSource for Kraken spot (api.kraken.com)."""

    exchange = EXCHANGE
    candle_min_interval_s = 1.0  # public endpoints: about one call a second

    def fetch_tickers(self) -> TickerBatch:
        """One `GET /0/public/Ticker` (every pair), Decimal prices; raises SourceError.

        AssetPairs is read at the first poll and hourly after, for the markets' base/quote; a
        failed read is logged and the poll goes on.
        """
        if self._markets_due():
            try:
                self.fetch_pair_list()
            except SourceError as exc:
                logger.warning("kraken: AssetPairs unavailable: %s", exc)
        return parse_tickers(self._get(TICKER_PATH), pairs=self.pairs)

    def fetch_pair_list(self) -> list[str]:
        """One `GET /0/public/AssetPairs`: the online pairs' keys (their markets kept in `markets`)."""
        pairs = parse_asset_pairs(self._get(ASSET_PAIRS_PATH))
        self._remember_markets({key: market for key, (market, _) in pairs.items()})
        return sorted(key for key, (_, online) in pairs.items() if online)

    def fetch_candles(self, *, pair: str, start: datetime, end: datetime) -> list[Candle]:
        """1-minute candles of `pair` with start ≤ time < end, oldest first (one request).

        Kraken serves only its newest 720 minutes: older minutes come back absent.
        """
        if not valid_pair(EXCHANGE, pair):
            raise SourceError(f"kraken: invalid pair {pair!r}", permanent=True)
        start_ms, end_ms = to_ms(start), to_ms(end)
        if start_ms >= end_ms:
            return []
        # `since` returns candles after it: one second before the first wanted minute.
        params = {"pair": pair, "interval": 1, "since": start_ms // 1000 - 1}
        page = parse_ohlc(self._get_candle_page(OHLC_PATH, params), where=f"GET {OHLC_PATH} {pair}")
        return [c for c in page if start_ms <= to_ms(c.minute) < end_ms]
