"""Price API views: thin adapters from HTTP to prices.selectors (JSON by default, browsable, CSV)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
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
    EXCHANGE_ALL,
    EXCHANGE_HELP,
    BadParameterError,
    choice_param,
    datetime_param,
    exchange_param,
    int_param,
    iso_z,
    market_name,
    pair_name,
    pairs_param,
)
from prices import selectors, selectors_history, selectors_markets
from prices.api.renderers import CsvRenderer, csv_lines
from prices.api.serializers import (
    CandleSerializer,
    ExchangeSerializer,
    MarketSerializer,
    PairDetailSerializer,
    PairSerializer,
    RankEntrySerializer,
    StatsSerializer,
    TickSerializer,
    tick_row_data,
)
from prices.cache import cached, cached_across
from prices.domain import EXCHANGE_BITFINEX, MINUTE, minute_ceil
from prices.exchanges import configured_exchanges
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


def _known_format(exchange: str, pair: str) -> str:
    """The pair name if it has the exchange's format; NotFound otherwise (no store read but,
    for an odd name of an exchange other than Bitfinex, its cached tracked pairs)."""
    name = pair_name(exchange, pair, tracked=lambda: _tracked(exchange))
    if name is None:
        raise NotFound(f"pair {pair!r} is not tracked on {exchange}")
    return name


def _tracked(exchange: str) -> set[str]:
    """The exchange's tracked pair names, cached until its next store of prices."""
    return cached("tracked_pairs", lambda: selectors.tracked_pairs(exchange=exchange), exchange=exchange)[0]


def _window_end(request: Request, exchange: str) -> datetime:
    end = datetime_param("end", request.query_params.get("end"))
    return minute_ceil(end) if end else selectors.window_end_default(exchange=exchange)


END_PARAM = OpenApiParameter(
    "end",
    str,
    description=f"Window end. {DATETIME_HELP} Rounded up to the minute. "
    "Default: the end of the newest stored minute.",
)
WINDOW_PARAM = OpenApiParameter(
    "window", str, enum=list(selectors.WINDOWS), description="Window length (default 24h)."
)
EXCHANGE_PARAM = OpenApiParameter("exchange", str, description=EXCHANGE_HELP)


def _paged(request: Request, page: int, pages: int, count: int, results: list) -> dict[str, Any]:
    """The page envelope of the paginated lists: count, next and previous links, results.

    Raises BadParameterError (HTTP 400) for a page past the last; links keep the query.
    """
    if page > pages:
        raise BadParameterError("page", f"page {page} does not exist; pages are 1 to {pages}")
    url = request.build_absolute_uri()
    return {
        "count": count,
        "next": replace_query_param(url, "page", page + 1) if page < pages else None,
        "previous": replace_query_param(url, "page", page - 1) if page > 1 else None,
        "results": results,
    }


class PairListApi(PriceApiView):
    """GET /api/v1/pairs/: tracked pairs with last price, 24 h change and 24 h standard deviation."""

    @extend_schema(
        parameters=[
            EXCHANGE_PARAM,
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
        exchange = exchange_param(request.query_params)
        if type(request.accepted_renderer) is JSONRenderer:
            # Plain JSON, the common case, is cached rendered, as rank is: a hit is then read, not rebuilt.
            # The key is the whole absolute URL, since the body's next/previous links are built from it.
            content, _ = cached(
                f"pairs:json:{request.build_absolute_uri()}",
                lambda: JSONRenderer().render(self._body(request, exchange)),
                exchange=exchange,
            )
            return HttpResponse(content, content_type=JSONRenderer.media_type)
        return Response(self._body(request, exchange))

    @staticmethod
    def _body(request: Request, exchange: str) -> dict[str, Any]:
        params = request.query_params
        overview, _ = cached(
            "pairs_overview", lambda: selectors.pairs_overview(exchange=exchange), exchange=exchange
        )
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
        return _paged(
            request, page.page, page.pages, page.count, PairSerializer(page.results, many=True).data
        )


class PairDetailApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/: the pair's newest tick with every stored field."""

    @extend_schema(
        parameters=[EXCHANGE_PARAM],
        responses={200: PairDetailSerializer, 404: OpenApiResponse(description="Unknown pair")},
    )
    def get(self, request: Request, pair: str) -> Response:
        exchange = exchange_param(request.query_params)
        pair = _known_format(exchange, pair)
        return Response(PairDetailSerializer(selectors.pair_detail(pair=pair, exchange=exchange)).data)


class PairHistoryApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/history/: minute ticks or OHLC candles in [start, end), oldest first."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            EXCHANGE_PARAM,
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
        exchange = exchange_param(request.query_params)
        pair = _known_format(exchange, pair)
        interval = choice_param(request.query_params, "interval", INTERVALS, "1m")
        start, end = history_range(request)
        if request.accepted_renderer.format == CsvRenderer.format:
            return self._csv(request, exchange, pair, interval, start, end)
        page_size = _history_page_size(request)
        page_start = _history_page_start(request, start, end)
        minutes = INTERVALS[interval]
        page = selectors_history.history_page(
            pair=pair,
            start=page_start,
            end=end,
            minutes=minutes,
            page_size=page_size,
            exchange=exchange,
            tick_rows=minutes == 1,
        )
        next_url = None
        if page.next_start is not None:
            query = request.query_params.copy()
            query["cursor"] = selectors_history.history_cursor(page.next_start)
            next_url = request.build_absolute_uri(request.path + "?" + query.urlencode())
        if not page.rows:
            selectors.pair_get(pair=pair, exchange=exchange)  # an empty page of a tracked pair, or 404
        if minutes == 1:
            results = [tick_row_data(row) for row in page.rows]
        else:
            results = CandleSerializer(page.rows, many=True).data
        return Response(
            {
                "exchange": exchange,
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
        self, request: Request, exchange: str, pair: str, interval: str, start: datetime, end: datetime
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
        # 404 before the first byte: a stream cannot change its status
        selectors.pair_get(pair=pair, exchange=exchange)
        rows = selectors_history.history_rows(
            pair=pair, start=start, end=end, minutes=minutes, exchange=exchange, tick_rows=minutes == 1
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
        name = pair.replace(":", "-").replace("/", "-")
        if exchange != EXCHANGE_BITFINEX:  # today's file names stay; another exchange's are told apart
            name = f"{exchange}_{name}"
        response["Content-Disposition"] = f'attachment; filename="{name}_{interval}.csv"'
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
        parameters=[EXCHANGE_PARAM, WINDOW_PARAM, END_PARAM],
        responses={
            200: inline_serializer(
                "PairStats",
                {
                    "exchange": serializers.CharField(),
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
        exchange = exchange_param(request.query_params)
        summary = selectors.pair_get(pair=_known_format(exchange, pair), exchange=exchange)
        window = choice_param(request.query_params, "window", selectors.WINDOWS, "24h")
        minutes = selectors.WINDOWS[window]
        end = _window_end(request, exchange)
        stats = selectors.pair_stats(
            pair=summary.pair.name, window_minutes=minutes, end=end, exchange=exchange
        )
        return Response(
            {
                "exchange": exchange,
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
            OpenApiParameter(
                "exchange",
                str,
                description=f"{EXCHANGE_HELP} `all` ranks the pairs of every configured exchange together "
                "(at one end: the newest stored minute of any of them).",
            ),
            WINDOW_PARAM,
            END_PARAM,
            OpenApiParameter(
                "metric", str, enum=list(selectors.RANK_METRICS), description="Default relative_std."
            ),
            OpenApiParameter(
                "pairs",
                str,
                description="Comma list such as BTCUSD,ETHUSD (default: all tracked; with exchange=all, "
                "a pair of any exchange).",
            ),
            OpenApiParameter(
                "limit", int, description=f"Return only the first N (1–{RANK_LIMIT_MAX:,}; default 1,000)."
            ),
        ],
        responses=inline_serializer(
            "Rank",
            {
                "exchange": serializers.CharField(),
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
        exchange = exchange_param(request.query_params, allow_all=True)
        names = configured_names() if exchange == EXCHANGE_ALL else [exchange]
        window = choice_param(request.query_params, "window", selectors.WINDOWS, "24h")
        metric = choice_param(request.query_params, "metric", selectors.RANK_METRICS, "relative_std")
        limit = int_param(
            "limit", request.query_params.get("limit"), default=1000, minimum=1, maximum=RANK_LIMIT_MAX
        )
        pairs = None
        if request.query_params.get("pairs"):
            tracked = set().union(*(_tracked(name) for name in names))
            pairs = pairs_param(request.query_params, tracked=tracked) or None
        end = datetime_param("end", request.query_params.get("end"))
        end = minute_ceil(end) if end else None
        key = f"rank:{exchange}:{window}:{metric}:{limit}:{','.join(pairs or [])}:{iso_z(end) or ''}"

        def body() -> dict[str, Any]:
            return cached_across(
                key,
                lambda: self._rank(exchange, names, window, metric, limit, pairs, end),
                exchanges=names,
            )[0]

        if type(request.accepted_renderer) is JSONRenderer:
            # Plain JSON, the common case, is cached rendered: a hit is then one cache read.
            content, _ = cached_across(f"{key}:json", lambda: JSONRenderer().render(body()), exchanges=names)
            return HttpResponse(content, content_type=JSONRenderer.media_type)
        return Response(body())

    @staticmethod
    def _rank(
        exchange: str,
        names: list[str],
        window: str,
        metric: str,
        limit: int,
        pairs: list[str] | None,
        end: datetime | None,
    ) -> dict[str, Any]:
        minutes = selectors.WINDOWS[window]
        if exchange == EXCHANGE_ALL:
            end = end or max(selectors.window_end_default(exchange=name) for name in names)
            entries = selectors.pairs_rank_across(
                exchange_names=names, window_minutes=minutes, end=end, metric=metric, pairs=pairs, limit=limit
            )
        else:
            end = end or selectors.window_end_default(exchange=exchange)
            entries = selectors.pairs_rank(
                window_minutes=minutes, end=end, metric=metric, pairs=pairs, limit=limit, exchange=exchange
            )
        return {
            "exchange": exchange,
            "window": window,
            "metric": metric,
            "start": iso_z(end - minutes * MINUTE),
            "end": iso_z(end),
            "coverage_floor": selectors.COVERAGE_FLOOR,
            "count": len(entries),
            "results": RankEntrySerializer(entries, many=True).data,
        }


def configured_names() -> list[str]:
    """The names of the configured exchanges, in PRICES_EXCHANGES order."""
    return [config.name for config in configured_exchanges()]


class ExchangeListApi(PriceApiView):
    """GET /api/v1/exchanges/: the configured exchanges with their pair counts and freshness."""

    @extend_schema(responses=ExchangeSerializer(many=True), operation_id="exchanges_list")
    def get(self, request: Request) -> Response:
        now = datetime.now(UTC)
        stale_after = timedelta(seconds=settings.READINESS_STALE_AFTER_S)
        summaries = [
            selectors_markets.exchange_summary(
                config=config,
                minutes=cached(
                    "exchange_minutes",
                    lambda n=config.name: selectors_markets.exchange_minutes(exchange=n),
                    exchange=config.name,
                )[0],
                now=now,
                stale_after=stale_after,
            )
            for config in configured_exchanges()
        ]
        return Response({"count": len(summaries), "results": ExchangeSerializer(summaries, many=True).data})


class MarketListApi(PriceApiView):
    """GET /api/v1/markets/: the markets listed on two or more configured exchanges, with their spread."""

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter(
                "page_size",
                int,
                description=f"Markets per page (1–{PAIRS_PAGE_MAX}, default {PAIRS_PAGE_SIZE}).",
            ),
        ],
        responses=MarketSerializer(many=True),
        operation_id="markets_list",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        page = int_param("page", params.get("page"), default=1, minimum=1, maximum=10**9)
        page_size = int_param(
            "page_size", params.get("page_size"), default=PAIRS_PAGE_SIZE, minimum=1, maximum=PAIRS_PAGE_MAX
        )
        markets = selectors_markets.markets_shared(indexes=selectors_markets.market_indexes())
        pages = max(1, -(-len(markets) // page_size))
        offset = (page - 1) * page_size
        results = MarketSerializer(markets[offset : offset + page_size], many=True).data
        return Response(_paged(request, page, pages, len(markets), results))


class MarketDetailApi(PriceApiView):
    """GET /api/v1/markets/{market}/: a market's newest price on every exchange listing it, and the spread."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "market",
                str,
                OpenApiParameter.PATH,
                description="BASE-QUOTE in normalised codes, e.g. BTC-USD (USDT is not USD).",
            )
        ],
        responses={
            200: MarketSerializer,
            404: OpenApiResponse(description="No configured exchange lists it"),
        },
    )
    def get(self, request: Request, market: str) -> Response:
        parsed = market_name(market)
        if parsed is None:
            raise NotFound(f"{market!r} is not a market name such as BTC-USD")
        name = "-".join(parsed)
        prices = selectors_markets.market_prices(market=name, indexes=selectors_markets.market_indexes())
        if prices is None:
            raise NotFound(
                f"no configured exchange lists {name} (configured are {', '.join(configured_names())})"
            )
        return Response(MarketSerializer(prices).data)
