"""URLs of the monitoring endpoints (mounted at the root: probes and Prometheus expect fixed paths)."""

from django.urls import path

from cryptotracker.monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]
