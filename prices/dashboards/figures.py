"""Dashboard figures: ticks and candles in, Plotly figures and SVG sparklines out (pure, no I/O).

Times on every axis are UTC, sent as ISO 8601 strings with Z (plotly.js draws them as given).
Prices become floats only here, for drawing; every number a reader sees in a table comes from
the Decimal values. `layout.meta` of each figure says what the browser received (points,
downsampling method, gap threshold) so the page and its tests can read it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

from cryptotracker.params import iso_z
from prices.dashboards.downsampling import (
    MAX_POINTS,
    MINUTE_MS,
    GappedSeries,
    bucket_minutes,
    downsample_gapped,
)
from prices.domain import Pair, Tick, to_ms
from prices.ohlc import Ohlc, ohlc_aggregate

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2328"
MUTED = "#59636e"
GRID = "#e4e7eb"
LINE = "#0b5cad"
UP = "#1a7f37"
DOWN = "#c4262e"
VOLUME = "#8c959f"
# Okabe & Ito's colour-blind-safe palette (yellow dropped: too pale on white), then dashed repeats.
COMPARE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7F7F00")
LONE_MARKER = 5
# A signed % change with exactly two decimals: d3's "+,.2f" behind an explicit (no-op, there is
# no width) fill and alignment "0>". plotly.js 3.7's Lib.adjustFormat puts a "~" in front of any
# format that does not start with one of ~ , . 0 $ ("~+,.2f", invalid), d3 then throws and the
# hover falls back to the raw float ("-0.3532306169853073 %"; plotly.js issue #7897).
SIGNED_PERCENT = "0>+,.2f"


def _utc_label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _base_layout(*, start: datetime, end: datetime, meta: dict[str, Any], note: str) -> dict[str, Any]:
    return {
        "template": "none",
        "font": {"family": FONT, "size": 13, "color": INK},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 64, "r": 16, "t": 16, "b": 40},
        "hovermode": "x unified",
        "showlegend": False,
        "meta": {**meta, "note": note, "start": iso_z(start), "end": iso_z(end)},
        # Refreshing the same kind of window (one minute later) keeps the reader's zoom.
        "uirevision": f"{meta.get('kind')}:{meta.get('pair', '')}:{int((end - start).total_seconds())}",
        "annotations": [
            {
                "text": note,
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": 1,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 12, "color": MUTED},
                "name": "downsampling",
            }
        ],
        "shapes": [],
    }


_DAY_MS = 86_400_000
# plotly.js draws the times as sent (UTC), whatever the browser's zone, but its default tick
# labels ("06:00" over "Dec 31, 2019") name no zone. These keep its choice of tick spacing and
# its header line (the part after "\n", shown under the first tick and where the date changes),
# naming UTC, with ISO dates as the hover label and the date control write them. Ranges are
# inclusive, the first match wins.
TIME_TICK_FORMATS = [
    {"dtickrange": [None, 999], "value": "%H:%M:%S.%L\n%Y-%m-%d UTC"},
    {"dtickrange": [1000, 59_999], "value": "%H:%M:%S\n%Y-%m-%d UTC"},
    {"dtickrange": [60_000, _DAY_MS - 1], "value": "%H:%M\n%Y-%m-%d UTC"},
    # Day ticks must stay short on a phone: "Dec 26" (a month name cannot be misread).
    {"dtickrange": [_DAY_MS, None], "value": "%b %-d\n%Y UTC"},
]


def _time_axis(start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": "date",
        "range": [iso_z(start), iso_z(end)],
        "autorange": False,
        "gridcolor": GRID,
        "linecolor": MUTED,
        "tickfont": {"color": MUTED},
        "tickformatstops": TIME_TICK_FORMATS,
        # Level labels: the header line is wider than plotly's, and its overlap test (which
        # counts it) would tilt every label on a phone although the lines never touch.
        "tickangle": 0,
        "hoverformat": "%Y-%m-%d %H:%M UTC",
        **extra,
    }


def _value_axis(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"color": MUTED, "size": 12}},
        "gridcolor": GRID,
        "zerolinecolor": GRID,
        "tickfont": {"color": MUTED},
        "automargin": True,
        # Plain decimals with thousands separators: never SI prefixes ("24.8μ") or exponents.
        "exponentformat": "none",
        "separatethousands": True,
        **extra,
    }


MAX_PLACES = 12


def price_places(prices: Iterable[Decimal]) -> int:
    """The most decimal places any of `prices` was stored with (0 to MAX_PLACES).

    Bitfinex quotes five significant digits, so 7240.1 has 1 place and 0.000024812 has 9:
    the precision a pair's prices, changes and hover labels are shown with.
    """
    places = 0
    for value in prices:
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int):
            places = max(places, -exponent)
    return min(places, MAX_PLACES)


def _price_axis(pair: Pair, values: Sequence[float], places: int, **extra: Any) -> dict[str, Any]:
    """The price axis: plain decimals, hover labels at the prices' own precision.

    A window whose prices are all equal (often a single minute) gets a range of ±0.5 % around
    the price; plotly.js would draw −1…1 for it, which for 0.000025 is the whole axis.
    """
    axis = _value_axis(f"Price ({pair.quote})", hoverformat=f",.{places}f", **extra)
    if values and min(values) == max(values):
        pad = abs(values[0]) * 0.005 or 1.0
        axis.update(range=[values[0] - pad, values[0] + pad], autorange=False)
    return axis


def _slider(start: datetime, end: datetime) -> dict[str, Any]:
    return {"visible": True, "range": [iso_z(start), iso_z(end)], "thickness": 0.08, "bgcolor": "#f6f8fa"}


def _stopped_marks(layout: dict[str, Any], *, stopped_since: datetime | None, end: datetime) -> None:
    """Shade the window after the pair's last minute (`stopped_since`) and say since when."""
    if stopped_since is None:
        return
    after = stopped_since + timedelta(minutes=1)
    label = f"No data since {_utc_label(stopped_since)}"
    layout["meta"]["stopped_since"] = iso_z(stopped_since)
    layout["shapes"].append(
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": iso_z(min(after, end)),
            "x1": iso_z(end),
            "y0": 0,
            "y1": 1,
            "fillcolor": "#f6f8fa",
            "line": {"width": 0},
            "layer": "below",
        }
    )
    layout["annotations"].append(
        {
            "text": label,
            "xref": "paper",
            "yref": "paper",
            "x": 1,
            "y": 1,
            "xanchor": "right",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 12, "color": DOWN},
            "name": "stopped",
        }
    )


def _empty_mark(layout: dict[str, Any], text: str) -> None:
    layout["annotations"].append(
        {
            "text": text,
            "xref": "paper",
            "yref": "paper",
            "x": 0.5,
            "y": 0.5,
            "showarrow": False,
            "font": {"size": 15, "color": MUTED},
            "name": "empty",
        }
    )


def _lone_points(ys: Sequence[float | None]) -> list[bool]:
    """True where a value has no neighbour to draw a line to (a lone minute between gaps)."""
    last = len(ys) - 1
    return [
        y is not None and (i == 0 or ys[i - 1] is None) and (i == last or ys[i + 1] is None)
        for i, y in enumerate(ys)
    ]


def _line_trace(
    series: GappedSeries,
    *,
    name: str,
    hovertemplate: str,
    color: str,
    dash: str = "solid",
) -> go.Scatter:
    return go.Scatter(
        x=[iso_z(x) if x is not None else None for x in series.xs],
        y=series.ys,
        name=name,
        legendgroup=name,
        mode="lines",
        connectgaps=False,
        line={"color": color, "width": 1.6, "dash": dash},
        hovertemplate=hovertemplate,
    )


LONE_SUFFIX = " (lone minutes)"


def _lone_trace(series: GappedSeries, *, name: str, color: str, dot: int = LONE_MARKER) -> go.Scatter | None:
    """Dots at the minutes between two gaps (a line has no segment to draw there), or None.

    A trace of its own holding only those points: markers on the line trace itself would be
    one SVG path per point (and again in the range slider), most of the first draw's time.
    """
    lone = _lone_points(series.ys)
    xs = [iso_z(x) for x, flag in zip(series.xs, lone, strict=True) if flag and x is not None]
    if not xs:
        return None
    return go.Scatter(
        x=xs,
        y=[y for y, flag in zip(series.ys, lone, strict=True) if flag],
        name=name + LONE_SUFFIX,
        legendgroup=name,
        showlegend=False,
        mode="markers",
        marker={"size": dot, "color": color},
        hoverinfo="skip",
    )


def _points_text(count: int) -> str:
    return f"{count:,} point" + ("" if count == 1 else "s")


def _minutes_text(ms: int) -> str:
    value = ms / MINUTE_MS
    return f"{value:.0f} min" if value >= 10 or value == int(value) else f"{value:.1f} min"


def line_note(series: GappedSeries) -> str:
    """One line saying how a minute-price line was prepared (shown on the chart)."""
    if series.source_points == 0:
        return "Minute prices: none in this window"
    if series.method == "lttb":
        return (
            f"Downsampled with LTTB: {series.source_points:,} minute prices → {_points_text(series.points)}; "
            f"gaps over {_minutes_text(series.gap_ms)} shown as breaks"
        )
    if series.gap_ms > MINUTE_MS:
        return (
            f"Minute prices: all {_points_text(series.points)}; gaps over {_minutes_text(series.gap_ms)} "
            "shown as breaks"
        )
    return (
        f"Minute prices: all {_points_text(series.points)}, no downsampling; every missing minute is a break"
    )


def pair_line_figure(
    *,
    pair: Pair,
    ticks: Sequence[Tick],
    start: datetime,
    end: datetime,
    stopped_since: datetime | None = None,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """A line of the pair's minute last prices over [start, end), with a volume subplot when
    any tick carries a candle volume, a range slider, and gaps drawn as breaks.

    `ticks` are time-ordered ticks of one pair inside the window. The line holds at most
    `max_points` values (LTTB beyond that); volume is summed into at most `max_points` bars.
    `stopped_since` (the pair's last minute, when its prices stopped) shades the rest of the window.
    """
    series = downsample_gapped([(t.minute_ms, t.last_price) for t in ticks], max_points=max_points)
    note = line_note(series)
    meta = {
        "kind": "line",
        "pair": pair.name,
        "method": series.method,
        "source_points": series.source_points,
        "points": series.points,
        "gaps": series.gaps,
        "gap_ms": series.gap_ms,
        "max_points": max_points,
    }
    span_minutes = max(1, (to_ms(end) - to_ms(start)) // MINUTE_MS)
    has_volume = any(t.volume is not None for t in ticks)
    places = price_places(t.last_price for t in ticks)
    meta["price_places"] = places
    price = _line_trace(
        series,
        name=pair.name,
        color=LINE,
        hovertemplate=f"%{{y:,.{places}f}} {pair.quote}<extra></extra>",
    )
    fig = go.Figure(price)
    dots = _lone_trace(series, name=pair.name, color=LINE)
    if dots is not None:
        fig.add_trace(dots)
    layout = _base_layout(start=start, end=end, meta=meta, note=note)
    values = [y for y in series.ys if y is not None]
    _price_axes(layout, start=start, end=end, pair=pair, volume=has_volume, values=values, places=places)
    if has_volume:
        width = bucket_minutes(span_minutes=span_minutes, max_buckets=max_points)
        bars = [c for c in ohlc_aggregate(ticks, minutes=width) if c.volume is not None]
        meta["volume_minutes"] = width
        fig.add_trace(_volume_trace(bars, width, pair))
    if not ticks:
        _empty_mark(layout, "No prices in this window")
    _stopped_marks(layout, stopped_since=stopped_since, end=end)
    fig.update_layout(layout)
    return fig


def _price_axes(
    layout: dict[str, Any],
    *,
    start: datetime,
    end: datetime,
    pair: Pair,
    volume: bool,
    values: Sequence[float],
    places: int,
) -> None:
    """One time axis with the range slider; price above, volume (when stored) in a band below.

    Both y axes share the x axis (rather than two subplots) so that the range slider under
    the chart shows the price line, and zooming moves price and volume together.
    """
    # With volume, the time axis hangs under the volume band, right above the slider.
    layout["xaxis"] = _time_axis(start, end, rangeslider=_slider(start, end), anchor="y2" if volume else "y")
    layout["yaxis"] = _price_axis(pair, values, places, domain=[0.3, 1] if volume else [0, 1])
    if volume:
        layout["yaxis2"] = _value_axis(
            f"Volume ({pair.base})", domain=[0, 0.22], rangemode="tozero", nticks=3
        )


def _volume_trace(candles: Sequence[Ohlc], width_minutes: int, pair: Pair) -> go.Scatter:
    """Volume (base currency) as a filled step line: each bucket's sum from its start to its end,
    zero across buckets without volume.

    One SVG path, where bars would be one per bucket (1,440 for a day of minutes), drawn
    again in the range slider.
    """
    width = timedelta(minutes=width_minutes)
    xs: list[str] = []
    ys: list[float] = []
    for i, candle in enumerate(candles):
        xs.append(iso_z(candle.start))
        ys.append(float(candle.volume))
        if i + 1 == len(candles) or candles[i + 1].start != candle.start + width:
            xs.append(iso_z(candle.start + width))
            ys.append(0.0)
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line={"shape": "hv", "width": 0, "color": VOLUME},
        fill="tozeroy",
        fillcolor=VOLUME,
        name="Volume",
        yaxis="y2",
        hovertemplate=f"%{{y:,.4~f}} {pair.base}<extra>Volume</extra>",
    )


def candles_note(*, interval_minutes: int, candle_minutes: int, count: int) -> str:
    """One line saying which candles are drawn and whether they were merged (OHLC buckets)."""
    label = _duration(interval_minutes)
    if candle_minutes == interval_minutes:
        return f"{label} candles (OHLC from minute prices): {count:,}"
    return (
        f"{label} candles merged into {_duration(candle_minutes)} OHLC buckets "
        f"to stay under {MAX_POINTS:,} per series: {count:,}"
    )


def _duration(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440}-day"
    if minutes % 60 == 0:
        return f"{minutes // 60}-hour"
    return f"{minutes}-minute"


def pair_candles_figure(
    *,
    pair: Pair,
    candles: Sequence[Ohlc],
    interval_minutes: int,
    start: datetime,
    end: datetime,
    stopped_since: datetime | None = None,
) -> go.Figure:
    """Candlesticks of [start, end) with a volume subplot when the candles carry volume.

    `candles` come from the OHLC selector at one width; when that width is wider than
    `interval_minutes` the chart says the candles were merged into OHLC buckets. Buckets
    without ticks have no candle, so gaps stay visible.
    """
    width = candles[0].minutes if candles else interval_minutes
    note = candles_note(interval_minutes=interval_minutes, candle_minutes=width, count=len(candles))
    meta = {
        "kind": "candles",
        "pair": pair.name,
        "method": "ohlc" if width != interval_minutes else "none",
        "interval_minutes": interval_minutes,
        "candle_minutes": width,
        "points": len(candles),
        "max_points": MAX_POINTS,
    }
    trace = go.Candlestick(
        x=[iso_z(c.start) for c in candles],
        open=[float(c.open) for c in candles],
        high=[float(c.high) for c in candles],
        low=[float(c.low) for c in candles],
        close=[float(c.close) for c in candles],
        xperiod=width * MINUTE_MS,
        xperiodalignment="middle",
        name=pair.name,
        increasing={"line": {"color": UP}, "fillcolor": UP},
        decreasing={"line": {"color": DOWN}, "fillcolor": DOWN},
    )
    with_volume = [c for c in candles if c.volume is not None]
    fig = go.Figure(trace)
    layout = _base_layout(start=start, end=end, meta=meta, note=note)
    places = price_places(price for c in candles for price in (c.open, c.high, c.low, c.close))
    meta["price_places"] = places
    values = [float(price) for c in candles for price in (c.high, c.low)]
    _price_axes(
        layout, start=start, end=end, pair=pair, volume=bool(with_volume), values=values, places=places
    )
    if with_volume:
        fig.add_trace(_volume_trace(with_volume, width, pair))
    if not candles:
        _empty_mark(layout, "No prices in this window")
    _stopped_marks(layout, stopped_since=stopped_since, end=end)
    fig.update_layout(layout)
    return fig


def percent_change(points: Sequence[tuple[datetime, Decimal]]) -> list[tuple[int, Decimal]]:
    """(ms, % change from the first price) of time-ordered (minute, price) points; [] if empty."""
    if not points:
        return []
    base = points[0][1]
    return [(to_ms(minute), (price / base - 1) * 100) for minute, price in points]


def compare_figure(
    *,
    series: Mapping[str, Sequence[tuple[datetime, Decimal]]],
    start: datetime,
    end: datetime,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """One line per pair (in the mapping's order) of % change from its first price in [start, end).

    Each line holds at most `max_points` values (LTTB beyond that) and breaks at gaps.
    """
    traces = []
    per_pair = []
    for i, (name, points) in enumerate(series.items()):
        line = downsample_gapped(percent_change(points), max_points=max_points)
        color = COMPARE_COLORS[i % len(COMPARE_COLORS)]
        dash = ("solid", "dash", "dot", "dashdot")[(i // len(COMPARE_COLORS)) % 4]
        traces.append(
            _line_trace(
                line,
                name=name,
                color=color,
                dash=dash,
                hovertemplate=f"%{{y:{SIGNED_PERCENT}}} %<extra>%{{fullData.name}}</extra>",
            )
        )
        dots = _lone_trace(line, name=name, color=color, dot=3)
        if dots is not None:
            traces.append(dots)
        per_pair.append(
            {"pair": name, "method": line.method, "source_points": line.source_points, "points": line.points}
        )
    reduced = [p["pair"] for p in per_pair if p["method"] == "lttb"]
    note = (
        f"% change from each pair's first price in the window; downsampled with LTTB: {', '.join(reduced)}"
        if reduced
        else "% change from each pair's first price in the window; all minute prices, no downsampling"
    )
    fig = go.Figure(traces)
    layout = _base_layout(start=start, end=end, meta={"kind": "compare", "pairs": per_pair}, note=note)
    layout["showlegend"] = True
    # Above the plot: below it, a legend that wraps (phones, many pairs) runs into the range
    # slider. The note moves from the chart's top edge to the caption (the page shows it there).
    layout["legend"] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}
    layout["annotations"] = [a for a in layout["annotations"] if a.get("name") != "downsampling"]
    layout["margin"] = {**layout["margin"], "t": 8, "b": 24}
    layout["xaxis"] = _time_axis(start, end, rangeslider=_slider(start, end))
    layout["yaxis"] = _value_axis("Change (%)", ticksuffix=" %", zeroline=True, zerolinecolor=MUTED)
    if not traces or not any(p["points"] for p in per_pair):
        _empty_mark(layout, "No prices in this window")
    fig.update_layout(layout)
    return fig


def market_figure(
    *,
    market: str,
    quote: str,
    series: Mapping[str, Sequence[tuple[datetime, Decimal]]],
    spread: Sequence[tuple[datetime, Decimal]],
    start: datetime,
    end: datetime,
    step_minutes: int = 1,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """One price line per exchange (the mapping's order, named by its keys) of one market over
    [start, end), and below them the spread (max − min of the exchanges' prices at each step
    where two or more have one), all in `quote` units.

    Lines hold at most `max_points` values (LTTB beyond that) and break at gaps of more than
    `step_minutes`.
    """
    step_ms = step_minutes * MINUTE_MS
    places = price_places(price for points in series.values() for _, price in points)
    traces = []
    per_line = []
    for i, (name, points) in enumerate(series.items()):
        line = downsample_gapped([(to_ms(m), p) for m, p in points], max_points=max_points, step_ms=step_ms)
        color = COMPARE_COLORS[i % len(COMPARE_COLORS)]
        traces.append(
            _line_trace(
                line,
                name=name,
                color=color,
                hovertemplate=f"%{{y:,.{places}f}} {quote}<extra>%{{fullData.name}}</extra>",
            )
        )
        dots = _lone_trace(line, name=name, color=color, dot=3)
        if dots is not None:
            traces.append(dots)
        per_line.append({"name": name, "method": line.method, "source_points": line.source_points})
    gap = downsample_gapped([(to_ms(m), p) for m, p in spread], max_points=max_points, step_ms=step_ms)
    spread_trace = _line_trace(
        gap, name="Spread", color=MUTED, hovertemplate=f"%{{y:,.{places}f}} {quote}<extra>spread</extra>"
    )
    spread_trace.update(yaxis="y2", fill="tozeroy", line={"color": MUTED, "width": 1})
    traces.append(spread_trace)
    reduced = [p["name"] for p in per_line if p["method"] == "lttb"]
    width = "minute" if step_minutes == 1 else f"{step_minutes}-minute close"
    note = (
        f"{market}: each exchange's {width} prices, downsampled with LTTB: {', '.join(reduced)}"
        if reduced
        else f"{market}: each exchange's {width} prices, no downsampling"
    )
    meta = {"kind": "market", "market": market, "lines": per_line, "spread_points": len(spread)}
    fig = go.Figure(traces)
    layout = _base_layout(start=start, end=end, meta=meta, note=note)
    layout["showlegend"] = True
    layout["legend"] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}
    layout["annotations"] = [a for a in layout["annotations"] if a.get("name") != "downsampling"]
    layout["margin"] = {**layout["margin"], "t": 8, "b": 24}
    layout["xaxis"] = _time_axis(start, end, anchor="y2")
    layout["yaxis"] = _value_axis(f"Price ({quote})", domain=[0.3, 1])
    layout["yaxis2"] = _value_axis(f"Spread ({quote})", domain=[0, 0.22], rangemode="tozero")
    if not any(points for points in series.values()):
        _empty_mark(layout, "No prices in this window")
    fig.update_layout(layout)
    return fig


@dataclass(frozen=True, slots=True)
class Sparkline:
    """An SVG path (`d`, in a width × height box) of a small price line; empty when no points.

    `first`/`last` are the first and last prices drawn; `direction` "up", "down" or "flat".
    """

    d: str
    width: int
    height: int
    first: Decimal | None
    last: Decimal | None
    direction: str
    points: int


def sparkline(
    points: Sequence[tuple[datetime, Decimal]],
    *,
    start: datetime,
    end: datetime,
    width: int = 120,
    height: int = 32,
    max_points: int = 120,
    step_ms: int = MINUTE_MS,
) -> Sparkline:
    """A sparkline of time-ordered (minute, price) points over [start, end).

    Downsampled like the charts (LTTB, at most `max_points` values) and broken where two
    points are more than `step_ms` apart (a minute for minute prices, an hour for hourly
    points); a lone point between gaps is drawn as a dot.
    """
    if not points:
        return Sparkline("", width, height, None, None, "flat", 0)
    series = downsample_gapped([(to_ms(m), p) for m, p in points], max_points=max_points, step_ms=step_ms)
    x0, x1 = to_ms(start), max(to_ms(end) - MINUTE_MS, to_ms(start) + 1)
    values = [y for y in series.ys if y is not None]
    low, high = min(values), max(values)
    pad = 2.0
    parts: list[str] = []
    pen_down = False
    for x, y in zip(series.xs, series.ys, strict=True):
        if x is None or y is None:
            pen_down = False
            continue
        px = pad + (x - x0) / (x1 - x0) * (width - 2 * pad)
        py = height / 2 if high == low else pad + (high - y) / (high - low) * (height - 2 * pad)
        parts.append(f"{'L' if pen_down else 'M'}{px:.1f},{py:.1f}")
        pen_down = True
    d = " ".join(_dot_lone_moves(parts))
    first, last = points[0][1], points[-1][1]
    direction = "up" if last > first else "down" if last < first else "flat"
    return Sparkline(d, width, height, first, last, direction, series.points)


def _dot_lone_moves(parts: list[str]) -> list[str]:
    """A move not followed by a line draws nothing; add a zero-length segment (round caps: a dot)."""
    out = []
    for i, part in enumerate(parts):
        out.append(part)
        if part.startswith("M") and (i + 1 == len(parts) or parts[i + 1].startswith("M")):
            out.append("h0.1")
    return out
