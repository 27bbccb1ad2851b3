"""Dashboard views: thin adapters from HTTP to the dashboard selectors and figures.

Pages are rendered on the server (the overview table works without JavaScript); the small
JSON and HTML-fragment endpoints below them let the page script refresh the overview and
redraw charts without a full reload. Only the watchlist of a signed-in user touches the
relational database.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from plotly.utils import PlotlyJSONEncoder

from cryptotracker.params import (
    BadParameterError,
    choice_param,
    datetime_param,
    exchange_param,
    iso_z,
    market_name,
    pairs_param,
)
from prices import exchanges, selectors_markets
from prices import selectors as price_selectors
from prices.cache import cached
from prices.dashboards import figures, selectors
from prices.dashboards.downsampling import MINUTE_MS, candle_minutes
from prices.domain import EXCHANGE_BITFINEX, MINUTE, minute_ceil, minute_floor
from prices.exchanges import configured_exchanges, exchange_config
from prices.repository import RepositoryError
from prices.watchlist import WatchlistFullError, watchlist_get, watchlist_set

CHART_CONFIG = {
    "responsive": True,
    "displaylogo": False,
    "scrollZoom": False,
    # Autoscale stays: it returns to the whole window after a zoom (the page rescales y).
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


def _html_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Render a 400 page for a bad parameter and a 503 page when the price store is unreachable."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadParameterError as exc:
            return render(request, "dashboards/bad_request.html", {"error": exc}, status=400)
        except RepositoryError:
            return render(request, "dashboards/unavailable.html", status=503)

    return wrapper


def _json_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """JSON errors for the page script: 400 bad parameter, 404 unknown pair, 503 store down."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadParameterError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        except price_selectors.PairNotFoundError as exc:
            return JsonResponse({"error": str(exc)}, status=404)
        except RepositoryError:
            return JsonResponse({"error": "The price store is unavailable; try again shortly."}, status=503)

    return wrapper


def _figure_json(fig: go.Figure) -> dict[str, Any]:
    return json.loads(json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder))


# --- overview ---------------------------------------------------------------------------


def _end_param(request: HttpRequest) -> datetime | None:
    """`?end=`: ISO 8601, or the date/time control's "2019-12-31 12:00" (a trailing "UTC" allowed),
    read as UTC; None if absent."""
    return datetime_param("end", request.GET.get("end"))


def _exchange_context(exchange: str) -> dict[str, Any]:
    """The page's exchange: its name, label, the `?exchange=` query of its links and its name as
    a hidden field ("" for Bitfinex, whose URLs carry none), and the configured exchanges."""
    return {
        "exchange": exchange,
        "exchange_label": exchange_config(exchange).label,
        "exchange_query": "" if exchange == EXCHANGE_BITFINEX else f"exchange={exchange}",
        "exchange_other": "" if exchange == EXCHANGE_BITFINEX else exchange,
        "exchanges": configured_exchanges(),
    }


def _overview_context(request: HttpRequest) -> dict[str, Any]:
    end = _end_param(request)
    exchange = exchange_param(request.GET)
    # One computation per data version and end (see prices.cache), however many tabs refresh.
    overview, _ = cached(
        f"dashboards:overview:{iso_z(end) if end else ''}",
        functools.partial(selectors.overview_get, end=end, exchange=exchange),
        exchange=exchange,
    )
    quote = request.GET.get("quote", "").strip().upper()
    query = request.GET.get("q", "").strip()
    rows = [(row, selectors.overview_row_matches(row, quote=quote, query=query)) for row in overview.rows]
    return {
        "nav": "overview",
        "overview": overview,
        "rows": rows,
        "shown": sum(1 for _, match in rows if match),
        "quote": quote,
        "query": query,
        "freshness": selectors.freshness_of(newest_minute=overview.newest_minute, now=timezone.now()),
        "stale_after_minutes": int(selectors.STALE_AFTER / MINUTE),
        "end_param": iso_z(end) if end else "",
        **_exchange_context(exchange),
    }


@require_GET
@_html_errors
def overview(request: HttpRequest) -> HttpResponse:
    """`/`: every pair ranked by 24 h relative std, with filters that also work without JS."""
    context = _overview_context(request)
    if request.user.is_authenticated and context["exchange"] == EXCHANGE_BITFINEX:
        context["watchlist_json"] = json.dumps(watchlist_get(user=request.user))
    return render(request, "dashboards/overview.html", context)


@require_POST
def watchlist(request: HttpRequest) -> JsonResponse:
    """POST `pair=BTCUSD&starred=true|false`: star or unstar a tracked pair; the watchlist as JSON.

    Signed-in users only (anonymous visitors keep their stars in the browser): 403 otherwise,
    400 for an untracked pair or a full list, 503 when the price store is unreachable.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"error": "sign in to keep a watchlist on the server"}, status=403)
    pair = request.POST.get("pair", "").strip().upper()
    starred = request.POST.get("starred") == "true"
    try:
        tracked = {s.pair.name for s in price_selectors.pairs_list()}
    except RepositoryError:
        return JsonResponse({"error": "The price store is unavailable; try again shortly."}, status=503)
    if starred and pair not in tracked:
        return JsonResponse({"error": f"pair: {pair!r} is not tracked"}, status=400)
    try:
        pairs = watchlist_set(user=request.user, pair=pair, starred=starred)
    except WatchlistFullError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"pairs": pairs})


@require_GET
@_html_errors
def overview_live(request: HttpRequest) -> HttpResponse:
    """The overview's freshness line and table (HTML fragment the page swaps in every minute)."""
    return render(request, "dashboards/_overview_live.html", _overview_context(request))


# --- pair page --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartPreview:
    """The chart drawn on the server as an SVG line, shown until plotly.js draws the real one."""

    line: figures.Sparkline
    low: Decimal | None
    high: Decimal | None


def _preview(
    points: list[tuple[datetime, Decimal]], window: selectors.PairWindow, step_minutes: int
) -> ChartPreview:
    line = figures.sparkline(
        points,
        start=window.start,
        end=window.end,
        width=1000,
        height=300,
        max_points=500,
        step_ms=step_minutes * MINUTE_MS,
    )
    prices = [price for _, price in points]
    return ChartPreview(line=line, low=min(prices, default=None), high=max(prices, default=None))


def _pair_figure(window: selectors.PairWindow, view_key: str) -> tuple[go.Figure, ChartPreview]:
    pair = window.summary.pair
    interval = selectors.CHART_VIEWS[view_key]
    if interval is None:
        ticks = selectors.pair_ticks(window=window)
        fig = figures.pair_line_figure(
            pair=pair, ticks=ticks, start=window.start, end=window.end, stopped_since=window.stopped_since
        )
        return fig, _preview([(t.minute, t.last_price) for t in ticks], window, 1)
    width = candle_minutes(span_minutes=window.minutes, interval_minutes=interval)
    candles = selectors.pair_candles(window=window, minutes=width)
    fig = figures.pair_candles_figure(
        pair=pair,
        candles=candles,
        interval_minutes=interval,
        start=window.start,
        end=window.end,
        stopped_since=window.stopped_since,
    )
    return fig, _preview(
        [(c.start, c.close) for c in candles], window, candles[0].minutes if candles else width
    )


def _stats_context(
    window: selectors.PairWindow, start: datetime, end: datetime, stats: Any
) -> dict[str, Any]:
    return {
        "window": window,
        "stats_start": start,
        "stats_end": end,
        "stats": stats,
        "pair": window.summary.pair,
    }


def _pair_not_found(request: HttpRequest, pair: str, exchange: str) -> HttpResponse:
    tracked = [s.pair.name for s in price_selectors.pairs_list(exchange=exchange)]
    context = {
        **_exchange_context(exchange),
        "requested": pair,
        "tracked": tracked,
        "suggestions": difflib.get_close_matches(pair.upper(), tracked, n=3, cutoff=0.5),
    }
    return render(request, "dashboards/pair_not_found.html", context, status=404)


@require_GET
@_html_errors
def pair_detail(request: HttpRequest, pair: str) -> HttpResponse:
    """`/pairs/<pair>/`: chart (line or candles) of a range, with the window's statistics."""
    if pair != pair.upper():
        query = request.META.get("QUERY_STRING", "")
        return redirect(reverse("dashboards:pair", args=[pair.upper()]) + (f"?{query}" if query else ""))
    exchange = exchange_param(request.GET)
    range_key = choice_param(request.GET, "range", selectors.RANGES, selectors.DEFAULT_RANGE, strict=False)
    view_key = choice_param(request.GET, "view", selectors.CHART_VIEWS, selectors.DEFAULT_VIEW, strict=False)
    try:
        window = selectors.pair_window_get(
            pair=pair, range_key=range_key, end=_end_param(request), exchange=exchange
        )
    except price_selectors.PairNotFoundError:
        return _pair_not_found(request, pair, exchange)
    fig, preview = _pair_figure(window, view_key)
    start, end, stats = selectors.pair_window_stats(window=window)
    context = {
        "preview": preview,
        "nav": "pair",
        "pair": window.summary.pair,
        "summary": window.summary,
        "window": window,
        "range_key": range_key,
        "view_key": view_key,
        "ranges": list(selectors.RANGES),
        "views": list(selectors.CHART_VIEWS),
        # Drawn by the page script once the deferred plotly.js has loaded (no render-blocking script).
        "figure": _figure_json(fig),
        "chart_config_json": json.dumps(CHART_CONFIG),
        "chart_state_json": json.dumps(
            {
                "range": range_key,
                "view": view_key,
                "end": "" if window.is_latest else iso_z(window.end),
                # the chart and statistics fragments are of the same exchange (stateParams sends it)
                "exchange": "" if exchange == EXCHANGE_BITFINEX else exchange,
            }
        ),
        "end_param": "" if window.is_latest else iso_z(window.end),
        "note": fig.layout.meta["note"],
        **_stats_context(window, start, end, stats),
        **_exchange_context(exchange),
        "market": exchanges.market_of(exchange, pair),
    }
    return render(request, "dashboards/pair.html", context)


@require_GET
@_json_errors
def pair_chart_data(request: HttpRequest, pair: str) -> JsonResponse:
    """The pair chart of `?range=&view=` as Plotly JSON, with its note and statistics HTML."""
    exchange = exchange_param(request.GET)
    range_key = choice_param(request.GET, "range", selectors.RANGES, selectors.DEFAULT_RANGE)
    view_key = choice_param(request.GET, "view", selectors.CHART_VIEWS, selectors.DEFAULT_VIEW)
    window = selectors.pair_window_get(
        pair=pair, range_key=range_key, end=_end_param(request), exchange=exchange
    )
    fig, _ = _pair_figure(window, view_key)
    start, end, stats = selectors.pair_window_stats(window=window)
    return JsonResponse(
        {
            "range": range_key,
            "view": view_key,
            "note": fig.layout.meta["note"],
            "figure": _figure_json(fig),
            "stats_html": render_to_string(
                "dashboards/_stats.html", _stats_context(window, start, end, stats), request=request
            ),
        }
    )


@require_GET
@_json_errors
def pair_stats_fragment(request: HttpRequest, pair: str) -> HttpResponse:
    """Statistics (HTML fragment) of the minutes visible between `?start=` and `?end=`.

    The minutes drawn at x in [start, end] are those from ceil(start) to floor(end), so the
    window is [ceil(start), floor(end) + 1 min), clipped to the `?range=` window.
    """
    exchange = exchange_param(request.GET)
    range_key = choice_param(request.GET, "range", selectors.RANGES, selectors.DEFAULT_RANGE)
    window_end = datetime_param("window_end", request.GET.get("window_end"))
    window = selectors.pair_window_get(pair=pair, range_key=range_key, end=window_end, exchange=exchange)
    lo = datetime_param("start", request.GET.get("start"))
    hi = datetime_param("end", request.GET.get("end"))
    start, end, stats = selectors.pair_window_stats(
        window=window,
        start=minute_ceil(lo) if lo else None,
        end=minute_floor(hi) + MINUTE if hi else None,
    )
    return render(request, "dashboards/_stats.html", _stats_context(window, start, end, stats))


# --- compare ----------------------------------------------------------------------------


def _compare_figure(comparison: selectors.Comparison) -> go.Figure:
    return figures.compare_figure(series=comparison.series, start=comparison.start, end=comparison.end)


@require_GET
@_html_errors
def compare(request: HttpRequest) -> HttpResponse:
    """`/compare/?pairs=BTCUSD,ETHUSD&range=24h`: % change of several pairs on one chart."""
    range_key = choice_param(request.GET, "range", selectors.RANGES, selectors.DEFAULT_RANGE, strict=False)
    comparison = selectors.comparison_get(
        pairs=pairs_param(request.GET), range_key=range_key, end=_end_param(request)
    )
    end_param = "" if comparison.is_latest or comparison.end is None else iso_z(comparison.end)
    context: dict[str, Any] = {
        "nav": "compare",
        "comparison": comparison,
        "range_key": range_key,
        "ranges": list(selectors.RANGES),
        "max_pairs": selectors.COMPARE_MAX_PAIRS,
        "chart_url": reverse("dashboards:compare-chart"),
        "chart_config_json": json.dumps(CHART_CONFIG),
        "chart_state_json": json.dumps(
            {"pairs": ",".join(comparison.selected), "range": range_key, "end": end_param}
        ),
        "end_param": end_param,
    }
    if comparison.end is not None:
        fig = _compare_figure(comparison)
        context.update(figure=_figure_json(fig), note=fig.layout.meta["note"])
    return render(request, "dashboards/compare.html", context)


@require_GET
@_json_errors
def compare_chart_data(request: HttpRequest) -> JsonResponse:
    """The compare chart of `?pairs=&range=` as Plotly JSON."""
    range_key = choice_param(request.GET, "range", selectors.RANGES, selectors.DEFAULT_RANGE)
    comparison = selectors.comparison_get(
        pairs=pairs_param(request.GET), range_key=range_key, end=_end_param(request)
    )
    if comparison.end is None:
        raise BadParameterError("pairs", "no prices are stored yet")
    fig = _compare_figure(comparison)
    return JsonResponse(
        {
            "range": range_key,
            "pairs": comparison.selected,
            "empty": comparison.empty,
            "note": fig.layout.meta["note"],
            "figure": _figure_json(fig),
        }
    )


# --- markets ----------------------------------------------------------------------------


def _market_prices(market: str) -> selectors_markets.MarketPrices | None:
    """The market named `market` (BTC-USD, any case) on the configured exchanges; None if none lists it."""
    parsed = market_name(market)
    if parsed is None:
        return None
    indexes = selectors_markets.market_indexes()
    return selectors_markets.market_prices(market="-".join(parsed), indexes=indexes)


def _market_not_found(request: HttpRequest, market: str) -> HttpResponse:
    shared = selectors_markets.markets_shared(indexes=selectors_markets.market_indexes())
    context = {"nav": "markets", "requested": market, "markets": shared}
    return render(request, "dashboards/market_not_found.html", context, status=404)


@require_GET
@_html_errors
def markets(request: HttpRequest) -> HttpResponse:
    """`/markets/`: the markets listed on two or more configured exchanges, with their spreads."""
    shared = selectors_markets.markets_shared(indexes=selectors_markets.market_indexes())
    return render(request, "dashboards/markets.html", {"nav": "markets", "markets": shared})


@require_GET
@_html_errors
def market_detail(request: HttpRequest, market: str) -> HttpResponse:
    """`/markets/BTC-USD/`: one base/quote on every exchange listing it (a line each) with the spread."""
    prices = _market_prices(market)
    if prices is None:
        return _market_not_found(request, market)
    if market != prices.market:
        query = request.META.get("QUERY_STRING", "")
        url = reverse("dashboards:market", args=[prices.market])
        return redirect(url + (f"?{query}" if query else ""))
    range_key = choice_param(request.GET, "range", selectors.RANGES, selectors.DEFAULT_RANGE, strict=False)
    window = selectors.market_window_get(prices=prices, range_key=range_key, end=_end_param(request))
    fig = _market_figure(window)
    end_param = "" if window.is_latest else iso_z(window.end)
    labels = {c.name: c.label for c in configured_exchanges()}
    context = {
        "nav": "markets",
        "market": prices,
        "quotes": [(labels.get(q.exchange, q.exchange), q) for q in prices.quotes],
        "window": window,
        "range_key": range_key,
        "ranges": list(selectors.RANGES),
        "figure": _figure_json(fig),
        "note": fig.layout.meta["note"],
        "chart_config_json": json.dumps(CHART_CONFIG),
        "chart_state_json": json.dumps({"range": range_key, "end": end_param}),
        "end_param": end_param,
    }
    return render(request, "dashboards/market.html", context)


def _market_figure(window: selectors.MarketWindow) -> go.Figure:
    return figures.market_figure(
        market=window.prices.market,
        quote=window.prices.quote,
        series=window.series,
        spread=window.spread,
        start=window.start,
        end=window.end,
        step_minutes=window.step_minutes,
    )


@require_GET
@_json_errors
def market_chart_data(request: HttpRequest, market: str) -> JsonResponse:
    """The market chart of `?range=&end=` as Plotly JSON (404 JSON for a market no exchange lists)."""
    range_key = choice_param(request.GET, "range", selectors.RANGES, selectors.DEFAULT_RANGE)
    prices = _market_prices(market)
    if prices is None:
        return JsonResponse({"error": f"no configured exchange lists {market!r}"}, status=404)
    window = selectors.market_window_get(prices=prices, range_key=range_key, end=_end_param(request))
    fig = _market_figure(window)
    return JsonResponse({"range": range_key, "note": fig.layout.meta["note"], "figure": _figure_json(fig)})
