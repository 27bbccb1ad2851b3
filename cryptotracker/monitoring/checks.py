"""Deployment checks (`manage.py check --deploy`) for what Django's own checks do not cover."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def metrics_protected_check(app_configs, **kwargs) -> list[Warning]:
    """/metrics should need METRICS_TOKEN or come only from METRICS_ALLOWED_NETWORKS in production."""
    if settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS:
        return []
    return [
        Warning(
            "/metrics answers anyone who can reach the app.",
            hint="Set METRICS_TOKEN (Prometheus sends it as a bearer token) or METRICS_ALLOWED_NETWORKS.",
            id="monitoring.W001",
        )
    ]
