"""manage.py rebuild_rollups: recompute hour rollups from the stored ticks."""

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from prices.domain import EXCHANGE_BITFINEX, from_ms
from prices.management.commands._cli import parse_cli_datetime, progress_bar, repository_errors
from prices.repository import get_tick_repository
from prices.services import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the hour rollups of a time range from the stored ticks (default: the last 7 days)."

    def add_arguments(self, parser):
        parser.add_argument("--start", help="ISO 8601 start (UTC if naive). Default: 7 days before --end.")
        parser.add_argument("--end", help="ISO 8601 end (UTC if naive). Default: the newest stored minute.")
        parser.add_argument(
            "--pair", action="append", help="Only these pairs (repeatable). Default: all tracked."
        )

    def handle(self, *args, **options):
        repo = get_tick_repository()
        with repository_errors():
            registry = repo.latest_prices(exchange=EXCHANGE_BITFINEX)
            end = parse_cli_datetime(options["end"], "--end")
            if end is None:
                newest = max((e.minute_ms for e in registry.values()), default=None)
                end = from_ms(newest + 60_000) if newest is not None else datetime.now(UTC)
            start = parse_cli_datetime(options["start"], "--start") or end - timedelta(days=7)
            if start >= end:
                raise CommandError("--start must be before --end")
            pairs = options["pair"] or sorted(registry)
            days = max(1, int((end - start).total_seconds() // 86400) + 1)
            with progress_bar(
                total=days * len(pairs), unit="pair-day", desc="rebuild", verbosity=options["verbosity"]
            ) as advance:
                written = rollups_rebuild(
                    exchange=EXCHANGE_BITFINEX, start=start, end=end, pairs=pairs, repo=repo, progress=advance
                )
        self.stdout.write(
            f"Rebuilt {written} hour rollups for {len(pairs)} pairs "
            f"from {start:%Y-%m-%dT%H:%MZ} to {end:%Y-%m-%dT%H:%MZ}"
        )
