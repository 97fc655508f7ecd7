"""Downloading a visitor's URL without letting it reach inside the server's network.

A URL typed into the app (or carried by a shared link) is visitor input: fetched naively it lets
anyone make the server request ``http://127.0.0.1:8501/``, a cloud metadata address
(``169.254.169.254``) or a host on the private network, and read the answer back (SSRF).
`fetch_url` closes that door:

- **Addresses.** The host is resolved first and every address it resolves to is checked; a
  loopback, private, link-local, multicast, reserved, unspecified or otherwise non-global
  address is refused, including IPv4-mapped/6to4/Teredo/NAT64 IPv6 forms and numeric spellings
  such as ``2130706433`` or ``0x7f.1`` (the resolver turns them into ``127.0.0.1``, which is
  what is checked). The connection then goes to the vetted IP itself, so a DNS answer that
  changes between the check and the connection (DNS rebinding) cannot redirect it; the
  ``Host`` header and the TLS server name (SNI and certificate check) still use the host name.
- **Redirects** are followed here, at most `MAX_REDIRECTS`, and every hop is checked (scheme
  ``http``/``https`` only, then its address) before anything connects to it.
- **One overall deadline** covers resolving, connecting, redirects, headers and body: a
  server that drips a few bytes every few seconds is cut off when the deadline passes.
- **A byte cap on the decoded body**, counted while streaming. ``Accept-Encoding: identity`` is
  sent; a server that gzips anyway is decoded incrementally under the same cap. Any other
  content encoding is refused.
- **Complete bodies only**: a body shorter (or longer) than its ``Content-Length`` is an error.

``allow`` (``TRACING_URL_ALLOW_HOSTS`` in the app) names host names, IPs or CIDRs an operator
permits on purpose (an internal object store, say). Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from tracing.errors import DataError

__all__ = ["MAX_REDIRECTS", "FetchLimits", "check_address", "fetch_url", "vet_host"]

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchLimits:
    """The bounds of one download.

    Attributes
    ----------
    max_bytes : int
        Cap on the decoded body, in bytes.
    deadline_s : float
        Overall time allowed, in seconds, from the first lookup to the last body byte.
    allow : tuple of str
        Host names, IP addresses or CIDRs reachable even though internal (lower case).
    setting_bytes : str
        The setting named when the byte cap is hit.
    setting_allow : str
        The setting named when an internal address is refused.
    """

    max_bytes: int
    deadline_s: float
    allow: tuple[str, ...] = ()
    setting_bytes: str = "TRACING_MAX_URL_MB"
    setting_allow: str = "TRACING_URL_ALLOW_HOSTS"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    # IPv4-compatible (deprecated) ::a.b.c.d
    if int(ip) >> 32 == 0 and int(ip) > 1:
        found.append(ipaddress.IPv4Address(int(ip)))
    return found


def check_address(ip: IPAddress) -> str | None:
    """Return why ``ip`` must not be fetched from, or ``None`` when it is a public address.

    Parameters
    ----------
    ip : IPv4Address or IPv6Address

    Returns
    -------
    str or None
        ``"loopback"``, ``"private"``, ``"link-local"``, ``"multicast"``, ``"reserved"``,
        ``"unspecified"`` or ``"not public"``; ``None`` when allowed.

    Examples
    --------
    >>> check_address(ipaddress.ip_address("127.0.0.1"))
    'loopback'
    >>> check_address(ipaddress.ip_address("::ffff:10.0.0.1"))
    'private'
    >>> check_address(ipaddress.ip_address("93.184.216.34")) is None
    True
    """
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            reason = check_address(inner)
            if reason:
                return reason
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not public", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _allowed(host: str, ip: IPAddress | None, allow: Iterable[str]) -> bool:
    for item in allow:
        if item == host:
            return True
        if ip is not None and any(c in item for c in ".:/"):
            try:
                if ip in ipaddress.ip_network(item, strict=False):
                    return True
            except ValueError:
                continue
    return False


def vet_host(host: str, port: int, *, url: str, limits: FetchLimits, deadline: float) -> str:
    """Resolve ``host`` and return the IP to connect to, or refuse it.

    Every address the name resolves to must be public (or allowed): a name that resolves to
    one public and one internal address is refused, so the answer chosen cannot matter.

    Parameters
    ----------
    host : str
        Host name or IP literal from the URL (lower case, no brackets).
    port : int
        Port, for the lookup.
    url : str
        The URL, for messages.
    limits : FetchLimits
    deadline : float
        ``time.monotonic()`` value by which the download must end.

    Returns
    -------
    str
        An IP address (text) that passed the checks.

    Raises
    ------
    DataError
        If the host does not resolve, or resolves to an internal address not allowed.
    """
    if time.monotonic() >= deadline:
        raise _timeout(url, limits)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise DataError(
            f"{url}: could not be downloaded (host {host!r}: {exc}); check the URL."
        ) from None
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone
        ip = ipaddress.ip_address(text)
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise DataError(f"{url}: could not be downloaded (host {host!r} has no address).")
    for ip in addresses:
        reason = check_address(ip)
        if reason and not _allowed(host, ip, limits.allow):
            raise DataError(
                f"{url}: refused, the host {host!r} is a {reason} address ({ip}) and the server "
                "does not fetch from its own network; use a public URL or upload the file "
                f"(an operator can permit the host with {limits.setting_allow})."
            )
    return str(addresses[0])


def _timeout(url: str, limits: FetchLimits) -> DataError:
    return DataError(
        f"{url}: could not be downloaded (not complete within {limits.deadline_s:g} s); "
        "use a faster server or upload the file (TRACING_URL_TIMEOUT_S sets the deadline)."
    )


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a vetted IP that still sends the host name."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        """Connect to the vetted IP, never re-resolving the name."""
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a vetted IP; SNI and the certificate check use the host name."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        self._ctx = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._ctx)
        self._ip = ip

    def connect(self) -> None:
        """Connect to the vetted IP and start TLS for the host name."""
        raw = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self.host)


def _split(url: str, origin: str) -> tuple[str, str, int, str]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"a {scheme}:// address" if scheme else "an address without http(s)"
        where = "redirected to" if url != origin else "is"
        raise DataError(
            f"{origin}: {where} {shown}; only http and https are fetched, use a direct link."
        )
    try:
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise DataError(f"{origin}: not a valid URL ({exc}); check the URL.") from None
    if not host:
        raise DataError(f"{origin}: the URL has no host; check the URL.")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return scheme, host, port, target


def fetch_url(url: str, limits: FetchLimits) -> bytes:
    """Download ``url`` under the checks described in the module docstring.

    Parameters
    ----------
    url : str
        An ``http``/``https`` URL.
    limits : FetchLimits
        Byte cap, deadline and allow-list.

    Returns
    -------
    bytes
        The decoded body.

    Raises
    ------
    DataError
        Refused address or scheme, too many redirects, an HTTP error status, a body over the cap
        or not matching its ``Content-Length``, the deadline passed, or a network error.
    """
    deadline = time.monotonic() + limits.deadline_s
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, target = _split(current, url)
        ip = vet_host(host, port, url=url, limits=limits, deadline=deadline)
        status, location, body = _request(scheme, host, port, ip, target, url, limits, deadline)
        if status in _REDIRECTS and location:
            current = urllib.parse.urljoin(current, location)
            continue
        if status in _REDIRECTS:
            raise DataError(f"{url}: the server answered {status} without a Location; check it.")
        return body
    raise DataError(f"{url}: more than {MAX_REDIRECTS} redirects; use the final, direct link.")


def _request(
    scheme: str,
    host: str,
    port: int,
    ip: str,
    target: str,
    url: str,
    limits: FetchLimits,
    deadline: float,
) -> tuple[int, str, bytes]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _timeout(url, limits)
    conn_type = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = conn_type(host, port, ip, remaining)
    expired = threading.Event()

    def cut() -> None:  # the overall deadline: unblock whatever read is waiting
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(remaining, cut)
    timer.daemon = True
    timer.start()
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.putheader("Accept-Encoding", "identity")
        conn.putheader("User-Agent", "tracing")
        conn.endheaders()
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            return response.status, response.getheader("Location") or "", b""
        if response.status >= 400:
            raise DataError(
                f"{url}: the server answered {response.status} {response.reason}; check the URL."
            )
        return response.status, "", _read_body(response, url, limits, expired)
    except DataError:
        raise
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        if expired.is_set() or time.monotonic() >= deadline:
            raise _timeout(url, limits) from exc
        reason = str(exc) or type(exc).__name__
        raise DataError(f"{url}: could not be downloaded ({reason}); check the URL.") from exc
    finally:
        timer.cancel()
        conn.close()


def _read_body(
    response: http.client.HTTPResponse, url: str, limits: FetchLimits, expired: threading.Event
) -> bytes:
    cap = limits.max_bytes
    too_big = DataError(
        f"{url}: larger than the {cap / 2**20:,.6g} MB limit for URLs; use a smaller file or "
        f"raise {limits.setting_bytes}."
    )
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise DataError(f"{url}: the server sent {encoding}-encoded content; use a direct link.")
    declared_text = response.getheader("Content-Length")
    declared: int | None = None
    if declared_text is not None:
        if not declared_text.strip().isdigit():
            raise DataError(f"{url}: invalid Content-Length {declared_text!r}; check the server.")
        declared = int(declared_text)
        if encoding == "identity" and declared > cap:
            raise too_big
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding != "identity" else None
    chunks: list[bytes] = []
    received = 0
    total = 0
    while True:
        if expired.is_set():
            raise OSError("deadline")
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if decoder is not None:
            chunk = decoder.decompress(chunk, cap + 1 - total)
            if decoder.unconsumed_tail:
                raise too_big
        total += len(chunk)
        if total > cap:
            raise too_big
        chunks.append(chunk)
    if expired.is_set():
        raise OSError("deadline")
    if declared is not None and received != declared:
        raise DataError(
            f"{url}: the download is incomplete ({received:,} of {declared:,} bytes); try "
            "again or upload the file."
        )
    if decoder is not None:
        tail = decoder.flush()
        total += len(tail)
        if total > cap:
            raise too_big
        chunks.append(tail)
        if not decoder.eof:
            raise DataError(f"{url}: the gzip-encoded download is incomplete; try again.")
    return b"".join(chunks)
