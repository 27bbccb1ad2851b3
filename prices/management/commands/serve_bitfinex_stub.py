"""manage.py serve_bitfinex_stub: a loopback stand-in for Bitfinex serving recorded payloads."""

from django.core.management.base import BaseCommand, CommandError

from prices.sources.stub_server import BitfinexStubServer


class Command(BaseCommand):
    help = (
        "Serve recorded Bitfinex payloads on 127.0.0.1 (tickers of real rows, 1-minute candles of "
        "2019-12-30/31) so the tracker can run without internet: set BITFINEX_API_URL to the URL printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765, help="Port on 127.0.0.1 (default 8765).")

    def handle(self, *args, **options):
        try:
            server = BitfinexStubServer(port=options["port"])
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{options['port']}: {exc.strerror}") from exc
        self.stdout.write(f"Bitfinex stub on {server.url} (BITFINEX_API_URL={server.url}); Ctrl-C stops.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
