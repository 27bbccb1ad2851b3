"""Bitfinex public REST v2: tickers and 1-minute candles as TickerBatch / Candle (URLs, params, parsing).

Formats (shared/data README §7; docs.bitfinex.com/reference/rest-public-tickers and
rest-public-candles):

* `GET /v2/tickers?symbols=ALL` → a list of rows. Trading rows (`t…`) have 11 fields
  [SYMBOL, BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE,
  VOLUME, HIGH, LOW]; funding rows (`f…`) have 17 (14 before ~2020), with `null` placeholders.
* `GET /v2/candles/trade:1m:t<PAIR>/hist?start=&end=&limit=&sort=1` → a list of
  [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] (CLOSE before HIGH and LOW); MTS is the minute start in
  epoch ms UTC, start and end are both inclusive, minutes without trades are absent.
* `GET /v2/conf/pub:list:pair:exchange` → `[[PAIR, ...]]`: the exchange's trading pairs, one
  list inside another, names without the `t` prefix (`BTCUSD`, `AAVE:USD`).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from prices.domain import EXCHANGE_BITFINEX, MINUTE_MS, InvalidPairError, Pair, from_ms, to_ms
from prices.sources.base import Candle, SourceError, TickerBatch, TickerRow
from prices.sources.http import (
    CONNECT_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    HttpClient,
    Timeout,
    error_body_to_source_error,
    parse_error_body,
)

DEFAULT_BASE_URL = "https://api-pub.bitfinex.com"
TICKERS_PATH = "/v2/tickers"
CANDLES_PATH = "/v2/candles/trade:1m:{symbol}/hist"
PAIR_LIST_PATH = "/v2/conf/pub:list:pair:exchange"
TICKER_FIELDS = 11
CANDLE_FIELDS = 6
# 1000 was the maximum in 2018 (arthurk NOTES: more gives ["error", 10020, "limit: invalid"]);
# the current docs allow 10000. 1000 works with both.
CANDLE_LIMIT = 1000
# The candles page documents 30 requests/min: one request every 2 s stays inside it.
CANDLE_MIN_INTERVAL_S = 2.0
# Bitfinex blocks an IP for "10-60 seconds" after a rate limit (README §7): start at 60 s.
BACKOFF_INITIAL_S = 60.0
BACKOFF_MAX_S = 600.0
RATE_LIMIT_RETRIES = 3

SKIP_FUNDING = "funding"
SKIP_ZERO_PRICE = "zero_price"
SKIP_INVALID_SYMBOL = "invalid_symbol"
SKIP_NOT_TRACKED = "not_tracked"

_TICKER_NUMBER_FIELDS = (
    "bid",
    "bid_size",
    "ask",
    "ask_size",
    "daily_change",
    "daily_change_relative",
    "last_price",
    "volume_24h",
    "high_24h",
    "low_24h",
)
_CANDLE_VALUE_FIELDS = ("OPEN", "CLOSE", "HIGH", "LOW", "VOLUME")


class CandleFormatError(ValueError):
    """A candle payload that is not a list of [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] rows.

    `position` names the offending element ("candle 17", 0-based index in the JSON list) or is
    None for the payload as a whole; `message` says what is wrong.
    """

    def __init__(self, message: str, *, position: str | None = None) -> None:
        super().__init__(f"{position}: {message}" if position else message)
        self.message = message
        self.position = position


# --- pure parsing ------------------------------------------------------------------------


def _number(value: Any, name: str) -> Decimal:
    """A JSON number as an exact Decimal (ints exactly; floats via their shortest repr)."""
    if type(value) is float:  # nearly every field of every row: the checks below, cheaply
        if not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {Decimal(repr(value))!r}")
        return Decimal(repr(value))
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, float):
        value = Decimal(repr(value))
    elif isinstance(value, int):
        value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return value


def parse_tickers(payload: Any, *, pairs: Iterable[str] | None = None) -> TickerBatch:
    """Parse a `GET /v2/tickers?symbols=ALL` body into trading rows plus skip counts.

    `pairs` (names such as "BTCUSD", "AAVE:USD") restricts the rows; None or empty keeps all.
    Skipped rows are counted by reason: "funding" (symbol starts with `f`, whatever its length),
    "invalid_symbol" (not `f`, and not a `t` + valid pair), "not_tracked", "zero_price"
    (LAST_PRICE 0 or null). Prices are Decimal in quote currency. Raises SourceError
    (permanent=True) for any shape problem — the whole payload is rejected, never partial
    data — and for error bodies (rate_limited for a rate-limit body).
    """
    error = parse_error_body(payload)
    if error is not None:
        raise error_body_to_source_error(error, "tickers")
    if not isinstance(payload, list):
        raise SourceError(f"tickers: expected a list of rows, got {type(payload).__name__}", permanent=True)
    tracked = frozenset(pairs or ())
    rows: list[TickerRow] = []
    seen: set[str] = set()
    skipped: Counter[str] = Counter()
    for index, row in enumerate(payload):
        if not isinstance(row, list) or not row or not isinstance(row[0], str):
            raise SourceError(
                f"tickers: row {index}: expected [SYMBOL, ...] with a string symbol, got {_short(row)}",
                permanent=True,
            )
        symbol = row[0]
        if symbol.startswith("f"):
            skipped[SKIP_FUNDING] += 1
            continue
        if not symbol.startswith("t"):
            skipped[SKIP_INVALID_SYMBOL] += 1
            continue
        if len(row) < TICKER_FIELDS:
            raise SourceError(
                f"tickers: row {index} ({symbol}): expected {TICKER_FIELDS} fields, got {len(row)}",
                permanent=True,
            )
        try:
            values = {
                name: None if value is None else _number(value, name)
                for name, value in zip(_TICKER_NUMBER_FIELDS, row[1:TICKER_FIELDS], strict=True)
            }
        except ValueError as exc:
            raise SourceError(f"tickers: row {index} ({symbol}): {exc}", permanent=True) from exc
        last_price = values["last_price"]
        if last_price is not None and last_price < 0:
            raise SourceError(f"tickers: row {index} ({symbol}): negative last price", permanent=True)
        try:
            pair = Pair.from_symbol(symbol).name
        except InvalidPairError:
            skipped[SKIP_INVALID_SYMBOL] += 1
            continue
        if pair in seen:
            raise SourceError(f"tickers: row {index}: duplicate symbol {symbol}", permanent=True)
        seen.add(pair)
        if tracked and pair not in tracked:
            skipped[SKIP_NOT_TRACKED] += 1
            continue
        if not last_price:
            skipped[SKIP_ZERO_PRICE] += 1
            continue
        rows.append(TickerRow(pair=pair, **values))
    return TickerBatch(rows=rows, skipped=skipped)


def candle_from_row(row: Any) -> Candle:
    """One [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] row as a Candle; raises ValueError if malformed.

    MTS must be integer ms on a minute boundary; values are Decimal (ints exactly).
    """
    if not isinstance(row, list):
        raise ValueError(f"expected a list [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME], got {_short(row)}")
    if len(row) != CANDLE_FIELDS:
        raise ValueError(f"expected {CANDLE_FIELDS} fields, got {len(row)}")
    mts = row[0]
    if isinstance(mts, bool) or not isinstance(mts, int):
        raise ValueError(f"MTS: expected integer milliseconds, got {mts!r}")
    if mts % MINUTE_MS:
        raise ValueError(f"MTS {mts} is not the start of a minute")
    open_, close, high, low, volume = (
        _number(value, name) for name, value in zip(_CANDLE_VALUE_FIELDS, row[1:], strict=True)
    )
    return Candle(minute=from_ms(mts), open=open_, close=close, high=high, low=low, volume=volume)


def candles_from_rows(rows: Any) -> list[Candle]:
    """A list of candle rows (any order) as Candles sorted oldest first.

    Raises CandleFormatError (with the 0-based "candle N" position where one applies) for a
    payload that is not a list, the flat single candle of the `last` section, a malformed row
    or two candles with the same MTS.
    """
    error = parse_error_body(rows)
    if error is not None:
        raise CandleFormatError(f"an error body, not candles: {error}")
    if not isinstance(rows, list):
        raise CandleFormatError(f"expected a list of candles, got {type(rows).__name__}")
    if rows and not isinstance(rows[0], list) and isinstance(rows[0], int | Decimal | float):
        raise CandleFormatError(
            "a single flat candle [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] (the `last` section), "
            "not a list of candles from `hist`"
        )
    candles: list[Candle] = []
    for index, row in enumerate(rows):
        try:
            candles.append(candle_from_row(row))
        except ValueError as exc:
            raise CandleFormatError(str(exc), position=f"candle {index}") from exc
    candles.sort(key=lambda candle: candle.minute)
    for earlier, later in zip(candles, candles[1:], strict=False):
        if earlier.minute == later.minute:
            raise CandleFormatError(f"two candles for MTS {to_ms(later.minute)}")
    return candles


def parse_candles(payload: Any, *, where: str = "candles") -> list[Candle]:
    """Parse a `GET /v2/candles/trade:1m:t<PAIR>/hist` body into Candles, oldest first.

    Accepts ascending (sort=1) and newest-first (the API default) lists; `[]` is valid (no
    trades, downtime). Raises SourceError: for error bodies (rate_limited for a rate-limit
    body) and, permanent=True, for the `last` section's flat candle, malformed rows and
    duplicate MTS. `where` prefixes the error message.
    """
    error = parse_error_body(payload)
    if error is not None:
        raise error_body_to_source_error(error, where)
    try:
        return candles_from_rows(payload)
    except CandleFormatError as exc:
        raise SourceError(f"{where}: {exc}", permanent=True) from exc


def parse_pair_list(payload: Any) -> list[str]:
    """Parse a `GET /v2/conf/pub:list:pair:exchange` body (`[[PAIR, ...]]`) into pair names.

    Names that are not pairs in our notation are left out. Raises SourceError for error bodies
    and, permanent=True, for any other shape (never a partial list).
    """
    error = parse_error_body(payload)
    if error is not None:
        raise error_body_to_source_error(error, "pair list")
    if not (isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], list)):
        raise SourceError(f"pair list: expected [[PAIR, ...]], got {_short(payload)}", permanent=True)
    names = []
    for index, name in enumerate(payload[0]):
        if not isinstance(name, str):
            raise SourceError(
                f"pair list: entry {index}: expected a string, got {_short(name)}", permanent=True
            )
        try:
            names.append(Pair.parse(name).name)
        except InvalidPairError:
            continue
    return names


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


# --- the source ----------------------------------------------------------------------------


class BitfinexSource:
    """TickerSource and CandleSource for Bitfinex's public REST API v2.

    `pairs` (names such as "BTCUSD", "AAVE:USD") filters tickers; None/empty = all pairs.
    `http` defaults to an HttpClient(base_url, timeout_s, retries). `sleep` and `monotonic`
    (seconds) are injectable for tests.

    Rate limits: when a call fails with SourceError(rate_limited=True) the source backs off
    60 s, doubling on each consecutive rate limit up to 10 min; until `backoff_until` the
    next call raises SourceError(rate_limited=True) without a request. Candle paging keeps
    requests ≥ `candle_min_interval_s` apart and, on a rate limit, sleeps the back-off and
    retries the same page up to `rate_limit_retries` times.
    """

    exchange: str = EXCHANGE_BITFINEX

    def __init__(
        self,
        *,
        http: HttpClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: Timeout = DEFAULT_TIMEOUT_S,
        retries: int = 2,
        deadline_s: float | None = None,
        pairs: Iterable[str] | None = None,
        candle_min_interval_s: float = CANDLE_MIN_INTERVAL_S,
        candle_limit: int = CANDLE_LIMIT,
        rate_limit_retries: int = RATE_LIMIT_RETRIES,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if candle_limit < 1:
            raise ValueError("candle_limit must be ≥ 1")
        self._http = (
            http
            if http is not None
            else HttpClient(base_url, timeout_s=timeout_s, retries=retries, deadline_s=deadline_s)
        )
        # Pair.parse raises InvalidPairError (a ValueError) for a misconfigured pair.
        self.pairs: frozenset[str] = frozenset(Pair.parse(name).name for name in pairs or ())
        self.candle_min_interval_s = candle_min_interval_s
        self.candle_limit = candle_limit
        self.rate_limit_retries = rate_limit_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._backoff_until: float | None = None
        self._rate_limit_strikes = 0
        self._last_candle_request_at: float | None = None

    @classmethod
    def from_settings(cls, **overrides: Any) -> BitfinexSource:
        """A source configured by BITFINEX_API_URL, EXCHANGE_HTTP_TIMEOUT_S (read; connect 3.05 s),
        EXCHANGE_HTTP_RETRIES, EXCHANGE_HTTP_DEADLINE_S and PRICES_PAIRS; keyword `overrides`
        (e.g. sleep=…) replace any constructor argument."""
        kwargs: dict[str, Any] = {
            "base_url": settings.BITFINEX_API_URL,
            "timeout_s": (CONNECT_TIMEOUT_S, settings.EXCHANGE_HTTP_TIMEOUT_S),
            "retries": settings.EXCHANGE_HTTP_RETRIES,
            "deadline_s": settings.EXCHANGE_HTTP_DEADLINE_S,
            "pairs": settings.PRICES_PAIRS,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def backoff_until(self) -> float | None:
        """The `monotonic()` time until which calls are refused, or None when not backing off."""
        if self._backoff_until is None or self._monotonic() >= self._backoff_until:
            return None
        return self._backoff_until

    def fetch_tickers(self) -> TickerBatch:
        """One `GET /v2/tickers?symbols=ALL`; trading rows of the tracked pairs, Decimal prices.

        Raises SourceError on any failure (never partial data); rate_limited=True when
        Bitfinex rate-limits us or while backing off.
        """
        self._raise_if_backing_off()
        payload = self._get(TICKERS_PATH, {"symbols": "ALL"})
        return parse_tickers(payload, pairs=self.pairs)

    def fetch_pair_list(self) -> list[str]:
        """One `GET /v2/conf/pub:list:pair:exchange`: the names of every listed trading pair.

        Raises SourceError (rate_limited=True when rate-limited or backing off).
        """
        self._raise_if_backing_off()
        return parse_pair_list(self._get(PAIR_LIST_PATH, {}))

    def fetch_candles(self, *, pair: str, start: datetime, end: datetime) -> list[Candle]:
        """1-minute candles of `pair` ("BTCUSD", "AAVE:USD") with start ≤ MTS < end, oldest first.

        `start`/`end` are aware datetimes (ValueError if naive; InvalidPairError for a bad pair).
        Minutes without trades stay absent. Pages with `limit` candles per request
        (next start = last MTS + 60 s) until a page is short or reaches `end`. Raises SourceError.
        """
        path = CANDLES_PATH.format(symbol=Pair.parse(pair).symbol)
        start_ms, end_ms = to_ms(start), to_ms(end)
        if start_ms >= end_ms:
            return []
        self._raise_if_backing_off()
        candles: list[Candle] = []
        cursor = start_ms
        while True:
            # Bitfinex's `end` is inclusive; we want MTS < end.
            params = {"start": cursor, "end": end_ms - 1, "limit": self.candle_limit, "sort": 1}
            payload = self._get_candle_page(path, params)
            page = parse_candles(payload, where=f"GET {path} start={cursor}")
            candles.extend(c for c in page if cursor <= to_ms(c.minute) < end_ms)
            if len(page) < self.candle_limit:
                return candles
            last_ms = to_ms(page[-1].minute)
            if last_ms < cursor:
                raise SourceError(
                    f"GET {path} start={cursor}: page ends at MTS {last_ms}, before start", permanent=True
                )
            cursor = last_ms + MINUTE_MS
            if cursor >= end_ms:
                return candles

    # --- helpers -------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            payload = self._http.get_json(path, params)
        except SourceError as exc:
            if exc.rate_limited:
                self._record_rate_limit()
            raise
        self._rate_limit_strikes = 0
        self._backoff_until = None
        return payload

    def _get_candle_page(self, path: str, params: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            self._space_candle_request()
            try:
                return self._get(path, params)
            except SourceError as exc:
                if not exc.rate_limited or attempt >= self.rate_limit_retries:
                    raise
                attempt += 1
                self._sleep(max(0.0, (self._backoff_until or 0.0) - self._monotonic()))

    def _space_candle_request(self) -> None:
        if self._last_candle_request_at is not None:
            wait = self._last_candle_request_at + self.candle_min_interval_s - self._monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last_candle_request_at = self._monotonic()

    def _record_rate_limit(self) -> None:
        self._rate_limit_strikes += 1
        delay = min(self.backoff_initial_s * 2 ** (self._rate_limit_strikes - 1), self.backoff_max_s)
        self._backoff_until = self._monotonic() + delay

    def _raise_if_backing_off(self) -> None:
        until = self.backoff_until
        if until is None:
            return
        wall = datetime.now(UTC) + timedelta(seconds=until - self._monotonic())
        raise SourceError(
            f"bitfinex: backing off until {wall.isoformat(timespec='seconds')} after a rate limit",
            rate_limited=True,
        )
