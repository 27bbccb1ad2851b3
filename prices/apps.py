"""Django app config for prices."""

from django.apps import AppConfig


class PricesConfig(AppConfig):
    """The prices app: ingestion from exchanges, tick storage, price API and dashboards."""

    name = "prices"
    verbose_name = "Prices"
