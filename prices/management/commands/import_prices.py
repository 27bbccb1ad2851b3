"""manage.py import_prices: load recorded history files (raw candle files, snapshot polls)."""

from django.core.management.base import BaseCommand, CommandError

from prices.importers import ImportFileError
from prices.management.commands._cli import progress_bar, repository_errors
from prices.services import history_import


class Command(BaseCommand):
    help = (
        "Import history files: raw Bitfinex 1-minute candle files (<PAIR>/Candles_1m/... layout) and "
        "snapshot poll files ([{pair, ts, price}]). Directories are searched for *.json. Every file is "
        "checked before anything is stored; minutes already stored are kept, so rerunning changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files or directories.")

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        try:
            with (
                repository_errors(),
                progress_bar(total=None, unit="tick", desc="import", verbosity=verbosity) as advance,
            ):
                summary = history_import(
                    paths=options["paths"],
                    progress=advance,
                    on_file=(lambda path: self.stderr.write(f"reading {path}")) if verbosity >= 2 else None,
                )
        except ImportFileError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(f"Imported: {summary.line()}")
