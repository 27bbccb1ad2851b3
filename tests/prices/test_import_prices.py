"""import_prices on the real history files: exact closes, idempotence, malformed files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.realdata import PAIRS, SNAPSHOT_FILE, ZOMBIE, closes


def _ticks(repo, pair, start, end):
    return list(repo.between(exchange="bitfinex", pair=pair, start=start, end=end))


def _run(*args) -> str:
    out = StringIO()
    call_command("import_prices", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_of_the_candle_folders_stores_every_recorded_close(memory_configured_repo):
    output = _run(ZOMBIE)

    day = (datetime(2019, 12, 31, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))
    stored = _ticks(memory_configured_repo, "BTCUSD", *day)
    assert [(t.minute_ms, t.last_price) for t in stored] == closes("BTCUSD", "19-12-31")
    assert len(stored) == 1365
    assert "for 7 pairs" in output
    assert sorted(memory_configured_repo.latest_prices(exchange="bitfinex")) == PAIRS


def test_importing_twice_changes_nothing(memory_configured_repo):
    _run(ZOMBIE / "ETHUSD")
    before = {k: dict(v) for k, v in memory_configured_repo.ticks.items()}
    rollups_before = dict(memory_configured_repo.rollups["bitfinex"])

    output = _run(ZOMBIE / "ETHUSD")

    assert "stored 0 ticks" in output
    assert {k: dict(v) for k, v in memory_configured_repo.ticks.items()} == before
    assert dict(memory_configured_repo.rollups["bitfinex"]) == rollups_before


def test_import_of_the_snapshot_file_labels_each_poll_with_one_minute(memory_configured_repo):
    output = _run(SNAPSHOT_FILE)

    btc = _ticks(
        memory_configured_repo, "BTCUSD", datetime(2021, 3, 19, tzinfo=UTC), datetime(2021, 3, 20, tzinfo=UTC)
    )
    assert [t.last_price for t in btc] == [Decimal(58512), Decimal(58514), Decimal(58545), Decimal(58535)]
    # polls at 18:24:29, 18:25:30, 18:26:31, 18:27:34 describe the minutes before them
    assert [t.minute.strftime("%H:%M") for t in btc] == ["18:23", "18:24", "18:25", "18:26"]
    assert "zero_price 64" in output  # 16 pairs are 0 in all four polls
    snapshot = memory_configured_repo.get_snapshot(exchange="bitfinex", minute_ms=btc[0].minute_ms)
    assert len(snapshot.prices) == 450 - 16


def test_a_malformed_file_fails_with_its_name_and_position_and_stores_nothing(
    memory_configured_repo, tmp_path
):
    good = tmp_path / "BTCUSD" / "Candles_1m" / "2019" / "raw" / "12"
    good.mkdir(parents=True)
    shutil.copy(ZOMBIE / "BTCUSD/Candles_1m/2019/raw/12/19-12-31_00-00-00.json", good)
    rows = json.loads((ZOMBIE / "BTCUSD/Candles_1m/2019/raw/12/19-12-31_02-00-00.json").read_text())
    rows[17] = rows[17][:5]  # a truncated candle
    bad = good / "19-12-31_02-00-00.json"
    bad.write_text(json.dumps(rows))

    with pytest.raises(CommandError) as error:
        _run(tmp_path)

    assert "19-12-31_02-00-00.json" in str(error.value)
    assert "candle 17" in str(error.value)
    assert memory_configured_repo.ticks == {}


def test_a_missing_path_is_one_readable_error(memory_configured_repo, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        _run(tmp_path / "nope.json")


def test_import_refreshes_rollups_so_stats_match_the_raw_files(memory_configured_repo):
    from prices.selectors import pair_stats

    _run(ZOMBIE / "BTCUSD")

    stats = pair_stats(pair="BTCUSD", window_minutes=1440, end=datetime(2020, 1, 1, tzinfo=UTC))
    assert stats.count == 1365
    assert stats.std == pytest.approx(34.059749, rel=1e-6)  # shared/data README reference values
    assert stats.std_population == pytest.approx(34.047270, rel=1e-6)
