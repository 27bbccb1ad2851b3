"""serve_metrics: serve this host's Prometheus metrics where no web process runs (qcluster-only hosts)."""

from __future__ import annotations

from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cryptotracker.monitoring.metrics import metrics_wsgi_app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # one line per scrape is noise
        pass


class Command(BaseCommand):
    help = (
        "Serve GET /metrics from PROMETHEUS_MULTIPROC_DIR (the counters of this host's qcluster), "
        "behind METRICS_TOKEN / METRICS_ALLOWED_NETWORKS. Runs until stopped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=9108, help="port (default 9108)")

    def handle(self, *args, host: str, port: int, **options) -> None:
        if not settings.PROMETHEUS_MULTIPROC_DIR:
            raise CommandError(
                "PROMETHEUS_MULTIPROC_DIR is not set: there are no other processes' metrics to serve"
            )
        server = make_server(host, port, metrics_wsgi_app, handler_class=_QuietHandler)
        self.stdout.write(f"Serving metrics on http://{host}:{server.server_port}/metrics")
        with server:
            server.serve_forever()
