"""`cdgpt serve` as an HTTP server: API Gateway's event and routing, framing, limits, timeouts, keep-alive.

Most tests serve tests/support/echo/template.yaml, whose handler answers with the event it received;
raw sockets send what no well-behaved client would. The `guarded` server runs the real template with
a non-ASCII API secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import time

import pytest
import requests

from cdgpt.limits import MAX_BODY_BYTES
from cdgpt.local.asgi import DRAIN_LIMIT
from tests.support import REPO, check_envelope, in_threads
from tests.support.raw_http import RawConnection, RawResponse, request
from tests.support.serve import serving

ECHO_TEMPLATE = REPO / "tests/support/echo/template.yaml"
READ_TIMEOUT_S = 2.0
NON_ASCII_SECRET = "pässwörd-秘密-🔑"
NEXT = request("POST", "/echo", body=b'"next"')  # a request that follows another on its connection
NOT_TRAINED = {"code": 1, "msg": "model 'nothing-here' has not been trained", "data": None}
BAD_SECRET = {"code": 1, "msg": "missing or wrong API secret: send Authorization: Bearer <secret>", "data": None}


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    args = ("--read-timeout", str(READ_TIMEOUT_S))
    with serving(tmp_path_factory.mktemp("echo"), template=ECHO_TEMPLATE, args=args) as server:
        yield server


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("guarded"), env={"API_SECRET": NON_ASCII_SECRET}) as server:
        yield server


def echoed(response) -> dict:
    """The event the echo handler received."""
    assert response.status_code == 200, response.text
    return response.json()["event"]


def failure_of(response: RawResponse | requests.Response, status: int) -> str:
    """The failure envelope's message, after checking the status and that Content-Length is exact."""
    if isinstance(response, RawResponse):
        code, body, length = response.status, response.body, response.header("content-length")
    else:
        code, body, length = response.status_code, response.content, response.headers["Content-Length"]
    assert code == status, body[:300]
    assert length is not None and int(length) == len(body)
    return check_envelope(json.loads(body), status)["msg"]


# -- the API Gateway event ----------------------------------------------------------------------------


def test_a_path_parameter_and_query_strings_reach_the_handler(echo):
    event = echoed(echo.request("GET", "/items/abc%20d?x=1&x=2&empty=&name=caf%C3%A9"))
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/items/{item_id}"
    assert event["path"] == "/items/abc%20d" and event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item_id": "abc d"}
    assert event["queryStringParameters"] == {"x": "2", "empty": "", "name": "café"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "empty": [""], "name": ["café"]}
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_without_a_query_or_parameters_they_are_null(echo):
    event = echoed(echo.request("GET", "/items/latest"))  # a static path wins over /items/{item_id}
    assert event["resource"] == "/items/latest"
    assert event["pathParameters"] is None
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None


def test_a_greedy_parameter_takes_the_rest_of_the_path_for_any_method(echo):
    for method in ["GET", "POST", "PATCH"]:
        event = echoed(echo.request(method, "/files/a/b%2Fc/d.txt"))
        assert event["resource"] == "/files/{path+}" and event["httpMethod"] == method
        assert event["pathParameters"] == {"path": "a/b/c/d.txt"}


def test_repeated_and_non_ascii_headers(echo):
    """Header bytes are UTF-8 when they are (what curl sends), else ISO-8859-1; repeats are all kept."""
    raw = "X-Dup: one\r\nX-Dup: two\r\nX-Name: café-秘密\r\n".encode() + b"X-Latin: caf\xe9\r\n"
    with RawConnection(echo.port) as conn:
        conn.send(request("GET", "/items/1", raw=raw))
        event = conn.response().json()["event"]
    assert event["headers"]["x-dup"] == "two"
    assert event["multiValueHeaders"]["x-dup"] == ["one", "two"]
    assert event["headers"]["x-name"] == "café-秘密"
    assert event["headers"]["x-latin"] == "café"


def test_the_body_and_the_client_address_reach_the_handler(echo):
    body = {"question": "上海办公室的午餐补贴是多少？"}
    event = echoed(echo.post("/echo", json=body))
    assert json.loads(event["body"]) == body
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["requestId"]


def test_the_reply_keeps_repeated_headers_and_sets_its_own_framing(echo):
    """The handler's Content-Length and Connection headers are not the server's to repeat."""
    with RawConnection(echo.port) as conn:
        conn.send(request("GET", "/items/1"))
        response = conn.response()
        assert response.headers["x-multi"] == ["a", "b"]
        assert response.headers["content-length"] == [str(len(response.body))]
        assert "connection" not in response.headers
        conn.send(request("GET", "/items/2"))  # the handler said "Connection: close"; the server keeps it open
        assert conn.response().json()["event"]["pathParameters"] == {"item_id": "2"}


def test_a_base64_reply_is_decoded(echo):
    assert echo.request("GET", "/binary").content == b"\x00\xff\xfe"


# -- routing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("path", ["/", "/nope", "/items", "/items/1/more", "/echo/", "/ECHO", "/other/x"])
def test_an_unknown_path_is_404_for_every_method(echo, method, path):
    response = echo.request(method, path)
    assert response.status_code == 404
    if method != "HEAD":
        assert response.json() == {"code": 1, "msg": f"no route {method} {path}", "data": None}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/items/1", "DELETE, GET, HEAD, OPTIONS"),
        ("POST", "/items/latest", "GET, HEAD, OPTIONS"),
        ("GET", "/echo", "OPTIONS, POST"),
        ("DELETE", "/echo", "OPTIONS, POST"),
    ],
)
def test_a_known_path_with_another_method_is_405_with_allow(echo, method, path, allow):
    response = echo.request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json() == {
        "code": 1,
        "msg": f"method {method} is not allowed on {path} (allowed: {allow})",
        "data": None,
    }


def test_options_on_a_known_path_lists_its_methods(echo):
    response = echo.request("OPTIONS", "/items/7")
    assert response.status_code == 204 and response.content == b""
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_head_runs_the_get_route_without_a_body(echo):
    with RawConnection(echo.port) as conn:
        conn.send(request("HEAD", "/items/5"))
        head = conn.response(head_only=True)
        conn.send(request("GET", "/items/5"))  # the same connection: HEAD sent no body to confuse it
        get = conn.response()
    assert head.status == get.status == 200
    assert get.json()["event"]["httpMethod"] == "GET"
    assert head.header("content-length") == str(len(get.body))


# -- handler failures -----------------------------------------------------------------------------------


def test_a_handler_that_raises_is_a_500_with_the_request_id(echo):
    response = echo.post("/crash", json={})
    assert response.status_code == 500
    assert response.json()["msg"].startswith("internal error; request id ")
    assert "RuntimeError: the handler failed" in echo.server_log()  # the trace is logged, not sent
    assert "RuntimeError" not in response.text


def test_a_worker_that_dies_is_a_500_and_is_replaced(echo):
    before = echo.request("GET", "/items/1").json()["pid"]
    response = echo.post("/exit", json={})
    assert response.status_code == 500 and response.json()["msg"].startswith("internal error; request id ")
    after = echo.request("GET", "/items/1").json()["pid"]
    assert after != before


def test_a_stream_whose_worker_dies_ends_with_an_error_event(echo):
    """Too late for a status: the client is told in the stream's own terms, not left with half an answer."""
    response = echo.post("/stream-dies", json={})
    assert response.status_code == 200
    events = response.text.split("\n\n")
    assert events[0] == 'event: token\ndata: {"text": "half an"}'
    assert events[1].startswith('event: error\ndata: {"code":1,"msg":"internal error; request id ')


def test_a_client_that_goes_away_mid_stream_stops_its_worker(echo, tmp_path):
    """A language model is not paid for an answer nobody reads: the handler's worker is stopped."""
    marker = tmp_path / "written"
    with echo.post("/stream-slow", json={"marker": str(marker)}, stream=True) as response:
        assert next(response.iter_content(chunk_size=None)).startswith(b"event: token")
    deadline = time.monotonic() + 30
    while "the client went away mid-reply" not in echo.server_log():
        assert time.monotonic() < deadline, "the server never noticed the client leave"
        time.sleep(0.05)
    written = len(marker.read_text().split())
    assert echo.request("GET", "/items/1").status_code == 200  # the function still answers
    assert written < 200 and len(marker.read_text().split()) == written  # nothing more was written


def test_a_malformed_reply_is_a_502(echo):
    response = echo.request("GET", "/malformed")
    assert response.status_code == 502
    assert response.json()["msg"].startswith("bad gateway: the function's reply was malformed")


def test_each_function_runs_in_its_own_process(echo):
    mine = echo.request("GET", "/items/1").json()
    other = echo.request("GET", "/other").json()
    assert (mine["function"], other["function"]) == ("EchoFunction", "OtherFunction")
    assert len({mine["pid"], other["pid"], echo.process.pid}) == 3


def test_concurrent_requests_each_get_their_own_reply(echo):
    wrong: list[str] = []

    def client(n: int) -> None:
        with requests.Session() as session:
            for k in range(15):
                tag = f"{n}-{k}"
                reply = session.get(f"{echo.url}/items/{tag}?tag={tag}", timeout=30).json()["event"]
                if (reply["pathParameters"]["item_id"], reply["queryStringParameters"]["tag"]) != (tag, tag):
                    wrong.append(tag)

    in_threads(8, client)
    assert wrong == []


def test_the_worker_idle_the_shortest_time_takes_the_next_request():
    """Two overlapping invocations start a second worker; later ones, one at a time, all go to the worker
    that finished last (its memory still in cache), not round the pool."""
    from cdgpt.local.workers import Pool

    async def pids() -> list[int]:
        pool = Pool(ECHO_TEMPLATE, "EchoFunction", 1, 2)
        await pool.start()
        try:

            async def invoke(tag: str) -> int:
                event = {"resource": "/items/{item_id}", "tag": tag}
                frames = [frame async for frame in pool.invoke(event, tag)]
                return json.loads(frames[-1]["result"]["body"])["pid"]

            overlapping = await asyncio.gather(invoke("a"), invoke("b"))
            assert len(set(overlapping)) == 2 and len(pool.workers) == 2
            return [await invoke(f"next-{n}") for n in range(4)]
        finally:
            await pool.stop()

    assert len(set(asyncio.run(pids()))) == 1


# -- framing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length", [b"\xb2", "²".encode(), b"-1", b"1e3", b"0x10"], ids=["latin1-2", "utf8-2", "neg", "exp", "hex"]
)
def test_an_invalid_content_length_is_a_400_envelope_not_a_dropped_connection(echo, length):
    with RawConnection(echo.port) as conn:
        conn.send(request("POST", "/echo", raw=b"Content-Length: " + length + b"\r\n"))
        response = conn.response()
        assert failure_of(response, 400).startswith("invalid HTTP request")
        assert response.header("connection") == "close" and conn.closed_by_server()


def test_two_different_content_lengths_are_refused(echo):
    with RawConnection(echo.port) as conn:
        smuggled = request("POST", "/echo", body=b'"smuggled"')
        conn.send(request("POST", "/echo", raw=b"Content-Length: 2\r\nContent-Length: 40\r\n", body=b"{}") + smuggled)
        assert failure_of(conn.response(), 400).startswith("invalid HTTP request")
        assert conn.closed_by_server()  # the bytes after it were never taken for a request


def test_two_equal_content_lengths_frame_one_body(echo):
    body = b'{"a": 1}'
    with RawConnection(echo.port) as conn:
        conn.send(request("POST", "/echo", raw=b"Content-Length: 8\r\n", body=body) + NEXT)
        assert conn.response().json()["event"]["body"] == body.decode()
        assert conn.response().json()["event"]["body"] == '"next"'


def test_a_chunked_body_is_read_whole_and_the_next_request_follows(echo):
    head = request("POST", "/echo", raw=b"Transfer-Encoding: chunked\r\n")
    chunked = b'4\r\n{"a"\r\n4\r\n: 12\r\n1\r\n}\r\n0\r\n\r\n'
    with RawConnection(echo.port) as conn:
        conn.send(head + chunked + NEXT)
        assert conn.response().json()["event"]["body"] == '{"a": 12}'
        assert conn.response().json()["event"]["body"] == '"next"'


def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(echo):
    """Were one parser to frame by Content-Length and another by chunks, the tail would be a second request."""
    head = request("POST", "/echo", raw=b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n")
    with RawConnection(echo.port) as conn:
        conn.send(head + b"2\r\n{}\r\n0\r\n\r\n" + NEXT)
        response = conn.response()
        assert failure_of(response, 400) == "Content-Length and Transfer-Encoding together are refused"
        assert response.header("connection") == "close" and conn.closed_by_server()


def test_a_body_shorter_than_its_content_length_times_out_with_408(echo):
    with RawConnection(echo.port) as stalled:
        stalled.send(request("POST", "/echo", raw=b"Content-Length: 100\r\n") + b'{"a":')
        started = time.monotonic()
        assert echoed(echo.post("/echo", json="meanwhile"))  # the stalled body holds nothing up
        response = stalled.response()
        assert failure_of(response, 408) == f"the request body did not arrive within {READ_TIMEOUT_S:g} s"
        assert time.monotonic() - started < READ_TIMEOUT_S + 10
        assert stalled.closed_by_server()


def test_half_a_request_head_is_dropped_after_the_read_timeout(echo):
    with RawConnection(echo.port) as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert conn.closed_by_server()  # within the socket's 20 s timeout; the server's is 2 s


def test_connection_close_is_honoured(echo):
    with RawConnection(echo.port) as conn:
        conn.send(request("GET", "/items/1", raw=b"Connection: close\r\n"))
        assert conn.response().header("connection") == "close"
        assert conn.closed_by_server()


# -- body size ---------------------------------------------------------------------------------------------


def test_an_oversized_body_gets_its_413_and_keeps_the_connection(echo):
    """The body is read and dropped, so the client sees the 413 rather than a broken pipe."""
    over = b'{"x": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = echo.post("/echo", data=over, headers={"Content-Type": "application/json"})
    assert failure_of(response, 413) == f"request body is larger than {MAX_BODY_BYTES} bytes"
    assert "Connection" not in response.headers
    assert echoed(echo.post("/echo", json="after"))  # the session's connection is still good


def test_an_oversized_chunked_body_is_413(echo):
    chunk = b"x" * (1 << 20)
    chunks = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(7)) + b"0\r\n\r\n"
    with RawConnection(echo.port) as conn:
        conn.send(request("POST", "/echo", raw=b"Transfer-Encoding: chunked\r\n") + chunks)
        assert failure_of(conn.response(), 413) == f"request body is larger than {MAX_BODY_BYTES} bytes"
        conn.send(NEXT)
        assert conn.response().status == 200


@pytest.mark.parametrize(
    "announced",
    [
        b"Expect: 100-continue\r\nContent-Length: %d\r\n" % (MAX_BODY_BYTES + 1),  # curl, for large bodies
        b"Content-Length: %d\r\n" % (DRAIN_LIMIT + 1),  # more than is worth reading to say no
    ],
    ids=["waits-for-100-continue", "over-the-drain-limit"],
)
def test_a_body_announced_too_large_is_413_before_it_is_sent(echo, announced):
    with RawConnection(echo.port) as conn:
        conn.send(request("POST", "/echo", raw=announced))
        response = conn.response()
        assert failure_of(response, 413) == f"request body is larger than {MAX_BODY_BYTES} bytes"
        assert response.header("connection") == "close" and conn.closed_by_server()


def test_a_body_of_exactly_the_limit_is_read(echo):
    exact = b'{"x": "' + b"x" * (MAX_BODY_BYTES - 9) + b'"}'
    assert len(exact) == MAX_BODY_BYTES
    event = echoed(echo.post("/echo", data=exact, headers={"Content-Type": "application/json"}))
    assert len(event["body"]) == MAX_BODY_BYTES


def test_a_body_that_is_not_utf8_is_400(echo):
    response = echo.post("/echo", data=b'{"x": "\xff"}', headers={"Content-Type": "application/json"})
    assert failure_of(response, 400) == "request body is not UTF-8"


# -- connections -------------------------------------------------------------------------------------------


def test_keep_alive_answers_do_not_wait_for_delayed_acks(echo):
    """Nagle's algorithm against the client's delayed ACK costs ~40 ms per answer on a kept-alive
    connection; without it, a small echo takes a millisecond or two. The bound is far from both."""
    with requests.Session() as session:
        session.post(f"{echo.url}/echo", json={"warm": True}, timeout=30)
        times = []
        for n in range(25):
            started = time.perf_counter()
            assert session.post(f"{echo.url}/echo", json={"n": n}, timeout=30).status_code == 200
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.025, times


def test_connections_queue_while_the_server_is_not_accepting(echo):
    """A listen backlog of 5 dropped the SYNs of the sixth and later concurrent clients (1-3 s retries).

    With the server stopped, only the kernel's accept queue holds new connections: all 64 must connect.
    """
    os.kill(echo.process.pid, signal.SIGSTOP)
    connections: list[RawConnection] = []
    try:
        for _ in range(64):
            connections.append(RawConnection(echo.port, timeout=0.9))  # under the first SYN retry (1 s)
    finally:
        os.kill(echo.process.pid, signal.SIGCONT)
    try:
        for n, conn in enumerate(connections):
            conn.sock.settimeout(30)
            conn.send(request("GET", f"/items/{n}"))
        assert [conn.response().json()["event"]["pathParameters"]["item_id"] for conn in connections] == [
            str(n) for n in range(64)
        ]
    finally:
        for conn in connections:
            conn.sock.close()


def test_a_client_that_never_speaks_is_dropped(echo):
    with socket.create_connection(("127.0.0.1", echo.port), timeout=20) as sock:
        assert sock.recv(1) == b""


# -- the real handlers: a non-ASCII secret, JSON the parser cannot take --------------------------------------


def guarded_request(server, body: bytes, auth: bytes) -> RawConnection:
    conn = RawConnection(server.port)
    conn.send(request("POST", "/chat", raw=auth + b"Content-Type: application/json\r\n", body=body))
    return conn


@pytest.mark.parametrize(
    "auth",
    [
        b"Authorization: Bearer " + NON_ASCII_SECRET.encode() + b"\r\n",  # curl -H "Authorization: Bearer ..."
        b"x-api-key: " + NON_ASCII_SECRET.encode() + b"\r\n",
    ],
    ids=["bearer", "x-api-key"],
)
def test_a_utf8_secret_in_a_header_is_accepted(guarded, auth):
    with guarded_request(guarded, b'{"model_name": "nothing-here", "question": "Hi?"}', auth) as conn:
        response = conn.response()
    assert response.status == 404 and response.json() == NOT_TRAINED


def test_a_utf8_secret_in_the_body_is_accepted(guarded):
    body = json.dumps({"model_name": "nothing-here", "question": "Hi?", "secret": NON_ASCII_SECRET}).encode()
    with guarded_request(guarded, body, b"") as conn:
        assert conn.response().json() == NOT_TRAINED


@pytest.mark.parametrize("wrong", ["pässwörd-秘密", "pässwörd-秘密-🔑x", "passwoerd-秘密-🔑"])
def test_a_wrong_non_ascii_secret_is_401(guarded, wrong):
    auth = b"Authorization: Bearer " + wrong.encode() + b"\r\n"
    with guarded_request(guarded, b'{"model_name": "nothing-here", "question": "Hi?"}', auth) as conn:
        response = conn.response()
    assert response.status == 401 and response.json() == BAD_SECRET


@pytest.mark.parametrize(
    "body",
    [
        b'{"model_name": "x", "question": "Hi?", "n": ' + b"1" * 5000 + b"}",
        b"[" * 100_000,
        b'{"model_name": "x", "question": ' + b"[" * 100_000,
    ],
    ids=["5000-digit-integer", "100k-nested", "100k-nested-in-a-field"],
)
def test_json_the_parser_cannot_take_is_400(guarded, body):
    auth = b"Authorization: Bearer " + NON_ASCII_SECRET.encode() + b"\r\n"
    with guarded_request(guarded, body, auth) as conn:
        response = conn.response()
    assert response.status == 400
    assert response.json() == {"code": 1, "msg": "request body is not valid JSON", "data": None}


def test_the_secret_is_never_logged(guarded):
    auth = b"Authorization: Bearer " + NON_ASCII_SECRET.encode() + b"\r\n"
    with guarded_request(guarded, b'{"model_name": "nothing-here", "question": "Hi?"}', auth) as conn:
        assert conn.response().status == 404
    log = guarded.server_log()
    assert "serving " in log and "POST /chat" in log and "POST /chat HTTP/1.1" in log  # startup, access log
    assert NON_ASCII_SECRET not in log and NON_ASCII_SECRET.encode().decode("latin-1") not in log
