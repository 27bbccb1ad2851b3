"""GET /api/v1/: the API's entry point, linking every collection, the schema and the docs."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# name in the response → URL name; the alerts collections need a login, the others do not.
LINKS = {
    "pairs": "prices:pair-list",
    "rank": "prices:rank",
    "exchanges": "prices:exchange-list",
    "markets": "prices:market-list",
    "alert_rules": "alerts:rule-list",
    "alert_channels": "alerts:channel-list",
    "alert_events": "alerts:event-list",
    "schema": "schema",
    "docs": "api-docs",
}


class EndpointListApi(APIView):
    """Absolute URLs of the API's collections, its OpenAPI schema and its Swagger UI (public)."""

    name = "API root"  # the browsable API's page name
    permission_classes = [AllowAny]

    @extend_schema(
        summary="API root",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Name → absolute URL.")},
    )
    def get(self, request: Request) -> Response:
        return Response({name: reverse(url_name, request=request) for name, url_name in LINKS.items()})
