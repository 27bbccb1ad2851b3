"""manage.py reconcile_pairs: follow the exchange's pair list now (what the 10-minute schedule does)."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from prices.repository import RepositoryError
from prices.services.pairs import PairListError, pairs_reconcile
from prices.sources import SourceError, get_ticker_source


class Command(BaseCommand):
    help = (
        "Read Bitfinex's pair list (pub:list:pair:exchange): tracked pairs missing from it are marked "
        "delisted (no longer expected by gap repair and readiness), delisted pairs listed again resume."
    )

    def handle(self, *args, **options):
        try:
            summary = pairs_reconcile(source=get_ticker_source(), now=datetime.now(UTC))
        except (SourceError, PairListError, RepositoryError) as exc:
            raise CommandError(f"pair list reconciliation failed: {exc}") from exc
        self.stdout.write(summary.line())
