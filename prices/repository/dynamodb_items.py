"""DynamoDB item shapes of the tick repository: keys, partitions and attribute codecs (pure).

See docs/data-model.md for the layout. Numbers are written from Decimal strings and read back
as Decimal; pair names are attribute names; hour rollups and blocks hold one compact string
per pair; a polled minute snapshot holds one `prices` string.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from prices.domain import HOUR_MS, MINUTE_MS, Tick, TickRow, TickSource, decimal_str, from_ms, to_ms
from prices.ohlc import HourCandle
from prices.rollups import MinuteSnapshot
from prices.statistics import NO_RETURNS, Moments, Segment, WindowStats, shift_of

DAY_MS = 24 * HOUR_MS

TICK_DECIMAL_FIELDS = [
    f.name
    for f in fields(Tick)
    if f.name not in {"exchange", "pair", "minute", "source", "observed_at", "suspect"}
]
TICK_DECIMAL_SET = frozenset(TICK_DECIMAL_FIELDS)
RESERVED = {"pk", "sk", "src", "values", "version", "prices", "pending", "hour", "end", "shards", "entries"}
TTL_ATTRIBUTE = "ttl"  # ticks: epoch seconds after which DynamoDB TTL (or expire_ticks) deletes the item


def number(value: Decimal | int) -> dict[str, str]:
    if isinstance(value, int):
        return {"N": str(value)}
    text = decimal_str(value)
    if text is None:
        raise ValueError("None is not a number")
    return {"N": text}


def day_key(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m-%d")


def month_key(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m")


def day_partitions(exchange: str, start_ms: int, end_ms: int) -> list[tuple[str, int, int]]:
    """(pk, lo, hi) per UTC day overlapping [start_ms, end_ms), with inclusive sort-key bounds."""
    parts = []
    day_start = start_ms - start_ms % DAY_MS
    while day_start < end_ms:
        lo, hi = max(start_ms, day_start), min(end_ms, day_start + DAY_MS) - 1
        if lo <= hi:  # DynamoDB rejects BETWEEN with lo > hi (an empty range)
            parts.append((f"{exchange}#1m#{day_key(day_start)}", lo, hi))
        day_start += DAY_MS
    return parts


def month_partitions(
    exchange: str, start_ms: int, end_ms: int, *, kind: str = "1h"
) -> list[tuple[str, int, int]]:
    """(pk, lo, hi) per UTC month overlapping [start_ms, end_ms), inclusive sort-key bounds.

    `kind` names the monthly items: "1h" (hour rollups) or "gaps" (known gaps).
    """
    parts = []
    cursor = from_ms(start_ms).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while to_ms(cursor) < end_ms:
        following = (cursor + timedelta(days=32)).replace(day=1)
        lo, hi = max(start_ms, to_ms(cursor)), min(end_ms, to_ms(following)) - 1
        if lo <= hi:  # DynamoDB rejects BETWEEN with lo > hi (an empty range)
            parts.append((f"{exchange}#{kind}#{cursor:%Y-%m}", lo, hi))
        cursor = following
    return parts


# A rollup segment is one String attribute of 13 '|'-separated numbers, in this order. A string
# costs far less to parse than a Map of 13 Numbers, and rank reads ~7,000 of them per request.
# The moments are float64 (repr, so they round-trip exactly), the mean as `offset` from the
# integer `shift` (prices.statistics.Moments). Items written before that hold 12 fields, the
# mean and M2 as Decimals and no shift; they are read too.
_SEGMENT_FIELDS = (
    "n|offset|m2|min|max|first_minute|first|last_minute|last|returns_n|returns_mean|returns_m2|shift"
)


def segment_to_item(segment: Segment) -> dict[str, Any]:
    p, r = segment.prices, segment.returns
    return {
        "S": f"{p.n}|{p.offset!r}|{p.m2!r}|{decimal_str(segment.minimum)}|{decimal_str(segment.maximum)}|"
        f"{segment.first_ms}|{decimal_str(segment.first)}|{segment.last_ms}|{decimal_str(segment.last)}|"
        f"{r.n}|{r.offset!r}|{r.m2!r}|{p.shift}"
    }


def segment_from_item(value: dict[str, Any]) -> Segment:
    fields_ = value["S"].split("|")
    if len(fields_) == 12:
        return _segment_from_decimal_fields(fields_)
    n, offset, m2, low, high, fm, first, lm, last, rn, rmean, rm2, shift = fields_
    return Segment(
        Moments(int(n), float(offset), float(m2), int(shift)),
        Decimal(low),
        Decimal(high),
        int(fm),
        Decimal(first),
        int(lm),
        Decimal(last),
        Moments(int(rn), float(rmean), float(rm2)) if rn != "0" else NO_RETURNS,
    )


def _segment_from_decimal_fields(fields_: list[str]) -> Segment:
    """A segment stored in the 12-field layout: `mean` and `m2` as Decimals, no shift."""
    n, mean, m2, low, high, fm, first, lm, last, rn, rmean, rm2 = fields_
    shift = shift_of(Decimal(first))
    return Segment(
        prices=Moments(n=int(n), offset=float(Decimal(mean) - shift), m2=float(m2), shift=shift),
        minimum=Decimal(low),
        maximum=Decimal(high),
        first_ms=int(fm),
        first=Decimal(first),
        last_ms=int(lm),
        last=Decimal(last),
        returns=Moments(n=int(rn), offset=float(rmean), m2=float(rm2)) if rn != "0" else NO_RETURNS,
    )


# The packed tick layout (attribute `fields`, S): these values in this order, joined by "|",
# "" where absent, trailing empties dropped. Only ever appended to: an item written with fewer
# fields reads the missing ones as absent.
TICK_PACKED_DECIMALS = (
    "last_price",
    "bid",
    "bid_size",
    "ask",
    "ask_size",
    "daily_change",
    "daily_change_relative",
    "volume_24h",
    "high_24h",
    "low_24h",
    "open",
    "high",
    "low",
    "volume",
)
TICK_PACKED = ("source", "observed_at", *TICK_PACKED_DECIMALS)
_PACKED_INDEX = {name: index for index, name in enumerate(TICK_PACKED)}


def tick_to_item(tick: Tick, *, retention_days: int | None = None) -> dict[str, Any]:
    """The tick's item; with `retention_days`, a `ttl` of the minute's end + that many days (epoch s).

    Its values go into one String attribute `fields` (TICK_PACKED; docs/data-model.md): an
    endpoint stores, sends and parses one attribute far faster than 16 Number attributes,
    and the numbers keep their exact decimal text either way.
    """
    minute_ms = tick.minute_ms
    observed = tick.observed_at
    parts = [str(tick.source), "" if observed is None else str(to_ms(observed))]
    for name in TICK_PACKED_DECIMALS:  # the hot path of every poll: decimal_str inlined
        value = getattr(tick, name)
        if value is None:
            parts.append("")
            continue
        text = str(value)
        if "E" in text or (text[-1] == "0" and "." in text):
            text = format(value, "f")
            if "." in text:
                text = text.rstrip("0").rstrip(".")
        parts.append(text or "0")
    item: dict[str, Any] = {
        "series": {"S": f"{tick.exchange}#{tick.pair}"},
        "minute": {"N": str(minute_ms)},
        "fields": {"S": "|".join(parts).rstrip("|")},
    }
    if retention_days is not None:
        item[TTL_ATTRIBUTE] = {"N": str(expiry_s(minute_ms, retention_days))}
    if tick.suspect:  # absent unless flagged: an unflagged tick costs nothing more
        item["suspect"] = {"BOOL": True}
    return item


def expiry_s(minute_ms: int, retention_days: int) -> int:
    """When a tick of `minute_ms` leaves a retention of `retention_days`: minute end + days (epoch s)."""
    return (minute_ms + MINUTE_MS) // 1000 + retention_days * 86_400


_SOURCES = {source.value: source for source in TickSource}


def tick_from_item(item: dict[str, Any]) -> Tick:
    """The Tick of a tick item, packed (`fields`) or of the earlier layout (one attribute per value)."""
    exchange, pair = _series_parts(item["series"]["S"])
    packed = item.get("fields")
    if packed is not None:
        parts = packed["S"].split("|")
        source_text, observed_text = parts[0], parts[1] if len(parts) > 1 else ""
        values = {
            name: Decimal(text) for name, text in zip(TICK_PACKED_DECIMALS, parts[2:], strict=False) if text
        }
    else:
        values = {name: Decimal(value["N"]) for name, value in item.items() if name in TICK_DECIMAL_SET}
        source_text = item.get("source", {}).get("S", "")
        observed_text = item.get("observed_at", {}).get("N", "")
    return Tick(
        exchange=exchange,
        pair=pair,
        minute=from_ms(int(item["minute"]["N"])),
        source=(_SOURCES.get(source_text) or TickSource(source_text)) if source_text else TickSource.TICKER,
        observed_at=from_ms(int(observed_text)) if observed_text else None,
        suspect=item.get("suspect", {}).get("BOOL", False),
        **values,
    )


# The text `decimal_str` gives: no exponent, no leading zeros, no trailing fractional zeros.
_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")


def _plain(text: str) -> str:
    """A stored Number's text as `decimal_str` renders it (ticks are stored that way already)."""
    return text if _PLAIN_DECIMAL.fullmatch(text) else decimal_str(Decimal(text))


_ROW_FIELDS = [_PACKED_INDEX[name] for name in ("last_price", "source", "bid", "ask", "volume", "volume_24h")]
_ROW_WIDTH = max(_ROW_FIELDS) + 1


def tick_row_from_item(item: dict[str, Any]) -> TickRow:
    """The TickRow of a tick item: Number texts kept as text (normalised like `decimal_str`)."""
    get = item.get
    packed = get("fields")
    if packed is not None:  # written by tick_to_item: its texts are decimal_str's already
        parts = packed["S"].split("|")
        if len(parts) < _ROW_WIDTH:
            parts += [""] * (_ROW_WIDTH - len(parts))
        last, source, bid, ask, volume, volume_24h = (parts[i] or None for i in _ROW_FIELDS)
        return TickRow(
            int(item["minute"]["N"]),
            last or "0",
            source or "ticker",
            bid,
            ask,
            volume,
            volume_24h,
            "suspect" in item,
        )
    source = get("source")
    bid, ask, volume, volume_24h = get("bid"), get("ask"), get("volume"), get("volume_24h")
    return TickRow(
        int(item["minute"]["N"]),
        _plain(item["last_price"]["N"]),
        "ticker" if source is None else source["S"],
        None if bid is None else _plain(bid["N"]),
        None if ask is None else _plain(ask["N"]),
        None if volume is None else _plain(volume["N"]),
        None if volume_24h is None else _plain(volume_24h["N"]),
        "suspect" in item,
    )


@lru_cache(maxsize=16_384)
def _series_parts(series: str) -> tuple[str, str]:
    exchange, pair = series.split("#", 1)
    return exchange, pair


def snapshot_from_item(exchange: str, item: dict[str, Any], wanted: set[str] | None = None) -> MinuteSnapshot:
    prices: dict[str, Decimal] = {}
    packed = item.get("prices", {}).get("S")
    if packed:
        for entry in packed.split(";"):
            pair, _, price = entry.partition("=")
            if wanted is None or pair in wanted:
                prices[pair] = Decimal(price)
    # Prices merged later (backfills) are attributes of their own; the first writer wins.
    for name, attr in item.items():
        if name not in RESERVED and name not in prices and (wanted is None or name in wanted):
            prices[name] = Decimal(attr["N"])
    return MinuteSnapshot(
        exchange=exchange,
        minute_ms=int(item["sk"]["N"]),
        prices=prices,
        source=item.get("src", {}).get("S", "ticker"),
        pending="pending" in item,
    )


def known_gaps_from_item(
    item: dict[str, Any], start_ms: int, end_ms: int, wanted: set[str] | None
) -> dict[str, set[int]]:
    """Per pair, the known-gap minutes (ms) of one hour item that fall in [start_ms, end_ms).

    The item holds each pair's minute offsets in the hour (0–59) as a Number Set.
    """
    hour_ms = int(item["sk"]["N"])
    gaps: dict[str, set[int]] = {}
    for name, value in item.items():
        if name in RESERVED or (wanted is not None and name not in wanted):
            continue
        minutes = {hour_ms + int(o) * MINUTE_MS for o in value["NS"]}
        minutes = {m for m in minutes if start_ms <= m < end_ms}
        if minutes:
            gaps[name] = minutes
    return gaps


def hour_candles_key(exchange: str, pair: str) -> str:
    """The partition of one pair's hour candles: one item per UTC day, sk = the day's start."""
    return f"{exchange}#1hc#{pair}"


def hour_attribute(hour_ms: int) -> str:
    """The attribute of an hour within its day item: h00 … h23."""
    return f"h{hour_ms % DAY_MS // HOUR_MS:02d}"


def hour_candle_to_item(candle: HourCandle) -> dict[str, Any]:
    """An HourCandle as one String: first_ms|last_ms|count|open|high|low|close|volume ('' = none)."""
    values = [str(candle.first_ms), str(candle.last_ms), str(candle.count)]
    values += [
        decimal_str(v) or "" for v in (candle.open, candle.high, candle.low, candle.close, candle.volume)
    ]
    return {"S": "|".join(values)}


def hour_candles_from_item(item: dict[str, Any]) -> list[HourCandle]:
    """The HourCandles of one day item, oldest first."""
    day_ms = int(item["sk"]["N"])
    candles = []
    for name in sorted(n for n in item if len(n) == 3 and n[0] == "h" and n[1:].isdigit()):
        first_ms, last_ms, count, *prices = item[name]["S"].split("|")
        open_, high, low, close, volume = prices
        candles.append(
            HourCandle(
                hour_ms=day_ms + int(name[1:]) * HOUR_MS,
                open=Decimal(open_),
                high=Decimal(high),
                low=Decimal(low),
                close=Decimal(close),
                volume=Decimal(volume) if volume else None,
                count=int(count),
                first_ms=int(first_ms),
                last_ms=int(last_ms),
            )
        )
    return candles


# --- shards -------------------------------------------------------------------------------

DEFAULT_SHARDS = 32  # 10,000 pairs → ~312 per shard: hour rollups and live items stay under 100 KB
HEAD_SHARD = 0  # a minute's head item: exists whenever any shard of the minute does; src, pending


def shard_of(pair: str, shards: int) -> int:
    """The shard of a pair: CRC-32 of its name modulo `shards` (stable across processes and versions)."""
    return zlib.crc32(pair.encode()) % shards


def sharded(pk: str, shard: int) -> str:
    """The partition key of one shard of an all-pairs item: "<pk>#<shard>"."""
    return f"{pk}#{shard}"


def by_shard(pairs: Iterable[str], shards: int) -> dict[int, list[str]]:
    """Pairs grouped by shard (sorted within each shard)."""
    groups: dict[int, list[str]] = {}
    for pair in sorted(set(pairs)):
        groups.setdefault(shard_of(pair, shards), []).append(pair)
    return groups


# --- item size (DynamoDB's rules, for tests and the benchmark) ------------------------------


def item_size(item: dict[str, Any]) -> int:
    """Bytes an item counts against DynamoDB's 400 KB limit: names plus values (UTF-8).

    A Number counts ≈ 1 byte per 2 significant digits + 1; a Map or List 3 bytes plus its
    elements (and a Map's names); sets their elements (AWS's documented item-size rules).
    """
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "NS":
        return sum(_number_size(v) for v in inner)
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    if kind == "M":
        return 3 + item_size(inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    return 1  # BOOL, NULL


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0")
    return (len(digits.split("E")[0].split("e")[0]) + 1) // 2 + 1


# Published live statistics: per shard item, one String `stats` holding one line per pair:
# name|count|first_ago|first|last_ago|last|minimum|maximum|mean|change|change_pct|std|
# std_population|relative_std|volatility (an undefined field is empty; first_ago and last_ago
# are first_ms and last_ms as ms before the window's end), lines joined by "\n". One attribute
# per shard instead of one per pair: a read parses one string per shard, and a line is decoded
# without a field table (the rank decodes up to 10,000 of them per request).
LIVE_STATS_ATTRIBUTE = "stats"
LIVE_IDLE_ATTRIBUTE = "idle"  # tracked pairs without data in the window, one name a line


def _float_text(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _ago_text(ms: int | None, end_ms: int) -> str:
    return "" if ms is None else str(end_ms - ms)


def live_stats_to_text(stats: Mapping[str, WindowStats], pairs: Iterable[str], end_ms: int) -> str:
    """The `stats` String of one live shard item: a line per pair of `pairs` (keys of `stats`)."""
    lines = []
    for pair in pairs:
        s = stats[pair]
        lines.append(
            f"{pair}|{s.count}|{_ago_text(s.first_ms, end_ms)}|{decimal_str(s.first) or ''}|"
            f"{_ago_text(s.last_ms, end_ms)}|{decimal_str(s.last) or ''}|{decimal_str(s.minimum) or ''}|"
            f"{decimal_str(s.maximum) or ''}|{_float_text(s.mean)}|{decimal_str(s.change) or ''}|"
            f"{_float_text(s.change_pct)}|{_float_text(s.std)}|{_float_text(s.std_population)}|"
            f"{_float_text(s.relative_std)}|{_float_text(s.volatility)}"
        )
    return "\n".join(lines)


def live_stats_from_text(
    text: str, *, expected: int, end_ms: int, wanted: set[str] | None = None
) -> dict[str, WindowStats]:
    """WindowStats by pair from one `stats` String (only the pairs in `wanted`, if given)."""
    found: dict[str, WindowStats] = {}
    if not text:
        return found
    dec, flt, stats_ = Decimal, float, WindowStats
    for line in text.split("\n"):
        name, count, fa, first, la, last, low, high, mean, change, pct, std, stdp, rstd, vol = line.split("|")
        if wanted is not None and name not in wanted:
            continue
        found[name] = stats_(
            int(count),
            expected,
            dec(first) if first else None,
            dec(last) if last else None,
            dec(low) if low else None,
            dec(high) if high else None,
            flt(mean) if mean else None,
            dec(change) if change else None,
            flt(pct) if pct else None,
            flt(std) if std else None,
            flt(stdp) if stdp else None,
            flt(rstd) if rstd else None,
            flt(vol) if vol else None,
            end_ms - int(fa) if fa else None,
            end_ms - int(la) if la else None,
        )
    return found


# --- latest-price registries ----------------------------------------------------------------

# The poll's registry shards hold one String `entries`: a line "PAIR|minute_ms|price" per pair.
# One string per item instead of a Map of two Numbers per pair: far less for DynamoDB (and
# dynalite) to validate, store and send, and for us to parse, every minute. Items written
# before hold one Map attribute {m, p} per pair, as `update_latest`'s registry still does:
# both are read.
REGISTRY_ENTRIES_ATTRIBUTE = "entries"


def registry_entries(item: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """Per pair, (minute_ms, price text) of one registry shard item, of either format.

    A pair in both (an item being converted) keeps the newer minute.
    """
    entries: dict[str, tuple[int, str]] = {}
    for name, value in item.items():
        if name not in RESERVED:
            fields_ = value["M"]
            entries[name] = (int(fields_["m"]["N"]), fields_["p"]["N"])
    text = item.get(REGISTRY_ENTRIES_ATTRIBUTE, {}).get("S")
    if text:
        for line in text.split("\n"):
            name, minute, price = line.split("|")
            minute_ms = int(minute)
            if name not in entries or entries[name][0] < minute_ms:
                entries[name] = (minute_ms, price)
    return entries


def registry_names(item: Mapping[str, Any]) -> set[str]:
    """The pair names of one registry shard item, of either format (no minute or price decoded)."""
    names = {name for name in item if name not in RESERVED}
    text = item.get(REGISTRY_ENTRIES_ATTRIBUTE, {}).get("S")
    if text:
        names.update(line.partition("|")[0] for line in text.split("\n"))
    return names


def registry_entries_to_text(entries: Mapping[str, tuple[int, str]]) -> str:
    """The `entries` String of (minute_ms, price text) by pair (sorted by pair)."""
    return "\n".join(f"{pair}|{minute_ms}|{price}" for pair, (minute_ms, price) in sorted(entries.items()))
