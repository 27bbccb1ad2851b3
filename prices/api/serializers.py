"""Output serializers of the price API (prices are exact decimal strings, times ISO 8601 UTC Z)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cryptotracker.params import iso_z_ms
from prices.api.fields import DecimalStringField, UtcDateTimeField
from prices.domain import EXCHANGE_BITFINEX, TickRow

STATUS_HELP = (
    "active; delisted: no longer in the exchange's pair list (not expected any more, its history stays); "
    "inactive: the exchange rejects its candles, so gap repair stopped asking for them."
)


class PairSerializer(serializers.Serializer):
    """A tracked pair: newest last price, and its 24 h change and standard deviation."""

    exchange = serializers.CharField()
    pair = serializers.CharField(source="pair.name", help_text="The exchange's own market id.")
    symbol = serializers.SerializerMethodField(
        help_text="Bitfinex: its trading symbol (tBTCUSD); else the pair."
    )
    base = serializers.CharField(
        source="pair.base", help_text="Bitfinex: its own code; other exchanges: the normalised code."
    )
    quote = serializers.CharField(source="pair.quote")

    @extend_schema_field(OpenApiTypes.STR)
    def get_symbol(self, overview: Any) -> str:
        return overview.pair.symbol if overview.exchange == EXCHANGE_BITFINEX else overview.pair.name

    last_price = DecimalStringField()
    last_minute = UtcDateTimeField(help_text="Start of the minute whose closing price is last_price.")
    change_24h = DecimalStringField(source="stats.change", help_text="last − first price of the 24 h window.")
    change_24h_pct = serializers.FloatField(
        source="stats.change_pct", allow_null=True, help_text="change / first × 100."
    )
    std_24h = serializers.FloatField(
        source="stats.std",
        allow_null=True,
        help_text="Sample standard deviation (n−1) of minute prices over 24 h.",
    )
    relative_std_24h = serializers.FloatField(
        source="stats.relative_std", allow_null=True, help_text="std_24h / mean."
    )
    count_24h = serializers.IntegerField(source="stats.count", help_text="Minute ticks in the 24 h window.")
    status = serializers.CharField(help_text=STATUS_HELP)
    status_since = UtcDateTimeField(
        allow_null=True, help_text="When the pair entered its status (null: active)."
    )


class FlatReadSerializer(serializers.Serializer):
    """A read-only serializer of plain attributes, fast enough for pages of 10,000 rows.

    `to_representation` applies each declared field's own `to_representation` to the
    attribute of the same name (None stays None), skipping DRF's per-field bookkeeping,
    which costs more than the whole DynamoDB read for a day of ticks. Fields with a dotted
    `source` are not supported (use serializers.Serializer for those).
    """

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = self.__dict__.get("_flat_plan")
        if plan is None:
            plan = self.__dict__["_flat_plan"] = [
                (name, field.source, field.to_representation) for name, field in self.fields.items()
            ]
        row = {}
        for name, source, represent in plan:
            value = getattr(instance, source)
            row[name] = None if value is None else represent(value)
        return row


class TickSerializer(FlatReadSerializer):
    """One minute tick: the last price at the end of `minute`."""

    minute = UtcDateTimeField(help_text="Start of the minute; last_price is the price at its end.")
    last_price = DecimalStringField()
    source = serializers.CharField(help_text="ticker (polled), candle (backfilled) or snapshot (imported).")
    bid = DecimalStringField()
    ask = DecimalStringField()
    volume = DecimalStringField(help_text="Volume traded in the minute (base currency); candle ticks only.")
    volume_24h = DecimalStringField(help_text="Rolling 24 h volume (base currency); polled ticks only.")
    suspect = serializers.BooleanField(
        help_text="The cross-exchange guard found this price far from the other exchanges' median."
    )


def tick_row_data(row: TickRow) -> dict[str, Any]:
    """TickSerializer's output for a TickRow, with no field per value (a day of rows in ~1 ms).

    The prices are decimal_str text already; only the minute is formatted.
    """
    minute_ms, last_price, source, bid, ask, volume, volume_24h, suspect = row
    return {
        "minute": iso_z_ms(minute_ms),
        "last_price": last_price,
        "source": source,
        "bid": bid,
        "ask": ask,
        "volume": volume,
        "volume_24h": volume_24h,
        "suspect": suspect,
    }


class TickDetailSerializer(TickSerializer):
    """A tick with every stored field (null where not stored)."""

    exchange = serializers.CharField()
    pair = serializers.CharField()
    bid_size = DecimalStringField()
    ask_size = DecimalStringField()
    daily_change = DecimalStringField()
    daily_change_relative = DecimalStringField(help_text="Bitfinex DAILY_CHANGE_RELATIVE (×100 = %).")
    high_24h = DecimalStringField()
    low_24h = DecimalStringField()
    open = DecimalStringField()
    high = DecimalStringField()
    low = DecimalStringField()
    observed_at = UtcDateTimeField(help_text="When the ticker was fetched (polled ticks).")


class PairDetailSerializer(TickDetailSerializer):
    """The newest tick of a pair with every stored field, and the pair's status."""

    status = serializers.CharField(help_text=STATUS_HELP)
    status_since = UtcDateTimeField(
        allow_null=True, help_text="When the pair entered its status (null: active)."
    )


class CandleSerializer(FlatReadSerializer):
    """An OHLCV candle aggregated from minute ticks."""

    start = UtcDateTimeField()
    minutes = serializers.IntegerField()
    open = DecimalStringField()
    high = DecimalStringField()
    low = DecimalStringField()
    close = DecimalStringField()
    volume = DecimalStringField()
    count = serializers.IntegerField(help_text="Minute ticks in the candle.")


class StatsSerializer(serializers.Serializer):
    """Statistics of one pair over a window; null where undefined."""

    count = serializers.IntegerField(help_text="Minute ticks in the window.")
    expected = serializers.IntegerField(help_text="Minutes in the window.")
    coverage = serializers.FloatField(help_text="count / expected.")
    first = DecimalStringField()
    last = DecimalStringField()
    min = DecimalStringField(source="minimum")
    max = DecimalStringField(source="maximum")
    mean = serializers.FloatField(allow_null=True)
    change = DecimalStringField(help_text="last − first.")
    change_pct = serializers.FloatField(allow_null=True, help_text="change / first × 100.")
    std = serializers.FloatField(
        allow_null=True, help_text="Sample standard deviation (n−1); null if count < 2."
    )
    std_population = serializers.FloatField(allow_null=True, help_text="Population standard deviation (n).")
    relative_std = serializers.FloatField(allow_null=True, help_text="std / mean (dimensionless).")
    volatility = serializers.FloatField(
        allow_null=True, help_text="Sample std of 1-minute log returns between consecutive stored minutes."
    )


class RankEntrySerializer(serializers.Serializer):
    """One pair in a ranking."""

    rank = serializers.IntegerField()
    exchange = serializers.CharField()
    pair = serializers.CharField(source="pair.name")
    value = serializers.FloatField(allow_null=True, help_text="The ranking metric; null if undefined.")
    count = serializers.IntegerField(source="stats.count")
    expected = serializers.IntegerField(source="stats.expected")
    coverage = serializers.FloatField(source="stats.coverage")
    low_coverage = serializers.BooleanField(help_text="Coverage below the floor: listed after the others.")
    last = DecimalStringField(source="stats.last")


class ExchangeSerializer(serializers.Serializer):
    """A configured exchange with its tracked pair count and freshness."""

    name = serializers.CharField(help_text="The value of ?exchange=.")
    label = serializers.CharField()
    pairs = serializers.IntegerField(help_text="Tracked pairs (pairs with a stored price).")
    newest_minute = UtcDateTimeField(allow_null=True, help_text="Start of the newest stored minute.")
    newest_age_s = serializers.FloatField(
        allow_null=True, help_text="Seconds since the end of newest_minute (readiness counts it so)."
    )
    stale_pairs = serializers.IntegerField(
        help_text="Pairs older than READINESS_STALE_AFTER_S, not delisted."
    )
    delisted_pairs = serializers.IntegerField(help_text="Pairs an hour or more behind the exchange's newest.")


class MarketQuoteSerializer(serializers.Serializer):
    """One exchange's newest price of a market."""

    exchange = serializers.CharField()
    pair = serializers.CharField(help_text="The exchange's own market id (BTCUSD, BTCUSDT, XBTUSD, BTC-USD).")
    price = DecimalStringField()
    minute = UtcDateTimeField(help_text="Start of the minute whose closing price is price.")
    stale = serializers.BooleanField(
        help_text="More than 5 minutes behind the market's newest price: shown, but left out of "
        "the spread and the median."
    )


class MarketSerializer(serializers.Serializer):
    """A normalised market's newest price on every configured exchange listing it, and the spread."""

    market = serializers.CharField(help_text="BASE-QUOTE in normalised codes, e.g. BTC-USD.")
    base = serializers.CharField()
    quote = serializers.CharField()
    exchanges = serializers.ListField(child=serializers.CharField())
    prices = MarketQuoteSerializer(many=True, source="quotes")
    spread = DecimalStringField(help_text="max − min price (exact).")
    median = DecimalStringField(help_text="Median price (mean of the middle two for an even count).")
    spread_pct = serializers.FloatField(
        allow_null=True, help_text="spread / median × 100; null if median is 0."
    )
