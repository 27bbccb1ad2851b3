"""The backtest preview's figure (pure: prices and a BacktestResult in, a Plotly figure out).

Same look as the dashboards (their colours, fonts and downsampling): the pair's minute prices
over the replayed days with a marker at each minute the rule would have notified, the
threshold as a dashed line, and a bar per UTC day counting the notifications.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

from alerts.backtest import BacktestResult
from prices.dashboards import figures as dash
from prices.dashboards.downsampling import downsample_gapped
from prices.domain import Pair, to_ms

MARKER = "#D55E00"  # Okabe & Ito vermilion: stands out from the blue line for every reader


def backtest_figure(
    *,
    pair: Pair,
    points: Sequence[tuple[datetime, Decimal]],
    result: BacktestResult,
    threshold: Decimal | None = None,
) -> go.Figure:
    """Prices of [result.start, result.end) (at most the dashboards' MAX_POINTS, LTTB beyond),
    notification markers at their minute and observed price, the threshold line (quote
    currency) when given, and notifications per UTC day as bars below. `layout.meta` holds
    the marker count and per-day counts for the page and its tests."""
    series = downsample_gapped([(to_ms(minute), price) for minute, price in points])
    fired = [n for n in result.notifications if n.state == "firing"]
    fig = go.Figure(
        go.Scatter(
            x=[dash.iso_z(x) if x is not None else None for x in series.xs],
            y=series.ys,
            mode="lines",
            connectgaps=False,
            line={"color": dash.LINE, "width": 1.4},
            name=pair.name,
            hovertemplate=f"%{{y:,.8~g}} {pair.quote}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[dash.iso_z(n.minute) for n in fired],
            y=[float(n.observed) if n.observed is not None else None for n in fired],
            mode="markers",
            marker={
                "color": MARKER,
                "size": 10,
                "symbol": "triangle-down",
                "line": {"color": "#ffffff", "width": 1},
            },
            name="would notify",
            hovertemplate="would notify: %{y:,.8~g} " + pair.quote + "<extra></extra>",
        )
    )
    days = sorted(result.per_day.items())
    fig.add_trace(
        go.Bar(
            x=[
                (datetime.combine(day, datetime.min.time()) + timedelta(hours=12)).isoformat() + "Z"
                for day, _ in days
            ],
            y=[count for _, count in days],
            marker={"color": dash.VOLUME},
            name="notifications per day",
            hovertemplate="%{y:,} notifications<extra></extra>",
            xaxis="x",
            yaxis="y2",
        )
    )
    layout = {
        "template": "none",
        "font": {"family": dash.FONT, "size": 13, "color": dash.INK},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 64, "r": 16, "t": 8, "b": 40},
        "hovermode": "closest",
        "showlegend": False,
        "xaxis": {
            "type": "date",
            "range": [dash.iso_z(result.start), dash.iso_z(result.end)],
            "gridcolor": dash.GRID,
            "tickfont": {"color": dash.MUTED},
            "hoverformat": "%Y-%m-%d %H:%M UTC",
        },
        "yaxis": {
            "domain": [0.3, 1],
            "title": {"text": pair.quote, "font": {"color": dash.MUTED, "size": 12}},
            "gridcolor": dash.GRID,
            "tickfont": {"color": dash.MUTED},
            "automargin": True,
        },
        "yaxis2": {
            "domain": [0, 0.22],
            "title": {"text": "per day", "font": {"color": dash.MUTED, "size": 12}},
            "gridcolor": dash.GRID,
            "tickfont": {"color": dash.MUTED},
            "rangemode": "tozero",
            "automargin": True,
        },
        "bargap": 0.3,
        "shapes": [],
        "meta": {
            "markers": len(fired),
            "per_day": {day.isoformat(): count for day, count in days},
            "points": series.points,
            "method": series.method,
        },
    }
    if threshold is not None:
        layout["shapes"].append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": float(threshold),
                "y1": float(threshold),
                "line": {"color": MARKER, "width": 1.2, "dash": "dash"},
            }
        )
    fig.update_layout(layout)
    return fig


def figure_json(fig: go.Figure) -> str:
    """The figure as Plotly JSON for a `data-figure` attribute (the page script draws it)."""
    return json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder)
