"""Price API views: thin adapters from HTTP to prices.selectors (JSON by default, browsable, CSV)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from cryptotracker.api_errors import ServiceUnavailableError
from cryptotracker.params import (
    DATETIME_HELP,
    BadParameterError,
    choice_param,
    datetime_param,
    int_param,
    iso_z,
    pairs_param,
)
from prices import selectors, selectors_history
from prices.api.renderers import CsvRenderer, csv_lines
from prices.api.serializers import (
    CandleSerializer,
    PairDetailSerializer,
    PairSerializer,
    RankEntrySerializer,
    StatsSerializer,
    TickSerializer,
    tick_row_data,
)
from prices.cache import cached
from prices.domain import EXCHANGE_BITFINEX, MINUTE, InvalidPairError, Pair, minute_ceil
from prices.ohlc import INTERVALS
from prices.repository import RepositoryError

HISTORY_DEFAULT_SPAN = timedelta(hours=24)
HISTORY_PAGE_DEFAULT = 1440
HISTORY_PAGE_MAX = 10_000
# The longest range one CSV export streams (a quarter: 132,480 minute rows).
HISTORY_CSV_MAX_DAYS = 92
HISTORY_CSV_MAX = timedelta(days=HISTORY_CSV_MAX_DAYS)
PAIRS_PAGE_SIZE = 100
PAIRS_PAGE_MAX = 500
RANK_LIMIT_MAX = 10_000  # every pair of a large exchange in one ranking (issue 11: 3,000 pairs)


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
        raise NotFound(f"pair {pair!r} is not tracked on {EXCHANGE_BITFINEX}") from None


def _window_end(request: Request) -> datetime:
    end = datetime_param("end", request.query_params.get("end"))
    return minute_ceil(end) if end else selectors.window_end_default()


END_PARAM = OpenApiParameter(
    "end",
    str,
    description=f"Window end. {DATETIME_HELP} Rounded up to the minute. "
    "Default: the end of the newest stored minute.",
)
WINDOW_PARAM = OpenApiParameter(
    "window", str, enum=list(selectors.WINDOWS), description="Window length (default 24h)."
)


class PairListApi(PriceApiView):
    """GET /api/v1/pairs/: tracked pairs with last price, 24 h change and 24 h standard deviation."""

    @extend_schema(
        parameters=[
            OpenApiParameter("quote", str, description="Only pairs with this quote currency (e.g. USD)."),
            OpenApiParameter("search", str, description="Case-insensitive substring of the pair name."),
            OpenApiParameter(
                "ordering",
                str,
                enum=list(selectors.PAIR_ORDERING_CHOICES),
                description="Sort key; - first for descending (default pair). Nulls come last.",
            ),
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter(
                "page_size",
                int,
                description=f"Pairs per page (1–{PAIRS_PAGE_MAX}, default {PAIRS_PAGE_SIZE}).",
            ),
        ],
        responses=PairSerializer(many=True),
        operation_id="pairs_list",
    )
    def get(self, request: Request) -> HttpResponse:
        if type(request.accepted_renderer) is JSONRenderer:
            # Plain JSON, the common case, is cached rendered, as rank is: a hit is then read, not rebuilt.
            # The key is the whole absolute URL, since the body's next/previous links are built from it.
            content, _ = cached(
                f"pairs:json:{request.build_absolute_uri()}",
                lambda: JSONRenderer().render(self._body(request)),
            )
            return HttpResponse(content, content_type=JSONRenderer.media_type)
        return Response(self._body(request))

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        params = request.query_params
        overview, _ = cached("pairs_overview", lambda: selectors.pairs_overview())
        page = selectors.pairs_page(
            overview=overview,
            quote=params.get("quote") or "",
            search=params.get("search") or "",
            ordering=choice_param(params, "ordering", selectors.PAIR_ORDERING_CHOICES, "pair"),
            page=int_param("page", params.get("page"), default=1, minimum=1, maximum=10**9),
            page_size=int_param(
                "page_size",
                params.get("page_size"),
                default=PAIRS_PAGE_SIZE,
                minimum=1,
                maximum=PAIRS_PAGE_MAX,
            ),
        )
        if page.page > page.pages:
            raise BadParameterError("page", f"page {page.page} does not exist; pages are 1 to {page.pages}")
        url = request.build_absolute_uri()
        return {
            "count": page.count,
            "next": replace_query_param(url, "page", page.page + 1) if page.page < page.pages else None,
            "previous": replace_query_param(url, "page", page.page - 1) if page.page > 1 else None,
            "results": PairSerializer(page.results, many=True).data,
        }


class PairDetailApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/: the pair's newest tick with every stored field."""

    @extend_schema(responses={200: PairDetailSerializer, 404: OpenApiResponse(description="Unknown pair")})
    def get(self, request: Request, pair: str) -> Response:
        return Response(PairDetailSerializer(selectors.pair_detail(pair=pair)).data)


class PairHistoryApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/history/: minute ticks or OHLC candles in [start, end), oldest first."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description=f"Inclusive. {DATETIME_HELP} Default: end − 24 h."),
            OpenApiParameter(
                "end", str, description=f"Exclusive; rounded up to the minute. {DATETIME_HELP} Default: now."
            ),
            OpenApiParameter(
                "interval",
                str,
                enum=list(INTERVALS),
                description="1m (default) = ticks; others = OHLC candles.",
            ),
            OpenApiParameter(
                "page_size", int, description=f"Rows per page (1–{HISTORY_PAGE_MAX}, default 1440)."
            ),
            OpenApiParameter("limit", int, description="Older name of page_size.", deprecated=True),
            OpenApiParameter("cursor", str, description="Opaque cursor from a previous page's `next`."),
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="csv downloads every row of [start, end) in one streamed file (no pages; "
                f"`limit` is ignored); at most {HISTORY_CSV_MAX_DAYS} days, else 400.",
            ),
        ],
        responses={200: TickSerializer(many=True), 404: OpenApiResponse(description="Unknown pair")},
        operation_id="pairs_history",
    )
    def get(self, request: Request, pair: str) -> Response:
        pair = _known_format(pair)
        interval = choice_param(request.query_params, "interval", INTERVALS, "1m")
        start, end = history_range(request)
        if request.accepted_renderer.format == CsvRenderer.format:
            return self._csv(request, pair, interval, start, end)
        page_size = _history_page_size(request)
        page_start = _history_page_start(request, start, end)
        minutes = INTERVALS[interval]
        page = selectors_history.history_page(
            pair=pair, start=page_start, end=end, minutes=minutes, page_size=page_size, tick_rows=minutes == 1
        )
        next_url = None
        if page.next_start is not None:
            query = request.query_params.copy()
            query["cursor"] = selectors_history.history_cursor(page.next_start)
            next_url = request.build_absolute_uri(request.path + "?" + query.urlencode())
        if not page.rows:
            selectors.pair_get(pair=pair)  # an empty page of a tracked pair, or 404
        if minutes == 1:
            results = [tick_row_data(row) for row in page.rows]
        else:
            results = CandleSerializer(page.rows, many=True).data
        return Response(
            {
                "exchange": EXCHANGE_BITFINEX,
                "pair": pair,
                "interval": interval,
                "start": iso_z(start),
                "end": iso_z(end),
                "count": len(page.rows),
                "next": next_url,
                "results": results,
            }
        )

    def _csv(
        self, request: Request, pair: str, interval: str, start: datetime, end: datetime
    ) -> HttpResponse:
        """Every row of [start, end) (from the cursor, if any) as one streamed CSV file."""
        if end - start > HISTORY_CSV_MAX:
            raise BadParameterError(
                "start",
                f"a CSV export covers at most {HISTORY_CSV_MAX_DAYS} days; split the range "
                "or page through the JSON with `next`",
            )
        start = _history_page_start(request, start, end)
        minutes = INTERVALS[interval]
        selectors.pair_get(pair=pair)  # 404 before the first byte: a stream cannot change its status
        rows = selectors_history.history_rows(
            pair=pair, start=start, end=end, minutes=minutes, tick_rows=minutes == 1
        )
        serializer = TickSerializer() if minutes == 1 else CandleSerializer()
        represent = tick_row_data if minutes == 1 else serializer.to_representation
        first = next(rows, None)  # a store outage up to here is still a 503
        head = [] if first is None else [first]
        response = StreamingHttpResponse(
            csv_lines(
                (represent(row) for row in itertools.chain(head, rows)),
                fieldnames=list(serializer.fields),
            ),
            content_type=f"{CsvRenderer.media_type}; charset={CsvRenderer.charset}",
        )
        response["Content-Disposition"] = f'attachment; filename="{pair.replace(":", "-")}_{interval}.csv"'
        return response


def _history_page_start(request: Request, start: datetime, end: datetime) -> datetime:
    """Where the requested page starts: `start`, or the `cursor` of a previous page's `next`."""
    try:
        return selectors_history.history_cursor_start(
            request.query_params.get("cursor"), start=start, end=end
        )
    except selectors_history.HistoryCursorError as exc:
        raise BadParameterError("cursor", str(exc)) from None


def _history_page_size(request: Request) -> int:
    """Rows per page from `page_size` (or its older name `limit`), 1–HISTORY_PAGE_MAX."""
    name = "page_size" if "page_size" in request.query_params else "limit"
    return int_param(
        name,
        request.query_params.get(name),
        default=HISTORY_PAGE_DEFAULT,
        minimum=1,
        maximum=HISTORY_PAGE_MAX,
    )


def history_range(request: Request) -> tuple[datetime, datetime]:
    """[start, end) from the query string; end defaults to now (next minute), start to end − 24 h."""
    end = datetime_param("end", request.query_params.get("end"))
    end = minute_ceil(end) if end else minute_ceil(datetime.now(UTC))
    start = datetime_param("start", request.query_params.get("start"), default=end - HISTORY_DEFAULT_SPAN)
    if start >= end:
        raise BadParameterError("start", "must be before end")
    return start, end


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
        window = choice_param(request.query_params, "window", selectors.WINDOWS, "24h")
        minutes = selectors.WINDOWS[window]
        end = _window_end(request)
        stats = selectors.pair_stats(pair=summary.pair.name, window_minutes=minutes, end=end)
        return Response(
            {
                "pair": summary.pair.name,
                "window": window,
                "start": iso_z(end - minutes * MINUTE),
                "end": iso_z(end),
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
            OpenApiParameter(
                "limit", int, description=f"Return only the first N (1–{RANK_LIMIT_MAX:,}; default 1,000)."
            ),
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
        window = choice_param(request.query_params, "window", selectors.WINDOWS, "24h")
        metric = choice_param(request.query_params, "metric", selectors.RANK_METRICS, "relative_std")
        limit = int_param(
            "limit", request.query_params.get("limit"), default=1000, minimum=1, maximum=RANK_LIMIT_MAX
        )
        pairs = None
        if request.query_params.get("pairs"):
            tracked = [summary.pair.name for summary in selectors.pairs_list()]
            pairs = pairs_param(request.query_params, tracked=tracked) or None
        end = datetime_param("end", request.query_params.get("end"))
        end = minute_ceil(end) if end else None
        key = f"rank:{window}:{metric}:{limit}:{','.join(pairs or [])}:{iso_z(end) or ''}"

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
            "start": iso_z(end - minutes * MINUTE),
            "end": iso_z(end),
            "coverage_floor": selectors.COVERAGE_FLOOR,
            "count": len(entries),
            "results": RankEntrySerializer(entries, many=True).data,
        }
