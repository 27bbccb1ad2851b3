"""Output serializers of the price API."""

from __future__ import annotations

from rest_framework import serializers

from prices.api.fields import DecimalStringField, UtcDateTimeField


class PairSerializer(serializers.Serializer):
    """A tracked pair and its newest last price."""

    exchange = serializers.CharField()
    pair = serializers.CharField(source="pair.name")
    symbol = serializers.CharField(source="pair.symbol")
    base = serializers.CharField(source="pair.base")
    quote = serializers.CharField(source="pair.quote")
    last_price = DecimalStringField()
    last_minute = UtcDateTimeField(help_text="Start of the minute the last price describes (its close).")


class TickSerializer(serializers.Serializer):
    """One stored minute tick; ticker fields for polled ticks, OHLCV for candle ticks."""

    minute = UtcDateTimeField(help_text="Start of the minute; the price is the one at its end.")
    last_price = DecimalStringField()
    source = serializers.CharField()
    bid = DecimalStringField()
    ask = DecimalStringField()
    volume = DecimalStringField(help_text="Volume traded in the minute (base currency), candles only.")
    volume_24h = DecimalStringField(help_text="Rolling 24 h volume (base currency), polled ticks only.")


class TickDetailSerializer(TickSerializer):
    """A tick with every stored field."""

    exchange = serializers.CharField()
    pair = serializers.CharField()
    bid_size = DecimalStringField()
    ask_size = DecimalStringField()
    daily_change = DecimalStringField()
    daily_change_relative = DecimalStringField()
    high_24h = DecimalStringField()
    low_24h = DecimalStringField()
    open = DecimalStringField()
    high = DecimalStringField()
    low = DecimalStringField()
    observed_at = UtcDateTimeField()
