"""Relational state of ingestion: the poll lease of each exchange and the status of pairs that left.

Ticks and aggregates live in DynamoDB (prices.repository). These two small tables hold what
every cluster host must agree on and what operators look at in the admin: which poll runs now
(a lease with expiry, see prices.services.lease) and which pairs are inactive or delisted
(prices.services.pairs). Both grow with the number of exchanges / pairs, never with time.
WatchedPair holds the watchlist of each signed-in user (the overview's stars).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from prices.domain import EXCHANGE_BITFINEX


class PollLease(models.Model):
    """The poll lease of one exchange: at most one poll holds it, until `expires_at`.

    `minute` is the minute the newest poll that took the lease describes (aware UTC minute
    start); a poll for a minute already taken exits. `down_from`..`down_until` (both inclusive)
    is the most recent run of minutes no poll took, e.g. while the cluster was down.
    """

    exchange = models.CharField(max_length=32, primary_key=True)
    owner = models.CharField(max_length=100, blank=True, help_text="host:pid:id of the holder")
    expires_at = models.DateTimeField()
    minute = models.DateTimeField(null=True, blank=True)
    down_from = models.DateTimeField(null=True, blank=True)
    down_until = models.DateTimeField(null=True, blank=True)
    # Failure accounting of this exchange's polls (readiness names an exchange failing now).
    failures = models.PositiveIntegerField(default=0, help_text="failed polls in a row")
    last_error = models.CharField(max_length=300, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.exchange} poll lease ({self.owner or 'free'})"


class PairStatus(models.Model):
    """A pair that is not simply active: candles rejected (inactive) or off the exchange's list.

    Only pairs with something to say have a row. `failures` counts consecutive permanent
    candle failures (reset by a success); `since` is when the pair entered `state`.
    """

    class State(models.TextChoices):
        ACTIVE = "active", "active"
        INACTIVE = "inactive", "inactive (the exchange rejects its candles)"
        DELISTED = "delisted", "delisted (not in the exchange's pair list)"

    exchange = models.CharField(max_length=32, default=EXCHANGE_BITFINEX)
    pair = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    reason = models.CharField(max_length=300, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange", "pair"]
        verbose_name_plural = "pair statuses"
        constraints = [models.UniqueConstraint(fields=["exchange", "pair"], name="prices_pair_status_unique")]

    def __str__(self) -> str:
        return f"{self.pair}: {self.state}"


class WatchedPair(models.Model):
    """One star: `user` watches `pair` of `exchange` (anonymous visitors keep theirs in the browser)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watched_pairs")
    exchange = models.CharField(max_length=32)
    pair = models.CharField(max_length=32)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "exchange", "pair"], name="watched_pair_once_per_user")
        ]
        ordering = ["pair"]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.exchange}:{self.pair}"


class ExchangeMarket(models.Model):
    """One market of an exchange whose ids carry no separator: its id and normalised base/quote.

    Filled from the exchange's markets list (Binance exchangeInfo, Kraken AssetPairs, Coinbase
    products) by pair-list reconciliation and polls (prices.services.pairs.exchange_markets_record),
    read by prices.exchanges.market_of in every process. One row per market, never per minute.
    """

    exchange = models.CharField(max_length=32)
    pair = models.CharField(max_length=40, help_text="the exchange's own market id, e.g. BTCUSDT")
    base = models.CharField(max_length=20, help_text="normalised base asset, e.g. BTC")
    quote = models.CharField(max_length=20, help_text="normalised quote asset, e.g. USDT")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange", "pair"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "pair"], name="prices_exchange_market_unique")
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.pair} = {self.base}-{self.quote}"
