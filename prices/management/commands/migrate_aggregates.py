"""manage.py migrate_aggregates: convert aggregate items of another layout into the sharded one."""

from django.core.management.base import BaseCommand, CommandError

from prices.management.commands._cli import progress_bar, repository_errors
from prices.repository import get_tick_repository


class Command(BaseCommand):
    help = (
        "Rewrite minute snapshots, hour rollups, known gaps and the registry stored in the unsharded "
        "layout of earlier versions (or with another PRICES_AGGREGATE_SHARDS) into the current shards. "
        "Run it once with ingestion and gap repair stopped; repeating it is harmless."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be converted.")

    def handle(self, *args, **options):
        repo = get_tick_repository()
        if not hasattr(repo, "migrate_layout"):
            raise CommandError("the configured tick repository has no stored layout to migrate")
        verbosity = options["verbosity"]
        with (
            repository_errors(),
            progress_bar(total=None, unit="partition", desc="migrate", verbosity=verbosity) as step,
        ):
            counts = repo.migrate_layout(dry_run=options["dry_run"], progress=step)
        done = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "nothing"
        verb = "Would convert" if options["dry_run"] else "Converted"
        self.stdout.write(f"{verb} partitions: {done} (shards: {repo.shards})")
