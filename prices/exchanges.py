"""Exchanges as configuration, and the normalised names that compare one market across them.

`PRICES_EXCHANGES` (comma list, default `bitfinex`) names the exchanges polled, each with a
base-URL override (`<NAME>_API_URL`, e.g. `BINANCE_API_URL`) and a pair filter
(`<NAME>_PAIRS`; for Bitfinex `PRICES_PAIRS`). Every exchange keeps its own market ids as
pair names (`BTCUSD` on Bitfinex, `BTCUSDT` on Binance, `XBTUSDT` on Kraken, `BTC-USD` on
Coinbase); `market_of` maps one to its normalised base/quote (`Market`), so the same asset
pair can be compared across exchanges. See docs/exchanges.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from prices.domain import EXCHANGE_BITFINEX, InvalidPairError, Pair


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
}


@dataclass(frozen=True, slots=True)
class Market:
    """A normalised base/quote pair ("BTC", "USD"); `name` "BTC-USD" is its URL form."""

    base: str
    quote: str

    @property
    def name(self) -> str:
        return f"{self.base}-{self.quote}"


def normalise_asset(exchange: str, code: str) -> str:
    """The common code of an exchange's asset code (Bitfinex UST → USDT); unknown codes unchanged."""
    return ASSET_ALIASES.get(exchange, {}).get(code, code)


def market_of(exchange: str, pair: str) -> Market | None:
    """The normalised market of `exchange`'s pair name; None when it cannot be told."""
    if exchange == EXCHANGE_BITFINEX:
        try:
            parsed = Pair.parse(pair)
        except InvalidPairError:
            return None
        return Market(normalise_asset(exchange, parsed.base), normalise_asset(exchange, parsed.quote))
    return None
