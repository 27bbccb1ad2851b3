"""manage.py serve_exchange_stub: loopback stand-ins for Bitfinex, Binance, Kraken and Coinbase."""

from django.core.management.base import BaseCommand, CommandError

from prices.sources.stub_exchanges import STUB_EXCHANGES, ExchangeStubServer


class Command(BaseCommand):
    help = (
        "Serve recorded payloads of the named exchanges on 127.0.0.1 (tickers built from recorded markets "
        "lists and ticker shapes, recorded markets lists and candles; see prices/sources/stub_exchanges.py) "
        "so the tracker can run without internet: set each <NAME>_API_URL to the URL printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8766, help="Port on 127.0.0.1 (default 8766).")
        parser.add_argument(
            "--exchanges",
            default=",".join(STUB_EXCHANGES),
            help=f"Comma list of the exchanges this stub answers for (default {','.join(STUB_EXCHANGES)}).",
        )

    def handle(self, *args, **options):
        names = tuple(name.strip().lower() for name in options["exchanges"].split(",") if name.strip())
        try:
            server = ExchangeStubServer(port=options["port"], exchanges=names)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{options['port']}: {exc.strerror}") from exc
        urls = " ".join(f"{name.upper()}_API_URL={server.url}" for name in names)
        self.stdout.write(f"Exchange stub ({', '.join(names)}) on {server.url} ({urls}); Ctrl-C stops.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
