"""URL fetching cannot be pointed at the server's own network, hung or made to lie about size."""

from __future__ import annotations

import gzip
import http.server
import ipaddress
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracing import settings, sources
from tracing.errors import DataError
from tracing.fetch import FetchLimits, check_address, fetch_url

CSV = b"id,pred,label\n1,1,0\n2,0,0\n"
OPEN = FetchLimits(max_bytes=1 << 20, deadline_s=2.0, allow=("127.0.0.1",))
GUARDED = FetchLimits(max_bytes=1 << 20, deadline_s=2.0)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    other_port = 0

    def do_GET(self) -> None:  # noqa: N802
        path = self.path
        if path == "/preds.csv":
            self._send(200, CSV)
        elif path.startswith("/redirect/"):
            target = path.removeprefix("/redirect/")
            if target == "port":
                target = f"http://127.0.0.1:{self.other_port}/preds.csv"
            elif target == "ftp":
                target = "ftp://127.0.0.1/preds.csv"
            elif target == "loop":
                target = "/redirect/loop"
            elif target == "relative":
                target = "/preds.csv"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", str(len(CSV) + 100))
            self.end_headers()
            self.wfile.write(CSV)
            self.wfile.flush()
            self.close_connection = True
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(100):
                try:
                    self.wfile.write(b"1,0\n")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif path == "/gzip-bomb":
            body = gzip.compress(b"0" * (5 << 20))
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/host":
            self._send(200, str(self.headers.get("Host")).encode())
        elif path == "/gzip":
            self._send(200, gzip.compress(CSV), encoding="gzip")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (CSV[:10], CSV[10:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"no")

    def _send(self, status: int, body: bytes, encoding: str = "") -> None:
        self.send_response(status)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve() -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def base() -> Iterator[str]:
    server, other = _serve(), _serve()
    _Handler.other_port = other.server_address[1]
    yield f"http://127.0.0.1:{server.server_address[1]}"
    for s in (server, other):
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
    ],
)
def test_internal_addresses_are_refused(text: str) -> None:
    assert check_address(ipaddress.ip_address(text)) is not None


@pytest.mark.parametrize("text", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(text: str) -> None:
    assert check_address(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::1]", "0"],
)
def test_loopback_in_any_spelling_is_refused_before_connecting(base: str, host: str) -> None:
    port = base.rsplit(":", 1)[1]
    with pytest.raises(DataError, match="refused.*TRACING_URL_ALLOW_HOSTS"):
        fetch_url(f"http://{host}:{port}/preds.csv", GUARDED)


def test_allow_list_permits_a_host_on_purpose(base: str) -> None:
    assert fetch_url(f"{base}/preds.csv", OPEN) == CSV
    cidr = FetchLimits(max_bytes=1 << 20, deadline_s=2.0, allow=("127.0.0.0/8",))
    assert fetch_url(f"{base}/preds.csv", cidr) == CSV
    port = base.rsplit(":", 1)[1]
    named = FetchLimits(max_bytes=1 << 20, deadline_s=2.0, allow=("localhost",))
    assert fetch_url(f"http://localhost:{port}/preds.csv", named) == CSV


def test_redirects_are_checked_on_every_hop(base: str) -> None:
    assert fetch_url(f"{base}/redirect/relative", OPEN) == CSV
    # The first hop is allowed by name, the redirect to another loopback address is not.
    port = base.rsplit(":", 1)[1]
    by_name = FetchLimits(max_bytes=1 << 20, deadline_s=2.0, allow=("localhost",))
    with pytest.raises(DataError, match="refused"):
        fetch_url(f"http://localhost:{port}/redirect/http://127.0.0.2:{port}/x.csv", by_name)
    with pytest.raises(DataError, match="ftp://"):
        fetch_url(f"{base}/redirect/ftp", OPEN)
    with pytest.raises(DataError, match="more than 5 redirects"):
        fetch_url(f"{base}/redirect/loop", OPEN)


def test_redirect_to_another_port_of_an_internal_host_is_refused(base: str) -> None:
    only_first = FetchLimits(max_bytes=1 << 20, deadline_s=2.0, allow=("localhost",))
    port = base.rsplit(":", 1)[1]
    with pytest.raises(DataError, match="refused"):
        fetch_url(f"http://localhost:{port}/redirect/port", only_first)


def test_ftp_redirect_does_not_connect(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    calls: list[object] = []
    real = socket.create_connection

    def spy(address: object, *args: object, **kwargs: object) -> socket.socket:
        calls.append(address)
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", spy)
    with pytest.raises(DataError, match="ftp://"):
        fetch_url(f"{base}/redirect/ftp", OPEN)
    assert len(calls) == 1  # only the first hop


def test_connects_to_the_vetted_ip_and_sends_the_host_name(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    port = int(base.rsplit(":", 1)[1])
    lookups: list[str] = []

    def resolver(host: str, *args: object, **kwargs: object) -> list:
        try:
            ipaddress.ip_address(host)  # an IP literal needs no DNS: itself
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))]
        except ValueError:
            lookups.append(host)
        # A rebinding resolver would answer differently the second time; there is none.
        answer = "127.0.0.1" if len(lookups) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    limits = FetchLimits(max_bytes=1 << 20, deadline_s=2.0, allow=("files.example",))
    assert (
        fetch_url(f"http://files.example:{port}/host", limits) == f"files.example:{port}".encode()
    )
    assert lookups == ["files.example"]  # resolved once, then connected to that IP


def test_slow_drip_is_cut_at_the_overall_deadline(base: str) -> None:
    limits = FetchLimits(max_bytes=1 << 20, deadline_s=1.0, allow=("127.0.0.1",))
    start = time.monotonic()
    with pytest.raises(DataError, match="not complete within 1 s"):
        fetch_url(f"{base}/drip", limits)
    assert time.monotonic() - start < 3


def test_short_content_length_is_an_error(base: str) -> None:
    with pytest.raises(DataError, match="incomplete"):
        fetch_url(f"{base}/short", OPEN)


def test_cap_counts_decoded_bytes(base: str) -> None:
    with pytest.raises(DataError, match="larger than the"):
        fetch_url(f"{base}/gzip-bomb", OPEN)  # 5 KB on the wire, 5 MB decoded
    assert fetch_url(f"{base}/gzip", OPEN) == CSV
    assert fetch_url(f"{base}/chunked", OPEN) == CSV
    tiny = FetchLimits(max_bytes=10, deadline_s=2.0, allow=("127.0.0.1",))
    with pytest.raises(DataError, match="larger than the"):
        fetch_url(f"{base}/chunked", tiny)


def test_http_errors_and_non_http_schemes(base: str) -> None:
    with pytest.raises(DataError, match="answered 404"):
        fetch_url(f"{base}/missing", OPEN)
    with pytest.raises(DataError, match="only http and https"):
        fetch_url("file:///etc/passwd", OPEN)


# --- through tracing.sources and the settings ---------------------------------------------------


@pytest.fixture
def urls_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.ENV_STORE_DIR, str(tmp_path / "store"))
    monkeypatch.setenv(sources.ENV_DATA_ROOTS, str(tmp_path))
    monkeypatch.setenv(sources.ENV_ALLOW_URLS, "1")
    for name in (sources.ENV_MAX_URL_MB, sources.ENV_URL_ALLOW_HOSTS, sources.ENV_URL_TIMEOUT_S):
        monkeypatch.delenv(name, raising=False)


def test_sources_refuse_loopback_unless_allowed(
    base: str, urls_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DataError, match="loopback"):
        sources.resolve_source(f"{base}/preds.csv")
    monkeypatch.setenv(sources.ENV_URL_ALLOW_HOSTS, "127.0.0.1")
    assert sources.resolve_source(f"{base}/preds.csv") == ("preds.csv", CSV)


def test_sources_deadline_setting(
    base: str, urls_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sources.ENV_URL_ALLOW_HOSTS, "127.0.0.1")
    monkeypatch.setenv(sources.ENV_URL_TIMEOUT_S, "1")
    with pytest.raises(DataError, match="not complete within"):
        sources.resolve_source(f"{base}/drip")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("TRACING_MAX_URL_MB", "inf"),
        ("TRACING_MAX_URL_MB", "-1"),
        ("TRACING_URL_TIMEOUT_S", "0"),
        ("TRACING_URL_TIMEOUT_S", "nan"),
        ("TRACING_URL_ALLOW_HOSTS", "10.0.0.0/33"),
        ("TRACING_URL_ALLOW_HOSTS", "bad host!"),
    ],
)
def test_bad_url_settings_are_refused(name: str, text: str) -> None:
    with pytest.raises(DataError, match=name):
        settings.get(name, environ={name: text})


def test_allow_hosts_parsing() -> None:
    name = "TRACING_URL_ALLOW_HOSTS"
    parsed = settings.get(name, environ={name: " MinIO.internal, 10.0.0.0/8,[::1] "})
    assert parsed == ("minio.internal", "10.0.0.0/8", "::1")
    assert settings.get(name, environ={}) == ()
    assert os.environ.get("PATH")  # the real environment is untouched


def test_every_bad_setting_is_listed_at_start_up() -> None:
    found = settings.problems(
        environ={"TRACING_MAX_URL_MB": "inf", "TRACING_URL_TIMEOUT_S": "-1", "TRACING_DEBUG": "1"}
    )
    assert len(found) == 2
    assert "TRACING_MAX_URL_MB" in found[0] and "TRACING_URL_TIMEOUT_S" in found[1]
    assert settings.problems(environ={}) == []
