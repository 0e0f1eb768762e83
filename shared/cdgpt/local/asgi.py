"""The ASGI application behind `cdgpt serve`: read the request within its limits, route it like API
Gateway, hand the event to the function's worker, write the handler's reply.

Limits: the body is read within `read_timeout` seconds (else 408) and must be at most 6 MB (else
413). An oversized body is still read, up to `DRAIN_LIMIT`, so the client gets its 413 rather than a
reset connection; a client that announces more than that, or waits for `100 Continue`, is answered
at once and the connection closed. A request with both Content-Length and Transfer-Encoding is
refused (400) and its connection closed, so no two parsers can disagree about where it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from cdgpt.api.contract import failure
from cdgpt.limits import MAX_BODY_BYTES
from cdgpt.local.gateway import HttpRequest, MalformedReply, Match, Refusal, RouteTable, proxy_event, proxy_reply
from cdgpt.local.workers import HandlerFailed, Pool

DRAIN_LIMIT = 8 * MAX_BODY_BYTES
TOO_LARGE = f"request body is larger than {MAX_BODY_BYTES} bytes"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
log = logging.getLogger("cdgpt.serve")


def envelope_body(msg: str) -> bytes:
    return json.dumps(failure(msg), separators=(",", ":")).encode()


class Reply:
    """A whole response (`StreamedReply`: one sent as its handler writes it)."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, close: bool = False) -> None:
        self.status, self.headers, self.body, self.close = status, headers, body, close

    @classmethod
    def envelope(cls, status: int, msg: str, close: bool = False, allow: list[str] | None = None) -> Reply:
        headers = [(b"content-type", b"application/json")]
        if allow:
            headers.append((b"allow", ", ".join(allow).encode()))
        return cls(status, headers, envelope_body(msg), close)

    async def respond(self, send: Send) -> None:
        headers = list(self.headers)
        if self.status != 204:  # a 204 has no body, and says nothing of its length
            headers.append((b"content-length", str(len(self.body)).encode()))
        if self.close:  # h11 closes the connection after a response that says so
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class StreamedReply:
    """A response whose body comes in pieces as the handler writes them (chunked transfer encoding);
    the frames after the `start` one: `chunk`s, then the `result` (its body is the last piece)."""

    def __init__(self, start: dict[str, Any], frames: AsyncGenerator[dict[str, Any], None], request_id: str) -> None:
        self.start, self.frames, self.request_id = start, frames, request_id

    async def respond(self, send: Send, receive: Receive) -> None:
        """Send the frames as they come. A client that goes away (`receive` says so) stops the handler's
        worker mid-reply, so a language model is not paid for an answer nobody reads."""
        status, headers, _ = proxy_reply({**self.start, "body": ""})  # checked by `App._invoke`
        await send({"type": "http.response.start", "status": status, "headers": headers})
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            async for frame in _until(self.frames, gone):
                piece = frame["chunk"] if "chunk" in frame else proxy_reply(frame["result"])[2].decode()
                if piece:
                    await send(
                        {"type": "http.response.body", "body": piece.encode(errors="replace"), "more_body": True}
                    )
        except (HandlerFailed, MalformedReply) as exc:  # too late for a status: the stream ends where it is
            log.error("%s after the reply began; request id %s", exc, self.request_id)
            if _is_event_stream(headers):  # said as the handler says a failure, so the client knows
                from cdgpt.api.streaming import sse  # the handlers' event format (and its heavier imports)

                msg = f"internal error; request id {self.request_id}"
                await send(
                    {"type": "http.response.body", "body": sse("error", failure(msg)).encode(), "more_body": True}
                )
        finally:
            gone.cancel()
            await self.frames.aclose()
        if gone.done() and not gone.cancelled():
            if gone.exception() is not None:  # receive failed: the connection is unusable, and said why
                log.error(
                    "reading the client's connection failed: %r; request id %s", gone.exception(), self.request_id
                )
            else:
                log.info("the client went away mid-reply; its worker was stopped; request id %s", self.request_id)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone away (the request's body was read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _until(
    frames: AsyncGenerator[dict[str, Any], None], gone: asyncio.Future[None]
) -> AsyncGenerator[dict[str, Any], None]:
    """The frames, until `gone` is done: the frame awaited then is cancelled (the worker is stopped), as it is
    when the reply itself is cancelled (the server stopping)."""
    while True:
        following: asyncio.Future[Any] = asyncio.ensure_future(anext(frames))
        try:
            await asyncio.wait({following, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not following.done():
                following.cancel()
                await asyncio.wait({following})  # its generator's own cleanup stops the worker
        if following.cancelled():
            return
        try:
            frame = following.result()
        except StopAsyncIteration:
            return
        yield frame


def _is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"text/event-stream") for name, value in headers)


def header_text(value: bytes) -> str:
    """A header value as text: UTF-8 when it is (what curl sends for non-ASCII), else ISO-8859-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class App:
    def __init__(
        self, table: RouteTable, pools: Mapping[str, Pool], read_timeout: float, on_ready: Callable[[], None]
    ) -> None:
        self.table, self.pools, self.read_timeout, self.on_ready = table, pools, read_timeout, on_ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            reply = await self._handle(scope, receive)
            if isinstance(reply, StreamedReply):
                await reply.respond(send, receive)
            elif reply is not None:  # None: the client went away
                await reply.respond(send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.gather(*(pool.start() for pool in self.pools.values()))
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self.on_ready()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.gather(*(pool.stop() for pool in self.pools.values()))
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> Reply | StreamedReply | None:
        raw_path = scope["raw_path"].decode("latin-1")
        found = self.table.find(scope["method"], raw_path)
        if isinstance(found, Refusal):  # an unread body is drained by the server, the connection kept
            if found.msg is None:
                return Reply(found.status, [(b"allow", ", ".join(found.allow).encode())], b"")
            return Reply.envelope(found.status, found.msg, allow=found.allow)
        headers = [(name.decode("latin-1"), header_text(value)) for name, value in scope["headers"]]
        body = await self._read_body(headers, receive)
        if not isinstance(body, bytes):
            return body
        try:
            text = body.decode() if body else None
        except UnicodeDecodeError:
            return Reply.envelope(400, "request body is not UTF-8")
        client = scope.get("client") or ("", 0)
        request = HttpRequest(
            scope["method"], raw_path, scope["query_string"].decode("latin-1"), headers, text, client[0]
        )
        return await self._invoke(found, request)

    async def _read_body(self, headers: list[tuple[str, str]], receive: Receive) -> bytes | Reply | None:
        fields = dict(headers)
        declared = int(fields.get("content-length", "0"))  # h11 has checked it is digits
        expects_continue = fields.get("expect", "").lower() == "100-continue"
        if declared > DRAIN_LIMIT or (declared > MAX_BODY_BYTES and expects_continue):
            return Reply.envelope(413, TOO_LARGE, close=True)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.read_timeout):
                more = True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk, more = message.get("body", b""), message.get("more_body", False)
                    size += len(chunk)
                    if size <= MAX_BODY_BYTES:
                        chunks.append(chunk)
                    elif size > DRAIN_LIMIT:
                        return Reply.envelope(413, TOO_LARGE, close=True)
        except TimeoutError:
            return Reply.envelope(408, f"the request body did not arrive within {self.read_timeout:g} s", close=True)
        if size > MAX_BODY_BYTES:
            return Reply.envelope(413, TOO_LARGE)
        if "content-length" in fields and "transfer-encoding" in fields:  # read as chunked, as h11 does, then refused
            return Reply.envelope(400, "Content-Length and Transfer-Encoding together are refused", close=True)
        return b"".join(chunks)

    async def _invoke(self, match: Match, request: HttpRequest) -> Reply | StreamedReply:
        request_id = str(uuid.uuid4())
        event = proxy_event(match, request, request_id)
        frames = self.pools[match.route.function].invoke(event, request_id)
        try:
            first = await anext(frames)
            if "start" in first:
                proxy_reply({**first["start"], "body": ""})  # a malformed start is a 502 while one can be sent
                return StreamedReply(first["start"], frames, request_id)
            await frames.aclose()
            status, headers, body = proxy_reply(first["result"])
        except HandlerFailed as exc:
            log.error("%s; request id %s", exc, request_id)
            return Reply.envelope(500, f"internal error; request id {request_id}")
        except MalformedReply as exc:
            await frames.aclose()
            log.error("%s from %s; request id %s", exc, match.route.function, request_id)
            return Reply.envelope(502, f"bad gateway: the function's reply was malformed; request id {request_id}")
        return Reply(status, headers, body)
