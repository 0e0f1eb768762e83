"""A stub reranking server on 127.0.0.1 speaking Cohere's rerank API (as vLLM, Infinity and Jina do).

    POST /v1/rerank   {model, query, documents, top_n} -> {"results": [{"index", "relevance_score"}, ...]},
                      best first: a document holding `stub.favoured` scores 1.0, the others 0.5 (ties)

`stub.status = 503` answers that status instead; `stub.reply` (any JSON) replaces the results;
`stub.hold()` keeps every answer back until `stub.release()` (a server too slow for the client's
timeout). Every request is recorded: its JSON body and lower-cased headers.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    body: Any
    headers: dict[str, str]


@dataclass
class RerankStub:
    favoured: str = ""
    status: int = 200
    reply: Any = None
    requests: list[Recorded] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._released.set()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(Recorded(body, {k.lower(): v for k, v in self.headers.items()}))
                stub._released.wait(timeout=30)
                if stub.status != 200:
                    self._send(stub.status, {"message": "unavailable"})
                else:
                    self._send(200, stub.reply if stub.reply is not None else {"results": stub.results(body)})

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/rerank"

    def results(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        scores = [1.0 if self.favoured and self.favoured in text else 0.5 for text in body["documents"]]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[: body.get("top_n") or len(scores)]
        return [{"index": i, "relevance_score": scores[i]} for i in order]

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> RerankStub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
