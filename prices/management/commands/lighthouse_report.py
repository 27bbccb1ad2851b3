"""manage.py lighthouse_report: Lighthouse's performance and accessibility scores of the dashboards."""

from django.core.management.base import BaseCommand, CommandError

from prices import selectors
from prices.dashboards.auditing import (
    LighthouseError,
    ServerStartError,
    lighthouse_scores,
    production_like_server,
)
from prices.management.commands._cli import repository_errors

TARGETS = {"performance": 90, "accessibility": 95}


class Command(BaseCommand):
    help = (
        "Serve the dashboards as production does (DEBUG off, collected and compressed static files) "
        "on 127.0.0.1 and print Lighthouse's performance and accessibility scores of the overview "
        "and a pair page. Needs stored prices (e.g. import_prices tests/fixtures/history/zombie3000), "
        "node_modules (bin/setup) and /usr/bin/chromium. Exits 1 when a score is under its target "
        "(performance 90, accessibility 95)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pair", help="The pair page to audit (default: the first tracked pair).")
        parser.add_argument(
            "--preset",
            choices=["mobile", "desktop"],
            action="append",
            help="Lighthouse preset (both by default).",
        )
        parser.add_argument("--port", type=int, default=0, help="Port on 127.0.0.1 (default: any free one).")
        parser.add_argument("--chrome", default="/usr/bin/chromium", help="Chromium to run (CHROME_PATH).")

    def handle(self, *args, **options):
        with repository_errors():
            pair = options["pair"] or next((s.pair.name for s in selectors.pairs_list()), None)
        if pair is None:
            raise CommandError("no prices are stored; import some first (see README: Dashboards)")
        pages = {"overview": "/", f"pair {pair}": f"/pairs/{pair}/"}
        below = []
        try:
            with production_like_server(port=options["port"]) as url:
                for preset in options["preset"] or ["mobile", "desktop"]:
                    for name, path in pages.items():
                        scores = lighthouse_scores(url + path, preset=preset, chrome_path=options["chrome"])
                        line = "  ".join(
                            f"{category} {'n/a' if score is None else score}"
                            for category, score in scores.items()
                        )
                        self.stdout.write(f"{preset:8} {name:16} {line}")
                        below += [
                            f"{preset} {name} {c}" for c, s in scores.items() if s is None or s < TARGETS[c]
                        ]
        except (LighthouseError, ServerStartError) as exc:
            raise CommandError(str(exc)) from exc
        if below:
            raise CommandError(f"under target: {', '.join(below)}")
