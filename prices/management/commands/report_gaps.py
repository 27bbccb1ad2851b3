"""manage.py report_gaps: coverage per pair — minutes present, known gaps, pending and missing."""

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from prices.management.commands._cli import add_exchange_argument, cli_pairs, parse_cli_datetime
from prices.repository import RepositoryError
from prices.services import gaps_scan


class Command(BaseCommand):
    help = (
        "Print, per pair, how many minutes are expected, present, known gaps (the exchange has no "
        "candle), pending (a poll died before storing them) and missing, and the missing ranges. "
        "Reads hour rollups and, for incomplete hours only, minute snapshots."
    )

    def add_arguments(self, parser):
        add_exchange_argument(parser)
        parser.add_argument(
            "--pair", action="append", help="Only these pairs (repeatable). Default: all tracked."
        )
        parser.add_argument(
            "--since",
            help="ISO 8601 start (UTC if naive). Default: PRICES_GAP_LOOKBACK_HOURS before the end; "
            "a pair's first stored minute if later.",
        )
        parser.add_argument(
            "--until",
            help="ISO 8601 end, exclusive (UTC if naive). Default: the newest stored minute less 2 minutes "
            "(and for each pair its own newest minute).",
        )
        parser.add_argument(
            "--check", action="store_true", help="Exit 1 when a minute is missing or pending."
        )

    def handle(self, *args, **options):
        exchange = options["exchange"]
        pairs = cli_pairs(exchange, options["pair"])
        since = parse_cli_datetime(options["since"], "--since")
        until = parse_cli_datetime(options["until"], "--until")
        if since and until and since >= until:
            raise CommandError("--since must be before --until")
        try:
            scan = gaps_scan(
                now=datetime.now(UTC),
                exchange=exchange,
                pairs=pairs,
                since=since,
                until=until,
                lookback_hours=settings.PRICES_GAP_LOOKBACK_HOURS,
            )
        except RepositoryError as exc:
            raise CommandError(str(exc)) from exc
        if not scan.pairs:
            self.stdout.write(
                "No stored minutes in that range (no tracked pair, or nothing stored yet). By default "
                "the report ends 2 minutes before the newest stored minute, so a fresh install has "
                "nothing to report for its first minutes; pass --until to choose the end."
            )
            return
        self.stdout.write("\n".join(scan.lines()))
        if options["check"] and not scan.complete:
            raise CommandError(f"{scan.missing} minutes missing; run `manage.py repair_gaps`")
