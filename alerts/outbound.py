"""The one outbound path to hosts users chose (webhooks, Apprise services): address guard, no redirects.

Every connection made inside `guarded()` is checked where it is made: the name is resolved by
`resolve()` (our one DNS function), every address it returns is checked, and the socket
connects only to those checked addresses (urllib3 and smtplib connect to what getaddrinfo
returned; there is no second resolution between the check and the connect). Loopback, private
(RFC 1918, 100.64/10), link-local, unique-local, multicast, unspecified and reserved addresses,
their IPv4-mapped/-compatible/6to4/NAT64 IPv6 forms and numeric host tricks (`2130706433`,
`0x7f.1`, `0177.0.0.1`) are refused unless an operator listed their network in
ALERTS_OUTBOUND_ALLOWED_NETWORKS. Redirects are never followed. Response bodies never leave
this module: callers get a status code and the elapsed time, and errors carry our own text.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never a destination, whatever the allow-list says.
_NEVER = [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "::/128", "224.0.0.0/4", "ff00::/8")]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A host made only of digits, hex digits, x and dots is a number in some notation.
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


class OutboundRefusedError(Exception):
    """The destination is not allowed (scheme, host or address); permanent: retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OutboundError(Exception):
    """The request failed (no connection, timeout, non-2xx answer); `status` is the HTTP status or None.

    `permanent` when a retry cannot succeed (3xx, 4xx other than 408/429). The message is ours:
    never a response body or a library's text.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        elapsed_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.elapsed_ms = elapsed_ms


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """A 2xx answer: its status code and the milliseconds from sending to the answer's headers."""

    status: int
    elapsed_ms: int


_real_getaddrinfo = socket.getaddrinfo


def resolve(host: str, port: int | str | None, *args: Any, **kwargs: Any) -> list[tuple]:
    """Resolve `host` like socket.getaddrinfo (same arguments and result); the one DNS call of this module."""
    return _real_getaddrinfo(host, port, *args, **kwargs)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks), not :: or ::1.
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def _allowed_network(address: IPAddress) -> bool:
    return any(address in network for network in settings.ALERTS_OUTBOUND_ALLOWED_NETWORKS)


def _ip(text: str) -> IPAddress:
    # getaddrinfo writes link-local IPv6 answers with their zone ("fe80::1%eth0").
    return ipaddress.ip_address(text.split("%")[0])


def address_refusal(address: IPAddress) -> str | None:
    """Why connecting to `address` is refused (e.g. "127.0.0.1 is a loopback address"), or None."""
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            forms.insert(0, embedded)
    for form in forms:
        if any(form in network for network in _NEVER) or form.is_unspecified or form.is_multicast:
            return f"{address} is an unspecified or multicast address"
    if any(_allowed_network(form) for form in forms):
        return None
    for form in forms:
        for attribute, label in (
            ("is_loopback", "loopback"),
            ("is_link_local", "link-local"),
            ("is_private", "private"),
            ("is_reserved", "reserved"),
        ):
            if getattr(form, attribute):
                return f"{address} is a {label} address"
        if not form.is_global:
            return f"{address} is not a public address"
    return None


def host_refusal(host: str) -> str | None:
    """Why `host` (a URL's hostname, without brackets) is refused before any lookup, or None.

    Refuses numeric forms other than dotted-decimal IPv4 or IPv6 (decimal, octal, hex, short
    forms), which resolvers accept but readers do not recognise, and checks address literals.
    """
    if not host:
        return "the URL has no host"
    try:
        return address_refusal(_ip(host))
    except ValueError:
        pass
    name = host.rstrip(".")
    labels = name.split(".")
    if _NUMERIC_HOST.match(name) and all(label and not label[0].isalpha() for label in labels):
        return f"{host!r} is a numeric address in a non-standard form; write it as a.b.c.d"
    try:
        ascii_labels = name.encode("idna").decode("ascii").split(".")
    except UnicodeError:
        return f"{host!r} is not a valid host name"
    if not all(_LABEL.match(label) for label in ascii_labels):
        return f"{host!r} is not a valid host name"
    return None


def addresses_check(host: str, port: int | str | None, *args: Any, **kwargs: Any) -> list[tuple]:
    """Resolve `host` (getaddrinfo's arguments and result) and return the entries if every address is allowed.

    Raises OutboundRefusedError naming the first refused address, or when the name does not
    resolve.
    """
    refusal = host_refusal(host)
    if refusal:
        raise OutboundRefusedError(refusal)
    try:
        entries = resolve(host, port, *args, **kwargs)
    except (OSError, UnicodeError):
        raise OutboundRefusedError(f"the host {host!r} does not resolve") from None
    if not entries:
        raise OutboundRefusedError(f"the host {host!r} does not resolve")
    for entry in entries:
        refusal = address_refusal(_ip(entry[4][0]))
        if refusal:
            raise OutboundRefusedError(f"{host} resolves to a refused address: {refusal}")
    return entries


def _url_parts(url: str, schemes: tuple[str, ...]) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.endswith("s") else 80)
    except ValueError:
        raise OutboundRefusedError("not a valid URL") from None
    if parts.scheme not in schemes:
        raise OutboundRefusedError(f"the scheme must be {' or '.join(schemes)}")
    refusal = host_refusal(parts.hostname or "")
    if refusal:
        raise OutboundRefusedError(refusal)
    return parts.hostname or "", port


def url_check(url: str, *, schemes: tuple[str, ...] = ("http", "https")) -> None:
    """Check a URL users gave (at creation and change): scheme, host and every resolved address.

    Raises OutboundRefusedError with a message fit for a 400 naming the field.
    """
    host, port = _url_parts(url, schemes)
    addresses_check(host, port, 0, socket.SOCK_STREAM)


class _Guard(threading.local):
    active: bool = False
    refusal: str | None = None
    status: int | None = None
    elapsed_ms: int | None = None


_guard = _Guard()
_install_lock = threading.Lock()
_installed = False


def _guarded_getaddrinfo(host, port, *args, **kwargs):
    if not _guard.active:
        return _real_getaddrinfo(host, port, *args, **kwargs)
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        return addresses_check(name.strip("[]"), port, *args, **kwargs)
    except OutboundRefusedError as exc:
        _guard.refusal = exc.message
        raise socket.gaierror(socket.EAI_FAIL, "refused by the outbound guard") from None


def _no_redirect_target(self, resp):
    # requests asks this of every answer it gets: the place to note the status and to refuse a redirect.
    if not _guard.active:
        return _real_redirect_target(self, resp)
    _guard.status = resp.status_code
    _guard.elapsed_ms = round(resp.elapsed.total_seconds() * 1000)
    return None


_real_redirect_target = requests.sessions.SessionRedirectMixin.get_redirect_target


def _install() -> None:
    # Installed once per process; each wrapper acts only in a thread inside guarded(), so
    # other code (boto3, the exchange client) resolves and redirects as before.
    global _installed
    with _install_lock:
        if not _installed:
            socket.getaddrinfo = _guarded_getaddrinfo
            requests.sessions.SessionRedirectMixin.get_redirect_target = _no_redirect_target
            _installed = True


@contextmanager
def guarded() -> Iterator[_Guard]:
    """Inside, every name this thread resolves is checked (see module doc) and requests follows no redirect.

    The yielded object's `refusal` names the refused address after a connection was refused;
    `status` and `elapsed_ms` describe the last HTTP answer received through requests.
    """
    _install()
    previous = _guard.active
    _guard.active, _guard.refusal, _guard.status, _guard.elapsed_ms = True, None, None, None
    try:
        yield _guard
    finally:
        _guard.active = previous


def post_json(url: str, *, payload: dict[str, Any], timeout_s: float, user_agent: str) -> OutboundResponse:
    """POST `payload` as JSON to `url` through the guard; 2xx → OutboundResponse.

    Raises OutboundRefusedError for a refused destination, OutboundError for no connection,
    a timeout (retryable), a 3xx (not followed, permanent), 4xx (permanent but 408/429) or 5xx.
    The body of the answer is never read.
    """
    _url_parts(url, ("http", "https"))
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: connect to the checked address
    started = time.monotonic()
    with guarded() as guard:
        try:
            response = session.post(
                url,
                json=payload,
                timeout=timeout_s,
                headers={"User-Agent": user_agent},
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            if guard.refusal:
                raise OutboundRefusedError(guard.refusal) from None
            kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
            raise OutboundError(f"{kind} ({exc.__class__.__name__})") from None
        finally:
            session.close()
    elapsed_ms = round((time.monotonic() - started) * 1000)
    code = response.status_code
    response.close()
    if 200 <= code < 300:
        return OutboundResponse(status=code, elapsed_ms=elapsed_ms)
    if 300 <= code < 400:
        raise OutboundError(
            f"answered HTTP {code} (redirects are not followed)",
            permanent=True,
            status=code,
            elapsed_ms=elapsed_ms,
        )
    permanent = 400 <= code < 500 and code not in (408, 429)
    raise OutboundError(f"answered HTTP {code}", permanent=permanent, status=code, elapsed_ms=elapsed_ms)
