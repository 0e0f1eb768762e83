"""Extraction on every core: worker processes fed through pipes.

`multiprocessing` needs POSIX semaphores (/dev/shm), which AWS Lambda lacks, and pickles what it
sends; here a worker is a plain child process that reads raw documents from its stdin and writes their
chunks to its stdout, as length-prefixed JSON and bytes. On Linux, while the training's process runs one
thread (or a job's heartbeat beside it), its workers are forked from it, ready at once; otherwise (a job
runs on a server's thread, a worker is replaced, macOS) each is a new interpreter (`python -m
cdgpt.ingest.workers`), ready once it has imported its modules.
Each chunk comes with its BM25 term counts, so the index only adds them up (tokenizing is on every core);
they travel as numbers into the document's terms, which costs far less to encode and decode than JSON.
Until a worker says it is ready, the training's own process extracts, so a small training never
waits for one; when none can start, extraction stays in process. A worker that crashes or overruns
its document's time is killed and replaced; only that document fails.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import selectors
import signal
import struct
import sys
import threading
import time
import weakref
from array import array
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NoReturn

from cdgpt.errors import CdgptError
from cdgpt.index.terms import Counted, Vocabulary
from cdgpt.ingest.chunking import Chunk, chunk_document
from cdgpt.ingest.extract import Budget, Limits, extract
from cdgpt.ingest.extract.document import Raw

log = logging.getLogger(__name__)

HEADER = struct.Struct(">II")  # lengths of a frame's JSON part and of its bytes part
READY = {"ready": True}
RESTARTS = 3  # workers replaced per training after a crash or a timeout


@dataclass(frozen=True)
class Config:
    """What a worker needs to know: the chunk size and each document's limits."""

    chunk_chars: int
    chunk_overlap: int
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Message:
    """A document as it reaches a worker."""

    source: str
    content: bytes
    content_type: str | None
    name: str


@dataclass(frozen=True)
class Outcome:
    """One document extracted and chunked, or the reason it could not be."""

    title: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    chars: int = 0  # characters of text extracted
    reason: str | None = None


def process(raw: Raw, config: Config) -> Outcome:
    """Extract and chunk one document, and count its chunks' BM25 terms; a failure becomes the outcome's reason."""
    budget = Budget(config.limits)
    try:
        doc = extract(raw, budget)
        chunks = chunk_document(doc, config.chunk_chars, config.chunk_overlap, budget)
        vocabulary = Vocabulary()
        chunks = [replace(c, terms=vocabulary.count(c.context)) for c in chunks]  # here: on every core
    except CdgptError as exc:
        return Outcome(reason=str(exc))
    except Exception:  # one bad document must not sink the others
        log.exception("unexpected failure extracting a document")
        return Outcome(reason="internal error reading this source")
    return Outcome(doc.title, chunks, sum(len(s.text) for s in doc.sections))


def _outcome_to_frame(outcome: Outcome) -> bytes:
    """The outcome as a frame: chunks in its JSON, with their document's terms (one string); in its bytes,
    each chunk's term numbers, then their counts (int32)."""
    if outcome.reason is not None:
        return _frame({"reason": outcome.reason})
    counted = [c.terms or Counted([], array("i"), array("i")) for c in outcome.chunks]
    vocabulary = counted[0].vocabulary if counted else []
    assert all(t.vocabulary is vocabulary for t in counted)  # process() counts a document's chunks in one
    rows = [
        [c.headings, c.text, c.anchor, c.page, len(t.numbers)] for c, t in zip(outcome.chunks, counted, strict=True)
    ]
    header = {"title": outcome.title, "chars": outcome.chars, "chunks": rows, "terms": "\n".join(vocabulary)}
    numbers = b"".join(t.numbers.tobytes() for t in counted) + b"".join(t.counts.tobytes() for t in counted)
    return _frame(header, numbers)


def _outcome_from_frame(data: dict, body: bytes, source: str) -> Outcome:
    """The outcome a frame holds; ValueError when its parts do not agree."""
    if "reason" in data:
        return Outcome(reason=str(data["reason"]))
    title, vocabulary, rows = data["title"], data["terms"].split("\n"), data["chunks"]
    numbers = array("i", body)
    half = len(numbers) // 2
    if len(numbers) != 2 * sum(row[4] for row in rows) or (
        half and (min(numbers[:half]) < 0 or max(numbers[:half]) >= len(vocabulary))
    ):
        raise ValueError("the chunks' term counts do not match them")
    chunks, at = [], 0
    for position, (headings, text, anchor, page, size) in enumerate(rows):
        terms = Counted(vocabulary, numbers[at : at + size], numbers[half + at : half + at + size])
        chunks.append(Chunk(source, title, tuple(headings), position, text, anchor, page, terms))
        at += size
    return Outcome(title, chunks, data["chars"])


def _frame(header: dict, body: bytes = b"", size: int | None = None) -> bytes:
    """A frame; with `size`, only its beginning, the `size` bytes of its body to follow."""
    head = json.dumps(header, ensure_ascii=False).encode()
    return HEADER.pack(len(head), len(body) if size is None else size) + head + body


class _Reader:
    """Reads frames from a file descriptor, giving up at a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.selector = selectors.DefaultSelector()
        self.selector.register(fd, selectors.EVENT_READ)

    def exactly(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            wait = None if deadline == float("inf") else max(0.0, deadline - time.monotonic())
            if not self.selector.select(wait):
                raise TimeoutError
            block = os.read(self.fd, min(size - len(data), 1 << 20))
            if not block:
                raise EOFError
            data += block
        return bytes(data)

    def frame(self, deadline: float) -> tuple[dict, bytes]:
        head_size, body_size = HEADER.unpack(self.exactly(HEADER.size, deadline))
        header = json.loads(self.exactly(head_size, deadline))
        return header, self.exactly(body_size, deadline)

    def close(self) -> None:
        self.selector.close()


# This process's ends of its workers' pipes: a forked worker closes them, or a worker's end of input would
# stay open in its siblings.
_WORKER_ENDS: set[int] = set()


class _Forked:
    """A worker forked from this process, which has its modules loaded already: it is ready at once.
    What `_Worker` uses of a `subprocess.Popen`.

    The child keeps this process's other files, so that logging writes where it did; it closes only the
    workers' pipes. Objects are frozen out of the collector first: the child finalizes none of them."""

    def __init__(self, config: Config) -> None:
        down, up = os.pipe(), os.pipe()  # (read, write) each: documents to the worker, outcomes back
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            for fd in (*down, *up):
                os.close(fd)
            raise
        if pid == 0:  # the worker
            _in_child(config, down, up)
        gc.unfreeze()
        os.close(down[0])
        os.close(up[1])
        self.pid = pid
        self.returncode: int | None = None
        self.stdin, self.stdout = os.fdopen(down[1], "wb"), os.fdopen(up[0], "rb")

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def wait(self) -> int | None:
        return self._reap(0)

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)

    def _reap(self, flags: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # reaped elsewhere: gone
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _in_child(config: Config, down: tuple[int, int], up: tuple[int, int]) -> NoReturn:
    """The forked worker: the pipe's ends as stdin and stdout, the other workers' pipes closed."""
    import fcntl

    code = 0
    try:
        inward, outward = (fcntl.fcntl(fd, fcntl.F_DUPFD, 3) for fd in (down[0], up[1]))  # not 0-2
        for fd in {*down, *up, *_WORKER_ENDS}:
            os.close(fd)
        os.dup2(inward, 0)
        os.dup2(outward, 1)
        os.close(inward)
        os.close(outward)
        _serve(config, announce=False)
    except BaseException:
        code = 1
    finally:
        os._exit(code)  # never back into the caller's code, its finally blocks or its exit handlers


_FORK_SAFE: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def fork_safe(thread: threading.Thread) -> threading.Thread:
    """Mark a thread that holds no lock a worker takes (a job's heartbeat): workers may fork beside it.

    A lock it held at the instant of a fork and the worker then wanted (an import's, stderr's) would stall
    that worker until its backstop timeout, and fail one document; a heartbeat beats once in seconds."""
    _FORK_SAFE.add(thread)
    return thread


def _can_fork() -> bool:
    """Whether a worker may be forked: only while no other Python thread runs, or only marked ones (a lock
    another one held would stay locked in the child); else it is started afresh. Native pools (OpenBLAS,
    OpenMP) may have threads, idle between calls; a worker calls neither. Linux only (Lambda's): macOS
    system libraries are not safe to use in a forked child."""
    here = threading.current_thread()
    return sys.platform == "linux" and all(t is here or t in _FORK_SAFE for t in threading.enumerate())


class _Worker:
    """One child process, used by one thread at a time: forked, or started as a new interpreter."""

    def __init__(self, config: Config, fork: bool) -> None:
        self.proc: Any = _Forked(config) if fork else _spawned(config)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.reader = self.proc.stdin, _Reader(self.proc.stdout.fileno())
        self.ends = (self.stdin.fileno(), self.proc.stdout.fileno())
        _WORKER_ENDS.update(self.ends)
        self.timeout = config.limits.cpu_s * 2 + 10  # the worker checks CPU time itself; this is the backstop

    def wait_ready(self, timeout: float) -> bool:
        try:
            return self.reader.frame(time.monotonic() + timeout)[0] == READY
        except (OSError, TimeoutError, EOFError, ValueError, struct.error):
            return False

    def run(self, raw: Raw) -> Outcome:
        """The outcome; OSError or EOFError when the worker is gone, TimeoutError when it took too long."""
        header = {"source": raw.source, "content_type": raw.content_type, "name": raw.name}
        self.stdin.write(_frame(header, size=len(raw.content)))
        self.stdin.write(raw.content)  # apart from the header: no copy of a large document
        self.stdin.flush()
        deadline = time.monotonic() + min(self.timeout, 86400)
        data, body = self.reader.frame(deadline)
        return _outcome_from_frame(data, body, raw.source)

    def close(self) -> None:
        """Stop the worker now: between documents it holds nothing worth a graceful exit."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _WORKER_ENDS.difference_update(self.ends)
        for pipe in (self.stdin, self.proc.stdout):
            try:
                if pipe:
                    pipe.close()
            except OSError:  # unflushed input to a worker that is gone
                pass
        self.reader.close()


def _spawned(config: Config) -> Any:
    import subprocess  # here: a worker process itself needs none

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the same packages
    argument = json.dumps({**asdict(config), "limits": _limits_to_json(config.limits)})
    return subprocess.Popen(
        [sys.executable, "-m", "cdgpt.ingest.workers", argument], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )


def _limits_to_json(limits: Limits) -> dict:
    return {k: (v if v not in (sys.maxsize, float("inf")) else None) for k, v in asdict(limits).items()}


def _limits_from_json(data: dict) -> Limits:
    return Limits(**{k: v for k, v in data.items() if v is not None})


class Extractors:
    """Extract documents in worker processes, and in this process while none of them is ready.

    `run` may be called from many threads: each call waits for an idle worker, or extracts here when
    no worker is ready (still starting, none started, or all failed). Use as a context manager;
    leaving it stops the workers.
    """

    def __init__(self, config: Config, processes: int) -> None:
        self.config = config
        self.changed = threading.Condition()
        self.idle: list[_Worker] = []
        self.ready = 0  # workers forked, or that said they were ready, and have not failed since
        self.here = False  # whether this process is extracting a document
        self.workers: list[_Worker] = []
        self.restarts = RESTARTS
        self.closed = False
        if _can_fork():  # a forked worker is ready at once: it has this process's modules
            forked = [worker for _ in range(processes) if (worker := self._start(fork=True))]
            self.idle, self.ready = forked, len(forked)
        else:
            for _ in range(processes):
                if worker := self._start():
                    self._wait_ready(worker)

    def _start(self, fork: bool = False) -> _Worker | None:
        """Start a worker (not yet taking documents); None when none can start."""
        if not sys.executable and not fork:
            return None
        try:
            worker = _Worker(self.config, fork)
        except OSError:
            log.warning("cannot start an extraction process; extracting in this one", exc_info=True)
            return None
        with self.changed:
            self.workers.append(worker)
        return worker

    def _wait_ready(self, worker: _Worker) -> None:
        """The worker takes documents once it says it is ready."""

        def when_ready() -> None:
            if worker.wait_ready(timeout=60):
                with self.changed:
                    self.ready += 1
                    self.idle.append(worker)
                    self.changed.notify()
            elif not self.closed:
                log.warning("an extraction process did not start; extracting without it")

        threading.Thread(target=when_ready, daemon=True, name="cdgpt-extract-start").start()

    def _take(self) -> _Worker | None:
        """An idle worker, or None to extract here: only while no worker is ready."""
        with self.changed:
            while not self.idle and (self.ready or self.here):
                self.changed.wait()
            if self.idle:
                return self.idle.pop()
            self.here = True
            return None

    def _give_back(self, worker: _Worker | None, failed: bool = False) -> None:
        with self.changed:
            if worker is None:
                self.here = False
            elif failed:
                self.ready -= 1
            else:
                self.idle.append(worker)
            self.changed.notify()

    def run(self, raw: Raw) -> Outcome:
        worker = self._take()
        if worker is None:
            try:
                return process(raw, self.config)
            finally:
                self._give_back(None)
        try:
            outcome = worker.run(raw)
        except TimeoutError:
            outcome = Outcome(reason=Budget(self.config.limits).over_time)
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, struct.error):
            outcome = Outcome(reason="the extraction process failed on this document")
        else:
            self._give_back(worker)
            return outcome
        log.warning("an extraction process failed or overran; replacing it", extra={"source": raw.source})
        worker.close()
        self._give_back(worker, failed=True)
        with self.changed:
            replace, self.restarts = self.restarts > 0 and not self.closed, self.restarts - 1
        if replace and (fresh := self._start()):
            self._wait_ready(fresh)
        return outcome

    def __enter__(self) -> Extractors:
        return self

    def __exit__(self, *exc: object) -> None:
        with self.changed:
            self.closed = True
            workers = list(self.workers)
        for worker in workers:
            try:
                worker.close()
            except OSError:  # the next ones are still closed
                log.warning("could not stop an extraction process", exc_info=True)


def _serve(config: Config, announce: bool = True) -> None:
    """The worker's loop: frames in on stdin, outcomes out on the original stdout, until stdin closes."""
    out_fd = os.dup(1)
    os.dup2(2, 1)  # a library that prints must not corrupt the frames
    reader = _Reader(0)
    if announce:  # a new interpreter says when its imports are done
        os.write(out_fd, _frame(READY))
    while True:
        try:
            header, content = reader.frame(float("inf"))
        except EOFError:
            return
        raw = Message(header["source"], content, header["content_type"], header["name"])
        reply = _outcome_to_frame(process(raw, config))
        view = memoryview(reply)
        while view:
            view = view[os.write(out_fd, view) :]


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    data = json.loads(sys.argv[1])
    _serve(Config(data["chunk_chars"], data["chunk_overlap"], _limits_from_json(data["limits"])))


if __name__ == "__main__":
    main()
