"""Dashboard pages through Django's test client: overview, pair, compare, their fragments and states."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from plotly.offline import get_plotlyjs_version

from prices import selectors
from prices.dashboards.auditing import dashboard_static_settings
from prices.dashboards.staticfiles import PlotlyJsFinder, plotly_bundle, plotly_js_path
from prices.domain import EXCHANGE_BITFINEX, MINUTE, Tick, TickSource, minute_floor
from prices.services import history_store
from prices.templatetags import dashboards as dashboard_tags
from tests.realdata import ticker_rows

NOW = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
NEWEST = minute_floor(NOW) - MINUTE  # 11:59, the minute a poll at 12:00:30 describes


def ticks(
    pair: str, first: datetime, count: int, *, start: str, step: str, volume: str | None = None, skip=()
) -> list[Tick]:
    """`count` minute ticks from `first`, prices start + i × step (zig-zag), minutes in `skip` left out."""
    out = []
    for i in range(count):
        if i in skip:
            continue
        price = Decimal(start) + Decimal(step) * (i % 7) - Decimal(step) * (i % 3)
        out.append(
            Tick(
                exchange=EXCHANGE_BITFINEX,
                pair=pair,
                minute=first + i * MINUTE,
                last_price=price,
                source=TickSource.CANDLE if volume else TickSource.TICKER,
                volume=Decimal(volume) if volume else None,
            )
        )
    return out


def store_market(repo) -> None:
    """Three hours of four pairs up to 11:59 UTC, one quoted in BTC, and LTCUSD stopped at 10:59."""
    first = NEWEST - 179 * MINUTE
    history_store(
        ticks=[
            *ticks("BTCUSD", first, 180, start="60000", step="25", volume="0.5", skip={100, 101, 102}),
            *ticks("ETHUSD", first, 180, start="3000", step="9"),
            *ticks("ETHBTC", first, 180, start="0.05", step="0.0001"),
            *ticks("LTCUSD", first, 120, start="80", step="0.1"),
        ],
        repo=repo,
    )


@pytest.fixture
def market(memory_configured_repo):
    with time_machine.travel(NOW, tick=False):
        store_market(memory_configured_repo)
        cache.clear()
        yield memory_configured_repo


@pytest.fixture
def client() -> Client:
    return Client()


def embedded_figure(html: str, chart_id: str) -> dict:
    """The Plotly figure a page embeds for its script to draw (`json_script`)."""
    text = re.search(rf'<script id="{chart_id}-figure" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(text.group(1))


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-pair="([^"]+)"', html)


def hidden_rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-pair="([^"]+)"[^>]* hidden>', html)


# --- overview ---------------------------------------------------------------------------


def test_overview_lists_every_pair_in_the_api_ranking_order(market, client):
    expected = selectors.pairs_rank(
        window_minutes=1440, end=selectors.window_end_default(), metric="relative_std"
    )

    response = client.get("/")

    assert response.status_code == 200
    assert rows_of(response.content.decode()) == [entry.pair.name for entry in expected]
    assert len(expected) == 4


def test_overview_row_shows_price_change_relative_std_coverage_and_sparkline(market, client):
    stats = selectors.pair_stats(pair="ETHUSD", window_minutes=1440, end=selectors.window_end_default())

    html = client.get("/").content.decode()

    row = re.search(r'<tr data-pair="ETHUSD".*?</tr>', html, re.S).group(0)
    assert 'href="/pairs/ETHUSD/"' in row
    assert '3,018 <span class="unit">USD</span>' in row  # the last price, grouped
    assert f"{abs(stats.change_pct):.2f} %" in row
    assert f"{stats.coverage * 100:.0f} %" in row  # 180 of 1,440 minutes
    assert re.search(
        r'<svg class="spark spark--\w+"[^>]*role="img"[^>]*aria-label="ETHUSD over 24 hours: from', row
    )
    assert re.search(r'<path d="M[\d.]+,[\d.]+ L', row)


def test_overview_flags_low_coverage_and_shows_when_a_stopped_pair_last_had_a_price(market, client):
    html = client.get("/").content.decode()

    row = re.search(r'<tr data-pair="LTCUSD".*?</tr>', html, re.S).group(0)
    assert "low coverage" in row
    assert 'as of <time datetime="2024-05-01T10:59:00Z">2024-05-01 10:59 UTC</time>' in row


def test_overview_says_when_data_last_arrived_and_does_not_warn_while_fresh(market, client):
    with time_machine.travel(NOW, tick=False):
        html = client.get("/").content.decode()

    assert re.search(
        r'Data last arrived: .*<time datetime="2024-05-01T11:59:00Z">2024-05-01 11:59 UTC</time>', html, re.S
    )
    assert 'data-stale="true"' not in html
    assert "(just now)" in html  # 30 s after minute 11:59 ended


def test_overview_warns_visibly_when_the_newest_tick_is_older_than_two_minutes(market, client):
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        html = client.get("/").content.decode()

    assert 'data-stale="true"' in html
    assert "No new prices for 3\xa0minutes." in html  # since 12:00, when minute 11:59 ended
    assert "(3\xa0minutes ago)" in html
    assert "make run" not in html  # operator hints are for staff only


def test_the_stale_banner_gives_staff_the_operator_hints(market, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        html = client.get("/").content.decode()

    assert 'data-operator-hint="true"' in html and "make run" in html


def test_overview_filters_by_quote_and_search_without_javascript(market, client):
    by_quote = client.get("/?quote=BTC").content.decode()
    by_name = client.get("/?q=eth").content.decode()

    assert sorted(set(rows_of(by_quote)) - set(hidden_rows_of(by_quote))) == ["ETHBTC"]
    assert sorted(set(rows_of(by_name)) - set(hidden_rows_of(by_name))) == ["ETHBTC", "ETHUSD"]
    assert '<option value="BTC" selected>BTC</option>' in by_quote
    assert "1 of 4 pairs shown" in by_quote


def test_overview_live_fragment_holds_freshness_and_table_only(market, client):
    response = client.get("/overview/live/?quote=USD")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="freshness"' in html
    assert rows_of(html) and hidden_rows_of(html) == ["ETHBTC"]


@pytest.mark.django_db
def test_overview_makes_no_database_query(market, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        client.get("/")
        client.get("/overview/live/")


def test_overview_without_data_explains_how_to_start_fetching_or_importing(memory_configured_repo, client):
    html = client.get("/").content.decode()

    assert "No prices yet" in html
    assert "make run" in html and "fetch_prices" in html and "import_prices" in html
    assert "<table" not in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("7240.04860029"), "7,240.04860029"),
        (Decimal("0.00007181"), "0.00007181"),
        (Decimal("-12.50"), "\u221212.5"),
        (Decimal("1E+3"), "1,000"),
        (None, "—"),
    ],
)
def test_prices_keep_their_stored_digits_with_thousands_separators(value, expected):
    assert dashboard_tags.price(value) == expected


def test_percentages_carry_a_sign_and_never_show_minus_zero():
    assert dashboard_tags.signed_percent(1.234) == "+1.23 %"
    assert dashboard_tags.signed_percent(-0.4) == "\u22120.40 %"
    assert dashboard_tags.signed_percent(-0.001) == "0.00 %"
    assert dashboard_tags.ratio_percent(0.004731) == "0.473 %"
    assert dashboard_tags.percent(0.948) == "94.8 %"


# --- DynamoDB calls (moto, in process) ----------------------------------------------------


def dynamodb_calls(repo) -> list[str]:
    calls: list[str] = []
    repo.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


@pytest.mark.parametrize("pairs", [2, 6])
def test_overview_reads_dynamodb_a_bounded_number_of_times_whatever_the_number_of_pairs(
    configured_repo, client, pairs
):
    first = datetime(2019, 12, 31, 21, 30, tzinfo=UTC)  # to 23:29: the window starts and ends mid-hour
    names = ["BTCUSD", "ETHUSD", "LTCUSD", "XRPUSD", "EOSUSD", "NEOUSD"][:pairs]
    history_store(
        ticks=[t for n in names for t in ticks(n, first, 120, start="100", step="1")], repo=configured_repo
    )
    cache.clear()
    calls = dynamodb_calls(configured_repo)

    client.get("/")
    first_view = list(calls)
    client.get("/overview/live/")
    # the refresh before the next store is served from the cache: one read of the data version
    assert calls[len(first_view) :] == ["GetItem"]
    cache.clear()
    seen = len(calls)
    client.get("/")
    second_view = calls[seen:]

    # The data version is one GetItem; the registry (rows, ranked names), the 23-hour block and
    # the newest ticks of pairs with less than a day of data (the exchange's 24 h figures) are
    # one BatchGetItem each; no live statistics were published (no poll), so the window is read
    # from the hour rollups and the edge minutes: one Query per shard and partition. Nothing
    # is written by a view: the second view reads exactly what the first did.
    writes = {"PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem"}
    assert not writes & set(first_view) and sorted(second_view) == sorted(first_view)
    assert set(first_view) <= {"BatchGetItem", "GetItem", "Query"}
    assert first_view.count("GetItem") == 1 and first_view.count("BatchGetItem") <= 5
    assert first_view.count("Query") <= 4 * configured_repo.shards


# --- pair page ---------------------------------------------------------------------------


def test_pair_page_embeds_the_chart_with_plotly_from_our_static_files(market, client):
    html = client.get("/pairs/BTCUSD/").content.decode()

    # plotly.js is not in the page: the page script loads it at the first touch of the chart.
    assert f'data-plotly-url="/static/{plotly_js_path()}"' in html
    assert '<script src="/static/' + plotly_js_path() not in html
    assert re.search(r'<script src="https?://', html) is None
    figure = embedded_figure(html, "price-chart")
    assert figure["data"][0]["connectgaps"] is False


def test_pair_page_draws_the_chart_as_an_svg_line_until_plotly_draws_it(market, client):
    html = client.get("/pairs/BTCUSD/?range=1h").content.decode()

    preview = re.search(r'<div class="chart-preview" id="chart-preview">(.*?)</div>', html, re.S).group(1)
    assert re.search(r'<path d="M[\d.]+,[\d.]+ L', preview)  # the line, drawn on the server
    assert 'role="img"' in preview and 'aria-label="BTCUSD from ' in preview
    assert "UTC" in preview


def test_pair_page_line_holds_every_tick_of_the_range_with_breaks_at_gaps(market, client):
    window_ticks = selectors.ticks_between(pair="BTCUSD", start=NEWEST - 359 * MINUTE, end=NEWEST + MINUTE)

    response = client.get("/pairs/BTCUSD/chart.json?range=6h&view=line")

    figure = response.json()["figure"]
    price = figure["data"][0]
    assert [y for y in price["y"] if y is not None] == [float(t.last_price) for t in window_ticks]
    assert price["y"].count(None) == 1  # minutes 100–102 are missing
    assert figure["layout"]["meta"]["method"] == "none"


def test_pair_page_range_changes_the_points_sent(market, client):
    hour = client.get("/pairs/BTCUSD/chart.json?range=1h").json()["figure"]["data"][0]
    six = client.get("/pairs/BTCUSD/chart.json?range=6h").json()["figure"]["data"][0]

    assert len(hour["x"]) == 60
    assert len([x for x in six["x"] if x]) == 177


def test_pair_page_has_range_and_chart_type_links_that_work_without_javascript(market, client):
    html = client.get("/pairs/BTCUSD/?range=6h&view=15m").content.decode()

    for key in ["1h", "6h", "24h", "7d", "30d"]:
        assert f'href="?range={key}&amp;view=15m" data-option="range" data-value="{key}"' in html
    assert 'data-value="6h" aria-current="true"' in html
    assert 'data-value="15m" aria-current="true"' in html
    assert embedded_figure(html, "price-chart")["data"][0]["type"] == "candlestick"


def test_pair_page_shows_the_statistics_of_the_window(market, client):
    stats = selectors.pair_stats(pair="BTCUSD", window_minutes=1440, end=selectors.window_end_default())

    html = client.get("/pairs/BTCUSD/").content.decode()

    panel = re.search(r'<aside id="stats-panel".*?</aside>', html, re.S).group(0)
    assert f"<dd>{stats.count} of 1,440 min</dd>" in panel
    for label in ["Coverage", "Mean", "Std", "Relative std", "Min", "Max", "Change"]:
        assert label in panel


def test_candles_come_from_the_ohlc_selector_with_volume(market, client):
    window = selectors.window_end_default()
    candles = selectors.candles_between(pair="BTCUSD", start=window - 360 * MINUTE, end=window, minutes=15)

    figure = client.get("/pairs/BTCUSD/chart.json?range=6h&view=15m").json()["figure"]

    trace, volume = figure["data"]
    assert trace["type"] == "candlestick"
    assert trace["close"] == [float(c.close) for c in candles]
    assert volume["y"][:-1] == [float(c.volume) for c in candles] and volume["y"][-1] == 0


def test_stats_fragment_follows_the_visible_window(market, client):
    expected = selectors.pair_stats(pair="BTCUSD", window_minutes=30, end=NEWEST - 29 * MINUTE)

    html = client.get(
        "/pairs/BTCUSD/stats/",
        {"range": "6h", "start": "2024-05-01 10:59:20.5", "end": "2024-05-01 11:29:59"},
    ).content.decode()

    assert (
        '<time datetime="2024-05-01T11:00:00Z">' in html and '<time datetime="2024-05-01T11:30:00Z">' in html
    )
    assert f"<dd>{expected.count} of 30 min</dd>" in html


def test_stats_fragment_rejects_a_malformed_bound(market, client):
    response = client.get("/pairs/BTCUSD/stats/", {"start": "yesterday"})

    assert response.status_code == 400
    assert "start" in response.json()["error"]


@pytest.mark.parametrize("bound", ["9999-12-31T23:59:00Z", "0001-01-01T00:00:00Z"])
def test_stats_fragment_rejects_an_out_of_range_bound(market, client, bound):
    response = client.get("/pairs/BTCUSD/stats/", {"end": bound})

    assert response.status_code == 400
    assert response.json()["error"].startswith("end: ")


def test_chart_data_rejects_an_unknown_range(market, client):
    response = client.get("/pairs/BTCUSD/chart.json?range=2y")

    assert response.status_code == 400
    assert "range" in response.json()["error"]


def test_a_stopped_pair_shows_its_last_data_and_says_since_when(market, client):
    html = client.get("/pairs/LTCUSD/").content.decode()

    assert 'No new prices since <time datetime="2024-05-01T10:59:00Z">2024-05-01 10:59 UTC</time>' in html
    assert "Other pairs have prices up to 2024-05-01 12:00 UTC" in html
    # the window ends where LTCUSD's data ends: nothing to shade
    assert embedded_figure(html, "price-chart")["layout"]["meta"]["end"] == "2024-05-01T11:00:00Z"
    assert "No data since" not in html


def test_a_window_ending_after_a_pair_stopped_shades_the_rest(market, client):
    html = client.get("/pairs/LTCUSD/?end=2024-05-01T12:00").content.decode()

    assert "No data since 2024-05-01 10:59 UTC" in html  # on the chart itself
    assert 'value="2024-05-01 12:00"' in html


def test_a_pair_with_recent_data_does_not_say_it_stopped(market, client):
    html = client.get("/pairs/BTCUSD/").content.decode()

    assert "No data since" not in html and "No new prices" not in html


def test_end_moves_the_pair_window_back_in_time_and_links_keep_it(market, client):
    response = client.get("/pairs/BTCUSD/chart.json?range=1h&end=2024-05-01T11:00:00Z")
    html = client.get("/pairs/BTCUSD/?range=1h&end=2024-05-01T11:00:00Z").content.decode()

    meta = response.json()["figure"]["layout"]["meta"]
    assert (meta["start"], meta["end"]) == ("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z")
    assert 'href="?range=6h&amp;view=line&amp;end=2024-05-01T11%3A00%3A00Z"' in html
    assert "Back to the latest" in html


def test_a_malformed_end_is_a_400_page(market, client):
    response = client.get("/pairs/BTCUSD/?end=yesterday")

    assert response.status_code == 400


def test_the_date_control_is_a_utc_text_field_in_one_format_whatever_the_locale(market, client):
    html = client.get("/pairs/BTCUSD/?end=2024-05-01T11:00Z").content.decode()

    field = re.search(r'<input id="end-input"[^>]*>', html, re.S).group(0)
    assert 'type="text"' in field and 'value="2024-05-01 11:00"' in field  # not datetime-local
    assert 'placeholder="YYYY-MM-DD HH:MM"' in field
    assert "YYYY-MM-DD HH:MM, 24-hour UTC" in html


@pytest.mark.parametrize("path", ["/pairs/BTCUSD/", "/compare/?pairs=BTCUSD,ETHUSD"])
def test_auto_refresh_starts_ticked_on_the_latest_window_only(market, client, path):
    joiner = "&" if "?" in path else "?"
    latest = client.get(path).content.decode()
    past = client.get(f"{path}{joiner}end=2024-05-01T11:00Z").content.decode()

    def box(html: str) -> str:
        return re.search(r'<input type="checkbox" id="opt-refresh"[^>]*>', html).group(0)

    assert "checked" in box(latest)
    assert "checked" not in box(past)  # a window in the past has nothing new to refresh


@pytest.mark.parametrize("end", ["2024-05-01 11:00", "2024-05-01 11:00 UTC", "2024-05-01T11:00Z"])
def test_end_reads_what_the_date_control_sends(market, client, end):
    response = client.get("/pairs/BTCUSD/chart.json", {"range": "1h", "end": end})

    assert response.json()["figure"]["layout"]["meta"]["end"] == "2024-05-01T11:00:00Z"


def test_overview_end_ranks_the_window_ending_then_with_the_prices_of_then(market, client):
    end = NEWEST - 59 * MINUTE  # 11:00: LTCUSD's last minute was 10:59
    expected = selectors.pairs_rank(window_minutes=1440, end=end)
    btc_then = selectors.ticks_between(pair="BTCUSD", start=end - MINUTE, end=end)[-1].last_price

    html = client.get("/?end=2024-05-01T11:00Z").content.decode()

    assert rows_of(html) == [e.pair.name for e in expected]
    assert 'data-historic="true"' in html
    row = re.search(r'<tr data-pair="BTCUSD".*?</tr>', html, re.S).group(0)
    assert dashboard_tags.price(btc_then) in row


def test_unknown_pair_is_a_404_page_with_suggestions(market, client):
    response = client.get("/pairs/BTCUSX/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "No pair called “BTCUSX”" in html
    assert '<a href="/pairs/BTCUSD/">BTCUSD</a>' in html


def test_unknown_pair_chart_data_is_a_json_404(market, client):
    response = client.get("/pairs/NOPE/chart.json")

    assert response.status_code == 404
    assert "NOPE" in response.json()["error"]


def test_a_lower_case_pair_redirects_to_its_canonical_address(market, client):
    response = client.get("/pairs/btcusd/?range=6h")

    assert response.status_code == 302
    assert response["Location"] == "/pairs/BTCUSD/?range=6h"


def test_pair_page_before_any_data_explains_how_to_get_some(memory_configured_repo, client):
    response = client.get("/pairs/BTCUSD/")

    assert response.status_code == 404
    assert "No prices yet" in response.content.decode()


# --- compare -----------------------------------------------------------------------------


def test_compare_draws_one_trace_per_requested_pair_in_order(market, client):
    response = client.get("/compare/chart.json?pairs=ETHUSD,BTCUSD&range=6h")

    figure = response.json()["figure"]
    assert [t["name"] for t in figure["data"]] == ["ETHUSD", "BTCUSD"]
    assert figure["data"][0]["y"][0] == 0.0


def test_compare_defaults_to_the_most_volatile_pairs(market, client):
    ranking = selectors.pairs_rank(window_minutes=1440, end=selectors.window_end_default())

    html = client.get("/compare/").content.decode()

    names = [trace["name"] for trace in embedded_figure(html, "compare-chart")["data"]]
    assert names == [entry.pair.name for entry in ranking][:6]


def test_compare_page_lists_checkboxes_and_reports_unknown_pairs(market, client):
    html = client.get("/compare/?pairs=BTCUSD&pairs=ETHUSD,NOPE&range=7d").content.decode()

    assert '<input type="checkbox" name="pairs" value="BTCUSD" checked>' in html
    assert '<input type="checkbox" name="pairs" value="LTCUSD">' in html
    assert "Not tracked, left out: NOPE." in html
    assert 'data-value="7d" aria-current="true"' in html


def test_compare_without_data_shows_the_empty_state(memory_configured_repo, client):
    html = client.get("/compare/").content.decode()

    assert "No prices yet" in html


# --- shell, static files, errors ----------------------------------------------------------


def test_every_page_has_the_navigation(market, client):
    html = client.get("/").content.decode()

    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S).group(0)
    assert re.findall(r'href="([^"]+)"', nav) == [
        "/",
        "/compare/",
        "/api/docs/",
        "/alerts/",
        "/accounts/login/",
    ]
    assert '<a href="/" aria-current="page">Overview</a>' in nav


@pytest.mark.django_db
def test_the_header_links_staff_to_the_admin_and_everyone_to_their_alerts(market, client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)

    nav = re.search(r'<nav class="site-nav".*?</nav>', client.get("/compare/").content.decode(), re.S).group(
        0
    )

    assert '<a href="/alerts/">Alerts</a>' in nav
    assert '<a href="/admin/">Admin</a>' in nav
    assert 'action="/accounts/logout/"' in nav


def test_pages_are_503_when_the_price_store_is_down(settings, client):
    from moto import mock_aws

    from prices.repository import _repository

    with mock_aws():  # no tables: DynamoDB answers ResourceNotFoundException
        settings.DYNAMODB_ENDPOINT_URL = None
        settings.DYNAMODB_TABLE_PREFIX = "missing_"
        _repository.cache_clear()
        cache.clear()
        page = client.get("/")
        data = client.get("/pairs/BTCUSD/chart.json")
    _repository.cache_clear()

    assert page.status_code == 503 and "Prices are unavailable right now" in page.content.decode()
    assert data.status_code == 503 and data.json()["error"].startswith("The price store is unavailable")


def test_plotly_js_is_the_finance_bundle_of_the_plotly_js_version_plotly_py_writes_for():
    path = finders.find(plotly_js_path())

    assert path is not None and path.endswith("plotly.js-finance-dist-min/plotly-finance.min.js")
    assert plotly_js_path() == f"vendor/plotly/plotly-finance-{get_plotlyjs_version()}.min.js"
    assert Path(path).stat().st_size < 1_500_000  # the full bundle is 4.9 MB


def test_plotly_js_falls_back_to_plotly_py_bundle_with_a_warning_when_node_modules_lacks_it(tmp_path):
    plotly_bundle.cache_clear()
    try:
        with override_settings(BASE_DIR=tmp_path):
            finder = PlotlyJsFinder()
            path = finder.find(plotly_js_path())
            messages = finder.check()
    finally:
        plotly_bundle.cache_clear()

    assert path is not None and path.endswith("plotly/package_data/plotly.min.js")
    assert [m.id for m in messages] == ["dashboards.W001"]


def _collect(static_root: Path) -> None:
    with override_settings(**dashboard_static_settings(str(static_root))):
        call_command("collectstatic", interactive=False, verbosity=0)


def test_collectstatic_writes_hashed_compressed_copies_of_plotly_js(tmp_path):
    _collect(tmp_path)

    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed = tmp_path / manifest[plotly_js_path()]
    assert hashed.name != Path(plotly_js_path()).name
    assert hashed.stat().st_size == Path(finders.find(plotly_js_path())).stat().st_size
    assert Path(f"{hashed}.gz").stat().st_size < hashed.stat().st_size / 2.5
    assert (tmp_path / manifest["dashboards/dashboards.js"]).exists()


def test_whitenoise_serves_hashed_static_files_compressed_and_cached_for_a_year(tmp_path):
    _collect(tmp_path)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    with override_settings(
        **dashboard_static_settings(str(tmp_path)), WHITENOISE_AUTOREFRESH=False, WHITENOISE_USE_FINDERS=False
    ):
        response = Client().get(f"/static/{manifest[plotly_js_path()]}", HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert response["Cache-Control"] == "max-age=315360000, public, immutable"


def test_pages_are_sent_compressed_to_browsers_that_accept_it(market, client):
    response = client.get("/pairs/BTCUSD/", HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"


def test_whitenoise_serves_plotly_js_under_runserver():
    with override_settings(DEBUG=True, WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        response = Client().get(f"/static/{plotly_js_path()}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"plotly.js" in b"".join(response.streaming_content)[:2000]


def test_first_day_overview_shows_the_exchanges_own_24h_figures_and_why_the_ranking_is_provisional(
    memory_configured_repo, client
):
    rows = ticker_rows()
    with time_machine.travel(NOW, tick=False):
        history_store(
            ticks=[
                row.to_tick(exchange=EXCHANGE_BITFINEX, minute=NEWEST, observed_at=NOW)
                for row in rows.values()
            ],
            repo=memory_configured_repo,
        )
        cache.clear()
        html = client.get("/").content.decode()

    btc = rows["BTCUSD"]
    expected_order = sorted(rows.values(), key=lambda r: -abs(r.daily_change_relative))
    assert rows_of(html) == [r.pair for r in expected_order]
    assert "Provisional ranking." in html and "the exchange's own 24 h change" in html
    row = re.search(r'<tr data-pair="BTCUSD".*?</tr>', html, re.S).group(0)
    assert dashboard_tags.signed_percent(float(btc.daily_change_relative) * 100) in row
    assert "Bitfinex 24 h" in row
    assert dashboard_tags.price(btc.volume_24h) in row and dashboard_tags.price(btc.high_24h) in row


def test_compare_names_the_checked_pairs_without_data_in_the_window(market, client):
    html = client.get("/compare/?pairs=BTCUSD,LTCUSD&range=1h").content.decode()

    assert "No prices in this window for LTCUSD." in html


def test_compare_end_moves_the_window_back(market, client):
    response = client.get("/compare/chart.json?pairs=LTCUSD&range=1h&end=2024-05-01T11:00:00Z")

    assert response.json()["empty"] == []
    assert response.json()["figure"]["layout"]["meta"]["end"] == "2024-05-01T11:00:00Z"


@pytest.mark.parametrize("url", ["/", "/pairs/BTCUSD/", "/compare/?pairs=BTCUSD"])
@pytest.mark.parametrize("end", ["9999-12-31T23:59:00Z", "0001-01-01T00:00:00Z"])
def test_a_page_asked_for_an_out_of_range_end_is_a_friendly_400_page(market, client, url, end):
    response = client.get(url, {"end": end})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "<strong>end</strong>" in html and "out of range" in html


# --- watchlist ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_signed_in_user_stars_and_unstars_tracked_pairs(market, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("trader"))

    starred = client.post("/watchlist/", {"pair": "ethusd", "starred": "true"})
    client.post("/watchlist/", {"pair": "BTCUSD", "starred": "true"})
    unstarred = client.post("/watchlist/", {"pair": "BTCUSD", "starred": "false"})
    page = client.get("/").content.decode()

    assert starred.json() == {"pairs": ["ETHUSD"]}
    assert unstarred.json() == {"pairs": ["ETHUSD"]}
    assert 'data-watchlist="[&quot;ETHUSD&quot;]"' in page


@pytest.mark.django_db
def test_the_watchlist_refuses_untracked_pairs_and_anonymous_visitors(market, client, django_user_model):
    anonymous = client.post("/watchlist/", {"pair": "BTCUSD", "starred": "true"})
    client.force_login(django_user_model.objects.create_user("trader"))
    untracked = client.post("/watchlist/", {"pair": "NOPEUSD", "starred": "true"})

    assert anonymous.status_code == 403
    assert untracked.status_code == 400 and "NOPEUSD" in untracked.json()["error"]


def test_changes_are_rounded_to_the_pairs_precision():
    assert dashboard_tags.signed_price(Decimal("-31.74860029"), Decimal("7208.3")) == "\u221231.7"
    assert dashboard_tags.signed_price(Decimal("0.00000007"), Decimal("0.00002259")) == "+0.00000007"


def test_favicon_ico_redirects_to_the_icon_the_pages_link(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("dashboards/favicon.svg")
    assert finders.find("dashboards/favicon.svg")
