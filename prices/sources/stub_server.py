"""A loopback stand-in for Bitfinex's public REST API, serving recorded payloads (tests, demos, benchmarks).

Bitfinex cannot be reached from the machines this project is developed on, so the real
client is exercised against this server on 127.0.0.1. It answers:

* `GET /v2/tickers?symbols=ALL` with a tickers body: by default the assembled fixture of
  real recorded rows (tests/fixtures/exchanges/bitfinex_tickers_all.json), or any body
  given to the server;
* `GET /v2/candles/trade:1m:t<PAIR>/hist?start=&end=&limit=&sort=` from the real raw candle
  files (tests/fixtures/history/zombie3000), honouring Bitfinex's semantics: start and end
  inclusive, newest first unless sort=1, at most `limit` rows, `[]` when nothing matches;
  for a pair given in `rejected` or missing from the served pair list (an unknown, renamed or
  delisted pair), HTTP 500 `["error",10020,"symbol: invalid"]`, as Bitfinex answers (shared/data
  README §7);
* `GET /v2/conf/pub:list:pair:exchange` with the exchange's pair list: by default a real
  recorded body (tests/fixtures/exchanges/bitfinex_conf_pair_exchange.json), or any body
  given with `set_pair_list`;
* anything queued with `fail_next(status, body)` first, in order (fault injection).
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

ROOT = Path(__file__).resolve().parents[2]
TICKERS_FIXTURE = ROOT / "tests" / "fixtures" / "exchanges" / "bitfinex_tickers_all.json"
PAIR_LIST_FIXTURE = ROOT / "tests" / "fixtures" / "exchanges" / "bitfinex_conf_pair_exchange.json"
HISTORY_DIR = ROOT / "tests" / "fixtures" / "history" / "zombie3000"
CANDLES_PREFIX = "/v2/candles/trade:1m:t"
PAIR_LIST_PATH = "/v2/conf/pub:list:pair:exchange"
SYMBOL_INVALID = b'["error",10020,"symbol: invalid"]'


def load_candle_history(directory: Path = HISTORY_DIR) -> dict[str, list[list]]:
    """Per pair, every recorded candle row [MTS, O, C, H, L, V] (ascending), numbers as Decimal."""
    history: dict[str, dict[int, list]] = {}
    for path in sorted(directory.glob("*/Candles_1m/*/raw/*/*.json")):
        pair = path.relative_to(directory).parts[0]
        for row in json.loads(path.read_text(), parse_float=Decimal):
            history.setdefault(pair, {})[int(row[0])] = row
    return {pair: [rows[k] for k in sorted(rows)] for pair, rows in history.items()}


def _listed(pair_list: bytes) -> frozenset[str]:
    """The pair names of a pub:list:pair:exchange body (none if it is not [[...]])."""
    try:
        payload = json.loads(pair_list)
    except ValueError:
        return frozenset()
    if isinstance(payload, list) and payload and isinstance(payload[0], list):
        return frozenset(name for name in payload[0] if isinstance(name, str))
    return frozenset()


class _JsonEncoder(json.JSONEncoder):
    def default(self, o: object) -> object:
        if isinstance(o, Decimal):
            return float(o) if o != o.to_integral_value() else int(o)
        return super().default(o)


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout fault) is not an error worth a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class BitfinexStubServer:
    """A threaded HTTP server on 127.0.0.1 (port 0 = any free port); use as a context manager.

    `tickers` is the body served for /v2/tickers: bytes, or a callable returning bytes (called
    per request). `rejected` names pairs whose candles are refused with 10020. `requests`
    records every request path with its query string.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        tickers: bytes | Callable[[], bytes] | None = None,
        candles: dict[str, list[list]] | None = None,
        rejected: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        self._tickers = tickers if tickers is not None else TICKERS_FIXTURE.read_bytes()
        self._candles = candles
        self._rejected = frozenset(rejected)
        self._pair_list = PAIR_LIST_FIXTURE.read_bytes()
        self._listed = _listed(self._pair_list)
        self._faults: deque[tuple[int, bytes, float]] = deque()
        self._lock = threading.Lock()
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                stub._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._server = _QuietServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to use as BITFINEX_API_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def set_tickers(self, body: bytes | Callable[[], bytes]) -> None:
        """Serve another tickers body from now on."""
        with self._lock:
            self._tickers = body

    def set_pair_list(self, body: bytes) -> None:
        """Serve another pub:list:pair:exchange body from now on."""
        with self._lock:
            self._pair_list = body
            self._listed = _listed(body)

    def fail_next(self, status: int, body: bytes | str, *, delay_s: float = 0.0) -> None:
        """Answer the next request with this status and body (after `delay_s`, e.g. a timeout)."""
        with self._lock:
            self._faults.append((status, body.encode() if isinstance(body, str) else body, delay_s))

    def clear_faults(self) -> int:
        """Forget the queued faults no request has met yet; returns how many there were."""
        with self._lock:
            left = len(self._faults)
            self._faults.clear()
            return left

    def start(self) -> BitfinexStubServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="bitfinex-stub", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> BitfinexStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling ---------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(handler.path)
            fault = self._faults.popleft() if self._faults else None
            tickers = self._tickers
            pair_list = self._pair_list
            listed = self._listed
        if fault is not None:
            status, body, delay = fault
            if delay:
                threading.Event().wait(delay)
            self._reply(handler, status, body)
            return
        url = urlparse(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/v2/tickers":
            body = tickers() if callable(tickers) else tickers
            self._reply(handler, 200, body)
        elif url.path == PAIR_LIST_PATH:
            self._reply(handler, 200, pair_list)
        elif url.path.startswith(CANDLES_PREFIX) and url.path.endswith("/hist"):
            pair = unquote(url.path[len(CANDLES_PREFIX) : -len("/hist")])
            if pair in self._rejected or pair not in listed:
                self._reply(handler, 500, SYMBOL_INVALID)
            else:
                self._reply(handler, 200, self._candles_body(pair, query))
        else:
            self._reply(handler, 404, SYMBOL_INVALID)

    def _candles_body(self, pair: str, query: dict[str, str]) -> bytes:
        if self._candles is None:
            self._candles = load_candle_history()
        rows = self._candles.get(pair, [])
        start = int(query.get("start", 0))
        end = int(query.get("end", 2**62))
        limit = int(query.get("limit", 100))
        selected = [row for row in rows if start <= int(row[0]) <= end]
        if query.get("sort") != "1":
            selected = list(reversed(selected))
        return json.dumps(selected[:limit], cls=_JsonEncoder).encode()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        content_type = "text/html" if body.lstrip().startswith(b"<") else "application/json"
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
