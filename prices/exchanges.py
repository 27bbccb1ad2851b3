"""Exchanges as configuration, and the normalised names that compare one market across them.

`PRICES_EXCHANGES` (comma list, default `bitfinex`) names the exchanges polled, each with a
base-URL override (`<NAME>_API_URL`, e.g. `BINANCE_API_URL`) and a pair filter
(`<NAME>_PAIRS`; for Bitfinex `PRICES_PAIRS`). Every exchange keeps its own market ids as
pair names (`BTCUSD` on Bitfinex, `BTCUSDT` on Binance, `XBTUSDT` on Kraken, `BTC-USD` on
Coinbase); `market_of` maps one to its normalised base/quote (`Market`), so the same asset
pair can be compared across exchanges. See docs/exchanges.md.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from prices.domain import EXCHANGE_BITFINEX, InvalidPairError, Pair

logger = logging.getLogger(__name__)


class UnknownExchangeError(ValueError):
    """An exchange name that is not configured (or not supported at all)."""


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """What the tracker knows of a supported exchange: its name, label and default API URL."""

    name: str
    label: str
    default_url: str


SUPPORTED: dict[str, ExchangeSpec] = {
    spec.name: spec
    for spec in (
        ExchangeSpec(EXCHANGE_BITFINEX, "Bitfinex", "https://api-pub.bitfinex.com"),
        ExchangeSpec("binance", "Binance", "https://api.binance.com"),
        ExchangeSpec("kraken", "Kraken", "https://api.kraken.com"),
        ExchangeSpec("coinbase", "Coinbase", "https://api.coinbase.com"),
    )
}


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """One configured exchange: `api_url` (no trailing slash), `pairs` filter (empty = every pair)."""

    name: str
    label: str
    api_url: str
    pairs: tuple[str, ...] = ()


def configured_exchanges() -> list[ExchangeConfig]:
    """The exchanges of PRICES_EXCHANGES, in its order; raises ImproperlyConfigured on an unknown name."""
    configs = []
    for name in settings.PRICES_EXCHANGES:
        spec = SUPPORTED.get(name)
        if spec is None:
            known = ", ".join(SUPPORTED)
            raise ImproperlyConfigured(f"PRICES_EXCHANGES: unknown exchange {name!r} (supported: {known})")
        urls = getattr(settings, "EXCHANGE_API_URLS", {})
        filters = getattr(settings, "EXCHANGE_PAIRS", {})
        url = settings.BITFINEX_API_URL if name == EXCHANGE_BITFINEX else urls.get(name) or spec.default_url
        pairs = settings.PRICES_PAIRS if name == EXCHANGE_BITFINEX else filters.get(name, [])
        configs.append(ExchangeConfig(name, spec.label, url.rstrip("/"), tuple(pairs)))
    return configs


def exchange_config(name: str) -> ExchangeConfig:
    """The configured exchange `name`; raises UnknownExchangeError naming the configured ones."""
    for config in configured_exchanges():
        if config.name == name:
            return config
    names = ", ".join(c.name for c in configured_exchanges())
    raise UnknownExchangeError(f"unknown exchange {name!r}: configured are {names}")


# Exchange-specific asset codes → the common code. USDT stays distinct from USD.
ASSET_ALIASES: dict[str, dict[str, str]] = {
    EXCHANGE_BITFINEX: {"UST": "USDT", "UDC": "USDC", "XBT": "BTC"},
    # Kraken's own codes (shared/data README §9–11): XBT is BTC, XDG is DOGE; its legacy
    # four-letter codes carry an X (crypto) or Z (fiat) prefix, handled in normalise_asset.
    "kraken": {"XBT": "BTC", "XDG": "DOGE"},
}
# Kraken's legacy X/Z-prefixed asset codes (AssetPairs `base`/`quote`, Assets ids): XXBT → XBT,
# ZUSD → USD. Listed, not guessed from the shape: newer four-letter codes (AAVE, ZEUS…) have
# no prefix to strip.
KRAKEN_LEGACY_ASSETS = frozenset(
    {
        "XXBT", "XETH", "XLTC", "XXRP", "XXLM", "XXMR", "XZEC", "XETC", "XREP", "XMLN", "XXDG",
        "XICN", "XNMC", "XXVN", "XDAO", "ZUSD", "ZEUR", "ZCAD", "ZJPY", "ZGBP", "ZAUD", "ZCHF",
    }
)  # fmt: skip
# Quote codes tried, longest first, to split an id without a separator (Binance BTCUSDT,
# Kraken XBTUSDT) when the exchange's markets list has not been recorded yet.
_QUOTE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "binance": ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "BIDR", "BVND", "IDRT", "UAH", "DAI",
                "BTC", "ETH", "BNB", "EUR", "GBP", "AUD", "TRY", "BRL", "RUB", "NGN", "ZAR", "PLN",
                "RON", "ARS", "JPY", "MXN", "COP", "CZK", "XRP", "TRX", "DOT", "DOGE", "PAX", "USD"),
    "kraken": ("ZUSD", "ZEUR", "ZCAD", "ZJPY", "ZGBP", "ZAUD", "XXBT", "XETH", "USDT", "USDC",
               "DAI", "USD", "EUR", "CAD", "JPY", "GBP", "AUD", "CHF", "XBT", "ETH", "DOT"),
}  # fmt: skip
# Market ids as each exchange writes them (Bitfinex: prices.domain.Pair).
_ID_RE = {
    "binance": re.compile(r"^[A-Z0-9]{2,20}$"),
    # Kraken keys may hold a dot (ETH2.SETH); dark-pool ids (XETHXXBT.d) are not spot markets.
    "kraken": re.compile(r"^[A-Z0-9][A-Z0-9.]{1,23}$"),
    "coinbase": re.compile(r"^[A-Z0-9]{1,12}-[A-Z0-9]{1,12}$"),
}
# market_of reads the recorded markets (prices.models.ExchangeMarket) at most this often per process.
MARKETS_CACHE_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class Market:
    """A normalised base/quote pair ("BTC", "USD"); `name` "BTC-USD" is its URL form."""

    base: str
    quote: str

    @property
    def name(self) -> str:
        return f"{self.base}-{self.quote}"


def normalise_asset(exchange: str, code: str) -> str:
    """The common code of an exchange's asset code (Bitfinex UST → USDT, Kraken XXBT → BTC,
    ZUSD → USD, XDG → DOGE); unknown codes unchanged."""
    if exchange == "kraken" and code in KRAKEN_LEGACY_ASSETS:
        code = code[1:]
    return ASSET_ALIASES.get(exchange, {}).get(code, code)


def valid_pair(exchange: str, name: str) -> bool:
    """True when `name` is a market id in `exchange`'s own notation.

    Bitfinex: prices.domain.Pair (BTCUSD or AAVE:USD, unchanged rules); Binance: 2–20
    upper-case letters or digits (BTCUSDT); Kraken: the same plus dots, 2–24 (XXBTZUSD,
    XBTUSDT, ETH2.SETH; not the dark-pool `.d` ids);
    Coinbase: BASE-QUOTE (BTC-USD). An unsupported exchange has no valid pair.
    """
    if not isinstance(name, str):
        return False
    if exchange == EXCHANGE_BITFINEX:
        try:
            Pair.parse(name)
        except InvalidPairError:
            return False
        return True
    pattern = _ID_RE.get(exchange)
    return bool(pattern and pattern.match(name))


def market_of(exchange: str, pair: str) -> Market | None:
    """The normalised market of `exchange`'s pair name; None when it cannot be told.

    Bitfinex and Coinbase names carry their split (BTCUSD / AAVE:USD, BTC-USD). Binance and
    Kraken ids have no separator: their base/quote come from the exchange's markets list
    (exchangeInfo / AssetPairs), recorded by reconciliation and polls in ExchangeMarket and
    read here through a per-process cache (one query per exchange per MARKETS_CACHE_TTL_S);
    an id not recorded yet is split at the longest known quote code.
    """
    if exchange == EXCHANGE_BITFINEX:
        try:
            parsed = Pair.parse(pair)
        except InvalidPairError:
            return None
        return Market(normalise_asset(exchange, parsed.base), normalise_asset(exchange, parsed.quote))
    if not valid_pair(exchange, pair):
        return None
    recorded = _recorded_markets(exchange).get(pair)
    if recorded is not None:
        return recorded
    if exchange == "coinbase":
        base, quote = pair.split("-")
        return Market(base, quote)
    return _split_by_quote(exchange, pair)


def _split_by_quote(exchange: str, pair: str) -> Market | None:
    legacy = exchange == "kraken" and len(pair) == 8
    if legacy and pair[:4] in KRAKEN_LEGACY_ASSETS and pair[4:] in KRAKEN_LEGACY_ASSETS:  # XXBTZUSD
        return Market(normalise_asset(exchange, pair[:4]), normalise_asset(exchange, pair[4:]))
    for quote in _QUOTE_SUFFIXES.get(exchange, ()):
        if pair.endswith(quote) and len(pair) > len(quote):
            return Market(normalise_asset(exchange, pair[: -len(quote)]), normalise_asset(exchange, quote))
    return None


_markets_cache: dict[str, tuple[float, dict[str, Market]]] = {}
_markets_lock = threading.Lock()


def _recorded_markets(exchange: str) -> dict[str, Market]:
    """The recorded markets of `exchange` by pair id, cached per process; {} if unreadable."""
    now = time.monotonic()
    cached = _markets_cache.get(exchange)
    if cached is not None and now - cached[0] < MARKETS_CACHE_TTL_S:
        return cached[1]
    from prices.models import ExchangeMarket  # models import this module's neighbours

    try:
        markets = {
            pair: Market(base, quote)
            for pair, base, quote in ExchangeMarket.objects.filter(exchange=exchange).values_list(
                "pair", "base", "quote"
            )
        }
    except DatabaseError as exc:  # e.g. not migrated yet: the names' own split still works
        logger.warning("market_of: cannot read the recorded %s markets: %s", exchange, exc)
        markets = {}
    with _markets_lock:
        _markets_cache[exchange] = (now, markets)
    return markets


def markets_forget(exchange: str | None = None) -> None:
    """Drop this process's cached recorded markets (of one exchange, or all)."""
    with _markets_lock:
        if exchange is None:
            _markets_cache.clear()
        else:
            _markets_cache.pop(exchange, None)
