"""manage.py backfill_prices: fill a time range from the exchange's 1-minute candles."""

from django.core.management.base import BaseCommand, CommandError

from cryptotracker.params import iso_z
from prices.domain import minute_ceil, minute_floor
from prices.management.commands._cli import add_exchange_argument, cli_pairs, parse_cli_datetime, progress_bar
from prices.repository import RepositoryError
from prices.services import candles_backfill
from prices.sources import SourceError, get_candle_source


class Command(BaseCommand):
    help = (
        "Store 1-minute candles of the given pairs for [start, end) as ticks (close = last price). "
        "Minutes already stored are kept; rerunning stores nothing new."
    )

    def add_arguments(self, parser):
        add_exchange_argument(parser)
        parser.add_argument(
            "--pair", action="append", required=True, help="Pair such as BTCUSD or AAVE:USD; repeatable."
        )
        parser.add_argument("--start", required=True, help="ISO 8601 start (inclusive); naive means UTC.")
        parser.add_argument("--end", required=True, help="ISO 8601 end (exclusive); naive means UTC.")

    def handle(self, *args, **options):
        exchange = options["exchange"]
        pairs = cli_pairs(exchange, options["pair"])
        start = minute_floor(parse_cli_datetime(options["start"], "--start"))
        end = minute_ceil(parse_cli_datetime(options["end"], "--end"))
        if start >= end:
            raise CommandError("--start must be before --end")
        expected = len(pairs) * int((end - start).total_seconds() // 60)
        try:
            with progress_bar(
                total=expected, unit="min", desc="backfill", verbosity=options["verbosity"]
            ) as advance:
                summary = candles_backfill(
                    source=get_candle_source(exchange), pairs=pairs, start=start, end=end, progress=advance
                )
        except (SourceError, RepositoryError) as exc:
            raise CommandError(f"backfill failed: {exc}") from exc
        self.stdout.write(f"Backfill {iso_z(start)}..{iso_z(end)}: {summary.line()}")
        if summary.failed:
            failures = "; ".join(f"{pair}: {error}" for pair, error in summary.failed.items())
            raise CommandError(f"backfill failed for {len(summary.failed)} of {len(pairs)} pairs: {failures}")
