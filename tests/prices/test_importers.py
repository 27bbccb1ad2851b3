"""History file readers on real recorded files: Zombie-3000 and arthurk candles, the elyapardes snapshot."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from prices.domain import Pair
from prices.importers import (
    ImportFileError,
    bitfinex_pair_for_market,
    bitfinex_pairs,
    read_candle_file,
    read_snapshot_file,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HISTORY = FIXTURES / "history"
BTCUSD_DEC = HISTORY / "zombie3000" / "BTCUSD" / "Candles_1m" / "2019" / "raw" / "12"
EMPTY_DAY = (
    HISTORY / "zombie3000" / "BTCUSD" / "Candles_1m" / "2014" / "raw" / "11" / "14-11-22_00-00-00.json"
)
SNAPSHOT = HISTORY / "4min_of_bitfinex_prices_fixed.json"
NEWEST_FIRST = FIXTURES / "exchanges" / "bitfinex_candles_hist_newest_first.json"
LAST_CANDLE = FIXTURES / "exchanges" / "bitfinex_candles_last.json"


def zombie_copy(tmp_path: Path, source: Path, text: str, pair: str = "BTCUSD") -> Path:
    """Write `text` at a Zombie-3000 style path for `pair`, named like `source`."""
    path = tmp_path / pair / "Candles_1m" / "2019" / "raw" / "12" / source.name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def snapshot() -> list:
    return read_snapshot_file(SNAPSHOT)


# --- candle files ---------------------------------------------------------------------------


def test_real_btcusd_day_has_1365_candles_in_12_files():
    files = sorted(BTCUSD_DEC.glob("19-12-31_*.json"))

    read = [read_candle_file(path) for path in files]

    assert len(files) == 12
    assert {f.pair for f in read} == {"BTCUSD"}
    assert sum(len(f.candles) for f in read) == 1365


def test_candle_file_reads_close_from_the_third_field():
    candles = read_candle_file(BTCUSD_DEC / "19-12-31_00-00-00.json").candles

    first = candles[0]
    assert first.minute == datetime(2019, 12, 31, tzinfo=UTC)
    assert (first.open, first.close, first.high, first.low) == (
        Decimal("7260.9"),
        Decimal("7240.04860029"),
        Decimal("7261"),
        Decimal("7238.4"),
    )


def test_gaps_in_a_candle_file_stay_gaps():
    candles = read_candle_file(BTCUSD_DEC / "19-12-30_18-00-00.json").candles

    window_start = datetime(2019, 12, 30, 18, tzinfo=UTC)
    present = {int((c.minute - window_start).total_seconds()) // 60 for c in candles}
    assert len(candles) == 114
    assert sorted(set(range(120)) - present) == [27, 39, 43, 46, 86, 111]


def test_empty_candle_file_has_no_candles():
    assert read_candle_file(EMPTY_DAY).candles == []


def test_newest_first_file_with_explicit_pair_is_sorted():
    read = read_candle_file(NEWEST_FIRST, pair="BTCUSD")

    assert read.pair == "BTCUSD"
    assert len(read.candles) == 120
    assert read.candles[0].minute == datetime(2018, 2, 10, 12, 15, tzinfo=UTC)


def test_file_without_pair_in_its_path_needs_pair_argument():
    with pytest.raises(ImportFileError, match="cannot tell the pair"):
        read_candle_file(NEWEST_FIRST)


def test_pair_argument_must_agree_with_the_path():
    with pytest.raises(ImportFileError, match="pair='ETHUSD' but the path says 'BTCUSD'"):
        read_candle_file(BTCUSD_DEC / "19-12-31_00-00-00.json", pair="ETHUSD")


def test_invalid_pair_directory_is_an_import_error(tmp_path):
    source = BTCUSD_DEC / "19-12-31_00-00-00.json"
    path = zombie_copy(tmp_path, source, source.read_text(), pair="btcusd")

    with pytest.raises(ImportFileError, match="invalid pair 'btcusd'"):
        read_candle_file(path)


def test_malformed_candle_names_the_file_and_the_candle(tmp_path):
    source = BTCUSD_DEC / "19-12-31_00-00-00.json"
    rows = json.loads(source.read_text())
    rows[17] = rows[17][:5]
    path = zombie_copy(tmp_path, source, json.dumps(rows))

    with pytest.raises(ImportFileError) as caught:
        read_candle_file(path)

    assert str(caught.value) == f"{path}: candle 17: expected 6 fields, got 5"
    assert caught.value.position == "candle 17"


def test_truncated_file_names_line_and_column(tmp_path):
    source = BTCUSD_DEC / "19-12-31_00-00-00.json"
    text = source.read_text()[:1000]
    path = zombie_copy(tmp_path, source, text)

    with pytest.raises(ImportFileError) as caught:
        read_candle_file(path)

    assert str(caught.value).startswith(f"{path}: line 1 column ")
    assert "invalid JSON" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_flat_last_candle_file_is_rejected(tmp_path):
    path = zombie_copy(tmp_path, BTCUSD_DEC / "x.json", LAST_CANDLE.read_text())

    with pytest.raises(ImportFileError, match="single flat candle"):
        read_candle_file(path)


def test_duplicate_candles_are_rejected(tmp_path):
    source = BTCUSD_DEC / "19-12-31_00-00-00.json"
    rows = json.loads(source.read_text())
    path = zombie_copy(tmp_path, source, json.dumps([*rows, rows[3]]))

    with pytest.raises(ImportFileError, match="two candles for MTS 1577750580000"):
        read_candle_file(path)


def test_missing_file_is_an_import_error(tmp_path):
    with pytest.raises(ImportFileError, match="cannot read"):
        read_candle_file(tmp_path / "BTCUSD" / "Candles_1m" / "missing.json")


# --- snapshot file ------------------------------------------------------------------------------


def test_snapshot_has_450_pairs_polled_4_times(snapshot):
    per_pair = Counter(record.pair for record in snapshot)

    assert len(snapshot) == 1800
    assert len(per_pair) == 450
    assert set(per_pair.values()) == {4}


def test_snapshot_btcusd_prices_are_exact(snapshot):
    prices = [r.price for r in snapshot if r.pair == "BTCUSD"]

    assert prices == [Decimal(58512), Decimal(58514), Decimal(58545), Decimal(58535)]


def test_snapshot_exponent_notation_is_exact(snapshot):
    eosbtc = next(r for r in snapshot if r.market == "eosbtc")

    assert eosbtc.price == Decimal("7.181e-05")
    assert str(eosbtc.price) == "0.00007181"


def test_snapshot_times_without_zone_are_read_as_utc(snapshot):
    first = snapshot[0]

    assert first.market == "btcusd"
    assert first.observed_at == datetime(2021, 3, 19, 18, 24, 29, 227932, tzinfo=UTC)


def test_snapshot_zero_prices_are_returned(snapshot):
    zero_markets = {r.market for r in snapshot if r.price == 0}

    assert len(zero_markets) == 16
    assert {"bfxusd", "bccusd", "bt1usd"} <= zero_markets
    assert sum(1 for r in snapshot if r.price == 0) == 64


@pytest.mark.parametrize(
    ("market", "pair", "listed"),
    [
        ("btcusd", "BTCUSD", True),
        ("aaveusd", "AAVE:USD", True),
        ("aaveusdt", "AAVE:UST", True),
        ("xautusdt", "XAUT:UST", True),
        ("btcusdt", "BTCUST", True),
        ("usdtusd", "USTUSD", True),
        ("iotausd", "IOTUSD", True),
        ("manabtc", "MNABTC", True),
        ("dashbtc", "DSHBTC", True),
        ("qtumeth", "QTMETH", True),
        ("iostusd", "IOSUSD", True),
        ("iosteur", "IOSEUR", False),
        ("datusd", "DATUSD", True),
        ("datausd", "DATA:USD", False),
        ("hydrausd", "HYDRA:USD", False),
        ("mkrsai", "MKRSAI", False),
    ],
)
def test_cryptowatch_markets_map_to_bitfinex_pairs(snapshot, market, pair, listed):
    record = next(r for r in snapshot if r.market == market)

    assert (record.pair, record.listed) == (pair, listed)


def test_every_mapped_pair_is_valid_and_listed_ones_are_in_the_recorded_lists(snapshot):
    pairs = {r.pair: r.listed for r in snapshot}

    for pair, listed in pairs.items():
        assert Pair.parse(pair).name == pair
        assert (pair in bitfinex_pairs()) is listed
    assert sum(pairs.values()) == 412


def test_unmappable_market_is_an_error():
    with pytest.raises(ValueError, match="no known quote"):
        bitfinex_pair_for_market("bitcoin")


def test_two_markets_mapping_to_one_pair_is_an_error(tmp_path):
    records = json.loads(SNAPSHOT.read_text())[:2]
    records[1]["pair"] = "iotusd"  # a real Bitfinex v1 id (arthurk symbols.json), = iotausd
    records[0]["pair"] = "iotausd"
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(records))

    with pytest.raises(ImportFileError) as caught:
        read_snapshot_file(path)

    assert str(caught.value) == f"{path}: record 1: markets 'iotausd' and 'iotusd' both map to IOTUSD"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("price"), 'record 2: expected {"pair", "ts", "price"}'),
        (lambda r: r.update(price="58512"), "record 2: price: expected a number"),
        (lambda r: r.update(price=-1), "record 2: price: expected a number ≥ 0"),
        (lambda r: r.update(ts="yesterday"), "record 2: ts: not an ISO-8601 time"),
        (lambda r: r.update(pair="BTC-USD"), "record 2: Cryptowatch market id 'BTC-USD'"),
    ],
)
def test_malformed_snapshot_record_names_its_position(tmp_path, change, message):
    records = json.loads(SNAPSHOT.read_text())[:5]
    change(records[2])
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(records))

    with pytest.raises(ImportFileError) as caught:
        read_snapshot_file(path)

    assert str(caught.value).startswith(f"{path}: {message}")


def test_snapshot_time_with_an_offset_is_converted_to_utc(tmp_path):
    records = json.loads(SNAPSHOT.read_text())[:1]
    records[0]["ts"] += "+01:00"
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(records))

    (record,) = read_snapshot_file(path)

    assert record.observed_at == datetime(2021, 3, 19, 17, 24, 29, 227932, tzinfo=UTC)


def test_snapshot_that_is_not_a_list_is_an_error(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text('{"error": "ERR_RATE_LIMIT"}')

    with pytest.raises(ImportFileError, match="expected a JSON list"):
        read_snapshot_file(path)
