"""HttpClient: exact JSON numbers, bounded retries and the mapping of every failure to SourceError."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import responses

from prices.sources.base import SourceError
from prices.sources.http import HttpClient, parse_error_body

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges"
BASE = "https://api-pub.bitfinex.com"
WHERE = "GET https://api-pub.bitfinex.com/v2/tickers"
TICKERS_URL = BASE + "/v2/tickers"
TICKERS_ALL = (FIXTURES / "bitfinex_tickers_all.json").read_bytes()
# Real error bodies quoted in shared/data README §7 (see tests/fixtures/exchanges/_README.md).
SYMBOL_INVALID = b'["error",10020,"symbol: invalid"]'
MAINTENANCE = b'["error", 20060, "maintenance"]'
RATELIMIT = b'["error", 11010, "ratelimit: error"]'
ERR_RATE_LIMIT = b'{"error": "ERR_RATE_LIMIT"}'


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def client(retries: int = 2) -> HttpClient:
    return HttpClient(BASE, timeout_s=(1.0, 2.0), retries=retries, backoff_factor=0, user_agent="ct-test/1")


def test_floats_become_exact_decimals_and_ints_stay_ints(mocked):
    mocked.get(TICKERS_URL, body=TICKERS_ALL, content_type="application/json")

    payload = client().get_json("/v2/tickers", {"symbols": "ALL"})

    funding = payload[1]
    assert funding[13] == Decimal("4e-7") and isinstance(funding[13], Decimal)
    assert payload[3][4] == Decimal("19203.444049780002")
    assert payload[0][1] == 101530 and type(payload[0][1]) is int


def test_request_carries_params_user_agent_and_timeout(mocked):
    mocked.get(TICKERS_URL, body=TICKERS_ALL)

    client().get_json("/v2/tickers", {"symbols": "ALL"})

    request = mocked.calls[0].request
    assert request.url == TICKERS_URL + "?symbols=ALL"
    assert request.headers["User-Agent"] == "ct-test/1"
    assert request.req_kwargs["timeout"] == (1.0, 2.0)


def test_5xx_is_retried_a_bounded_number_of_times(mocked):
    mocked.get(TICKERS_URL, status=503, body=MAINTENANCE)

    with pytest.raises(SourceError) as caught:
        client(retries=2).get_json("/v2/tickers")

    assert len(mocked.calls) == 3
    assert caught.value.permanent is False and caught.value.rate_limited is False
    assert "HTTP 503 after 2 retries" in caught.value.message
    assert "20060 maintenance" in caught.value.message


def test_5xx_then_success_returns_the_payload(mocked):
    mocked.get(TICKERS_URL, status=502, body=b"")
    mocked.get(TICKERS_URL, body=TICKERS_ALL)

    payload = client(retries=2).get_json("/v2/tickers")

    assert len(mocked.calls) == 2
    assert payload[0][0] == "tBTCUSD"


def test_500_symbol_invalid_names_code_and_message_and_is_permanent(mocked):
    mocked.get(TICKERS_URL, status=500, body=SYMBOL_INVALID)

    with pytest.raises(SourceError) as caught:
        client(retries=1).get_json("/v2/tickers")

    assert caught.value.message == WHERE + ": HTTP 500: Bitfinex error 10020 symbol: invalid"
    assert caught.value.permanent is True


def test_maintenance_body_is_temporary(mocked):
    mocked.get(TICKERS_URL, status=500, body=MAINTENANCE)

    with pytest.raises(SourceError) as caught:
        client(retries=0).get_json("/v2/tickers")

    assert caught.value.permanent is False
    assert caught.value.message.endswith("Bitfinex error 20060 maintenance")


def test_429_is_rate_limited_and_not_retried_even_with_retry_after(mocked):
    mocked.get(TICKERS_URL, status=429, body=RATELIMIT, headers={"Retry-After": "1"})

    with pytest.raises(SourceError) as caught:
        client(retries=3).get_json("/v2/tickers")

    assert len(mocked.calls) == 1
    assert caught.value.rate_limited is True and caught.value.permanent is False
    assert caught.value.message == WHERE + ": rate limited (HTTP 429, Bitfinex error 11010 ratelimit: error)"


def test_err_rate_limit_object_is_rate_limited_even_with_http_200(mocked):
    mocked.get(TICKERS_URL, status=200, body=ERR_RATE_LIMIT)

    with pytest.raises(SourceError) as caught:
        client().get_json("/v2/tickers")

    assert caught.value.rate_limited is True
    assert "ERR_RATE_LIMIT" in caught.value.message


def test_error_body_with_http_200_is_an_error(mocked):
    mocked.get(TICKERS_URL, status=200, body=SYMBOL_INVALID)

    with pytest.raises(SourceError) as caught:
        client().get_json("/v2/tickers")

    assert caught.value.message == WHERE + ": error body with HTTP 200: Bitfinex error 10020 symbol: invalid"
    assert caught.value.permanent is True


def test_other_4xx_is_permanent_and_not_retried(mocked):
    mocked.get(TICKERS_URL, status=404, body=b"")

    with pytest.raises(SourceError) as caught:
        client(retries=2).get_json("/v2/tickers")

    assert len(mocked.calls) == 1
    assert caught.value.permanent is True
    assert caught.value.message.startswith(WHERE + ": HTTP 404")


def test_html_page_is_an_unparseable_payload(mocked):
    # No HTML page was recorded; any non-JSON page (proxy, captive portal) takes this path.
    mocked.get(
        TICKERS_URL, status=200, body=b"<html><body>Bad gateway</body></html>", content_type="text/html"
    )

    with pytest.raises(SourceError) as caught:
        client().get_json("/v2/tickers")

    assert caught.value.permanent is True
    assert "unparseable payload (text/html" in caught.value.message


def test_truncated_json_is_an_unparseable_payload(mocked):
    mocked.get(TICKERS_URL, status=200, body=TICKERS_ALL[:200])

    with pytest.raises(SourceError) as caught:
        client().get_json("/v2/tickers")

    assert caught.value.permanent is True
    assert "unparseable payload" in caught.value.message


def test_empty_body_is_an_unparseable_payload(mocked):
    mocked.get(TICKERS_URL, status=200, body=b"")

    with pytest.raises(SourceError) as caught:
        client().get_json("/v2/tickers")

    assert "unparseable payload" in caught.value.message and "empty body" in caught.value.message


@pytest.mark.parametrize(
    ("exception", "text"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), "connect timeout"),
        (requests.exceptions.ReadTimeout("read timed out"), "read timeout"),
        (requests.exceptions.ConnectionError("connection reset"), "connection failed"),
        (requests.exceptions.ChunkedEncodingError("broken chunk"), "request failed"),
    ],
)
def test_network_failures_are_temporary_source_errors(mocked, exception, text):
    mocked.get(TICKERS_URL, body=exception)

    with pytest.raises(SourceError) as caught:
        client().get_json("/v2/tickers")

    assert caught.value.permanent is False and caught.value.rate_limited is False
    assert text in caught.value.message


def test_invalid_base_url_is_a_permanent_source_error():
    with pytest.raises(SourceError) as caught:
        HttpClient("not-a-url").get_json("/v2/tickers")

    assert caught.value.permanent is True


def test_parse_error_body_recognises_both_error_shapes():
    assert parse_error_body(["error", 10020, "symbol: invalid"]).code == 10020
    assert parse_error_body({"error": "ERR_RATE_LIMIT"}).rate_limited is True
    assert parse_error_body([["tBTCUSD", 1]]) is None


# --- the real network stack, on 127.0.0.1 -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_a_temporary_error_with_the_reason():
    port = _free_port()  # closed again: nothing listens there

    with pytest.raises(SourceError) as caught:
        HttpClient(f"http://127.0.0.1:{port}", retries=1, backoff_factor=0).get_json("/v2/tickers")

    assert caught.value.permanent is False
    assert "connection failed after 1 retries" in caught.value.message
    assert "refused" in caught.value.message.lower()


def test_read_timeout_on_a_silent_server_is_retried_then_reported():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            accepted.append(conn)  # never answer

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    try:
        with pytest.raises(SourceError) as caught:
            HttpClient(url, timeout_s=(1.0, 0.2), retries=1, backoff_factor=0).get_json("/v2/tickers")
        thread.join(timeout=5)
    finally:
        for conn in accepted:
            conn.close()
        server.close()

    assert len(accepted) == 2
    assert caught.value.permanent is False
    assert "read timeout" in caught.value.message


def test_503_is_retried_by_urllib3_on_a_real_server():
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            hits.append(self.path)
            body = MAINTENANCE if len(hits) < 3 else TICKERS_ALL
            self.send_response(503 if len(hits) < 3 else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        payload = HttpClient(f"http://127.0.0.1:{server.server_port}", retries=2, backoff_factor=0).get_json(
            "/v2/tickers", {"symbols": "ALL"}
        )
    finally:
        server.shutdown()
        server.server_close()

    assert hits == ["/v2/tickers?symbols=ALL"] * 3
    assert payload[0][0] == "tBTCUSD"


class _Served:
    """A loopback server answering every GET with `status` and `body` (optionally gzipped) after `delay_s`."""

    def __init__(self, status: int, body: bytes, *, gzipped: bool = False, delay_s: float = 0.0) -> None:
        self.hits: list[float] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                served.hits.append(time.monotonic())
                time.sleep(delay_s)
                payload = gzip.compress(body) if gzipped else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if gzipped:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> _Served:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_a_500_symbol_invalid_is_not_retried_on_a_real_server(gzipped):
    with _Served(500, SYMBOL_INVALID, gzipped=gzipped) as served, pytest.raises(SourceError) as caught:
        HttpClient(served.url, retries=2, backoff_factor=0).get_json("/v2/candles/trade:1m:tFOOUSD/hist")

    assert len(served.hits) == 1
    assert caught.value.permanent is True
    assert "10020 symbol: invalid" in caught.value.message


def test_a_500_maintenance_is_still_retried_on_a_real_server():
    with _Served(500, MAINTENANCE) as served, pytest.raises(SourceError) as caught:
        HttpClient(served.url, retries=2, backoff_factor=0).get_json("/v2/tickers")

    assert len(served.hits) == 3
    assert caught.value.permanent is False


def test_no_retry_starts_when_a_whole_attempt_would_end_past_the_deadline():
    # Each answer takes 0.8 s; an attempt may take up to 0.1 + 1.0 s: after the first 503
    # 2.5 - 0.8 = 1.7 s are left, enough for one more attempt (0.6 s to spare on a loaded
    # machine), and after the second at most 0.9 s, not enough for a third.
    with _Served(503, MAINTENANCE, delay_s=0.8) as served, pytest.raises(SourceError):
        HttpClient(served.url, timeout_s=(0.1, 1.0), retries=5, backoff_factor=0, deadline_s=2.5).get_json(
            "/v2/tickers"
        )

    assert len(served.hits) == 2


def test_each_call_gets_its_own_deadline():
    client = HttpClient(
        "http://127.0.0.1:9", timeout_s=(0.1, 1.0), retries=5, backoff_factor=0, deadline_s=1.5
    )
    with _Served(503, MAINTENANCE, delay_s=0.3) as served:
        client.base_url = served.url
        for _ in range(2):
            with pytest.raises(SourceError):
                client.get_json("/v2/tickers")

    assert len(served.hits) == 4
