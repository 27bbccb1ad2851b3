"""manage.py soak: the tracker against the Bitfinex stub for simulated minutes with random faults."""

import uuid

from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from prices.management.commands._cli import parse_cli_datetime, prices_logs_quiet, progress_bar
from prices.repository import RepositoryError, _repository, get_tick_repository
from prices.repository.memory import InMemoryTickRepository
from prices.soak import RECORDED_PAIRS, soak_run


class Command(BaseCommand):
    help = (
        "Run the tracker against the loopback Bitfinex stub for --minutes simulated minutes (an accelerated "
        "clock), failing --failure-rate of the polling cycles with random exchange faults, with gap repair "
        "every 2 minutes and at the end; exit 0 only if every minute of every pair is then present or a "
        "known gap (report_gaps). Uses the configured DynamoDB endpoint in throw-away tables."
    )

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=int, default=30, help="Simulated minutes (default 30).")
        parser.add_argument("--failure-rate", type=float, default=0.1, help="Share of failing cycles (0.1).")
        parser.add_argument("--seed", type=int, default=1, help="Seed of the fault draw (default 1).")
        parser.add_argument(
            "--start",
            default="2019-12-31T12:00Z",
            help="First simulated minute, within the recorded 2019-12-30/31.",
        )
        parser.add_argument(
            "--pair",
            action="append",
            choices=RECORDED_PAIRS,
            help="Pairs (repeatable); default all 7 recorded.",
        )
        parser.add_argument(
            "--candle-interval-s", type=float, default=2.0, help="Spacing of candle requests (simulated s)."
        )
        parser.add_argument("--store", choices=["dynamodb", "memory"], default="dynamodb")
        parser.add_argument("--keep", action="store_true", help="Keep the soak's DynamoDB tables.")

    def handle(self, *args, **options):
        if options["minutes"] < 3:
            raise CommandError("--minutes must be at least 3")
        if not 0 <= options["failure_rate"] <= 1:
            raise CommandError("--failure-rate must be between 0 and 1")
        start = parse_cli_datetime(options["start"], "--start")
        kwargs = {
            "minutes": options["minutes"],
            "failure_rate": options["failure_rate"],
            "seed": options["seed"],
            "start": start.replace(second=0, microsecond=0),
            "pairs": options["pair"] or RECORDED_PAIRS,
            "candle_interval_s": options["candle_interval_s"],
        }
        try:
            if options["store"] == "memory":
                result = self._run(InMemoryTickRepository(), options, kwargs)
            else:
                result = self._run_in_dynamodb(options, kwargs)
        except RepositoryError as exc:
            raise CommandError(f"soak: the store failed: {exc}") from exc
        self.stdout.write("\n".join(result.lines()))
        if not result.ok:
            raise CommandError("soak failed: minutes are missing (see the report above)")

    def _run(self, repo, options, kwargs):
        # Every cycle and repair logs a line; below -v 2 only warnings and errors (the faults) show.
        verbosity = options["verbosity"]
        with (
            prices_logs_quiet(verbosity),
            progress_bar(total=kwargs["minutes"], unit="min", desc="soak", verbosity=verbosity) as advance,
        ):
            return soak_run(repo=repo, progress=advance, **kwargs)

    def _run_in_dynamodb(self, options, kwargs):
        prefix = f"soak_{uuid.uuid4().hex[:8]}_"
        with override_settings(DYNAMODB_TABLE_PREFIX=prefix, PRICES_RETENTION_DAYS=None):
            _repository.cache_clear()
            repo = get_tick_repository()
            try:
                repo.ensure_tables()
                if options["verbosity"]:
                    self.stderr.write(f"soak: tables {prefix}* at {repo.client.meta.endpoint_url}")
                return self._run(repo, options, kwargs)
            finally:
                if not options["keep"]:
                    repo.delete_tables()
                _repository.cache_clear()
