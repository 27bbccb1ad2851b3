"""History file readers: raw Bitfinex candle files and Cryptowatch price snapshots (pure parsing, no storage).

Formats (shared/data README §1–§3):

* Candle files: a Bitfinex `GET /v2/candles/trade:1m:t<PAIR>/hist` body saved as is, a JSON list of
  [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]. Zombie-3000/Bitfinex-historical-data keeps them at
  `<PAIR>/Candles_1m/<YYYY>/raw/<MM>/<YY-MM-DD_HH-MM-SS>.json` (ascending; the file name is the
  2-hour window start in UTC); arthurk/bitfinex-ohlc-import's `candles.json` is newest first and
  says nothing about its pair, so it needs `pair=`.
* Snapshot files: elyapardes/crypto-tracker's `4min_of_bitfinex_prices_fixed.json`, a JSON list of
  {"pair": "<cryptowatch market id>", "ts": "<ISO time, no zone>", "price": <number>}: Bitfinex
  last prices relayed by api.cryptowat.ch/markets/bitfinex/<pair>/price.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from prices.domain import InvalidPairError, Pair
from prices.sources.base import Candle
from prices.sources.bitfinex import CandleFormatError, candles_from_rows

CANDLE_DIR = "Candles_1m"
_PAIRS_FILE = Path(__file__).parent / "sources" / "bitfinex_pairs.json"
_MARKET_RE = re.compile(r"^[a-z0-9]+$")

# Cryptowatch currency id → Bitfinex currency code (Bitfinex uses 3-letter codes for many
# currencies). Only aliases the recorded data supports: for each, the Cryptowatch id has no
# pair of its own in bitfinex_pairs.json, the Bitfinex code is not itself a currency id in the
# elyapardes snapshot (so no two markets merge), and the Bitfinex code's recorded pairs have
# the same quotes as the Cryptowatch id's markets in the snapshot, e.g. iota: btc eth eur gbp
# jpy usd ↔ IOTBTC IOTETH IOTEUR IOTGBP IOTJPY IOTUSD; usdt ↔ UST ("UST is Tether", README §5).
# The WebSocket capture (README §5) shows tIOTETH, tMNABTC and tSNGUSD trading at prices close
# to the snapshot's iotaeth, manabtc and snglsusd. iost: IOSBTC/IOSETH/IOSUSD match; the
# snapshot's iosteur/iostgbp/iostjpy are 0 in every poll and stay unlisted (IOSEUR, ...).
# Deliberately absent: data → DAT. The snapshot has datbtc/dateth/datusd (exact matches of
# DATBTC/DATETH/DATUSD) *and* databtc/dataeth/datausd at different prices, so the alias would
# merge two markets into one pair; data* maps to the unlisted DATA:BTC etc. instead.
CRYPTOWATCH_ALIASES: dict[str, str] = {
    "abyss": "ABS",
    "aion": "AIO",
    "algo": "ALG",
    "ampl": "AMP",
    "ctxc": "CTX",
    "dadi": "DAD",
    "dash": "DSH",
    "drgn": "DRN",
    "eurt": "EUT",
    "gusd": "GSD",
    "iost": "IOS",
    "iota": "IOT",
    "mana": "MNA",
    "mith": "MIT",
    "ncash": "NCA",
    "omni": "OMN",
    "qash": "QSH",
    "qtum": "QTM",
    "rbtc": "RBT",
    "sngls": "SNG",
    "spnk": "SPK",
    "tusd": "TSD",
    "usdc": "UDC",
    "usdt": "UST",
    "utnp": "UTN",
    "waxp": "WAX",
    "wbtc": "WBT",
    "yoyow": "YYW",
}
# Quote ids that are not a quote in the recorded pair lists but are one in the snapshot:
# mkrsai, omgsai, zrxsai (single-collateral DAI, next to mkrdai/omgdai/zrxdai).
_EXTRA_QUOTES = frozenset({"sai"})


class ImportFileError(Exception):
    """A history file that cannot be read: str is one line "<path>: <position>: <message>".

    `position` is e.g. "candle 17" or "record 3" (0-based index in the JSON list), "line 1
    column 5" for invalid JSON, or None when the whole file is at fault.
    """

    def __init__(self, path: str | os.PathLike[str], position: str | None, message: str) -> None:
        self.path = str(path)
        self.position = position
        self.message = message
        where = f"{self.path}: {position}" if position else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class CandleFile:
    """The candles of one candle file: `pair` ("BTCUSD"), Candles oldest first (gaps stay gaps)."""

    path: str
    pair: str
    candles: list[Candle]


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One recorded last price: Bitfinex `pair`, aware UTC `observed_at`, Decimal `price`.

    `market` is the Cryptowatch id it came from; `listed` is False when the pair was derived
    by rule and is not in the recorded Bitfinex pair lists. `price` may be 0 (a market
    Cryptowatch reports as 0: delisted or unsupported); callers skip and count those.
    """

    pair: str
    observed_at: datetime
    price: Decimal
    market: str
    listed: bool


def read_candle_file(path: str | os.PathLike[str], *, pair: str | None = None) -> CandleFile:
    """Read one raw candle file ([MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] rows, any order).

    The pair is the path component before `Candles_1m` (Zombie-3000 layout) or `pair=`
    (required for files such as arthurk's candles.json). Raises ImportFileError for an
    unreadable file, invalid JSON (line/column), a malformed candle ("candle N"), duplicate
    MTS, or an unknown/mismatching pair.
    """
    name = _candle_file_pair(path, pair)
    payload = _load_json(path)
    try:
        candles = candles_from_rows(payload)
    except CandleFormatError as exc:
        raise ImportFileError(path, exc.position, exc.message) from exc
    return CandleFile(path=str(path), pair=name, candles=candles)


def read_snapshot_file(path: str | os.PathLike[str]) -> list[SnapshotRecord]:
    """Read an elyapardes snapshot file: records in file order, one per (market, poll).

    `ts` has no zone; it was `datetime.now()` inside the fetcher's Docker container, whose
    clock is UTC unless configured otherwise, so it is read as UTC (an explicit offset, if
    present, is honoured). Prices are exact Decimals (`7.181e-05` stays 0.00007181); zeros are
    returned. Cryptowatch ids map to Bitfinex pairs with `bitfinex_pair_for_market`. Raises
    ImportFileError for invalid JSON, a malformed record ("record N"), an unmappable id, or
    two ids mapping to one pair.
    """
    payload = _load_json(path)
    if not isinstance(payload, list):
        raise ImportFileError(path, None, 'expected a JSON list of {"pair", "ts", "price"} records')
    records: list[SnapshotRecord] = []
    market_of_pair: dict[str, str] = {}
    for index, item in enumerate(payload):
        position = f"record {index}"
        if not isinstance(item, dict) or not {"pair", "ts", "price"} <= item.keys():
            raise ImportFileError(path, position, f'expected {{"pair", "ts", "price"}}, got {_short(item)}')
        market, ts, price = item["pair"], item["ts"], item["price"]
        try:
            pair, listed = bitfinex_pair_for_market(market)
        except ValueError as exc:
            raise ImportFileError(path, position, str(exc)) from exc
        if market_of_pair.setdefault(pair, market) != market:
            raise ImportFileError(
                path, position, f"markets {market_of_pair[pair]!r} and {market!r} both map to {pair}"
            )
        records.append(
            SnapshotRecord(
                pair=pair,
                observed_at=_utc(ts, path, position),
                price=_price(price, path, position),
                market=market,
                listed=listed,
            )
        )
    return records


def bitfinex_pair_for_market(market: str) -> tuple[str, bool]:
    """Map a lower-case Cryptowatch Bitfinex market id to (Bitfinex pair, listed).

    Rules, in order: (1) an exact match of the id with a recorded pair, lower-cased, colon
    removed (btcusd → BTCUSD, aaveusd → AAVE:USD); (2) split off the longest known quote
    suffix, translate both codes with CRYPTOWATCH_ALIASES and look the result up again
    (iotausd → IOTUSD, btcusdt → BTCUST); (3) otherwise the translated codes joined with ':'
    when either is longer than 3 letters (hydrausd → HYDRA:USD, listed=False).
    Raises ValueError when no quote suffix fits or the result is not a valid pair.
    """
    if not isinstance(market, str) or not _MARKET_RE.match(market):
        raise ValueError(f"Cryptowatch market id {market!r}: expected lower-case letters and digits")
    listed = _listed_pairs_by_key()
    if market in listed:
        return listed[market], True
    for quote in _quote_suffixes():
        base = market[: -len(quote)]
        if market.endswith(quote) and len(base) >= 2:
            base_code = CRYPTOWATCH_ALIASES.get(base, base.upper())
            quote_code = CRYPTOWATCH_ALIASES.get(quote, quote.upper())
            key = (base_code + quote_code).lower()
            if key in listed:
                return listed[key], True
            name = f"{base_code}:{quote_code}" if max(len(base_code), len(quote_code)) > 3 else key.upper()
            try:
                return Pair.parse(name).name, False
            except InvalidPairError as exc:
                raise ValueError(f"Cryptowatch market {market!r}: {exc}") from exc
    raise ValueError(f"Cryptowatch market {market!r}: no known quote currency suffix")


@cache
def bitfinex_pairs() -> frozenset[str]:
    """The recorded Bitfinex trading pairs (prices/sources/bitfinex_pairs.json, 2020 + 2021 lists)."""
    with _PAIRS_FILE.open(encoding="utf-8") as handle:
        return frozenset(json.load(handle)["pairs"])


@cache
def _listed_pairs_by_key() -> dict[str, str]:
    return {name.replace(":", "").lower(): name for name in bitfinex_pairs()}


@cache
def _quote_suffixes() -> tuple[str, ...]:
    quotes = {Pair.parse(name).quote.lower() for name in bitfinex_pairs()}
    quotes |= {alias for alias, code in CRYPTOWATCH_ALIASES.items() if code.lower() in quotes}
    quotes |= _EXTRA_QUOTES
    return tuple(sorted(quotes, key=lambda q: (-len(q), q)))


# --- helpers ---------------------------------------------------------------------------


def _candle_file_pair(path: str | os.PathLike[str], pair: str | None) -> str:
    parts = Path(path).parts
    found = [index for index, part in enumerate(parts) if part == CANDLE_DIR and index > 0]
    from_path = parts[found[-1] - 1] if found else None
    if pair is None and from_path is None:
        raise ImportFileError(
            path, None, f"cannot tell the pair: expected …/<PAIR>/{CANDLE_DIR}/… in the path, or pass pair="
        )
    name = pair if pair is not None else from_path
    try:
        name = Pair.parse(name).name
    except InvalidPairError as exc:
        raise ImportFileError(path, None, str(exc)) from exc
    if from_path is not None and from_path != name:
        raise ImportFileError(path, None, f"pair={name!r} but the path says {from_path!r}")
    return name


def _load_json(path: str | os.PathLike[str]) -> Any:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFileError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileError(path, f"byte {exc.start}", "not UTF-8 text") from exc
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc
    except ValueError as exc:
        raise ImportFileError(path, None, f"invalid JSON: {exc}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON number {name}")


def _utc(value: Any, path: str | os.PathLike[str], position: str) -> datetime:
    if not isinstance(value, str):
        raise ImportFileError(path, position, f"ts: expected an ISO-8601 string, got {_short(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ImportFileError(path, position, f"ts: not an ISO-8601 time: {value!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _price(value: Any, path: str | os.PathLike[str], position: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ImportFileError(path, position, f"price: expected a number, got {_short(value)}")
    price = Decimal(value)
    if not price.is_finite() or price < 0:
        raise ImportFileError(path, position, f"price: expected a number ≥ 0, got {value}")
    return price


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
