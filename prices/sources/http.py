"""Exchange HTTP: the only importer of requests/urllib3; timeouts, bounded retries, SourceError mapping.

Everything above this module sees JSON values (numbers as int or Decimal) or a SourceError;
no requests/urllib3 exception escapes `HttpClient.get_json`.

Bitfinex error bodies (shared/data README §7, docs.bitfinex.com/docs/abbreviations-glossary):

* `["error", CODE, "message"]`, usually with HTTP 500, e.g. `["error", 10020, "symbol: invalid"]`,
  `["error", 20060, "maintenance"]`, and with HTTP 429 `["error", 11010, "ratelimit: error"]`;
* the older object `{"error": "ERR_RATE_LIMIT"}`.

Other exchanges (docs/exchanges.md): Kraken answers `{"error": [], "result": {...}}` — an empty
`error` list is success, a non-empty one (`["EAPI:Rate limit exceeded"]`, `["EQuery:Unknown asset
pair"]`) an error body, often with HTTP 200; Coinbase `{"error": "NOT_FOUND", "message": ...}`
with a 4xx; Binance `{"code": -1121, "msg": ...}` with a 4xx, and HTTP 418 once an IP is banned
for ignoring 429s (treated as a rate limit).
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from prices.sources.base import SourceError

DEFAULT_USER_AGENT = "cryptotracker/1.0 (exchange price poller; python-requests)"
CONNECT_TIMEOUT_S = 3.05
DEFAULT_TIMEOUT_S: tuple[float, float] = (CONNECT_TIMEOUT_S, 10.0)
RETRY_STATUSES = (500, 502, 503, 504)
# 429 everywhere; 418 is Binance's answer to a client that kept going after its 429s.
RATE_LIMIT_STATUSES = (429, 418)
# Bitfinex error codes (docs.bitfinex.com/docs/abbreviations-glossary).
ERR_PARAMS = 10020  # "symbol: invalid", "limit: invalid": the same request fails again
ERR_RATE_LIMIT_CODE = 11010  # "ratelimit: error", sent with HTTP 429
ERR_RATE_LIMIT_TEXT = "ERR_RATE_LIMIT"  # the v1-era object body {"error": "ERR_RATE_LIMIT"}
_PERMANENT_CODES = frozenset({ERR_PARAMS})
# Kraken error texts (docs.kraken.com/api/docs/guides/spot-errors): rate limits, and requests
# that fail the same way again.
_KRAKEN_RATE_LIMITED = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests", "EService:Throttled")
_KRAKEN_PERMANENT = ("EQuery:Unknown asset pair", "EGeneral:Invalid arguments")
_SNIPPET_CHARS = 80
_PEEK_BYTES = 512

Timeout = float | tuple[float, float]


class _Retry(urllib3.util.Retry):
    """urllib3's Retry, minus behaviours we do not want, plus a deadline.

    * A 429 (or 413) carrying Retry-After would be retried even though it is not in
      status_forcelist; a rate limit must fail the call so the caller backs off.
    * Retry-After is capped, so one odd header cannot stall a minute poll; an unparseable
      header is ignored instead of raising.
    * Bitfinex sends permanent errors (10020 "symbol: invalid") with HTTP 500, like transient
      ones: a 5xx whose body is a permanent error body is not retried.
    * With `deadline_s`, a retry starts only if a whole attempt (`attempt_s`) still ends within
      `deadline_s` of the request's start (`started`, monotonic seconds; see _DeadlineAdapter),
      so retries never push a poll past its task's timeout.
    """

    RETRY_AFTER_STATUS_CODES = frozenset()
    RETRY_AFTER_MAX_S = 30.0

    def __init__(
        self,
        *args: Any,
        deadline_s: float | None = None,
        attempt_s: float = 0.0,
        started: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadline_s = deadline_s
        self.attempt_s = attempt_s
        self.started = started

    def new(self, **kw: Any) -> _Retry:
        kw.setdefault("deadline_s", self.deadline_s)
        kw.setdefault("attempt_s", self.attempt_s)
        kw.setdefault("started", self.started)
        return super().new(**kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> _Retry:
        if response is not None and _permanent_error_body(response):
            raise urllib3.exceptions.MaxRetryError(
                _pool, url, urllib3.exceptions.ResponseError("permanent error body")
            )
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.deadline_s is not None and self.started is not None:
            ends = time.monotonic() + retry.get_backoff_time() + self.attempt_s
            if ends - self.started > self.deadline_s:
                reason = error or urllib3.exceptions.ResponseError("no time left for a retry")
                raise urllib3.exceptions.MaxRetryError(_pool, url, reason)
        return retry

    def get_retry_after(self, response: Any) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except urllib3.exceptions.InvalidHeader:
            return None
        return None if seconds is None else min(seconds, self.RETRY_AFTER_MAX_S)


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """A Bitfinex error body: `code` (int, or the text of `{"error": ...}`) and `message`."""

    code: int | str | None
    message: str

    @property
    def rate_limited(self) -> bool:
        """True for code 11010, {"error": "ERR_RATE_LIMIT"} and Kraken's rate-limit errors."""
        if isinstance(self.code, str) and self.code.startswith(_KRAKEN_RATE_LIMITED):
            return True
        return self.code in (ERR_RATE_LIMIT_CODE, ERR_RATE_LIMIT_TEXT)

    @property
    def permanent(self) -> bool:
        """True when the same request cannot succeed later (10020 ERR_PARAMS, Kraken EQuery/EGeneral)."""
        if isinstance(self.code, str) and self.code.startswith(_KRAKEN_PERMANENT):
            return True
        return self.code in _PERMANENT_CODES

    def __str__(self) -> str:
        parts = [str(p) for p in (self.code, self.message) if p not in (None, "")]
        kraken = isinstance(self.code, str) and self.code[:1] == "E" and ":" in self.code
        return ("Kraken error " if kraken else "Bitfinex error ") + " ".join(parts)


def _permanent_error_body(response: Any) -> bool:
    """True when a urllib3 response's body, peeked at without consuming it, is a permanent error.

    Error bodies are a few dozen bytes that arrive with the headers; anything not readable
    from the socket buffer at once (or in an unknown encoding) counts as not permanent.
    """
    peek = getattr(getattr(response, "_fp", None), "peek", None)
    if peek is None:
        return False
    try:
        head = peek(_PEEK_BYTES)[:_PEEK_BYTES]
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("gzip", "deflate"):
            head = zlib.decompressobj(wbits=47).decompress(head)  # 47: zlib or gzip header
        elif encoding not in ("", "identity"):
            return False
        error = parse_error_body(loads_exact(head))
    except (OSError, ValueError, zlib.error):
        return False
    return error is not None and error.permanent


def parse_error_body(payload: Any) -> ErrorBody | None:
    """The ErrorBody if `payload` is `["error", code, msg]` or `{"error": ...}`, else None."""
    if isinstance(payload, list) and payload and payload[0] == "error":
        code = payload[1] if len(payload) > 1 and isinstance(payload[1], int | str) else None
        message = payload[2] if len(payload) > 2 and isinstance(payload[2], str) else ""
        return ErrorBody(code=code, message=message)
    if isinstance(payload, dict) and "error" in payload:
        error = payload["error"]
        if isinstance(error, list):  # Kraken: [] on success, ["EAPI:Rate limit exceeded", ...] on error
            if not error:
                return None
            texts = [str(e) for e in error]
            return ErrorBody(code=texts[0], message="; ".join(texts[1:]))
        message = payload.get("message") if isinstance(payload.get("message"), str) else ""
        return ErrorBody(code=error if isinstance(error, int | str) else None, message=message or "")
    return None


def error_body_to_source_error(error: ErrorBody, where: str) -> SourceError:
    """A SourceError for an error body: rate_limited for 11010/ERR_RATE_LIMIT, permanent for 10020."""
    if error.rate_limited:
        return SourceError(f"{where}: rate limited ({error})", rate_limited=True)
    return SourceError(f"{where}: {error}", permanent=error.permanent)


def loads_exact(text: str | bytes) -> Any:
    """json.loads with floats as Decimal (so `7.181e-05` is exact) and ints as int.

    NaN/Infinity are rejected (ValueError), as they are not JSON numbers.
    """
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON number {name}")


class HttpClient:
    """GET JSON from one base URL with a timeout, bounded retries and a User-Agent.

    `timeout_s` is seconds, one float or (connect, read). `retries` bounds urllib3's retries of
    connection errors, read timeouts and HTTP 500/502/503/504 (GET only, exponential back-off
    `backoff_factor`, Retry-After honoured up to 30 s). 429, 4xx and 5xx carrying a permanent
    error body (10020) are never retried. With `deadline_s`, a retry starts only if a whole
    attempt (connect + read timeout) still ends within `deadline_s` seconds of the call's start.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: Timeout = DEFAULT_TIMEOUT_S,
        retries: int = 2,
        user_agent: str = DEFAULT_USER_AGENT,
        backoff_factor: float = 0.5,
        deadline_s: float | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be ≥ 0")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        retry = _Retry(
            total=retries,
            backoff_factor=backoff_factor,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=["GET"],
            respect_retry_after_header=True,
            raise_on_status=False,
            deadline_s=deadline_s,
            attempt_s=sum(timeout_s) if isinstance(timeout_s, tuple) else 2 * timeout_s,
        )
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        adapter = _DeadlineAdapter(max_retries=retry)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET base_url + path and return the decoded JSON (floats as Decimal, ints as int).

        Raises SourceError with one readable message:
        timeout / connection error → permanent=False (after the retries);
        HTTP 429 or a rate-limit error body → rate_limited=True;
        other 4xx → permanent=True; 5xx after retries → permanent=False (True for 10020);
        an error body with HTTP 200 → SourceError as for its code;
        HTML / non-JSON / truncated JSON → permanent=True ("unparseable payload").
        """
        url = self.base_url + path
        where = f"GET {url}"
        try:
            response = self._session.get(url, params=params, timeout=self.timeout_s)
        except requests.exceptions.Timeout as exc:
            kind = "connect" if isinstance(exc, requests.exceptions.ConnectTimeout) else "read"
            raise SourceError(
                f"{where}: {kind} timeout ({self.timeout_s} s) after {self.retries} retries"
            ) from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise SourceError(f"{where}: invalid URL", permanent=True) from exc
        except requests.exceptions.ConnectionError as exc:
            raise SourceError(
                f"{where}: connection failed after {self.retries} retries ({_reason(exc)})"
            ) from exc
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise SourceError(f"{where}: request failed ({type(exc).__name__}: {_reason(exc)})") from exc
        return self._decode(response, where)

    def _decode(self, response: requests.Response, where: str) -> Any:
        status = response.status_code
        try:
            payload = loads_exact(response.content)
            parsed = True
        except ValueError:  # JSONDecodeError, UnicodeDecodeError, NaN
            payload, parsed = None, False
        error = parse_error_body(payload) if parsed else None

        if status in RATE_LIMIT_STATUSES or (error is not None and error.rate_limited):
            detail = f", {error}" if error is not None else ""
            raise SourceError(f"{where}: rate limited (HTTP {status}{detail})", rate_limited=True)
        if 200 <= status < 300 and parsed and error is None:
            return payload
        detail = str(error) if error is not None else _snippet(response)
        if 400 <= status < 500:
            raise SourceError(f"{where}: HTTP {status}: {detail}", permanent=True)
        if status >= 500:
            permanent = error is not None and error.permanent
            retried = f" after {self.retries} retries" if status in RETRY_STATUSES and not permanent else ""
            raise SourceError(f"{where}: HTTP {status}{retried}: {detail}", permanent=permanent)
        if not 200 <= status < 300:
            raise SourceError(f"{where}: unexpected HTTP {status}: {detail}")
        if error is not None:
            raise SourceError(f"{where}: error body with HTTP {status}: {error}", permanent=error.permanent)
        raise SourceError(f"{where}: unparseable payload ({detail})", permanent=True)


class _DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter handing each request a fresh copy of its Retry, started at the request.

    requests reads `max_retries` once per request; the copy carries that moment, from which
    _Retry counts its deadline.
    """

    @property
    def max_retries(self) -> urllib3.util.Retry:
        return self._retry.new(started=time.monotonic())

    @max_retries.setter
    def max_retries(self, value: urllib3.util.Retry) -> None:
        self._retry = value


def _snippet(response: requests.Response) -> str:
    content_type = response.headers.get("Content-Type", "no content type").split(";")[0]
    text = re.sub(r"\s+", " ", response.content[:400].decode("utf-8", "replace")).strip()
    if len(text) > _SNIPPET_CHARS:
        text = text[:_SNIPPET_CHARS] + "…"
    size = len(response.content)
    return f"{content_type}, {size} bytes: {text!r}" if text else f"{content_type}, empty body"


def _reason(exc: BaseException) -> str:
    """The innermost cause's text, e.g. '[Errno 111] Connection refused'."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        if inner is None:
            break
        current = inner
    text = str(current) or type(current).__name__
    return text.rsplit(": ", 1)[-1] if ": " in text and len(text) > _SNIPPET_CHARS else text
