"""uvicorn's h11 protocol with two additions: a deadline on the client while no application is reading
from it, and the API's JSON envelope on the 400 that h11 gives a malformed request.

uvicorn itself times out only an idle keep-alive connection: a client that sends half a request head,
or stops in the middle of a body nobody reads any more, would hold its connection for ever. The
deadline starts with the first byte the client owes and is not extended by a trickle.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from cdgpt.local.asgi import envelope_body


class GuardedH11Protocol(H11Protocol):
    read_timeout: float = 30.0  # set per server by `protocol_with`
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _awaiting_client(self) -> bool:
        """The client owes bytes that no application is waiting for: a request head, or an unread body."""
        their, ours = self.conn.their_state, self.conn.our_state
        return their is h11.IDLE or (their is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE))

    def _watch(self) -> None:
        if self.transport.is_closing() or not self._awaiting_client():
            self._cancel_deadline()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._expire)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._awaiting_client() and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        body = envelope_body("invalid HTTP request: bad framing, headers or request line")
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body)):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()


def protocol_with(read_timeout: float) -> type[GuardedH11Protocol]:
    return type("ServeH11Protocol", (GuardedH11Protocol,), {"read_timeout": read_timeout})
