"""http(s) URL sources through the real requests-based fetcher, against a server on 127.0.0.1.

The SSRF guard is exercised both ways: refused by default (and nothing reaches the server), allowed
with CDGPT_ALLOW_PRIVATE_URLS=1, and re-checked on every redirect hop and at connection time.
"""

from __future__ import annotations

import gzip
import io
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pypdf import PdfReader

import cdgpt.ingest.sources.url as url_mod
from cdgpt.errors import InvalidRequest, PayloadTooLarge, SourceFailed, SourceRefused
from cdgpt.ingest.sources import MAX_ENTRY_CHARS, load_entry
from cdgpt.ingest.sources.url import MAX_REDIRECTS, check_address, fetch_url, resolve_checked
from cdgpt.settings import get_settings
from tests.support import settings_with
from tests.support.pdf import make_pdf
from tests.support.web import Page

HTML = "<html><head><title>Alpha page</title></head><body><p>Alpha text about llamas.</p></body></html>"


@pytest.fixture
def allow_private(monkeypatch):
    return settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1")


class StreamServer:
    """A server on `host` that answers every GET with `body` and no Content-Length (close-delimited)."""

    def __init__(self, body: bytes, host: str = "127.0.0.1", content_type: str = "text/plain") -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                outer.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.end_headers()
                try:
                    for start in range(0, len(body), 16 * 1024):
                        self.wfile.write(body[start : start + 16 * 1024])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading once over the limit

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.base = f"http://{host}:{self.server.server_port}"

    def __enter__(self) -> StreamServer:
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class DribbleServer:
    """A server on 127.0.0.1 that sends headers, then one byte every `interval` seconds.

    It stops as soon as the client closes the connection. After `budget` bytes it goes quiet (the
    client then hits its read timeout), so a client that ignores the deadline fails some other way
    instead of hanging the test.
    """

    def __init__(
        self,
        interval: float = 0.2,
        budget: int = 25,
        unit: bytes = b"x",
        head: bytes = b"",
        encoding: str = "",
        in_headers: bool = False,  # dribble a header's value instead of the body
        declared: bool = False,  # send a Content-Length of the whole budget
    ) -> None:
        self.sent = 0
        self.client_left = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def client_gone(self, wait: float) -> bool:
                readable, _, _ = select.select([self.connection], [], [], wait)
                # The GET has been read, so anything readable now is the client closing (or resetting).
                return bool(readable)

            def do_GET(self) -> None:
                if in_headers:
                    self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Drip: ")
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    if encoding:
                        self.send_header("Content-Encoding", encoding)
                    if declared:
                        self.send_header("Content-Length", str(len(head) + budget * len(unit)))
                    self.end_headers()
                self.wfile.write(head)
                self.wfile.flush()
                try:
                    while outer.sent < budget and not self.client_gone(interval):
                        self.wfile.write(unit)
                        self.wfile.flush()
                        outer.sent += 1
                    if outer.sent < budget or self.client_gone(10):
                        outer.client_left.set()
                except OSError:
                    outer.client_left.set()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> DribbleServer:
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- fetching documents --------------------------------------------------------------------------


def test_given_private_urls_allowed_when_fetching_html_then_bytes_type_and_name_are_returned(web, allow_private):
    url = web.add("/docs/alpha.html", HTML)
    [doc] = load_entry(url, allow_private)
    assert doc.source == url
    assert doc.content == HTML.encode()
    assert doc.content_type == "text/html; charset=utf-8"
    assert doc.name == "/docs/alpha.html"
    assert web.hits == ["/docs/alpha.html"]


def test_given_plain_text_url_when_fetched_then_text_and_declared_type_come_back(web, allow_private):
    url = web.add("/notes.txt", "Line one.\nLine two.", "text/plain; charset=utf-8")
    [doc] = load_entry(url, allow_private)
    assert doc.content == b"Line one.\nLine two."
    assert doc.content_type.startswith("text/plain")


def test_given_pdf_url_when_fetched_then_bytes_are_intact_and_pypdf_reads_the_text(web, allow_private):
    pdf = make_pdf(["Quarterly revenue grew by nine percent."], title="Report")
    url = web.add("/report.pdf", pdf, "application/pdf")
    [doc] = load_entry(url, allow_private)
    assert doc.content == pdf
    assert doc.content_type == "application/pdf"
    reader = PdfReader(io.BytesIO(doc.content), strict=True)
    assert "Quarterly revenue grew by nine percent." in reader.pages[0].extract_text()
    assert reader.metadata["/Title"] == "Report"


def test_given_proxy_variables_when_fetching_then_they_are_ignored_and_the_peer_is_contacted_directly(
    web, monkeypatch, allow_private
):
    # A proxy would hide the real peer from the address check; port 9 on loopback is closed.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    url = web.add("/direct", "direct text", "text/plain")
    [doc] = load_entry(url, allow_private)
    assert doc.content == b"direct text"
    assert web.hits == ["/direct"]


# --- private addresses ---------------------------------------------------------------------------


def test_given_default_settings_when_url_is_loopback_then_refused_before_any_request(web):
    url = web.add("/a.html", HTML)
    with pytest.raises(SourceRefused):
        load_entry(url, get_settings())
    assert web.hits == []


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"],
)
def test_given_default_settings_when_host_resolves_to_loopback_then_connection_guard_refuses(web, host):
    # No IP literal check on the URL text: the guard resolves the name and checks what it connects to.
    port = web.server.server_port
    with pytest.raises(SourceRefused):
        load_entry(f"http://{host}:{port}/a", get_settings())
    assert web.hits == []


def test_given_localhost_name_when_resolved_by_the_guard_then_refused_and_allowed_when_private_ok(web):
    with pytest.raises(SourceRefused):
        resolve_checked("localhost", web.server.server_port, allow_private=False)
    infos = resolve_checked("localhost", web.server.server_port, allow_private=True)
    assert any(info[4][0] in ("127.0.0.1", "::1") for info in infos)


def test_given_private_urls_allowed_when_localhost_name_is_used_then_fetch_succeeds(web, allow_private):
    web.add("/by-name", "named", "text/plain")
    [doc] = load_entry(f"http://localhost:{web.server.server_port}/by-name", allow_private)
    assert doc.content == b"named"


def test_given_https_url_to_loopback_when_fetched_then_refused_before_connecting(web):
    # The HTTPS connection class is guarded too: refusal happens before TCP, so no TLS is needed.
    with pytest.raises(SourceRefused):
        load_entry(f"https://127.0.0.1:{web.server.server_port}/", get_settings())
    assert web.hits == []


def test_given_a_name_resolving_to_public_and_private_addresses_when_fetched_then_refused(monkeypatch):
    # DNS answers with one public and one private address: every answer is checked, not just the first.
    def fake_getaddrinfo(host, port, *args, **kwargs):
        assert host == "mixed.example"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(url_mod.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(SourceRefused, match=r"10\.0\.0\.7"):
        fetch_url("http://mixed.example/", get_settings())


def test_given_an_unresolvable_host_when_fetched_then_source_failed(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(url_mod.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(SourceFailed, match="cannot resolve"):
        fetch_url("http://no-such-host.invalid/", get_settings())


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example"])
def test_given_a_host_that_is_no_name_when_fetched_then_source_failed(host):
    """getaddrinfo raises UnicodeError for these (no DNS asked): one such link must not fail a whole crawl."""
    with pytest.raises(SourceFailed, match="cannot resolve"):
        fetch_url(f"http://{host}/", get_settings())


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.255.255.254",
        "::1",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "192.168.255.255",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",  # IPv6 site-local (deprecated, still not public)
        "feff:ffff::1",  # the top of fec0::/10
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 wrapping 169.254.169.254
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::",
        "100.64.0.1",  # carrier-grade NAT
        "192.0.2.1",  # documentation
        "2001:db8::1",
    ],
)
def test_check_address_refuses_non_public_addresses(ip):
    with pytest.raises(SourceRefused):
        check_address(ip)


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:93.184.216.34"])
def test_check_address_accepts_public_unicast_addresses(ip):
    check_address(ip)  # does not raise


def test_source_refused_is_an_invalid_request_so_the_api_reports_it_as_the_callers_fault():
    assert issubclass(SourceRefused, InvalidRequest)
    assert issubclass(PayloadTooLarge, InvalidRequest)
    assert not issubclass(SourceFailed, InvalidRequest)


# --- redirects -----------------------------------------------------------------------------------


def test_given_a_redirect_chain_when_fetched_then_it_is_followed_to_the_final_document(web, allow_private):
    web.redirect("/a", "/b", 301)
    web.redirect("/b", f"{web.base}/c", 307)
    final = web.add("/c", "final text", "text/plain")
    [doc] = load_entry(web.base + "/a", allow_private)
    assert doc.content == b"final text"
    assert doc.source == web.base + "/a"  # the entry as given
    assert doc.name == "/c"  # the final path, used to guess the type
    assert web.hits == ["/a", "/b", "/c"]
    assert final.endswith("/c")


def test_given_exactly_max_redirects_when_fetched_then_it_succeeds(web, allow_private):
    for i in range(MAX_REDIRECTS):
        web.redirect(f"/r{i}", f"/r{i + 1}")
    web.add(f"/r{MAX_REDIRECTS}", "end", "text/plain")
    [doc] = load_entry(web.base + "/r0", allow_private)
    assert doc.content == b"end"


def test_given_too_many_redirects_when_fetched_then_source_failed(web, allow_private):
    for i in range(MAX_REDIRECTS + 1):
        web.redirect(f"/r{i}", f"/r{i + 1}")
    web.add(f"/r{MAX_REDIRECTS + 1}", "never reached", "text/plain")
    with pytest.raises(SourceFailed, match="redirects"):
        load_entry(web.base + "/r0", allow_private)
    assert f"/r{MAX_REDIRECTS + 1}" not in web.hits


def test_given_a_redirect_loop_when_fetched_then_source_failed(web, allow_private):
    web.redirect("/ping", "/pong")
    web.redirect("/pong", "/ping")
    with pytest.raises(SourceFailed):
        load_entry(web.base + "/ping", allow_private)


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://127.0.0.1/secret.txt", "gopher://127.0.0.1:70/_", "http://user:pw@127.0.0.1/"],
)
def test_given_a_redirect_to_a_refused_url_when_fetched_then_refused_after_the_first_hop(web, allow_private, location):
    web.redirect("/go", location)
    with pytest.raises(SourceRefused):
        load_entry(web.base + "/go", allow_private)
    assert web.hits == ["/go"]


def test_given_an_allowed_server_when_it_redirects_to_a_refused_address_then_the_second_hop_is_not_fetched(
    web, monkeypatch
):
    # Private URLs stay disallowed; only the first server's 127.0.0.1 is let through by the check.
    real_check = check_address
    checked: list[str] = []

    def only_first_server(ip: str) -> None:
        checked.append(ip)
        if ip != "127.0.0.1":
            real_check(ip)

    monkeypatch.setattr(url_mod, "check_address", only_first_server)
    with StreamServer(b"internal secret", host="127.0.0.2") as internal:
        web.redirect("/start", f"{internal.base}/admin")
        with pytest.raises(SourceRefused):
            load_entry(web.base + "/start", get_settings())
        assert web.hits == ["/start"]
        assert internal.hits == []  # the second hop's server was never asked
    assert checked == ["127.0.0.1", "127.0.0.2"]


def test_given_the_same_setup_when_the_redirect_stays_on_the_allowed_server_then_it_is_followed(web, monkeypatch):
    # Control for the test above: the patched check does let 127.0.0.1 through.
    real_check = check_address
    monkeypatch.setattr(url_mod, "check_address", lambda ip: None if ip == "127.0.0.1" else real_check(ip))
    web.redirect("/start", "/page")
    web.add("/page", "public page", "text/plain")
    [doc] = load_entry(web.base + "/start", get_settings())
    assert doc.content == b"public page"


# --- failures and limits -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_given_an_http_error_status_when_fetched_then_source_failed_names_it(web, allow_private, status):
    url = web.add("/broken", "error page", "text/html", status=status)
    with pytest.raises(SourceFailed, match=str(status)):
        load_entry(url, allow_private)


def test_given_a_missing_page_when_fetched_then_source_failed_404(web, allow_private):
    with pytest.raises(SourceFailed, match="404"):
        load_entry(web.base + "/nope", allow_private)


def test_given_a_closed_port_when_fetched_then_source_failed(allow_private):
    with socket.socket() as probe:  # grab a free port, then close it so nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceFailed):
        load_entry(f"http://127.0.0.1:{port}/", allow_private)


def test_given_an_honest_content_length_over_the_cap_when_fetched_then_payload_too_large(web, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_MAX_SOURCE_BYTES="1000")
    url = web.add("/big.txt", b"x" * 1001, "text/plain")
    with pytest.raises(PayloadTooLarge):
        load_entry(url, settings)


def test_given_a_body_exactly_at_the_cap_when_fetched_then_it_is_accepted(web, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_MAX_SOURCE_BYTES="1000")
    url = web.add("/exact.txt", b"y" * 1000, "text/plain")
    [doc] = load_entry(url, settings)
    assert len(doc.content) == 1000


def test_given_a_streamed_body_without_length_over_the_cap_when_fetched_then_payload_too_large(monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_MAX_SOURCE_BYTES="100000")
    with StreamServer(b"z" * 400_000) as server:
        with pytest.raises(PayloadTooLarge):
            load_entry(server.base + "/stream", settings)
        assert server.hits == ["/stream"]


def test_given_a_streamed_body_without_length_under_the_cap_when_fetched_then_it_is_read_whole(monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_MAX_SOURCE_BYTES="100000")
    with StreamServer(b"w" * 99_999) as server:
        [doc] = load_entry(server.base + "/stream", settings)
    assert doc.content == b"w" * 99_999


def test_given_a_download_past_the_deadline_when_fetched_then_source_failed(web, allow_private, monkeypatch):
    # A fake clock instead of a slow server: the deadline is taken at 0, every later reading is late.
    readings = iter([0.0])

    class FakeTime:
        @staticmethod
        def monotonic() -> float:
            return next(readings, 1e9)

    monkeypatch.setattr(url_mod, "time", FakeTime)
    url = web.add("/slow.txt", "slow", "text/plain")
    with pytest.raises(SourceFailed, match="too long"):
        load_entry(url, allow_private)


def test_given_a_server_dribbling_one_byte_at_a_time_when_fetched_then_the_deadline_stops_it(monkeypatch):
    # Each byte arrives well within the 0.3 s read timeout, so only the 0.9 s download deadline can
    # end the fetch; it must be checked after every socket read, not after a 64 KiB block fills up.
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_FETCH_TIMEOUT="0.3")
    with DribbleServer(interval=0.2, budget=25) as server:
        with pytest.raises(SourceFailed) as caught:
            load_entry(server.base + "/drip", settings)
        assert str(caught.value) == "download took too long"
        assert server.client_left.wait(5)  # the connection was closed, so the server has stopped


def test_given_a_declared_body_cut_at_the_deadline_when_fetched_then_it_took_too_long(monkeypatch):
    # The watchdog shuts the socket in the middle of a read: a body shorter than its Content-Length
    # is a protocol error to urllib3, but what happened is the deadline (it said "ProtocolError")
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_FETCH_TIMEOUT="0.3")
    with DribbleServer(interval=0.25, budget=25, declared=True) as server:
        with pytest.raises(SourceFailed) as caught:
            load_entry(server.base + "/drip", settings)
        assert str(caught.value) == "download took too long"


def test_given_a_server_dribbling_its_headers_when_fetched_then_the_deadline_stops_it(monkeypatch):
    # The body's reads check the deadline; a header line read a byte at a time is cut by the watchdog
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_FETCH_TIMEOUT="0.3")
    with DribbleServer(interval=0.2, budget=25, unit=b"a", in_headers=True) as server:
        with pytest.raises(SourceFailed) as caught:
            load_entry(server.base + "/drip", settings)
        assert str(caught.value) == "download took too long"
        assert server.client_left.wait(5) and server.sent < 25  # cut long before the server went quiet


def test_given_a_gzip_body_under_the_cap_when_fetched_then_it_is_decoded(web, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_MAX_SOURCE_BYTES="100000")
    text = b"Compressed llama facts. " * 4000  # 96,000 bytes decoded
    url = web.add("/facts.txt", gzip.compress(text), "text/plain", headers={"Content-Encoding": "gzip"})
    [doc] = load_entry(url, settings)
    assert doc.content == text


def test_given_a_gzip_body_that_decodes_past_the_cap_when_fetched_then_payload_too_large(web, monkeypatch):
    # The compressed size (and its honest Content-Length) is far under the cap: the decoded bytes count.
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_MAX_SOURCE_BYTES="100000")
    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    url = web.add("/bomb.txt", bomb, "text/plain", headers={"Content-Encoding": "gzip"})
    with pytest.raises(PayloadTooLarge):
        load_entry(url, settings)


# --- entries refused before any request ----------------------------------------------------------


@pytest.mark.parametrize("userinfo", ["user:secret@", "user@", ":secret@"])
def test_given_a_url_with_credentials_when_loaded_then_refused_without_a_request(web, allow_private, userinfo):
    with pytest.raises(SourceRefused, match="credentials"):
        load_entry(f"http://{userinfo}127.0.0.1:{web.server.server_port}/a", allow_private)
    assert web.hits == []


@pytest.mark.parametrize(
    "entry",
    ["file:///etc/passwd", "FILE:///etc/passwd", "gopher://127.0.0.1:70/_", "ftp://example.com/x", "dict://x:11211/"],
)
def test_given_an_unsupported_scheme_when_loaded_then_refused(entry, allow_private):
    with pytest.raises(SourceRefused, match="scheme"):
        load_entry(entry, allow_private)


def test_given_an_http_url_without_a_host_when_loaded_then_refused(allow_private):
    with pytest.raises(SourceRefused):
        load_entry("http:///etc/passwd", allow_private)


def test_given_an_entry_longer_than_the_limit_when_loaded_then_refused_without_a_request(web, allow_private):
    url = web.base + "/" + "a" * (MAX_ENTRY_CHARS - len(web.base))
    assert len(url) == MAX_ENTRY_CHARS + 1
    with pytest.raises(SourceRefused):
        load_entry(url, allow_private)
    assert web.hits == []


def test_given_an_entry_exactly_at_the_length_limit_when_loaded_then_it_is_fetched(web, allow_private):
    path = "/" + "a" * (MAX_ENTRY_CHARS - len(web.base) - 1)
    url = web.add(path, "long path ok", "text/plain")
    assert len(url) == MAX_ENTRY_CHARS
    [doc] = load_entry(url, allow_private)
    assert doc.content == b"long path ok"


@pytest.mark.parametrize("bad", ["\n", "\r\nX-Injected: 1", "\x00", "\t", "\x1b[31m"])
def test_given_control_characters_in_an_entry_when_loaded_then_refused_without_a_request(web, allow_private, bad):
    with pytest.raises(SourceRefused):
        load_entry(web.base + "/a" + bad, allow_private)
    assert web.hits == []


def test_given_an_empty_entry_when_loaded_then_refused(allow_private):
    with pytest.raises(SourceRefused):
        load_entry("", allow_private)


def test_given_a_compressed_body_that_never_decodes_to_anything_when_fetched_then_the_deadline_stops_it(monkeypatch):
    # Given a deflate stream of empty stored blocks, dribbled: every read decodes to no bytes at all
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1", CDGPT_FETCH_TIMEOUT="0.3")
    empty_block = b"\x00\x00\x00\xff\xff"
    with DribbleServer(interval=0.2, budget=25, unit=empty_block, head=b"\x78\x9c", encoding="deflate") as server:
        # When it is fetched, then the deadline still ends it
        with pytest.raises(SourceFailed) as caught:
            load_entry(server.base + "/drip", settings)
        assert str(caught.value) == "download took too long"
        assert server.client_left.wait(5)


def test_given_an_unsupported_content_encoding_when_fetched_then_source_failed(web, monkeypatch):
    url = web.add("/br", b"\x0b\x02\x80hello\x03", "text/plain", headers={"Content-Encoding": "br"})
    with pytest.raises(SourceFailed, match="unsupported content encoding 'br'"):
        load_entry(url, settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1"))


def test_given_a_redirect_with_a_body_when_followed_then_its_body_is_never_read(web, monkeypatch):
    # Given a redirect whose body claims gzip but is garbage (reading it would fail to decode)
    target = web.add("/final", HTML)
    web.routes["/hop"] = Page(
        b"not gzip at all" * 100, "text/html", 302, {"Location": target, "Content-Encoding": "gzip"}
    )
    # When the first URL is fetched, then the redirect is followed without touching that body
    [doc] = load_entry(web.base + "/hop", settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1"))
    assert doc.content == HTML.encode() and web.hits == ["/hop", "/final"]


def test_given_a_truncated_gzip_body_when_fetched_then_source_failed(web, monkeypatch):
    whole = gzip.compress(b"paragraph " * 2000)
    url = web.add("/cut", whole[: len(whole) // 2], "text/plain", headers={"Content-Encoding": "gzip"})
    with pytest.raises(SourceFailed, match="truncated"):
        load_entry(url, settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1"))


def test_given_a_gzip_body_of_two_members_when_fetched_then_both_are_decoded(web, monkeypatch):
    url = web.add(
        "/two",
        gzip.compress(b"member one. ") + gzip.compress(b"member two."),
        "text/plain",
        headers={"Content-Encoding": "gzip"},
    )
    [doc] = load_entry(url, settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1"))
    assert doc.content == b"member one. member two."


def test_a_host_lookup_that_hangs_ends_at_the_fetchs_deadline(monkeypatch):
    """The resolver's own timeouts and retries could hold a fetch far past its bound."""
    settings = settings_with(monkeypatch, CDGPT_FETCH_TIMEOUT="0.3")
    released = threading.Event()

    def hanging(*args, **kwargs):
        released.wait(30)
        raise socket.gaierror("gave up")

    monkeypatch.setattr(url_mod.socket, "getaddrinfo", hanging)
    try:
        with pytest.raises(SourceFailed) as caught:
            fetch_url("https://slow-dns.example.com/page.html", settings)
        assert str(caught.value) in ("looking up host 'slow-dns.example.com' took too long", "download took too long")
    finally:
        released.set()
