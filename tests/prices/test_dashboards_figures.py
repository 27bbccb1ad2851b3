"""Dashboard figures: traces, gaps, volume, downsampling notes, stopped pairs and sparklines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prices.dashboards.figures import (
    SIGNED_PERCENT,
    compare_figure,
    pair_candles_figure,
    pair_line_figure,
    percent_change,
    price_places,
    sparkline,
)
from prices.domain import EXCHANGE_BITFINEX, Pair, Tick, TickSource
from prices.ohlc import ohlc_aggregate

START = datetime(2019, 12, 31, tzinfo=UTC)
BTCUSD = Pair.parse("BTCUSD")


def tick(minute: int, price: str, *, volume: str | None = None) -> Tick:
    return Tick(
        exchange=EXCHANGE_BITFINEX,
        pair="BTCUSD",
        minute=START + timedelta(minutes=minute),
        last_price=Decimal(price),
        source=TickSource.CANDLE if volume else TickSource.TICKER,
        volume=Decimal(volume) if volume else None,
    )


def annotation_texts(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def test_line_figure_draws_one_price_trace_broken_at_missing_minutes():
    ticks = [tick(0, "7200"), tick(1, "7201.5"), tick(4, "7199"), tick(5, "7198")]

    fig = pair_line_figure(pair=BTCUSD, ticks=ticks, start=START, end=START + timedelta(hours=1))

    (trace,) = fig.data
    assert trace.type == "scatter" and trace.connectgaps is False and trace.mode == "lines"
    assert trace.x == (
        "2019-12-31T00:00:00Z",
        "2019-12-31T00:01:00Z",
        None,
        "2019-12-31T00:04:00Z",
        "2019-12-31T00:05:00Z",
    )
    assert trace.y == (7200.0, 7201.5, None, 7199.0, 7198.0)
    assert fig.layout.meta["points"] == 4 and fig.layout.meta["gaps"] == 1
    assert fig.layout.xaxis.range == ("2019-12-31T00:00:00Z", "2019-12-31T01:00:00Z")
    assert fig.layout.xaxis.rangeslider.visible is True
    assert fig.layout.yaxis.title.text == "Price (USD)"


def test_price_places_is_the_most_decimals_any_price_was_stored_with():
    assert price_places([Decimal("7240.1"), Decimal("7240.0486"), Decimal("7300")]) == 4
    assert price_places([Decimal("0.00002266"), Decimal("0.0000225")]) == 8
    assert price_places([Decimal("7.2E+3"), Decimal("7200.00")]) == 0
    assert price_places([]) == 0


def test_tiny_prices_get_a_plain_decimal_axis_and_hover_at_their_own_precision():
    ADABTC = Pair.parse("ADABTC")
    ticks = [tick(0, "0.00002266"), tick(1, "0.00002259")]

    fig = pair_line_figure(pair=ADABTC, ticks=ticks, start=START, end=START + timedelta(hours=1))

    assert fig.layout.yaxis.exponentformat == "none"
    assert fig.layout.yaxis.hoverformat == ",.8f"
    assert fig.data[0].hovertemplate == "%{y:,.8f} BTC<extra></extra>"
    assert fig.layout.yaxis.title.text == "Price (BTC)"


def test_a_single_price_gets_a_narrow_axis_around_it_not_minus_one_to_one():
    fig = pair_line_figure(
        pair=BTCUSD, ticks=[tick(0, "0.000025")], start=START, end=START + timedelta(hours=1)
    )

    low, high = fig.layout.yaxis.range
    assert low < 0.000025 < high and high - low < 0.000001
    assert fig.layout.yaxis.autorange is False


def test_a_lone_minute_between_gaps_gets_a_dot_and_only_it():
    ticks = [tick(0, "1"), tick(1, "2"), tick(3, "3"), tick(5, "4"), tick(6, "5")]

    fig = pair_line_figure(pair=BTCUSD, ticks=ticks, start=START, end=START + timedelta(hours=1))

    line, dots = fig.data
    assert line.mode == "lines" and line.x[3] == "2019-12-31T00:03:00Z"
    # Only the lone minute is a point of the dots trace (markers on the line would be a path per point).
    assert dots.mode == "markers" and dots.x == ("2019-12-31T00:03:00Z",) and dots.y == (3.0,)
    assert dots.showlegend is False and dots.legendgroup == line.legendgroup == "BTCUSD"


def test_line_figure_says_when_nothing_was_downsampled():
    fig = pair_line_figure(
        pair=BTCUSD, ticks=[tick(0, "1"), tick(1, "2")], start=START, end=START + timedelta(hours=1)
    )

    assert fig.layout.meta["method"] == "none"
    assert "no downsampling" in fig.layout.meta["note"]
    assert fig.layout.meta["note"] in annotation_texts(fig)


def test_line_figure_downsamples_long_ranges_with_lttb_and_says_so():
    ticks = [tick(m, str(7000 + m % 97)) for m in range(10_080)]

    fig = pair_line_figure(
        pair=BTCUSD, ticks=ticks, start=START, end=START + timedelta(days=7), max_points=2000
    )

    assert len(fig.data[0].x) == 2000
    assert fig.layout.meta["method"] == "lttb"
    assert fig.layout.meta["source_points"] == 10_080
    assert fig.layout.meta["note"].startswith("Downsampled with LTTB: 10,080 minute prices → 2,000 points")


def test_volume_gets_its_own_axis_with_the_sum_of_each_bucket():
    ticks = [tick(m, "7200", volume="0.5") for m in range(6)]

    fig = pair_line_figure(pair=BTCUSD, ticks=ticks, start=START, end=START + timedelta(hours=1))

    price, volume = fig.data
    # One filled step line (bars would be a path per minute): each minute's volume, then 0 after the last.
    assert volume.type == "scatter" and volume.yaxis == "y2" and volume.line.shape == "hv"
    assert volume.y == (0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0)
    assert volume.x[-1] == "2019-12-31T00:06:00Z"
    assert fig.layout.yaxis2.title.text.startswith("Volume (BTC")
    assert fig.layout.yaxis.domain == (0.3, 1)


def test_ticks_without_volume_draw_no_volume_axis():
    fig = pair_line_figure(
        pair=BTCUSD, ticks=[tick(0, "1"), tick(1, "2")], start=START, end=START + timedelta(hours=1)
    )

    assert [t.type for t in fig.data] == ["scatter"]
    assert "yaxis2" not in fig.layout.to_plotly_json()


def test_a_stopped_pair_is_shaded_after_its_last_minute_and_says_since_when():
    last = START + timedelta(minutes=30)

    fig = pair_line_figure(
        pair=BTCUSD,
        ticks=[tick(29, "1"), tick(30, "2")],
        start=START,
        end=START + timedelta(hours=1),
        stopped_since=last,
    )

    assert "No data since 2019-12-31 00:30 UTC" in annotation_texts(fig)
    (shade,) = fig.layout.shapes
    assert (shade.x0, shade.x1) == ("2019-12-31T00:31:00Z", "2019-12-31T01:00:00Z")
    assert fig.layout.meta["stopped_since"] == "2019-12-31T00:30:00Z"


def test_an_empty_window_says_there_are_no_prices():
    fig = pair_line_figure(pair=BTCUSD, ticks=[], start=START, end=START + timedelta(hours=1))

    assert "No prices in this window" in annotation_texts(fig)
    assert fig.data[0].x == ()


def test_candles_figure_draws_the_selector_candles_with_volume():
    candles = ohlc_aggregate([tick(m, str(7200 + m), volume="1") for m in range(10)], minutes=5)

    fig = pair_candles_figure(
        pair=BTCUSD, candles=candles, interval_minutes=5, start=START, end=START + timedelta(hours=1)
    )

    trace, volume = fig.data
    assert trace.type == "candlestick"
    assert trace.x == ("2019-12-31T00:00:00Z", "2019-12-31T00:05:00Z")
    assert (trace.open, trace.close) == ((7200.0, 7205.0), (7204.0, 7209.0))
    assert (volume.x, volume.y) == (
        ("2019-12-31T00:00:00Z", "2019-12-31T00:05:00Z", "2019-12-31T00:10:00Z"),
        (5.0, 5.0, 0.0),
    )
    assert fig.layout.meta["note"] == "5-minute candles (OHLC from minute prices): 2"
    assert fig.layout.xaxis.rangeslider.visible is True


def test_candles_merged_into_wider_buckets_say_so():
    candles = ohlc_aggregate([tick(m, "7200") for m in range(120)], minutes=30)

    fig = pair_candles_figure(
        pair=BTCUSD, candles=candles, interval_minutes=5, start=START, end=START + timedelta(days=30)
    )

    assert fig.layout.meta["method"] == "ohlc"
    assert fig.layout.meta["note"].startswith("5-minute candles merged into 30-minute OHLC buckets")


def test_percent_change_is_relative_to_the_first_price():
    points = [
        (START, Decimal("200")),
        (START + timedelta(minutes=1), Decimal("210")),
        (START + timedelta(minutes=2), Decimal("190")),
    ]

    assert [value for _, value in percent_change(points)] == [Decimal(0), Decimal(5), Decimal(-5)]


def test_compare_figure_draws_one_trace_per_pair_in_order_from_zero():
    series = {
        "ETHUSD": [(START, Decimal("130")), (START + timedelta(minutes=1), Decimal("131.3"))],
        "BTCUSD": [(START, Decimal("7200")), (START + timedelta(minutes=2), Decimal("7272"))],
    }

    fig = compare_figure(series=series, start=START, end=START + timedelta(hours=1))

    # BTCUSD's two minutes lie between gaps: dots of their own, out of the legend.
    assert [t.name for t in fig.data] == ["ETHUSD", "BTCUSD", "BTCUSD (lone minutes)"]
    assert fig.data[0].y == (0.0, 1.0)
    assert fig.data[1].y == (0.0, None, 1.0)
    assert fig.data[2].y == (0.0, 1.0) and fig.data[2].showlegend is False
    assert fig.data[0].line.color != fig.data[1].line.color == fig.data[2].marker.color
    assert fig.layout.showlegend is True


def test_sparkline_starts_a_new_subpath_after_a_gap_and_dots_lone_minutes():
    points = [
        (START + timedelta(minutes=m), Decimal(p))
        for m, p in [(0, "1"), (1, "3"), (5, "2"), (9, "2"), (10, "1")]
    ]

    spark = sparkline(points, start=START, end=START + timedelta(minutes=11), width=100, height=20)

    assert spark.d.count("M") == 3
    assert "h0.1" in spark.d
    assert spark.direction == "flat"
    assert (spark.first, spark.last, spark.points) == (Decimal("1"), Decimal("1"), 5)


def test_sparkline_of_nothing_is_empty():
    spark = sparkline([], start=START, end=START + timedelta(hours=24))

    assert spark.d == "" and spark.points == 0


def test_hourly_sparkline_points_join_within_an_hour_and_break_at_a_missing_hour():
    hourly = [(START, Decimal("1")), (START + timedelta(minutes=59), Decimal("2"))]
    later = [
        (START + timedelta(hours=3), Decimal("3")),
        (START + timedelta(hours=3, minutes=59), Decimal("4")),
    ]

    spark = sparkline(hourly + later, start=START, end=START + timedelta(hours=4), step_ms=3_600_000)

    assert spark.d.count("M") == 2  # hours 0 and 3 are drawn; hours 1–2 are a gap
    assert spark.d.count("L") == 2


def number_formats(fig) -> list[str]:
    """The d3 number formats of every hovertemplate (`%{y:fmt}`) and value axis hoverformat."""
    formats = [m for t in fig.data for m in re.findall(r"%{[^:}]*:([^}]*)}", t.hovertemplate or "")]
    layout = fig.to_plotly_json()["layout"]
    return formats + [
        layout[a]["hoverformat"] for a in ("yaxis", "yaxis2") if "hoverformat" in layout.get(a, {})
    ]


def test_no_number_format_starts_with_a_sign_flag_which_plotly_js_3_7_drops():
    # plotly.js 3.7 prefixes "~" to such a format ("~+,.2f", invalid) and the hover shows the
    # raw float (plotly.js issue #7897); the browser test hovers the compare chart to see it.
    series = {"BTCUSD": [(START + timedelta(minutes=m), Decimal(7200 + m)) for m in range(3)]}
    ticks = [tick(m, str(7200 + m), volume="1") for m in range(10)]
    figures = [
        compare_figure(series=series, start=START, end=START + timedelta(hours=1)),
        pair_line_figure(pair=BTCUSD, ticks=ticks, start=START, end=START + timedelta(hours=1)),
        pair_candles_figure(
            pair=BTCUSD,
            candles=ohlc_aggregate(ticks, minutes=5),
            interval_minutes=5,
            start=START,
            end=START + timedelta(hours=1),
        ),
    ]

    formats = [f for fig in figures for f in number_formats(fig)]

    assert SIGNED_PERCENT in formats and len(formats) >= 5
    assert [f for f in formats if f[0] in "+-( "] == []
