"""BitfinexSource and its parsers, served real recorded payloads through `responses`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from prices.domain import InvalidPairError, to_ms
from prices.sources.base import Candle, SourceError, TickerBatch, TickerRow
from prices.sources.bitfinex import BitfinexSource, parse_candles, parse_tickers
from prices.sources.fake import FakeCandleSource, FakeTickerSource
from prices.sources.http import HttpClient, loads_exact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXCHANGES = FIXTURES / "exchanges"
BTCUSD_1M = FIXTURES / "history" / "zombie3000" / "BTCUSD" / "Candles_1m"
BASE = "https://api-pub.bitfinex.com"
TICKERS_URL = BASE + "/v2/tickers"
BTCUSD_CANDLES_URL = BASE + "/v2/candles/trade:1m:tBTCUSD/hist"
# Real error bodies quoted in shared/data README §7.
SYMBOL_INVALID = b'["error",10020,"symbol: invalid"]'
RATELIMIT = b'["error", 11010, "ratelimit: error"]'
ERR_RATE_LIMIT = b'{"error": "ERR_RATE_LIMIT"}'


def fixture_bytes(name: str) -> bytes:
    return (EXCHANGES / name).read_bytes()


def tickers_payload() -> list:
    return loads_exact(fixture_bytes("bitfinex_tickers_all.json"))


def candle_file(name: str) -> Path:
    year = "2014" if name.startswith("14") else "2019"
    month = "11" if name.startswith("14") else "12"
    return BTCUSD_1M / year / "raw" / month / f"{name}.json"


def real_rows(day: str) -> list[list]:
    """The recorded BTCUSD candle rows of one day ('19-12-31'), oldest first."""
    rows: list[list] = []
    for path in sorted((BTCUSD_1M / "2019" / "raw" / "12").glob(f"{day}_*.json")):
        rows.extend(loads_exact(path.read_bytes()))
    return rows


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FakeClock:
    """monotonic() and sleep() for the source: sleeping advances the clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_source(clock: FakeClock, **kwargs) -> BitfinexSource:
    http = HttpClient(BASE, retries=0, backoff_factor=0)
    return BitfinexSource(http=http, sleep=clock.sleep, monotonic=clock.monotonic, **kwargs)


def query(call) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


# --- parse_tickers ----------------------------------------------------------------------------


def test_parse_tickers_reads_the_documented_field_order_as_decimals():
    batch = parse_tickers(tickers_payload())

    btc = next(row for row in batch.rows if row.pair == "BTCUSD")
    assert btc == TickerRow(
        pair="BTCUSD",
        last_price=Decimal("101550"),
        bid=Decimal("101530"),
        bid_size=Decimal("39.76548266"),
        ask=Decimal("101540"),
        ask_size=Decimal("32.24226311"),
        daily_change=Decimal("2680"),
        daily_change_relative=Decimal("0.0271063"),
        volume_24h=Decimal("661.88869229"),
        high_24h=Decimal("102760"),
        low_24h=Decimal("98740"),
    )
    assert all(isinstance(value, Decimal) for value in (btc.last_price, btc.bid, btc.low_24h))


def test_parse_tickers_keeps_trading_rows_and_counts_skips_by_reason():
    batch = parse_tickers(tickers_payload())

    assert [row.pair for row in batch.rows] == [
        "BTCUSD",
        "BFTUSD",
        "IOTETH",
        "DOGUSD",
        "MNABTC",
        "ODEUSD",
        "TESTBTC:TESTUSD",
        "SNGUSD",
    ]
    assert batch.skipped == {"funding": 1, "zero_price": 1}


def test_parse_tickers_reads_colon_symbols():
    batch = parse_tickers(tickers_payload())

    test_pair = next(row for row in batch.rows if row.pair == "TESTBTC:TESTUSD")
    assert test_pair.last_price == Decimal("60410")
    assert test_pair.ask_size == Decimal("86.2067634199999")


def test_parse_tickers_keeps_small_values_and_float_noise_exact():
    batch = parse_tickers(tickers_payload())

    iot = next(row for row in batch.rows if row.pair == "IOTETH")
    assert iot.daily_change == Decimal("9.7e-06")
    assert iot.ask_size == Decimal("19203.444049780002")
    mna = next(row for row in batch.rows if row.pair == "MNABTC")
    assert str(mna.last_price) == "0.00002516"


def test_funding_rows_are_skipped_by_prefix_whatever_their_length():
    funding = tickers_payload()[1]
    old_layout = funding[:14]  # the 14-field layout documented before ~2020 (README §7)
    short = funding[:5]

    batch = parse_tickers([funding, old_layout, short])

    assert batch.rows == []
    assert batch.skipped == {"funding": 3}


def test_all_zero_row_of_a_delisted_pair_counts_as_zero_price():
    payload = [row for row in tickers_payload() if row[0] == "tBFXUSD"]

    batch = parse_tickers(payload)

    assert batch.rows == [] and batch.skipped == {"zero_price": 1}


def test_null_last_price_counts_as_zero_price():
    btc = tickers_payload()[0]
    btc[7] = None  # the real tBTCUSD row with LAST_PRICE null, as funding placeholders are

    batch = parse_tickers([btc])

    assert batch.rows == [] and batch.skipped == {"zero_price": 1}


def test_pairs_filter_counts_untracked_pairs():
    batch = parse_tickers(tickers_payload(), pairs={"BTCUSD", "TESTBTC:TESTUSD"})

    assert [row.pair for row in batch.rows] == ["BTCUSD", "TESTBTC:TESTUSD"]
    assert batch.skipped == {"funding": 1, "not_tracked": 7}


def test_symbol_that_is_not_a_valid_pair_counts_as_invalid_symbol():
    # GERMANY30IXF0:USTF0 is a real Bitfinex derivative pair (cryptofeed BITFINEX.0,
    # pub:list:pair:future) whose 13-letter base is longer than Pair accepts; values: tTESTBTC's.
    row = ["tGERMANY30IXF0:USTF0", *tickers_payload()[7][1:]]

    batch = parse_tickers([row, tickers_payload()[0]])

    assert [r.pair for r in batch.rows] == ["BTCUSD"]
    assert batch.skipped == {"invalid_symbol": 1}


def test_payload_that_is_not_a_list_of_rows_is_rejected_whole():
    platform_status = loads_exact(b"[\n  1\n]")  # GET /v2/platform/status (jkorf GetPlatformStatus.txt)
    single_ticker = loads_exact(  # GET /v2/ticker/tBTCUST (ccxt fetchTicker httpResponse)
        b"[73350, 2.55279457, 73351, 6.36068263, 1003, 0.01386374, 73350, 2638.4314844, 73583, 68643]"
    )

    for payload in (platform_status, single_ticker, "tBTCUSD"):
        with pytest.raises(SourceError) as caught:
            parse_tickers(payload)
        assert caught.value.permanent is True


def test_trading_row_with_fewer_than_11_fields_rejects_the_whole_payload():
    payload = tickers_payload()
    payload[2] = payload[2][:10]

    with pytest.raises(SourceError) as caught:
        parse_tickers(payload)

    assert caught.value.permanent is True
    assert caught.value.message == "tickers: row 2 (tBFTUSD): expected 11 fields, got 10"


def test_non_numeric_price_rejects_the_whole_payload():
    payload = tickers_payload()
    payload[0][7] = "101550"

    with pytest.raises(SourceError) as caught:
        parse_tickers(payload)

    assert caught.value.permanent is True
    assert "row 0 (tBTCUSD): last_price: expected a number" in caught.value.message


def test_duplicate_symbol_rejects_the_whole_payload():
    jkorf_btc = loads_exact(  # jkorf GetTickers.txt
        b'["tBTCUSD",10645,73.93854271,10647,75.22266119,731.60645389,0.0738,10644.00645389,'
        b"14480.89849423,10766,9889.1449809]"
    )

    with pytest.raises(SourceError, match="duplicate symbol tBTCUSD"):
        parse_tickers([*tickers_payload(), jkorf_btc])


@pytest.mark.parametrize(
    ("body", "rate_limited", "permanent"),
    [(SYMBOL_INVALID, False, True), (RATELIMIT, True, False), (ERR_RATE_LIMIT, True, False)],
)
def test_error_bodies_are_source_errors(body, rate_limited, permanent):
    with pytest.raises(SourceError) as caught:
        parse_tickers(loads_exact(body))

    assert caught.value.rate_limited is rate_limited
    assert caught.value.permanent is permanent


# --- fetch_tickers and the rate-limit back-off -------------------------------------------------


def test_fetch_tickers_makes_one_request_for_all_symbols(mocked, clock):
    mocked.get(TICKERS_URL, body=fixture_bytes("bitfinex_tickers_all.json"))

    batch = make_source(clock).fetch_tickers()

    assert len(mocked.calls) == 1
    assert query(mocked.calls[0]) == {"symbols": "ALL"}
    assert len(batch.rows) == 8 and batch.skipped == {"funding": 1, "zero_price": 1}


def test_fetch_tickers_applies_the_pairs_filter(mocked, clock):
    mocked.get(TICKERS_URL, body=fixture_bytes("bitfinex_tickers_all.json"))

    batch = make_source(clock, pairs=["TESTBTC:TESTUSD"]).fetch_tickers()

    assert [row.pair for row in batch.rows] == ["TESTBTC:TESTUSD"]


def test_rate_limit_starts_a_back_off_and_the_next_call_makes_no_request(mocked, clock):
    mocked.get(TICKERS_URL, status=429, body=RATELIMIT)
    source = make_source(clock)

    with pytest.raises(SourceError) as first:
        source.fetch_tickers()
    with pytest.raises(SourceError) as second:
        source.fetch_tickers()

    assert first.value.rate_limited and second.value.rate_limited
    assert source.backoff_until == 1060.0
    assert second.value.message.startswith("bitfinex: backing off until 20")
    assert len(mocked.calls) == 1


def test_call_after_the_back_off_is_made_and_success_clears_it(mocked, clock):
    mocked.get(TICKERS_URL, status=429, body=RATELIMIT)
    mocked.get(TICKERS_URL, body=fixture_bytes("bitfinex_tickers_all.json"))
    source = make_source(clock)
    with pytest.raises(SourceError):
        source.fetch_tickers()
    clock.now += 60

    batch = source.fetch_tickers()

    assert len(batch.rows) == 8
    assert source.backoff_until is None
    assert len(mocked.calls) == 2


def test_back_off_doubles_on_repeated_rate_limits_up_to_ten_minutes(mocked, clock):
    mocked.get(TICKERS_URL, body=ERR_RATE_LIMIT)
    source = make_source(clock)
    delays = []

    for _ in range(6):
        with pytest.raises(SourceError):
            source.fetch_tickers()
        delays.append(source.backoff_until - clock.now)
        clock.now = source.backoff_until

    assert delays == [60, 120, 240, 480, 600, 600]


def test_other_errors_do_not_start_a_back_off(mocked, clock):
    mocked.get(TICKERS_URL, status=500, body=SYMBOL_INVALID)
    source = make_source(clock)

    with pytest.raises(SourceError):
        source.fetch_tickers()

    assert source.backoff_until is None


def test_from_settings_uses_url_timeout_retries_and_pairs(mocked, settings):
    settings.BITFINEX_API_URL = "http://127.0.0.1:9"
    settings.EXCHANGE_HTTP_TIMEOUT_S = 4.5
    settings.EXCHANGE_HTTP_RETRIES = 0
    settings.PRICES_PAIRS = ["BTCUSD"]
    mocked.get("http://127.0.0.1:9/v2/tickers", body=fixture_bytes("bitfinex_tickers_all.json"))

    batch = BitfinexSource.from_settings().fetch_tickers()

    assert [row.pair for row in batch.rows] == ["BTCUSD"]
    assert mocked.calls[0].request.req_kwargs["timeout"] == (3.05, 4.5)  # (connect, read)


def test_invalid_pair_in_the_filter_is_a_configuration_error():
    with pytest.raises(InvalidPairError):
        BitfinexSource(pairs=["btcusd"])


# --- parse_candles ------------------------------------------------------------------------------


def test_candle_close_is_the_third_field():
    candles = parse_candles(loads_exact(candle_file("19-12-31_00-00-00").read_bytes()))

    assert candles[0] == Candle(
        minute=utc(2019, 12, 31),
        open=Decimal("7260.9"),
        close=Decimal("7240.04860029"),
        high=Decimal("7261"),
        low=Decimal("7238.4"),
        volume=Decimal("17.85069232"),
    )
    assert to_ms(candles[0].minute) == 1577750400000


def test_newest_first_payload_is_sorted_oldest_first():
    candles = parse_candles(loads_exact(fixture_bytes("bitfinex_candles_hist_newest_first.json")))

    assert len(candles) == 120
    assert to_ms(candles[0].minute) == 1518264900000
    assert to_ms(candles[-1].minute) == 1518272040000
    assert candles == sorted(candles, key=lambda c: c.minute)


def test_empty_candle_list_is_valid():
    assert parse_candles(loads_exact(candle_file("14-11-22_00-00-00").read_bytes())) == []


def test_flat_last_candle_is_rejected_with_a_clear_error():
    with pytest.raises(SourceError) as caught:
        parse_candles(loads_exact(fixture_bytes("bitfinex_candles_last.json")))

    assert caught.value.permanent is True
    assert "single flat candle" in caught.value.message and "`last`" in caught.value.message


def test_duplicate_candles_are_rejected():
    rows = loads_exact(candle_file("19-12-31_00-00-00").read_bytes())

    with pytest.raises(SourceError, match="two candles for MTS 1577750400000"):
        parse_candles([*rows, rows[0]])


def test_short_candle_row_is_rejected_with_its_position():
    rows = loads_exact(candle_file("19-12-31_00-00-00").read_bytes())
    rows[17] = rows[17][:5]

    with pytest.raises(SourceError) as caught:
        parse_candles(rows)

    assert caught.value.message == "candles: candle 17: expected 6 fields, got 5"
    assert caught.value.permanent is True


def test_candle_error_bodies_are_source_errors():
    with pytest.raises(SourceError) as caught:
        parse_candles(loads_exact(RATELIMIT))

    assert caught.value.rate_limited is True


# --- fetch_candles ------------------------------------------------------------------------------


def test_fetch_candles_pages_through_real_files_with_documented_params(mocked, clock):
    files = ["19-12-30_14-00-00", "19-12-30_16-00-00", "19-12-30_18-00-00"]  # 120, 120, 114 candles
    for name in files:
        mocked.get(BTCUSD_CANDLES_URL, body=candle_file(name).read_bytes())
    source = make_source(clock, candle_limit=120)

    candles = source.fetch_candles(pair="BTCUSD", start=utc(2019, 12, 30, 14), end=utc(2019, 12, 30, 20))

    assert [query(call) for call in mocked.calls] == [
        {"start": str(start), "end": "1577735999999", "limit": "120", "sort": "1"}
        for start in (1577714400000, 1577721600000, 1577728800000)
    ]
    assert len(candles) == 354
    assert clock.sleeps == [2.0, 2.0]


def serve_recorded_candles(mocked: responses.RequestsMock, rows: list[list]) -> None:
    """Answer candle requests like Bitfinex would, from recorded rows: start/end inclusive, limit, sort."""

    def callback(request):
        params = {key: int(values[0]) for key, values in parse_qs(urlsplit(request.url).query).items()}
        selected = [row for row in rows if params["start"] <= row[0] <= params["end"]]
        selected.sort(key=lambda row: row[0], reverse=params.get("sort") != 1)
        body = (
            "["
            + ",".join("[" + ",".join(str(v) for v in row) + "]" for row in selected[: params["limit"]])
            + "]"
        )
        return 200, {"Content-Type": "application/json"}, body

    mocked.add_callback(responses.GET, BTCUSD_CANDLES_URL, callback=callback)


def test_fetch_candles_with_default_limit_pages_a_full_day_and_keeps_gaps(mocked, clock):
    rows = real_rows("19-12-31")
    serve_recorded_candles(mocked, rows)
    source = make_source(clock)

    candles = source.fetch_candles(pair="BTCUSD", start=utc(2019, 12, 31), end=utc(2020, 1, 1))

    assert len(candles) == 1365
    assert [to_ms(c.minute) for c in candles] == [row[0] for row in rows]
    assert [c.close for c in candles] == [row[2] for row in rows]
    assert [query(call) for call in mocked.calls] == [
        {"start": "1577750400000", "end": "1577836799999", "limit": "1000", "sort": "1"},
        {"start": str(rows[999][0] + 60_000), "end": "1577836799999", "limit": "1000", "sort": "1"},
    ]


def test_fetch_candles_excludes_the_end_minute(mocked, clock):
    serve_recorded_candles(mocked, real_rows("19-12-31"))

    candles = make_source(clock).fetch_candles(
        pair="BTCUSD", start=utc(2019, 12, 31, 0, 0), end=utc(2019, 12, 31, 0, 5)
    )

    assert [c.minute for c in candles] == [utc(2019, 12, 31, 0, m) for m in range(5)]


def test_fetch_candles_sorts_a_newest_first_page(mocked, clock):
    mocked.get(BTCUSD_CANDLES_URL, body=fixture_bytes("bitfinex_candles_hist_newest_first.json"))

    candles = make_source(clock).fetch_candles(
        pair="BTCUSD", start=utc(2018, 2, 10, 12, 15), end=utc(2018, 2, 10, 14, 15)
    )

    assert len(candles) == 120
    assert candles[0].minute == utc(2018, 2, 10, 12, 15)
    assert candles[-1].minute == utc(2018, 2, 10, 14, 14)


def test_fetch_candles_asks_for_end_minus_one_ms_because_bitfinex_end_is_inclusive(mocked, clock):
    # arthurk's fixture for start=1514764800000&end=1514764920000: both ends inclusive, 3 candles.
    mocked.get(BTCUSD_CANDLES_URL, body=fixture_bytes("bitfinex_candles_hist_start_end.json"))

    candles = make_source(clock).fetch_candles(
        pair="BTCUSD", start=utc(2018, 1, 1), end=utc(2018, 1, 1, 0, 3)
    )

    assert query(mocked.calls[0])["end"] == "1514764979999"
    assert [c.minute for c in candles] == [utc(2018, 1, 1, 0, m) for m in range(3)]
    assert candles[0].close == Decimal("13753")


def test_fetch_candles_of_a_day_without_trades_is_empty(mocked, clock):
    mocked.get(BTCUSD_CANDLES_URL, body=candle_file("14-11-22_00-00-00").read_bytes())

    candles = make_source(clock).fetch_candles(pair="BTCUSD", start=utc(2014, 11, 22), end=utc(2014, 11, 23))

    assert candles == []
    assert len(mocked.calls) == 1


def test_fetch_candles_uses_the_colon_symbol_in_the_path(mocked, clock):
    url = BASE + "/v2/candles/trade:1m:tTESTBTC:TESTUSD/hist"
    mocked.get(url, body=candle_file("14-11-22_00-00-00").read_bytes())

    make_source(clock).fetch_candles(pair="TESTBTC:TESTUSD", start=utc(2021, 4, 17), end=utc(2021, 4, 18))

    assert urlsplit(mocked.calls[0].request.url).path == "/v2/candles/trade:1m:tTESTBTC:TESTUSD/hist"


def test_fetch_candles_retries_the_same_page_after_a_rate_limit(mocked, clock):
    mocked.get(BTCUSD_CANDLES_URL, status=429, body=RATELIMIT)
    mocked.get(BTCUSD_CANDLES_URL, body=candle_file("19-12-31_00-00-00").read_bytes())
    source = make_source(clock)

    candles = source.fetch_candles(pair="BTCUSD", start=utc(2019, 12, 31), end=utc(2019, 12, 31, 2))

    assert len(candles) == 117
    assert clock.sleeps == [60.0]
    assert query(mocked.calls[0]) == query(mocked.calls[1])
    assert source.backoff_until is None


def test_fetch_candles_gives_up_after_a_bounded_number_of_rate_limits(mocked, clock):
    mocked.get(BTCUSD_CANDLES_URL, status=429, body=RATELIMIT)
    source = make_source(clock, rate_limit_retries=2)

    with pytest.raises(SourceError) as caught:
        source.fetch_candles(pair="BTCUSD", start=utc(2019, 12, 31), end=utc(2019, 12, 31, 2))

    assert caught.value.rate_limited is True
    assert len(mocked.calls) == 3
    assert clock.sleeps == [60.0, 120.0]
    assert source.backoff_until == clock.now + 240.0


def test_consecutive_fetches_keep_requests_apart(mocked, clock):
    mocked.get(BTCUSD_CANDLES_URL, body=candle_file("14-11-22_00-00-00").read_bytes())
    source = make_source(clock, candle_min_interval_s=2.0)

    source.fetch_candles(pair="BTCUSD", start=utc(2014, 11, 22), end=utc(2014, 11, 23))
    clock.now += 0.5
    source.fetch_candles(pair="BTCUSD", start=utc(2014, 11, 22), end=utc(2014, 11, 23))

    assert clock.sleeps == [1.5]


def test_fetch_candles_with_an_empty_range_makes_no_request(mocked, clock):
    assert make_source(clock).fetch_candles(pair="BTCUSD", start=utc(2020, 1, 1), end=utc(2020, 1, 1)) == []
    assert len(mocked.calls) == 0


def test_fetch_candles_rejects_naive_datetimes(clock):
    with pytest.raises(ValueError):
        make_source(clock).fetch_candles(pair="BTCUSD", start=datetime(2020, 1, 1), end=datetime(2020, 1, 2))


def test_fetch_candles_error_page_names_the_request(mocked, clock):
    mocked.get(BTCUSD_CANDLES_URL, body=fixture_bytes("bitfinex_candles_last.json"))

    with pytest.raises(SourceError) as caught:
        make_source(clock).fetch_candles(pair="BTCUSD", start=utc(2019, 12, 31), end=utc(2019, 12, 31, 2))

    assert caught.value.message.startswith("GET /v2/candles/trade:1m:tBTCUSD/hist start=1577750400000: ")


# --- fakes --------------------------------------------------------------------------------------


def test_fake_ticker_source_returns_batches_and_raises_queued_errors():
    batch = TickerBatch(rows=[TickerRow(pair="BTCUSD", last_price=Decimal("101550"))])
    source = FakeTickerSource([batch, SourceError("down")])

    first = source.fetch_tickers()
    with pytest.raises(SourceError):
        source.fetch_tickers()

    assert first is batch and source.calls == 2


def test_fake_candle_source_honours_the_half_open_range():
    candles = parse_candles(loads_exact(candle_file("19-12-31_00-00-00").read_bytes()))
    source = FakeCandleSource({"BTCUSD": candles})

    got = source.fetch_candles(pair="BTCUSD", start=utc(2019, 12, 31, 0, 1), end=utc(2019, 12, 31, 0, 3))

    assert [c.minute for c in got] == [utc(2019, 12, 31, 0, 1), utc(2019, 12, 31, 0, 2)]
    assert source.calls[0].pair == "BTCUSD"
    assert source.fetch_candles(pair="ETHUSD", start=utc(2019, 12, 31), end=utc(2020, 1, 1)) == []
