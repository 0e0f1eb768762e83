"""A small stub of the OpenAI HTTP API on 127.0.0.1, for the real `openai` SDK to talk to.

    POST /v1/embeddings         deterministic hashed bag-of-words vectors (similar texts are close)
    POST /v1/chat/completions   a canned answer that echoes what the prompt held (or `stub.answer`, when
                                set); a request to rewrite a follow-up or to translate a question (told
                                by its system prompt) gets `stub.rewrites[question]` or
                                `stub.translations[question]` (else the question unchanged). With
                                `"stream": true` the reply is server-sent chunks, a word each, then the
                                usage chunk (when `stream_options.include_usage`) and `[DONE]`;
                                `stub.hold_streams()` holds every stream after its first chunk until
                                `stub.release_streams()`; `stub.break_streams = True` sends an error
                                event after the first chunk instead of the rest; `stub.cut_streams =
                                True` closes the stream after the text, with no finish and no [DONE];
                                `stub.stream_delay_s` pauses before each chunk (a slow writer);
                                `stub.stream_usage = False` never sends the usage chunk

Every request is recorded (path, JSON body, lower-cased headers, the status answered). A failure
queue makes the next requests fail: `stub.fail_next(429)`, `stub.fail_next(503, times=100)`; failures
carry `retry-after-ms: 1` so the SDK's backoff does not slow tests down. A failure's body given as bytes
is sent as it is, as JSON unless a `content-type` header says otherwise (a proxy's page, broken JSON).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from cdgpt.answer.queries import REWRITE_PROMPT, TRANSLATE_PROMPT

DIM = 64
TOKEN = re.compile(r"[^\W_]+|[\u3400-\u9fff]", re.UNICODE)
CJK = re.compile(r"[\u3400-\u9fff]")
PASSAGE = re.compile(r"^\[(\d+)\] ", re.MULTILINE)
LAST_QUESTION = "\n\nLast question: "
TRANSLATE_OPENING = TRANSLATE_PROMPT.split("{")[0]


def stub_vector(text: str, dim: int = DIM) -> list[float]:
    """Signed feature hashing of lower-cased words (CJK: single characters); not normalised."""
    vector = np.zeros(dim, dtype=np.float32)
    for word in TOKEN.findall(text.lower()):
        for token in CJK.findall(word) if CJK.search(word) else [word]:
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % dim
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    if not vector.any():
        vector[0] = 1.0
    return vector.tolist()


def request_kind(body: Any) -> str:
    """ "rewrite", "translate" or "answer": what a chat completion request asks, told by its system prompt."""
    messages = body.get("messages") if isinstance(body, dict) else None
    system = next((m.get("content") or "" for m in messages or [] if m.get("role") == "system"), "")
    if system == REWRITE_PROMPT:
        return "rewrite"
    return "translate" if system.startswith(TRANSLATE_OPENING) else "answer"


def stub_answer(passages: int, question_chars: int) -> str:
    return f"Stub answer from {passages} context passages; the last user message had {question_chars} characters."


@dataclass
class Streamed:
    """A completion to send as server-sent chunks."""

    answer: str
    model: str
    usage: dict[str, int] | None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it is not JSON
    status: int = 0


@dataclass
class Failure:
    status: int
    path: str | None = None  # only requests to this path; None: any
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # the JSON answered; None: an OpenAI-style error object


class OpenAIStub:
    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.requests: list[Recorded] = []
        self.rewrites: dict[str, str] = {}  # follow-up -> the standalone question answered to a rewrite request
        self.translations: dict[str, str] = {}  # question -> the translation answered to a translate request
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._stalled: set[str] = set()
        self._released = threading.Event()
        self.answer: str | None = None  # the answer to answer requests, instead of the canned one
        self._stream_gate: threading.Event | None = None
        self.break_streams = False
        self.cut_streams = False
        self.stream_delay_s = 0.0
        self.stream_usage = True
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                record = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, payload, headers = stub._respond(record)
                record.status = status
                with stub._lock:
                    stub.requests.append(record)
                if isinstance(payload, Streamed):
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client gave up on it
                        stub._stream(self, payload)
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("content-type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.send_error(404)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.server.server_port}"
        self.base_url = self.root + "/v1"

    # Programming and inspection

    def fail_next(self, status: int, times: int = 1, path: str | None = None, body: Any = None, **headers: str) -> None:
        """Answer the next `times` requests (to `path`, if given) with HTTP `status` (and `body`, if given:
        e.g. a malformed 200 answer)."""
        with self._lock:
            for _ in range(times):
                self._failures.append(Failure(status, path, {"retry-after-ms": "1", **headers}, body))

    def stall(self, path: str) -> None:
        """Hold every request to `path` without an answer until `release()` (or the stub stops): a hung server."""
        with self._lock:
            self._stalled.add(path)

    def release(self) -> None:
        self._released.set()

    def hold_streams(self) -> None:
        """Hold every streamed completion after its first chunk, until `release_streams()`."""
        self._stream_gate = threading.Event()

    def release_streams(self) -> None:
        """Let held streams go on; later ones are not held."""
        gate, self._stream_gate = self._stream_gate, None
        if gate is not None:
            gate.set()

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def embedding_requests(self) -> list[Recorded]:
        return self.requests_to("/v1/embeddings")

    @property
    def chat_requests(self) -> list[Recorded]:
        return self.requests_to("/v1/chat/completions")

    def chat_requests_of(self, kind: str) -> list[Recorded]:
        """Chat completion requests of one kind: "answer", "rewrite" or "translate"."""
        return [r for r in self.chat_requests if request_kind(r.body) == kind]

    # Serving

    def _take_failure(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.path in (None, path):
                    self._failures.remove(failure)
                    return failure
        return None

    def _respond(self, record: Recorded) -> tuple[int, Any, dict[str, str]]:
        if record.path in self._stalled:
            self._released.wait()
        failure = self._take_failure(record.path)
        if failure:
            if failure.body is not None:
                return failure.status, failure.body, failure.headers
            error = {"message": f"stub failure {failure.status}", "type": "stub_error", "code": str(failure.status)}
            return failure.status, {"error": error}, failure.headers
        if not isinstance(record.body, dict):
            return 400, {"error": {"message": "body must be a JSON object", "type": "invalid_request_error"}}, {}
        if record.path == "/v1/embeddings":
            return self._embeddings(record.body)
        if record.path == "/v1/chat/completions":
            return self._chat(record.body)
        return 404, {"error": {"message": f"no route {record.path}", "type": "invalid_request_error"}}, {}

    def _embeddings(self, body: dict) -> tuple[int, Any, dict[str, str]]:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            return (
                400,
                {"error": {"message": "input must be a string or a list of strings", "type": "invalid_request_error"}},
                {},
            )
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vector = stub_vector(text, self.dim)
            encoded: Any = base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        data.reverse()  # callers must order by `index`, not by position
        tokens = sum(len(TOKEN.findall(t)) for t in inputs)
        payload = {
            "object": "list",
            "data": data,
            "model": body.get("model", "stub-embedding"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return 200, payload, {}

    def _chat(self, body: dict) -> tuple[int, Any, dict[str, str]]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, {"error": {"message": "messages must be a non-empty list", "type": "invalid_request_error"}}, {}
        last_user = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        kind = request_kind(body)
        if kind == "rewrite":
            question = last_user.rpartition(LAST_QUESTION)[2]
            answer = self.rewrites.get(question, question)
        elif kind == "translate":
            answer = self.translations.get(last_user, last_user)
        else:
            answer = self.answer or stub_answer(len(PASSAGE.findall(last_user)), len(last_user))
        usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        if body.get("stream"):
            include_usage = self.stream_usage and bool((body.get("stream_options") or {}).get("include_usage"))
            return 200, Streamed(answer, body.get("model", "stub-chat"), usage if include_usage else None), {}
        payload = {
            "id": f"chatcmpl-stub{len(self.requests)}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body.get("model", "stub-chat"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": usage,
        }
        return 200, payload, {}

    def _stream(self, handler: BaseHTTPRequestHandler, streamed: Streamed) -> None:
        """Server-sent chunks, one word each (CJK: a character each), ended by the usage and [DONE]."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        base = {
            "id": "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": streamed.model,
        }
        pieces = re.findall(r"[\u3400-\u9fff]|[^\s\u3400-\u9fff]+\s*|\s+", streamed.answer)
        chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        chunks += [{**base, "choices": [{"index": 0, "delta": {"content": piece}}]} for piece in pieces]
        if self.cut_streams:
            for chunk in chunks:
                handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            return
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if streamed.usage is not None:
            chunks.append({**base, "choices": [], "usage": streamed.usage})
        for n, chunk in enumerate(chunks):
            if self.stream_delay_s:
                time.sleep(self.stream_delay_s)
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()
            gate = self._stream_gate
            if n == 1 and gate is not None:  # the first piece of text is out: hold the rest
                gate.wait(timeout=60)
            if n == 1 and self.break_streams:
                error = {"error": {"message": "stub stream failure", "type": "server_error"}}
                handler.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
                return
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

    # Lifecycle

    def __enter__(self) -> OpenAIStub:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.release_streams()
        self.server.shutdown()
        self.server.server_close()
