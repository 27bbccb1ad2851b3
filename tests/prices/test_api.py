"""The price API on the real 2019-12-30/31 history: exact prices, statistics, ranking, errors."""

from __future__ import annotations

import csv
import io
import math
import statistics
from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from prices.domain import decimal_str, from_ms, to_ms
from tests.realdata import PAIRS, closes

DAY_START = "2019-12-31T00:00:00Z"
DAY_END = "2020-01-01T00:00:00Z"


@pytest.fixture
def api(real_history_repo, db) -> APIClient:
    """An API client over the real history; the database holds the pairs' statuses."""
    cache.clear()
    return APIClient()


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


def test_history_returns_exactly_the_recorded_closes_of_a_day_in_order(api):
    response = api.get(f"/api/v1/pairs/BTCUSD/history/?start={DAY_START}&end={DAY_END}&limit=10000")

    assert response.status_code == 200
    body = response.json()
    expected = closes("BTCUSD", "19-12-31")
    assert body["count"] == len(expected) == 1365
    assert [r["last_price"] for r in body["results"]] == [decimal_str(c) for _, c in expected]
    assert body["results"][0] == {
        "minute": "2019-12-31T00:00:00Z",
        "last_price": "7240.04860029",
        "source": "candle",
        "bid": None,
        "ask": None,
        "volume": "17.85069232",
        "volume_24h": None,
        "suspect": False,
    }
    assert body["next"] is None


def test_history_pages_with_a_cursor_and_pages_join_to_the_whole(api):
    url = f"/api/v1/pairs/BTCUSD/history/?start={DAY_START}&end={DAY_END}&limit=500"
    minutes = []
    while url:
        body = api.get(url).json()
        minutes += [r["minute"] for r in body["results"]]
        url = body["next"]

    assert len(minutes) == 1365
    assert minutes == sorted(minutes) and len(set(minutes)) == 1365


def test_history_aggregates_hourly_candles_from_minute_ticks(api):
    response = api.get(f"/api/v1/pairs/ETHUSD/history/?start={DAY_START}&end={DAY_END}&interval=1h")

    rows = response.json()["results"]
    assert len(rows) == 24
    first_hour = [c for ms, c in closes("ETHUSD", "19-12-31") if ms < 1577750400000 + 3_600_000]
    assert rows[0]["start"] == DAY_START
    assert rows[0]["close"] == decimal_str(first_hour[-1])
    assert rows[0]["count"] == len(first_hour)


def test_history_exports_csv(api):
    response = api.get(f"/api/v1/pairs/BTCUSD/history/?start={DAY_START}&end=2019-12-31T01:00:00Z&format=csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv_rows(response)
    expected = [c for ms, c in closes("BTCUSD", "19-12-31") if ms < 1577754000000]
    assert [r["last_price"] for r in rows] == [decimal_str(c) for c in expected]
    assert {r["suspect"] for r in rows} == {"false"}  # as in the JSON rows


def _csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_csv_export_streams_the_whole_requested_range_not_one_page(api):
    response = api.get(
        "/api/v1/pairs/BTCUSD/history/?start=2019-12-30T00:00:00Z&end=2020-01-01T00:00:00Z&format=csv"
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="BTCUSD_1m.csv"'
    rows = _csv_rows(response)
    expected = closes("BTCUSD")
    assert len(expected) > 1440
    assert [r["last_price"] for r in rows] == [decimal_str(c) for _, c in expected]
    assert rows[0]["minute"] == from_ms(expected[0][0]).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_csv_export_of_candles_holds_the_same_rows_as_the_json_pages(api):
    query = f"start={DAY_START}&end={DAY_END}&interval=15m"
    json_rows, url = [], f"/api/v1/pairs/ETHUSD/history/?{query}&limit=10"
    while url:
        body = api.get(url).json()
        json_rows += body["results"]
        url = body["next"]

    rows = _csv_rows(api.get(f"/api/v1/pairs/ETHUSD/history/?{query}", HTTP_ACCEPT="text/csv"))

    assert len(rows) == len(json_rows) == 96
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in json_rows]


def test_a_csv_export_of_an_empty_range_is_its_header(api):
    response = api.get("/api/v1/pairs/BTCUSD/history/?start=2018-01-01&end=2018-01-02&format=csv")

    assert b"".join(response.streaming_content).decode() == (
        "minute,last_price,source,bid,ask,volume,volume_24h,suspect\n"
    )


def test_a_csv_export_over_the_documented_maximum_is_refused_not_cut(api):
    from prices.api.views import HISTORY_CSV_MAX_DAYS

    response = api.get("/api/v1/pairs/BTCUSD/history/?start=2019-01-01&end=2019-12-31&format=csv")

    assert HISTORY_CSV_MAX_DAYS < 364
    assert response.status_code == 400
    error = _error(response)
    assert f"at most {HISTORY_CSV_MAX_DAYS} days" in error["message"]


def test_a_csv_export_of_an_unknown_pair_is_a_json_404(api):
    response = api.get("/api/v1/pairs/DOGEUSD/history/?format=csv")

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_pairs_lists_every_imported_pair_with_its_last_close(api):
    response = api.get("/api/v1/pairs/")

    body = response.json()
    assert body["count"] == 7
    by_pair = {r["pair"]: r for r in body["results"]}
    assert sorted(by_pair) == PAIRS
    last_ms, last_close = closes("BTCUSD")[-1]
    assert by_pair["BTCUSD"]["last_price"] == decimal_str(last_close)
    assert by_pair["BTCUSD"]["last_minute"] == from_ms(last_ms).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_pair["BTCUSD"]["base"] == "BTC" and by_pair["BTCUSD"]["quote"] == "USD"


def test_pairs_filter_search_and_ordering(api):
    body = api.get("/api/v1/pairs/?search=eth&ordering=-last_price").json()

    assert [r["pair"] for r in body["results"]] == ["ETHUSD"]
    ordered = api.get("/api/v1/pairs/?ordering=-last_price").json()["results"]
    prices = [Decimal(r["last_price"]) for r in ordered]
    assert prices == sorted(prices, reverse=True)


def _independent_stats(pair: str, start_ms: int, end_ms: int) -> dict:
    values = [c for ms, c in closes(pair) if start_ms <= ms < end_ms]
    floats = [float(v) for v in values]
    mean = statistics.fmean(floats)
    consecutive = [(a, b) for a, b in zip(closes(pair), closes(pair)[1:], strict=False)]
    returns = [
        math.log(float(b[1] / a[1]))
        for a, b in consecutive
        if start_ms <= a[0] and b[0] < end_ms and b[0] - a[0] == 60_000
    ]
    return {
        "count": len(values),
        "mean": mean,
        "std": float(statistics.stdev(values)),
        "std_population": float(statistics.pstdev(values)),
        "relative_std": float(statistics.stdev(values)) / mean,
        "volatility": statistics.stdev(returns),
        "first": values[0],
        "last": values[-1],
        "min": min(values),
        "max": max(values),
    }


@pytest.mark.parametrize(
    ("pair", "window", "end", "minutes"),
    [
        ("BTCUSD", "24h", DAY_END, 1440),
        ("ETHUSD", "24h", "2019-12-31T13:27:00Z", 1440),  # cuts through two hours
        ("NEOUSD", "6h", "2019-12-31T08:45:00%2B01:00", 360),  # an offset, encoded
        ("IOTUSD", "1h", "2019-12-31T22:59:00Z", 60),
    ],
)
def test_stats_equal_values_computed_from_the_raw_candle_files(api, pair, window, end, minutes):
    response = api.get(f"/api/v1/pairs/{pair}/stats/?window={window}&end={end}")

    assert response.status_code == 200
    body = response.json()
    end_ms = to_ms(__import__("datetime").datetime.fromisoformat(body["end"].replace("Z", "+00:00")))
    expected = _independent_stats(pair, end_ms - minutes * 60_000, end_ms)
    stats = body["stats"]
    assert stats["count"] == expected["count"]
    assert stats["expected"] == minutes
    assert stats["coverage"] == pytest.approx(expected["count"] / minutes)
    for key in ("mean", "std", "std_population", "relative_std", "volatility"):
        assert stats[key] == pytest.approx(expected[key], rel=1e-9), key
    for key in ("first", "last", "min", "max"):
        assert Decimal(stats[key]) == expected[key], key


def test_stats_of_an_empty_window_are_null_not_an_error(api):
    body = api.get("/api/v1/pairs/BTCUSD/stats/?window=1h&end=2019-01-01T00:00:00Z").json()

    assert body["stats"]["count"] == 0
    assert body["stats"]["std"] is None and body["stats"]["mean"] is None


def test_rank_orders_pairs_by_relative_std_as_computed_from_raw_files(api):
    body = api.get(f"/api/v1/rank/?window=24h&end={DAY_END}").json()

    expected = sorted(
        PAIRS, key=lambda p: -_independent_stats(p, 1577750400000, 1577836800000)["relative_std"]
    )
    flagged = [r["pair"] for r in body["results"] if r["low_coverage"]]
    unflagged = [p for p in expected if p not in flagged]
    assert [r["pair"] for r in body["results"]] == unflagged + [p for p in expected if p in flagged]
    assert [r["rank"] for r in body["results"]] == list(range(1, 8))
    for row in body["results"]:
        independent = _independent_stats(row["pair"], 1577750400000, 1577836800000)
        assert row["value"] == pytest.approx(independent["relative_std"], rel=1e-9)
        assert row["low_coverage"] == (independent["count"] / 1440 < 0.5)


def test_rank_by_absolute_std_of_selected_pairs(api):
    body = api.get(f"/api/v1/rank/?metric=std&pairs=ETHUSD,BTCUSD&end={DAY_END}").json()

    assert [r["pair"] for r in body["results"]] == ["BTCUSD", "ETHUSD"]
    assert body["results"][0]["value"] == pytest.approx(34.059749, rel=1e-6)  # shared/data README reference


def test_pair_detail_returns_the_newest_tick_with_candle_fields(api):
    body = api.get("/api/v1/pairs/BTCUSD/").json()

    last_ms, last_close = closes("BTCUSD")[-1]
    assert body["last_price"] == decimal_str(last_close)
    assert body["minute"] == from_ms(last_ms).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["open"] is not None and body["volume"] is not None


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/pairs/BTCUSD/history/?start=2020-01-01T00:00:00Z&end=2019-12-31T00:00:00Z", "start"),
        ("/api/v1/pairs/BTCUSD/history/?start=yesterday", "start"),
        ("/api/v1/pairs/BTCUSD/history/?end=2019-12-31T00:00:00+01:00", "end"),  # '+' unencoded → space
        ("/api/v1/pairs/BTCUSD/history/?end=9999-12-31T23:59:00Z", "end"),  # out of range
        ("/api/v1/pairs/BTCUSD/history/?start=0001-01-01T00:00:00Z", "start"),
        ("/api/v1/pairs/BTCUSD/stats/?window=7d&end=9999-12-31T23:59:00Z", "end"),
        ("/api/v1/pairs/BTCUSD/stats/?end=0001-01-01T00:00:00Z", "end"),
        ("/api/v1/pairs/BTCUSD/stats/?end=0001-01-01T00:00:00%2B01:00", "end"),
        ("/api/v1/rank/?window=7d&end=9999-12-31T23:59:00Z", "end"),
        ("/api/v1/rank/?end=0001-01-01T00:00:00Z", "end"),
        ("/api/v1/pairs/BTCUSD/history/?interval=2m", "interval"),
        ("/api/v1/pairs/BTCUSD/history/?limit=0", "limit"),
        ("/api/v1/pairs/BTCUSD/history/?cursor=abc", "cursor"),
        ("/api/v1/pairs/BTCUSD/stats/?window=2d", "window"),
        ("/api/v1/rank/?metric=variance", "metric"),
        ("/api/v1/rank/?pairs=BTCUSD,DOGEUSD", "pairs"),
        ("/api/v1/pairs/?ordering=colour", "ordering"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api, url, parameter):
    response = api.get(url)

    assert response.status_code == 400
    error = _error(response)
    assert error["status"] == 400
    assert parameter in error["fields"]
    assert parameter in error["message"]


@pytest.mark.parametrize("end", ["2019-12-31 12:00", "2019-12-31 12:00 UTC", "2019-12-31 12:00Z"])
def test_the_dashboards_date_time_form_is_a_utc_time_for_the_api(api, end):
    response = api.get("/api/v1/pairs/BTCUSD/stats/", {"window": "1h", "end": end})

    assert response.status_code == 200
    assert response.json()["end"] == "2019-12-31T12:00:00Z"


def test_a_time_in_another_named_zone_is_the_api_s_400_naming_the_parameter(api):
    response = api.get("/api/v1/pairs/BTCUSD/history/", {"start": "2019-12-31 12:00 EST"})

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_parameter"
    assert list(error["fields"]) == ["start"]
    assert "a time zone other than UTC" in error["fields"]["start"][0]


@pytest.mark.parametrize(
    "url", ["/api/v1/pairs/DOGEUSD/history/", "/api/v1/pairs/nonsense/stats/", "/api/v1/pairs/XYZ:USD/"]
)
def test_unknown_pair_is_404_with_a_json_body(api, url):
    response = api.get(url)

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_csv_errors_are_still_json(api):
    response = api.get("/api/v1/pairs/BTCUSD/history/?format=csv&interval=7m")

    assert response.status_code == 400
    assert _error(response)["fields"].keys() == {"interval"}


def test_the_openapi_schema_lists_every_price_endpoint(api):
    response = api.get("/api/schema/?format=json")

    paths = response.json()["paths"]
    for path in (
        "/api/v1/pairs/",
        "/api/v1/pairs/{pair}/",
        "/api/v1/pairs/{pair}/history/",
        "/api/v1/pairs/{pair}/stats/",
        "/api/v1/rank/",
    ):
        assert "get" in paths[path], path


def test_swagger_ui_is_served_from_local_static_files(api):
    import re

    response = api.get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in s for s in sources)
    assert all(not s.startswith(("http://", "https://", "//")) for s in sources), sources


def test_an_unknown_api_path_is_a_json_404(api, settings):
    settings.DEBUG = False

    response = api.get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert _error(response) == {
        "status": 404,
        "code": "not_found",
        "message": "no API endpoint at /api/v1/nothing-here/",
        "fields": {},
    }


def test_a_datetime_without_an_offset_is_read_as_utc(api):
    naive = api.get("/api/v1/pairs/BTCUSD/stats/?window=1h&end=2019-12-31T12:00:00").json()
    utc = api.get("/api/v1/pairs/BTCUSD/stats/?window=1h&end=2019-12-31T12:00:00Z").json()

    assert naive["end"] == "2019-12-31T12:00:00Z"
    assert naive == utc
    assert naive["stats"]["count"] > 0


def test_the_openapi_schema_says_that_datetimes_without_an_offset_are_utc(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]

    assert "a time without an offset is read as UTC" in schema["info"]["description"]
    assert "other zone names are refused" in schema["info"]["description"]

    for path, name in (
        ("/api/v1/pairs/{pair}/history/", "start"),
        ("/api/v1/pairs/{pair}/history/", "end"),
        ("/api/v1/pairs/{pair}/stats/", "end"),
        ("/api/v1/rank/", "end"),
    ):
        (parameter,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == name]
        assert "without an offset the time is read as UTC" in parameter["description"], (path, name)
        assert "2019-12-31 12:00, optionally followed by UTC or Z" in parameter["description"], (path, name)
