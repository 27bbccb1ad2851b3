"""Django app config for alerts."""

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """The alerts app: users' alert rules, their evaluation and notifications."""

    name = "alerts"
    verbose_name = "Alerts"
