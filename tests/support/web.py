"""A tiny local web server for URL sources: fixed responses and redirects, on 127.0.0.1."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    gate: threading.Event | None = None  # answer only once it is set (a slow site), or after a minute


class LocalWeb:
    def __init__(self) -> None:
        self.routes: dict[str, Page] = {}
        self.hits: list[str] = []
        web = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                web.hits.append(self.path)
                page = web.routes.get(self.path, Page(b"not found", "text/plain", 404))
                if page.gate is not None:
                    page.gate.wait(60)
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(page.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def add(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8", **kw) -> str:
        self.routes[path] = Page(body.encode() if isinstance(body, str) else body, content_type, **kw)
        return self.base + path

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.routes[path] = Page(b"", "text/plain", status, {"Location": location})
        return self.base + path

    def __enter__(self) -> LocalWeb:
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()  # fast shutdown
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
