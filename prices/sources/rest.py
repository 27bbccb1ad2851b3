"""What the Binance, Kraken and Coinbase sources share: exact decimals from text, back-off, spacing.

Each of those exchanges' public REST endpoints is reached through `prices.sources.http.HttpClient`
(timeouts, bounded retries, deadline, error mapping), not through ccxt: see docs/exchanges.md,
"Why not ccxt". Prices arrive as JSON strings ("60740.00000000") and become Decimal from that
text, never through a float.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from prices.exchanges import Market, exchange_config, valid_pair
from prices.sources.base import SourceError
from prices.sources.http import CONNECT_TIMEOUT_S, DEFAULT_TIMEOUT_S, HttpClient, Timeout

BACKOFF_INITIAL_S = 60.0
BACKOFF_MAX_S = 600.0
RATE_LIMIT_RETRIES = 2
# A markets list (exchangeInfo, AssetPairs) is read again after this long; new listings show
# within the hour, and the request weight stays negligible.
MARKETS_REFRESH_S = 3600.0

SKIP_ZERO_PRICE = "zero_price"
SKIP_INVALID_SYMBOL = "invalid_symbol"
SKIP_NOT_TRACKED = "not_tracked"
SKIP_NOT_TRADING = "not_trading"


def decimal_text(value: Any, name: str) -> Decimal:
    """A price or size sent as JSON text ("60740.00000000") as the exact Decimal of that text.

    Also takes JSON numbers already decoded exactly (int, Decimal via loads_exact). Raises
    ValueError for anything else, non-finite or negative values and empty strings.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{name}: expected a decimal string, got {value!r}")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name}: not a decimal number: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name}: expected a finite non-negative number, got {value!r}")
    return number


def signed_decimal(value: Any, name: str) -> Decimal | None:
    """decimal_text for a value that may be negative (a change: "-95.960"); None for None/""."""
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else value
    negative = isinstance(text, str) and text.startswith("-")
    number = decimal_text(text[1:] if negative else text, name)
    return -number if negative else number


def optional_decimal(value: Any, name: str) -> Decimal | None:
    """decimal_text, with None and "" (Coinbase's empty best_bid_price) as None."""
    if value is None or value == "":
        return None
    return decimal_text(value, name)


def short(value: Any) -> str:
    """A value's repr cut to 60 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


class RestSource:
    """Shared state of one exchange's public REST source (subclasses set `exchange`).

    `pairs` filters tickers (the exchange's own ids; ValueError for an id not in its notation).
    A rate-limited call backs off 60 s, doubling up to 10 min; until then calls raise
    SourceError(rate_limited=True) without a request. Candle requests are kept
    `candle_min_interval_s` apart. `markets` is the newest markets list read (pair id →
    normalised Market), and `markets_version` counts the lists read, for recording them.
    """

    exchange: str = ""
    candle_min_interval_s: float = 1.0

    def __init__(
        self,
        *,
        http: HttpClient | None = None,
        base_url: str,
        timeout_s: Timeout = DEFAULT_TIMEOUT_S,
        retries: int = 2,
        deadline_s: float | None = None,
        pairs: Iterable[str] | None = None,
        candle_min_interval_s: float | None = None,
        rate_limit_retries: int = RATE_LIMIT_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = (
            http
            if http is not None
            else HttpClient(base_url, timeout_s=timeout_s, retries=retries, deadline_s=deadline_s)
        )
        names = list(pairs or ())
        bad = [name for name in names if not valid_pair(self.exchange, name)]
        if bad:
            raise ValueError(f"{self.exchange}: invalid pair(s) {', '.join(map(repr, bad))}")
        self.pairs: frozenset[str] = frozenset(names)
        if candle_min_interval_s is not None:
            self.candle_min_interval_s = candle_min_interval_s
        self.rate_limit_retries = rate_limit_retries
        self._sleep = sleep
        self._monotonic = monotonic
        self._backoff_until: float | None = None
        self._strikes = 0
        self._last_candle_request_at: float | None = None
        self.markets: dict[str, Market] = {}
        self.markets_version = 0
        self._markets_read_at: float | None = None

    @classmethod
    def from_settings(cls, **overrides: Any) -> RestSource:
        """A source for the configured exchange (its `<NAME>_API_URL` and `<NAME>_PAIRS`) with the
        EXCHANGE_HTTP_* timeout, retries and deadline; `overrides` replace constructor arguments."""
        config = exchange_config(cls.exchange)
        kwargs: dict[str, Any] = {
            "base_url": config.api_url,
            "timeout_s": (CONNECT_TIMEOUT_S, settings.EXCHANGE_HTTP_TIMEOUT_S),
            "retries": settings.EXCHANGE_HTTP_RETRIES,
            "deadline_s": settings.EXCHANGE_HTTP_DEADLINE_S,
            "pairs": config.pairs,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    # --- markets --------------------------------------------------------------------------

    def _remember_markets(self, markets: dict[str, Market]) -> None:
        self._markets_read_at = self._monotonic()
        if markets != self.markets:
            self.markets = markets
            self.markets_version += 1

    def _markets_due(self) -> bool:
        return self._markets_read_at is None or self._monotonic() - self._markets_read_at >= MARKETS_REFRESH_S

    # --- requests -------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        self._raise_if_backing_off()
        try:
            payload = self._http.get_json(path, params or {})
        except SourceError as exc:
            if exc.rate_limited:
                self._strikes += 1
                delay = min(BACKOFF_INITIAL_S * 2 ** (self._strikes - 1), BACKOFF_MAX_S)
                self._backoff_until = self._monotonic() + delay
            raise
        self._strikes = 0
        self._backoff_until = None
        return payload

    def _get_candle_page(self, path: str, params: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            if self._last_candle_request_at is not None:
                wait = self._last_candle_request_at + self.candle_min_interval_s - self._monotonic()
                if wait > 0:
                    self._sleep(wait)
            self._last_candle_request_at = self._monotonic()
            try:
                return self._get(path, params)
            except SourceError as exc:
                if not exc.rate_limited or attempt >= self.rate_limit_retries or self._backoff_until is None:
                    raise
                attempt += 1
                self._sleep(max(0.0, self._backoff_until - self._monotonic()))
                self._backoff_until = None

    def _raise_if_backing_off(self) -> None:
        if self._backoff_until is None or self._monotonic() >= self._backoff_until:
            return
        wall = datetime.now(UTC) + timedelta(seconds=self._backoff_until - self._monotonic())
        raise SourceError(
            f"{self.exchange}: backing off until {wall.isoformat(timespec='seconds')} after a rate limit",
            rate_limited=True,
        )
