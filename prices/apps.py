"""Django app config for prices."""

from django.apps import AppConfig


class PricesConfig(AppConfig):
    """The prices app: ingestion from exchanges, tick storage, price API and dashboards."""

    name = "prices"
    verbose_name = "Prices"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from cryptotracker.scheduling import schedules_realign_on_spawn

        # Every cluster start realigns the schedules to the minute (see schedules_realign).
        post_spawn.connect(schedules_realign_on_spawn, dispatch_uid="cryptotracker.scheduling.realign")
