"""Price API views: thin adapters from HTTP to prices.selectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cryptotracker.api_errors import BadParameterError, ServiceUnavailableError
from prices import selectors
from prices.api.params import format_utc, parse_datetime_param, parse_int_param
from prices.api.serializers import PairSerializer, TickSerializer
from prices.domain import MINUTE, from_ms, minute_ceil, to_ms
from prices.repository import RepositoryError

HISTORY_DEFAULT_SPAN = timedelta(hours=24)
HISTORY_PAGE_DEFAULT = 1440
HISTORY_PAGE_MAX = 10_000


class PriceApiView(APIView):
    """Base view: a store outage is a 503 with the API's JSON error body, never a 500."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RepositoryError):
            exc = ServiceUnavailableError()
        elif isinstance(exc, selectors.PairNotFoundError):
            exc = NotFound(str(exc))
        return super().handle_exception(exc)


class PairListApi(PriceApiView):
    """GET /api/v1/pairs/: every tracked pair with base, quote, last price and its minute."""

    @extend_schema(responses=PairSerializer(many=True), operation_id="pairs_list")
    def get(self, request: Request) -> Response:
        pairs = selectors.pairs_list()
        return Response({"count": len(pairs), "results": PairSerializer(pairs, many=True).data})


TIME_PARAMS = [
    OpenApiParameter("start", str, description="ISO 8601 with Z or offset (inclusive). Default: end − 24 h."),
    OpenApiParameter("end", str, description="ISO 8601 with Z or offset (exclusive). Default: now."),
]


class PairHistoryApi(PriceApiView):
    """GET /api/v1/pairs/{pair}/history/: the pair's minute ticks in [start, end), oldest first."""

    @extend_schema(
        parameters=[
            *TIME_PARAMS,
            OpenApiParameter("limit", int, description=f"Ticks per page (1–{HISTORY_PAGE_MAX}, default 1440)."),
            OpenApiParameter("cursor", str, description="Opaque cursor from a previous page's `next`."),
        ],
        responses=TickSerializer(many=True),
        operation_id="pairs_history",
    )
    def get(self, request: Request, pair: str) -> Response:
        summary = selectors.pair_get(pair=pair)
        start, end = history_range(request)
        limit = parse_int_param(
            "limit", request.query_params.get("limit"), default=HISTORY_PAGE_DEFAULT, minimum=1, maximum=HISTORY_PAGE_MAX
        )
        page_start = _cursor_start(request.query_params.get("cursor"), start, end)
        ticks = selectors.ticks_between(pair=summary.pair.name, start=page_start, end=end, limit=limit + 1)
        next_url = None
        if len(ticks) > limit:
            ticks = ticks[:limit]
            query = request.query_params.copy()
            query["cursor"] = str(to_ms(ticks[-1].minute + MINUTE))
            next_url = request.build_absolute_uri(request.path + "?" + query.urlencode())
        body: dict[str, Any] = {
            "exchange": summary.exchange,
            "pair": summary.pair.name,
            "start": format_utc(start),
            "end": format_utc(end),
            "count": len(ticks),
            "next": next_url,
            "results": TickSerializer(ticks, many=True).data,
        }
        return Response(body)


def history_range(request: Request) -> tuple[datetime, datetime]:
    """[start, end) from the query string; end defaults to now (next minute), start to end − 24 h."""
    end = parse_datetime_param("end", request.query_params.get("end"))
    end = minute_ceil(end) if end else minute_ceil(datetime.now(UTC))
    start = parse_datetime_param("start", request.query_params.get("start"), default=end - HISTORY_DEFAULT_SPAN)
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
