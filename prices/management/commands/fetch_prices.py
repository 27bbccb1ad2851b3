"""manage.py fetch_prices: run one polling cycle now and print its summary."""

from django.core.management.base import BaseCommand, CommandError

from prices.services.lease import PollRefused, ticks_poll
from prices.sources import get_ticker_source


class Command(BaseCommand):
    help = (
        "Fetch the tickers of all Bitfinex trading pairs once and store them (exit 1 on failure). "
        "Like the scheduled poll, it holds the poll lease: it skips when a poll runs or this minute "
        "was polled."
    )

    def handle(self, *args, **options):
        summary = ticks_poll(source=get_ticker_source())
        if isinstance(summary, PollRefused):
            self.stdout.write(summary.line())
            return
        if not summary.ok:
            raise CommandError(summary.line())
        self.stdout.write(summary.line())
