"""Liveness, readiness and Prometheus endpoints: plain Django views, never cached, never throttled."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from cryptotracker.monitoring.health import readiness_check
from cryptotracker.monitoring.metrics import metrics_access, metrics_exposition

_REFUSALS = {
    401: ("not_authenticated", "a bearer token (METRICS_TOKEN) is required"),
    403: ("permission_denied", "this address may not read the metrics (METRICS_ALLOWED_NETWORKS)"),
}


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: 200 without touching any dependency."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency answers and prices are fresh: 200, else 503; a check per dependency."""
    readiness = readiness_check()
    return JsonResponse(readiness.as_json(), status=200 if readiness.ok else 503)


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition, behind METRICS_TOKEN and METRICS_ALLOWED_NETWORKS when set."""
    refused = metrics_access(
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    if refused:
        code, message = _REFUSALS[refused]
        response = JsonResponse(
            {"error": {"status": refused, "code": code, "message": message, "fields": {}}}, status=refused
        )
        if refused == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)
