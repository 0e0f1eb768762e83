"""HTTP/1.1 over a plain socket, for requests no well-behaved client would send (framing, stalls, pipelining).

Responses are read by their Content-Length, which every answer of `cdgpt serve` carries.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

TIMEOUT_S = 20.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, list[str]]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


class RawConnection:
    def __init__(self, port: int, timeout: float = TIMEOUT_S) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    def response(self, head_only: bool = False) -> RawResponse:
        """The next response; `head_only` for a HEAD request (its Content-Length describes no body)."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        status = int(status_line.split()[1])
        length = 0 if head_only or status in (204, 304) else int(headers.get("content-length", ["0"])[-1])
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return RawResponse(status, headers, body)

    def closed_by_server(self) -> bool:
        """True once the server closes (within the socket's timeout) with nothing more to read."""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return not self.buffer
                self.buffer += chunk
        except ConnectionResetError:
            return not self.buffer
        except TimeoutError:
            return False


def request(
    method: str, path: str, *, body: bytes = b"", headers: list[tuple[str, str]] | None = None, raw: bytes = b""
) -> bytes:
    """A request's bytes with Host and Content-Length (when there is a body); `raw` adds header lines as is."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode() + b"\r\n" + raw + b"\r\n" + body
