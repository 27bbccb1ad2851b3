"""manage.py fetch_prices: run one polling cycle now and print its summary."""

from django.core.management.base import BaseCommand, CommandError

from prices.services import ticks_ingest
from prices.sources import get_ticker_source


class Command(BaseCommand):
    help = "Fetch the tickers of all Bitfinex trading pairs once and store them (exit 1 on failure)."

    def handle(self, *args, **options):
        summary = ticks_ingest(source=get_ticker_source())
        if not summary.ok:
            raise CommandError(summary.line())
        self.stdout.write(summary.line())
