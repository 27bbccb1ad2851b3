"""Django app config for monitoring."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Health and readiness endpoints, Prometheus metrics, deployment checks."""

    name = "cryptotracker.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from cryptotracker.monitoring import checks  # noqa: F401  (registers the deployment checks)
