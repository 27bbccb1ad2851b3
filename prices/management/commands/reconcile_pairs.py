"""manage.py reconcile_pairs: follow the exchange's pair list now (what the 10-minute schedule does)."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from prices.domain import EXCHANGE_BITFINEX
from prices.exchanges import UnknownExchangeError
from prices.repository import RepositoryError
from prices.services.pairs import PairListError, exchange_markets_sync, pairs_reconcile
from prices.sources import SourceError, get_ticker_source


class Command(BaseCommand):
    help = (
        "Read an exchange's pair list (default bitfinex: pub:list:pair:exchange): tracked pairs missing "
        "from it are marked "
        "delisted (no longer expected by gap repair and readiness), delisted pairs listed again resume."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--exchange", default=EXCHANGE_BITFINEX, help="A configured exchange (PRICES_EXCHANGES)."
        )

    def handle(self, *args, **options):
        exchange = options["exchange"]
        try:
            source = get_ticker_source(exchange)
            summary = pairs_reconcile(source=source, exchange=exchange, now=datetime.now(UTC))
            exchange_markets_sync(source=source)
        except (SourceError, PairListError, RepositoryError, UnknownExchangeError) as exc:
            raise CommandError(f"pair list reconciliation failed: {exc}") from exc
        self.stdout.write(summary.line())
