"""One JSON shape for every API error: {"error": {"status", "code", "message", "fields"}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cryptotracker.api_parsers import RequestTooLargeError


class ServiceUnavailableError(APIException):
    """HTTP 503: a backing store (DynamoDB) is unreachable."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "The price store is unavailable; try again shortly."


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    return {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing {"error": {status, code, message, fields}}.

    Django's own exceptions are translated first, so that their code and message are DRF's
    ("not_found", "permission_denied") rather than a generic "error" with a `detail` field.
    """
    if isinstance(exc, Http404):
        exc = NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLargeError()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = getattr(exc, "detail", response.data)
    fields = _flatten(detail)
    if fields:
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
    else:
        message = str(detail if not isinstance(detail, list) else " ".join(map(str, detail)))
    codes = exc.get_codes() if isinstance(exc, APIException) else None
    code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
    response.data = {
        "error": {"status": response.status_code, "code": code, "message": message, "fields": fields}
    }
    return response


def _error_body(status_code: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"status": status_code, "code": code, "message": message, "fields": {}}}


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 handler: the API's JSON error shape under /api/, Django's templated page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(_error_body(404, "not_found", f"no API endpoint at {request.path}"), status=404)
    return defaults.page_not_found(request, exception)


def api_path_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any /api/ path no endpoint matched: the JSON 404 even with DEBUG (whose 404 page is HTML).

    It is the last /api/ URL pattern, so it also stands in for APPEND_SLASH there: a GET of
    an endpoint without its trailing slash is redirected to it.
    """
    if not request.path.endswith("/") and request.method in ("GET", "HEAD"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_path_not_found:
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(request.path + "/" + (f"?{query}" if query else ""))
    return JsonResponse(_error_body(404, "not_found", f"no API endpoint at {request.path}"), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """500 handler: the API's JSON error shape under /api/, Django's templated page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(_error_body(500, "server_error", "internal server error"), status=500)
    return defaults.server_error(request)
