"""manage.py fetch_prices: run one polling cycle now and print its summary."""

from django.core.management.base import BaseCommand, CommandError

from prices.domain import EXCHANGE_BITFINEX
from prices.exchanges import UnknownExchangeError
from prices.services.lease import PollRefused, ticks_poll
from prices.services.pairs import exchange_markets_sync
from prices.sources import get_ticker_source


class Command(BaseCommand):
    help = (
        "Fetch the tickers of all trading pairs of one exchange (default bitfinex) once and store them "
        "(exit 1 on failure). "
        "Like the scheduled poll, it holds the poll lease: it skips when a poll runs or this minute "
        "was polled."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--exchange", default=EXCHANGE_BITFINEX, help="A configured exchange (PRICES_EXCHANGES)."
        )

    def handle(self, *args, **options):
        try:
            source = get_ticker_source(options["exchange"])
        except UnknownExchangeError as exc:
            raise CommandError(str(exc)) from exc
        summary = ticks_poll(source=source)
        exchange_markets_sync(source=source)
        if isinstance(summary, PollRefused):
            self.stdout.write(summary.line())
            return
        if not summary.ok:
            raise CommandError(summary.line())
        self.stdout.write(summary.line())
