"""Django app config for alerts."""

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """The alerts app: users' alert rules, their evaluation and notifications."""

    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts.receivers import on_ticks_stored
        from prices.signals import ticks_stored

        ticks_stored.connect(on_ticks_stored, dispatch_uid="alerts.on_ticks_stored")
