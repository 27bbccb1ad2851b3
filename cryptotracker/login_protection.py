"""Login protection (django-axes): the client address failures are counted by, and the lockout page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address: REMOTE_ADDR, or with API_NUM_PROXIES = N > 0 the N-th address from
    the right of X-Forwarded-For (what the proxy in front of us saw), as DRF's throttling reads it."""
    proxies = settings.API_NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None):
    """django-axes' answer to a locked-out login (admin or /accounts/login/): 429 and a page saying
    how long the lockout lasts and how to get help."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "registration/lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
