"""Django app config for prices."""

from django.apps import AppConfig


class PricesConfig(AppConfig):
    """The prices app: ingestion from exchanges, tick storage, price API and dashboards."""

    name = "prices"
    verbose_name = "Prices"

    def ready(self) -> None:
        from prices.cache import invalidate
        from prices.signals import ticks_stored

        ticks_stored.connect(invalidate, dispatch_uid="prices.cache.invalidate")
