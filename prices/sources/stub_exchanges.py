"""Loopback stand-ins for Binance, Kraken and Coinbase (beside Bitfinex's), serving recorded payloads.

No full recorded "all tickers" body exists for these exchanges (shared/data README §12), so the
tickers bodies are built, never invented: one entry per market of the exchange's **recorded**
markets list, each entry the exchange's **recorded** single-ticker object with only its market id
changed (tests/fixtures/exchanges/_README.md, "Built all-tickers bodies"):

* Binance `GET /api/v3/ticker/24hr`: the 1,262 TRADING symbols of the real 2021 exchangeInfo
  (`binance_exchange_info_2021.cryptofeed`) × the documented 24 h ticker object
  (`binance_ticker_24hr_doc.txt`); BTCUSDT's `lastPrice` is the real recorded price
  (`binance_ticker_price.json`, "60740.00000000").
* Kraken `GET /0/public/Ticker`: the 293 spot pairs of the real 2021 AssetPairs
  (`kraken_asset_pairs_2021.cryptofeed`, dark pools left out) × the real XBTUSDT ticker entry
  (`kraken_ticker.json`).
* Coinbase `GET /api/v3/brokerage/market/products`: the 162 products of the real 2021 product list
  (`coinbase_products_2021.cryptofeed`) × the real Advanced Trade BTC-USD product
  (`coinbase_products.json`), with product_id/base/quote set; BTC-USD and BTC-USDC are served
  as recorded.

Markets lists and candles are served as recorded: exchangeInfo, AssetPairs (2021 bodies), the
real BTCUSDT klines and XBTUSDT OHLC (others: no candles), Coinbase candles `[]`.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from prices.sources.stub_server import BitfinexStubServer

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "exchanges"
STUB_EXCHANGES = ("bitfinex", "binance", "kraken", "coinbase")
NOT_FOUND = b'{"error":"NOT_FOUND","message":"no such path on this stub"}'


def recorded_body(name: str) -> bytes:
    """A recorded fixture's response body, byte for byte.

    `.txt` files (JKorf, shared/data §9) lose their 3 request lines (method, path, `false`);
    `.cryptofeed` files (§10) give the body of their first line (`<url> -> <time>: <body>`).
    """
    data = (FIXTURES / name).read_bytes()
    if name.endswith(".txt"):
        return data.split(b"\n", 3)[3]
    if name.endswith(".cryptofeed"):
        return data.split(b"\n", 1)[0].split(b": ", 1)[1]
    return data


def _json(name: str) -> object:
    return json.loads(recorded_body(name))  # prices stay strings: every one is JSON text here


@cache
def binance_tickers_body() -> bytes:
    """The built Binance all-symbols 24 h tickers body (see the module docstring)."""
    info = _json("binance_exchange_info_2021.cryptofeed")
    template = _json("binance_ticker_24hr_doc.txt")
    btc_price = _json("binance_ticker_price.json")
    rows = []
    for item in info["symbols"]:
        if item["status"] != "TRADING":
            continue
        row = {**template, "symbol": item["symbol"]}
        if item["symbol"] == btc_price["symbol"]:
            row["lastPrice"] = btc_price["price"]
        rows.append(row)
    return json.dumps(rows, separators=(",", ":")).encode()


@cache
def kraken_tickers_body() -> bytes:
    """The built Kraken all-pairs Ticker body (see the module docstring)."""
    pairs = _json("kraken_asset_pairs_2021.cryptofeed")["result"]
    entry = _json("kraken_ticker.json")["result"]["XBTUSDT"]
    result = {key: entry for key in pairs if not key.endswith(".d")}
    return json.dumps({"error": [], "result": result}, separators=(",", ":")).encode()


@cache
def coinbase_products_body() -> bytes:
    """The built Coinbase Advanced Trade products body (see the module docstring)."""
    listed = _json("coinbase_products_2021.cryptofeed")
    recorded = {p["product_id"]: p for p in _json("coinbase_products.json")["products"]}
    template = recorded["BTC-USD"]
    products = []
    for item in listed:
        product = recorded.get(item["id"]) or {
            **template,
            "product_id": item["id"],
            "display_name": item["id"],
            "base_currency_id": item["base_currency"],
            "quote_currency_id": item["quote_currency"],
            "base_display_symbol": item["base_currency"],
            "quote_display_symbol": item["quote_currency"],
            "alias_to": [],
        }
        products.append(product)
    products += [p for pid, p in recorded.items() if pid not in {i["id"] for i in listed}]
    body = {"products": products, "num_products": len(products), "pagination": None}
    return json.dumps(body, separators=(",", ":")).encode()


class ExchangeStubServer(BitfinexStubServer):
    """The Bitfinex stub plus the Binance, Kraken and Coinbase public endpoints (recorded bodies).

    `exchanges` chooses which of the four this server answers for (others get 404), so that one
    stub per exchange can be started and stopped on its own. Paths do not overlap, so one server
    may also serve all four.
    """

    def __init__(self, *, exchanges: tuple[str, ...] = STUB_EXCHANGES, **kwargs: object) -> None:
        unknown = set(exchanges) - set(STUB_EXCHANGES)
        if unknown:
            raise ValueError(f"no stub for {', '.join(sorted(unknown))}")
        self.exchanges = tuple(exchanges)
        self.bodies: dict[str, bytes] = {}
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def set_body(self, path: str, body: bytes) -> None:
        """Serve `body` for `path` (e.g. "/0/public/Ticker") from now on instead of the recorded one."""
        with self._lock:
            self.bodies[path] = body

    def _handle(self, handler) -> None:  # noqa: ANN001 - BaseHTTPRequestHandler
        url = urlparse(handler.path)
        body = self._body_for(url.path, {k: v[-1] for k, v in parse_qs(url.query).items()})
        if body is None:
            if "bitfinex" in self.exchanges and url.path.startswith("/v2/"):
                super()._handle(handler)
                return
            body = (404, NOT_FOUND)
        with self._lock:
            self.requests.append(handler.path)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            status, fault_body, delay = fault
            if delay:
                threading.Event().wait(delay)
            self._reply(handler, status, fault_body)
            return
        self._reply(handler, *body)

    def _body_for(self, path: str, query: dict[str, str]) -> tuple[int, bytes] | None:
        with self._lock:
            override = self.bodies.get(path)
        if override is not None:
            return 200, override
        if "binance" in self.exchanges:
            if path == "/api/v3/ticker/24hr":
                return 200, binance_tickers_body()
            if path == "/api/v3/exchangeInfo":
                return 200, recorded_body("binance_exchange_info_2021.cryptofeed")
            if path == "/api/v3/klines":
                klines = (
                    recorded_body("binance_klines_1m.json") if query.get("symbol") == "BTCUSDT" else b"[]"
                )
                return 200, _binance_klines_between(klines, query)
        if "kraken" in self.exchanges:
            if path == "/0/public/Ticker":
                return 200, kraken_tickers_body()
            if path == "/0/public/AssetPairs":
                return 200, recorded_body("kraken_asset_pairs_2021.cryptofeed")
            if path == "/0/public/OHLC":
                if query.get("pair") == "XBTUSDT":
                    return 200, recorded_body("kraken_ohlc_1m.json")
                return 200, b'{"error":["EQuery:Unknown asset pair"]}'
        if "coinbase" in self.exchanges and path.startswith("/api/v3/brokerage/market/products"):
            if path == "/api/v3/brokerage/market/products":
                return 200, coinbase_products_body()
            if path.endswith("/candles"):
                product = unquote(path.rsplit("/", 2)[-2])
                if product.count("-") == 1:
                    return 200, b'{"candles":[]}'
        return None


def _binance_klines_between(body: bytes, query: dict[str, str]) -> bytes:
    """The recorded klines with startTime ≤ open time ≤ endTime, at most `limit` (Binance's semantics)."""
    rows = json.loads(body)
    start, end = int(query.get("startTime", 0)), int(query.get("endTime", 2**62))
    limit = int(query.get("limit", 500))
    selected = [row for row in rows if start <= row[0] <= end][:limit]
    return json.dumps(selected, separators=(",", ":")).encode()
