"""Coinbase Advanced Trade public market REST: products (all prices), 1-minute candles (URLs, parsing).

Formats (shared/data README §9, §11, §12; docs.cdp.coinbase.com/advanced-trade/reference):

* `GET /api/v3/brokerage/market/products` → `{"products": [...], "num_products": n,
  "pagination": ...}`: one object per product with `product_id` ("BTC-USD"), `price` (last trade,
  a string), `price_percentage_change_24h` (percent, a long decimal string), `volume_24h` (base
  units), `base_currency_id`, `quote_currency_id`, `status` ("online"), `trading_disabled`,
  `product_type` ("SPOT"), `best_bid_price`/`best_ask_price` (often ""). This is the one
  "all last prices" call of Coinbase: its ticker endpoint is per product and has no last price.
* `GET /api/v3/brokerage/market/products/{id}/candles?start=&end=&granularity=ONE_MINUTE` →
  `{"candles": [{"start": "<epoch seconds>", "low", "high", "open", "close", "volume"}]}`, every
  value a string, newest first, at most 350 candles per request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prices.domain import MINUTE_MS, from_ms, to_ms
from prices.exchanges import Market, valid_pair
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

EXCHANGE = "coinbase"
PRODUCTS_PATH = "/api/v3/brokerage/market/products"
CANDLES_PATH = "/api/v3/brokerage/market/products/{product_id}/candles"
CANDLE_LIMIT = 350
SKIP_NOT_SPOT = "not_spot"


def _products(payload: Any) -> list[dict[str, Any]]:
    products = payload.get("products") if isinstance(payload, dict) else None
    if not isinstance(products, list) or not all(isinstance(p, dict) for p in products):
        raise SourceError(
            f'coinbase products: expected {{"products": [...]}}, got {short(payload)}', permanent=True
        )
    return products


def _tradable(product: dict[str, Any]) -> bool:
    return (
        product.get("status", "online") == "online"
        and not product.get("trading_disabled", False)
        and not product.get("is_disabled", False)
    )


def parse_products(payload: Any, *, pairs: Iterable[str] | None = None) -> TickerBatch:
    """Parse a `GET /api/v3/brokerage/market/products` body into ticker rows plus skip counts.

    Rows are SPOT products that trade ("not_spot", "not_trading" otherwise) with a non-empty,
    non-zero `price` ("zero_price"); `pairs` (product ids) restricts them. Prices are the exact
    Decimal of their text. Raises SourceError(permanent=True) for any shape problem.
    """
    tracked = frozenset(pairs or ())
    rows: list[TickerRow] = []
    seen: set[str] = set()
    skipped: Counter[str] = Counter()
    for index, product in enumerate(_products(payload)):
        product_id = product.get("product_id")
        if not isinstance(product_id, str):
            raise SourceError(f"coinbase products: product {index}: no product_id", permanent=True)
        if product_id in seen:
            raise SourceError(f"coinbase products: duplicate product {product_id}", permanent=True)
        seen.add(product_id)
        if product.get("product_type", "SPOT") != "SPOT":
            skipped[SKIP_NOT_SPOT] += 1
            continue
        if not valid_pair(EXCHANGE, product_id):
            skipped[SKIP_INVALID_SYMBOL] += 1
            continue
        if tracked and product_id not in tracked:
            skipped[SKIP_NOT_TRACKED] += 1
            continue
        if not _tradable(product):
            skipped[SKIP_NOT_TRADING] += 1
            continue
        try:
            last = optional_decimal(product.get("price"), "price")
            change = product.get("price_percentage_change_24h")
            row = TickerRow(
                pair=product_id,
                last_price=last if last is not None else _ZERO,
                bid=optional_decimal(product.get("best_bid_price"), "best_bid_price"),
                ask=optional_decimal(product.get("best_ask_price"), "best_ask_price"),
                # percent ("-0.28225832119521") → fraction, as Bitfinex's DAILY_CHANGE_RELATIVE
                daily_change_relative=None
                if change in (None, "")
                else signed_decimal(change, "price_percentage_change_24h") / 100,
                volume_24h=optional_decimal(product.get("volume_24h"), "volume_24h"),
            )
        except ValueError as exc:
            raise SourceError(f"coinbase products: {product_id}: {exc}", permanent=True) from exc
        if not last:
            skipped[SKIP_ZERO_PRICE] += 1
            continue
        rows.append(row)
    return TickerBatch(rows=rows, skipped=skipped)


_ZERO = decimal_text("0", "zero")


def parse_product_markets(payload: Any) -> dict[str, tuple[Market, bool]]:
    """The SPOT products of a products body as {product_id: (Market, trading?)}, from
    base_currency_id/quote_currency_id (USDC stays USDC, USDT USDT)."""
    markets: dict[str, tuple[Market, bool]] = {}
    for product in _products(payload):
        product_id, base, quote = (
            product.get(k) for k in ("product_id", "base_currency_id", "quote_currency_id")
        )
        if product.get("product_type", "SPOT") != "SPOT" or not isinstance(product_id, str):
            continue
        if (
            valid_pair(EXCHANGE, product_id)
            and isinstance(base, str)
            and isinstance(quote, str)
            and base
            and quote
        ):
            markets[product_id] = (Market(base, quote), _tradable(product))
    return markets


def parse_candles(payload: Any, *, where: str = "coinbase candles") -> list[Candle]:
    """Parse a candles body into Candles, oldest first; SourceError(permanent=True) if malformed."""
    rows = payload.get("candles") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise SourceError(f'{where}: expected {{"candles": [...]}}, got {short(payload)}', permanent=True)
    candles = []
    for index, row in enumerate(rows):
        try:
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("start"), str)
                or not row["start"].isdigit()
            ):
                raise ValueError(f"expected an object with start seconds as a string, got {short(row)}")
            seconds = int(row["start"])
            if seconds % 60:
                raise ValueError(f"start {seconds} is not a minute start")
            values = {k: decimal_text(row.get(k), k) for k in ("open", "high", "low", "close", "volume")}
        except ValueError as exc:
            raise SourceError(f"{where}: candle {index}: {exc}", permanent=True) from exc
        candles.append(Candle(minute=from_ms(seconds * 1000), **values))
    candles.sort(key=lambda c: c.minute)
    for earlier, later in zip(candles, candles[1:], strict=False):
        if earlier.minute == later.minute:
            raise SourceError(f"{where}: two candles start at {to_ms(later.minute) // 1000}", permanent=True)
    return candles


class CoinbaseSource(RestSource):
    """TickerSource, CandleSource and PairListSource for Coinbase Advanced Trade (api.coinbase.com)."""

    exchange = EXCHANGE
    candle_min_interval_s = 0.2  # public market endpoints: 10 requests a second

    def fetch_tickers(self) -> TickerBatch:
        """One `GET /api/v3/brokerage/market/products`: every SPOT product's price; raises SourceError.

        The same body gives each product's base/quote (kept in `markets`).
        """
        payload = self._get(PRODUCTS_PATH)
        batch = parse_products(payload, pairs=self.pairs)
        self._remember_markets({pid: market for pid, (market, _) in parse_product_markets(payload).items()})
        return batch

    def fetch_pair_list(self) -> list[str]:
        """One products request: the ids of the SPOT products that trade."""
        markets = parse_product_markets(self._get(PRODUCTS_PATH))
        self._remember_markets({pid: market for pid, (market, _) in markets.items()})
        return sorted(pid for pid, (_, trading) in markets.items() if trading)

    def fetch_candles(self, *, pair: str, start: datetime, end: datetime) -> list[Candle]:
        """1-minute candles of `pair` with start ≤ start time < end, oldest first, 350 per request."""
        if not valid_pair(EXCHANGE, pair):
            raise SourceError(f"coinbase: invalid product {pair!r}", permanent=True)
        path = CANDLES_PATH.format(product_id=pair)
        start_ms, end_ms = to_ms(start), to_ms(end)
        candles: list[Candle] = []
        cursor = start_ms
        while cursor < end_ms:
            window_end = min(end_ms, cursor + CANDLE_LIMIT * MINUTE_MS)
            # `end` is inclusive at Coinbase: ask up to the last wanted minute's start.
            params = {
                "start": cursor // 1000,
                "end": (window_end - MINUTE_MS) // 1000,
                "granularity": "ONE_MINUTE",
                "limit": CANDLE_LIMIT,
            }
            page = parse_candles(
                self._get_candle_page(path, params), where=f"GET {path} start={cursor // 1000}"
            )
            candles.extend(c for c in page if cursor <= to_ms(c.minute) < window_end)
            cursor = window_end
        return candles
