"""Access to the real recorded data: the history in tests/fixtures/history and the recorded tickers
response in tests/fixtures/exchanges (see their READMEs)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from prices.domain import EXCHANGE_BITFINEX, Tick, TickSource, from_ms
from prices.sources.base import TickerRow
from prices.sources.bitfinex import parse_tickers
from prices.sources.http import loads_exact

HISTORY = Path(__file__).parent / "fixtures" / "history"
ZOMBIE = HISTORY / "zombie3000"
PAIRS = ["BTCUSD", "EOSUSD", "ETHUSD", "IOTUSD", "LTCUSD", "NEOUSD", "XRPUSD"]
SNAPSHOT_FILE = HISTORY / "4min_of_bitfinex_prices_fixed.json"
TICKERS_FILE = Path(__file__).parent / "fixtures" / "exchanges" / "bitfinex_tickers_all.json"


def candle_files(pair: str, day: str | None = None) -> list[Path]:
    """The raw 2019-12 candle files of a pair, oldest first; `day` like '19-12-31' filters."""
    files = sorted((ZOMBIE / pair / "Candles_1m" / "2019" / "raw" / "12").glob("*.json"))
    return [f for f in files if day is None or f.name.startswith(day)]


def raw_candles(pair: str, day: str | None = None) -> list[list]:
    """[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] rows with Decimal prices, read independently of prices/."""
    rows: list[list] = []
    for path in candle_files(pair, day):
        rows.extend(json.loads(path.read_text(), parse_float=Decimal, parse_int=Decimal))
    return rows


def closes(pair: str, day: str | None = None) -> list[tuple[int, Decimal]]:
    """(MTS ms, CLOSE) of every recorded candle."""
    return [(int(row[0]), row[2]) for row in raw_candles(pair, day)]


def candle_ticks(pair: str, day: str | None = None) -> list[Tick]:
    """The recorded candles as CANDLE ticks (built here without prices.importers)."""
    return [
        Tick(
            exchange=EXCHANGE_BITFINEX,
            pair=pair,
            minute=from_ms(int(mts)),
            last_price=close,
            source=TickSource.CANDLE,
            open=open_,
            high=high,
            low=low,
            volume=volume,
        )
        for mts, open_, close, high, low, volume in raw_candles(pair, day)
    ]


def ticker_rows() -> dict[str, TickerRow]:
    """The trading rows of the recorded `GET /v2/tickers` body, by pair, as a poll parses them."""
    return {row.pair: row for row in parse_tickers(loads_exact(TICKERS_FILE.read_bytes())).rows}
