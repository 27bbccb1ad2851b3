"""Price API views: thin adapters from HTTP to prices.selectors (JSON by default, browsable, CSV)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cryptotracker.api_errors import BadParameterError, ServiceUnavailableError
from prices import selectors
from prices.api.params import format_utc, parse_datetime_param, parse_int_param
from prices.api.renderers import CsvRenderer
from prices.api.serializers import (
    CandleSerializer,
    PairSerializer,
    RankEntrySerializer,
    StatsSerializer,
    TickDetailSerializer,
    TickSerializer,
)
from prices.cache import cached
from prices.domain import EXCHANGE_BITFINEX, MINUTE, InvalidPairError, Pair, from_ms, minute_ceil, to_ms
from prices.ohlc import INTERVALS
from prices.repository import RepositoryError

HISTORY_DEFAULT_SPAN = timedelta(hours=24)
HISTORY_PAGE_DEFAULT = 1440
HISTORY_PAGE_MAX = 10_000
PAIR_ORDERINGS = {
    "pair": lambda o: o.pair.name,
    "last_price": lambda o: o.last_price,
    "last_minute": lambda o: o.last_minute,
    "change_24h_pct": lambda o: o.stats.change_pct,
    "std_24h": lambda o: o.stats.std,
    "relative_std_24h": lambda o: o.stats.relative_std,
}


class PriceApiView(APIView):
    """Base view: public reads; store outages are 503 and unknown pairs 404, in the API's JSON error shape."""

    permission_classes = [AllowAny]  # the API's default is IsAuthenticated

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RepositoryError):
            exc = ServiceUnavailableError()
        elif isinstance(exc, selectors.PairNotFoundError):
            exc = NotFound(str(exc))
        response = super().handle_exception(exc)
        # Errors are always JSON, even when CSV was asked for.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


def _known_format(pair: str) -> str:
    """The pair name if it has Bitfinex's format; NotFound otherwise (no store read)."""
    try:
        return Pair.parse(pair).name
    except InvalidPairError:
        raise NotFound(f"pair {pair!r} is not tracked") from None


def _choice(request: Request, name: str, choices: list[str] | tuple[str, ...] | dict, default: str) -> str:
    raw = request.query_params.get(name) or default
    if raw not in choices:
        raise BadParameterError(name, f"{raw!r} is not one of {', '.join(choices)}")
    return raw


def _window_end(request: Request) -> datetime:
    end = parse_datetime_param("end", request.query_params.get("end"))
    return minute_ceil(end) if end else selectors.window_end_default()


END_PARAM = OpenApiParameter(
    "end",
    str,
    description="Window end, ISO 8601 with Z or an offset (%2B for +); rounded up to the minute. "
    "Default: the end of the newest stored minute.",
)
WINDOW_PARAM = OpenApiParameter(
    "window", str, enum=list(selectors.WINDOWS), description="Window length (default 24h)."
)


class PairPagination(PageNumberPagination):
    """?page= and ?page_size= (≤ 500) over the tracked pairs."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class PairListApi(PriceApiView):
    """GET /api/v1/pairs/: tracked pairs with last price, 24 h change and 24 h standard deviation."""

    @extend_schema(
        parameters=[
            OpenApiParameter("quote", str, description="Only pairs with this quote currency (e.g. USD)."),
            OpenApiParameter("search", str, description="Case-insensitive substring of the pair name."),
            OpenApiParameter(
                "ordering",
                str,
                enum=[*PAIR_ORDERINGS, *(f"-{k}" for k in PAIR_ORDERINGS)],
                description="Sort key.",
            ),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses=PairSerializer(many=True),
        operation_id="pairs_list",
    )
    def get(self, request: Request) -> Response:
        overview, _ = cached("pairs_overview", lambda: selectors.pairs_overview())
        quote = (request.query_params.get("quote") or "").upper()
        search = (request.query_params.get("search") or "").upper()
        ordering = _choice(request, "ordering", [*PAIR_ORDERINGS, *(f"-{k}" for k in PAIR_ORDERINGS)], "pair")
        rows = [o for o in overview if (not quote or o.pair.quote == quote) and search in o.pair.name]
        key = PAIR_ORDERINGS[ordering.lstrip("-")]
        present = [o for o in rows if key(o) is not None]
        rows = sorted(present, key=key, reverse=ordering.startswith("-")) + [
            o for o in rows if key(o) is None
        ]
        paginator = PairPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(PairSerializer(page, many=True).data)


class PairDetailApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/: the pair's newest tick with every stored field."""

    @extend_schema(responses={200: TickDetailSerializer, 404: OpenApiResponse(description="Unknown pair")})
    def get(self, request: Request, pair: str) -> Response:
        tick = selectors.tick_latest(pair=pair)
        return Response(TickDetailSerializer(tick).data)


class PairHistoryApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/history/: minute ticks or OHLC candles in [start, end), oldest first."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO 8601 (inclusive). Default: end − 24 h."),
            OpenApiParameter("end", str, description="ISO 8601 (exclusive). Default: now."),
            OpenApiParameter(
                "interval",
                str,
                enum=list(INTERVALS),
                description="1m (default) = ticks; others = OHLC candles.",
            ),
            OpenApiParameter(
                "limit", int, description=f"Rows per page (1–{HISTORY_PAGE_MAX}, default 1440)."
            ),
            OpenApiParameter("cursor", str, description="Opaque cursor from a previous page's `next`."),
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv downloads the rows."),
        ],
        responses={200: TickSerializer(many=True), 404: OpenApiResponse(description="Unknown pair")},
        operation_id="pairs_history",
    )
    def get(self, request: Request, pair: str) -> Response:
        pair = _known_format(pair)
        interval = _choice(request, "interval", INTERVALS, "1m")
        start, end = history_range(request)
        limit = parse_int_param(
            "limit",
            request.query_params.get("limit"),
            default=HISTORY_PAGE_DEFAULT,
            minimum=1,
            maximum=HISTORY_PAGE_MAX,
        )
        page_start = _cursor_start(request.query_params.get("cursor"), start, end)
        minutes = INTERVALS[interval]
        next_start = None
        if minutes == 1:
            rows: list[Any] = selectors.ticks_between(pair=pair, start=page_start, end=end, limit=limit + 1)
            if len(rows) > limit:
                rows = rows[:limit]
                next_start = rows[-1].minute + MINUTE
            serializer: type[serializers.Serializer] = TickSerializer
        else:
            # A page spans at most `limit` buckets, cut on a bucket boundary so no candle is split.
            width_ms = minutes * 60_000
            page_end_ms = to_ms(page_start) + limit * width_ms
            page_end = min(end, from_ms(page_end_ms - page_end_ms % width_ms))
            rows = selectors.candles_between(pair=pair, start=page_start, end=page_end, minutes=minutes)
            next_start = page_end if page_end < end else None
            serializer = CandleSerializer
        next_url = None
        if next_start is not None:
            query = request.query_params.copy()
            query["cursor"] = str(to_ms(next_start))
            next_url = request.build_absolute_uri(request.path + "?" + query.urlencode())
        if not rows:
            selectors.pair_get(pair=pair)  # an empty page of a tracked pair, or 404
        self.csv_filename = f"{pair.replace(':', '-')}_{interval}.csv"
        return Response(
            {
                "exchange": EXCHANGE_BITFINEX,
                "pair": pair,
                "interval": interval,
                "start": format_utc(start),
                "end": format_utc(end),
                "count": len(rows),
                "next": next_url,
                "results": serializer(rows, many=True).data,
            }
        )


def history_range(request: Request) -> tuple[datetime, datetime]:
    """[start, end) from the query string; end defaults to now (next minute), start to end − 24 h."""
    end = parse_datetime_param("end", request.query_params.get("end"))
    end = minute_ceil(end) if end else minute_ceil(datetime.now(UTC))
    start = parse_datetime_param(
        "start", request.query_params.get("start"), default=end - HISTORY_DEFAULT_SPAN
    )
    if start >= end:
        raise BadParameterError("start", "must be before end")
    return start, end


def _cursor_start(raw: str | None, start: datetime, end: datetime) -> datetime:
    if not raw:
        return start
    try:
        value = from_ms(int(raw))
    except (ValueError, OverflowError):
        raise BadParameterError("cursor", "invalid cursor; use the `next` link of a previous page") from None
    if not start <= value <= end:
        raise BadParameterError("cursor", "cursor outside [start, end)")
    return value


class PairStatsApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/stats/: statistics of the pair's minute prices over a window."""

    @extend_schema(
        parameters=[WINDOW_PARAM, END_PARAM],
        responses={
            200: inline_serializer(
                "PairStats",
                {
                    "pair": serializers.CharField(),
                    "window": serializers.CharField(),
                    "start": serializers.DateTimeField(),
                    "end": serializers.DateTimeField(),
                    "stats": StatsSerializer(),
                },
            ),
            404: OpenApiResponse(description="Unknown pair"),
        },
    )
    def get(self, request: Request, pair: str) -> Response:
        summary = selectors.pair_get(pair=pair)
        window = _choice(request, "window", selectors.WINDOWS, "24h")
        minutes = selectors.WINDOWS[window]
        end = _window_end(request)
        stats = selectors.pair_stats(pair=summary.pair.name, window_minutes=minutes, end=end)
        return Response(
            {
                "pair": summary.pair.name,
                "window": window,
                "start": format_utc(end - minutes * MINUTE),
                "end": format_utc(end),
                "stats": StatsSerializer(stats).data,
            }
        )


class RankApi(PriceApiView):
    """GET /api/v1/rank/: pairs ordered by a dispersion metric over a window, descending."""

    @extend_schema(
        parameters=[
            WINDOW_PARAM,
            END_PARAM,
            OpenApiParameter(
                "metric", str, enum=list(selectors.RANK_METRICS), description="Default relative_std."
            ),
            OpenApiParameter(
                "pairs", str, description="Comma list such as BTCUSD,ETHUSD (default: all tracked)."
            ),
            OpenApiParameter("limit", int, description="Return only the first N (1–1000)."),
        ],
        responses=inline_serializer(
            "Rank",
            {
                "window": serializers.CharField(),
                "metric": serializers.CharField(),
                "start": serializers.DateTimeField(),
                "end": serializers.DateTimeField(),
                "coverage_floor": serializers.FloatField(),
                "count": serializers.IntegerField(),
                "results": RankEntrySerializer(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        window = _choice(request, "window", selectors.WINDOWS, "24h")
        metric = _choice(request, "metric", selectors.RANK_METRICS, "relative_std")
        limit = parse_int_param(
            "limit", request.query_params.get("limit"), default=1000, minimum=1, maximum=1000
        )
        pairs = _pairs_param(request)
        end = parse_datetime_param("end", request.query_params.get("end"))
        end = minute_ceil(end) if end else None
        key = f"rank:{window}:{metric}:{limit}:{','.join(pairs or [])}:{format_utc(end) or ''}"

        def body() -> dict[str, Any]:
            return cached(
                key, lambda: self._rank(window, metric, limit, pairs, end or selectors.window_end_default())
            )[0]

        if type(request.accepted_renderer) is JSONRenderer:
            # Plain JSON, the common case, is cached rendered: a hit is then one cache read.
            content, _ = cached(f"{key}:json", lambda: JSONRenderer().render(body()))
            return HttpResponse(content, content_type=JSONRenderer.media_type)
        return Response(body())

    @staticmethod
    def _rank(window: str, metric: str, limit: int, pairs: list[str] | None, end: datetime) -> dict[str, Any]:
        minutes = selectors.WINDOWS[window]
        entries = selectors.pairs_rank(
            window_minutes=minutes, end=end, metric=metric, pairs=pairs, limit=limit
        )
        return {
            "window": window,
            "metric": metric,
            "start": format_utc(end - minutes * MINUTE),
            "end": format_utc(end),
            "coverage_floor": selectors.COVERAGE_FLOOR,
            "count": len(entries),
            "results": RankEntrySerializer(entries, many=True).data,
        }


def _pairs_param(request: Request) -> list[str] | None:
    raw = request.query_params.get("pairs")
    if not raw:
        return None
    names = [p.strip().upper() for p in raw.split(",") if p.strip()]
    tracked = {s.pair.name for s in selectors.pairs_list()}
    unknown = [p for p in names if p not in tracked]
    if unknown:
        raise BadParameterError("pairs", f"unknown pairs: {', '.join(unknown)}")
    return names
