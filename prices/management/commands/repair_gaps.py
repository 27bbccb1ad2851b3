"""manage.py repair_gaps: what the scheduled gap repair does, now, with a progress bar."""

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from prices.management.commands._cli import add_exchange_argument, cli_pairs, parse_cli_datetime, progress_bar
from prices.repository import RepositoryError
from prices.services import gaps_repair
from prices.sources import get_candle_source


class Command(BaseCommand):
    help = (
        "Find the minutes missing per pair and fill them: pending minutes of dead polls from their "
        "snapshots, the rest from Bitfinex 1-minute candles (2 s apart, within the rate limit); minutes "
        "without a candle are recorded as known gaps. Idempotent."
    )

    def add_arguments(self, parser):
        add_exchange_argument(parser)
        parser.add_argument(
            "--pair", action="append", help="Only these pairs (repeatable). Default: all tracked."
        )
        parser.add_argument("--since", help="ISO 8601 start (UTC if naive). Default: the look-back.")
        parser.add_argument(
            "--until", help="ISO 8601 end, exclusive. Default: the newest minute less 2 minutes."
        )
        parser.add_argument(
            "--max-requests",
            type=int,
            default=None,
            help="Candle requests at most (default PRICES_GAP_MAX_REQUESTS × 20: a long outage in one go).",
        )

    def handle(self, *args, **options):
        exchange = options["exchange"]
        pairs = cli_pairs(exchange, options["pair"])
        max_requests = options["max_requests"] or settings.PRICES_GAP_MAX_REQUESTS * 20
        if max_requests < 1:
            raise CommandError("--max-requests must be ≥ 1")
        try:
            with progress_bar(
                total=None, unit="request", desc="candles", verbosity=options["verbosity"]
            ) as advance:
                summary = gaps_repair(
                    now=datetime.now(UTC),
                    exchange=exchange,
                    source=get_candle_source(exchange),
                    pairs=pairs,
                    since=parse_cli_datetime(options["since"], "--since"),
                    until=parse_cli_datetime(options["until"], "--until"),
                    lookback_hours=settings.PRICES_GAP_LOOKBACK_HOURS,
                    max_requests=max_requests,
                    progress=advance,
                )
        except RepositoryError as exc:
            raise CommandError(f"gap repair failed: {exc}") from exc
        self.stdout.write(summary.line())
