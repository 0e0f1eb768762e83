"""Scale benchmark: a generated corpus of ~100k chunks trained and queried on one machine.

Measures the three targets of one Lambda at 100k chunks, with 1,536-dimensional vectors from a stub
OpenAI-compatible server run here (127.0.0.1), or with the local 512-dimensional embedder (`--local`):

- training peak memory: `cdgpt train` in a child process, its peak RSS (`wait4`);
- first answer in a new process: `cdgpt chat` spawned afresh, until its answer is printed;
- warm chat overhead: `chat()` in this process with the model loaded, minus the time spent in the
  embedding and language-model calls (what remains is loading checks, search, ranking, the reply).

With `--local` it also measures how often the approximate (HNSW) index finds the exact top 10 for
real questions (every question of benchmarks/eval/*.jsonl) against an exact scan of the same vectors.

    .venv/bin/python benchmarks/bench_scale.py [--chunks 100000] [--local] [--questions 300] [--work DIR]

Nothing is committed or downloaded: the text is generated (pseudo-words with a Zipf distribution and
common English words), deterministically from a seed. A second run with the same `--work` reuses
the corpus and, with `--reuse-model`, the trained model.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from cdgpt.limits import MAX_DOCUMENTS

HERE = Path(__file__).resolve().parent
CDGPT = Path(sys.executable).parent / "cdgpt"
MODEL = "scale"
CHUNKS_PER_DOCUMENT = 10  # sections of ~1,100 characters: one chunk each
FILES_PER_FOLDER = 2500  # under CDGPT_MAX_PREFIX_OBJECTS
COMMON = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "that",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "be",
    "are",
    "or",
    "it",
    "an",
    "was",
    "can",
    "will",
    "your",
    "you",
    "when",
    "which",
    "if",
    "not",
    "have",
    "has",
    "all",
    "each",
    "more",
    "one",
    "new",
    "use",
    "used",
    "using",
    "must",
    "should",
    "may",
    "also",
    "other",
    "than",
    "after",
    "before",
    "into",
    "over",
    "under",
    "between",
    "about",
    "only",
    "any",
    "some",
    "such",
    "these",
    "those",
    "their",
    "its",
    "there",
    "then",
    "file",
    "files",
    "system",
    "server",
    "network",
    "user",
    "users",
    "account",
    "access",
    "data",
    "database",
    "backup",
    "report",
    "reports",
    "policy",
    "office",
    "team",
    "project",
    "service",
    "services",
    "request",
    "requests",
    "support",
    "update",
    "updates",
    "install",
    "configure",
    "configuration",
    "setting",
    "settings",
    "package",
    "packages",
    "version",
    "release",
    "error",
    "errors",
    "log",
    "logs",
    "time",
    "day",
    "days",
    "week",
    "month",
    "year",
    "cost",
    "price",
    "budget",
    "travel",
    "hotel",
    "meeting",
    "manager",
    "employee",
    "leave",
    "security",
    "password",
    "key",
    "keys",
    "device",
    "laptop",
    "printer",
    "email",
    "message",
    "document",
    "documents",
    "page",
    "pages",
]


def make_corpus(folder: Path, chunks: int, seed: int = 7) -> list[str]:
    """Markdown documents of CHUNKS_PER_DOCUMENT sections; returns the file_list entries (one per folder)."""
    documents = max(1, chunks // CHUNKS_PER_DOCUMENT)
    entries = [f"part{i}" for i in range((documents + FILES_PER_FOLDER - 1) // FILES_PER_FOLDER)]
    stamp = folder / "CORPUS.json"
    if stamp.exists() and json.loads(stamp.read_text()) == {"documents": documents, "seed": seed}:
        return entries
    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    pseudo = sorted({"".join(rng.choice(syllables, size=rng.integers(2, 5))) for _ in range(30000)})
    vocabulary = np.array(COMMON + pseudo)
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 1.05
    weights /= weights.sum()
    for d in range(documents):
        words = vocabulary[rng.choice(len(vocabulary), size=CHUNKS_PER_DOCUMENT * 175, p=weights)]
        sections = []
        for s in range(CHUNKS_PER_DOCUMENT):
            part = words[s * 175 : (s + 1) * 175]
            sentences = [" ".join(part[i : i + 15]).capitalize() + "." for i in range(0, len(part), 15)]
            sections.append(f"## Section {s + 1}: {part[0]} {part[1]}\n\n" + " ".join(sentences))
        path = folder / entries[d // FILES_PER_FOLDER] / f"doc{d:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Document {d}: {words[2]} {words[3]}\n\n" + "\n\n".join(sections) + "\n", "utf-8")
    stamp.write_text(json.dumps({"documents": documents, "seed": seed}))
    return entries


class Stub:
    """An OpenAI-compatible server on 127.0.0.1: hashed bag-of-words embeddings (similar texts are close)
    of any dimension, base64 or float, and a canned chat answer."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._words: dict[str, tuple[int, float]] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = stub.embeddings(body) if self.path.endswith("/embeddings") else stub.chat(body)
                streamed = body.get("stream") and not self.path.endswith("/embeddings")
                data = stub.events(reply) if streamed else json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream" if streamed else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in text.lower().split():
            slot = self._words.get(word)
            if slot is None:
                digest = zlib.crc32(word.encode())
                slot = self._words[word] = (digest % self.dim, 1.0 if digest & 0x10000 else -1.0)
            vector[slot[0]] += slot[1]
        return vector if vector.any() else np.eye(1, self.dim, dtype=np.float32)[0]

    def embeddings(self, body: dict) -> dict:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vector = self.vector(text)
            encoded = base64.b64encode(vector.astype("<f4").tobytes()).decode() if as_base64 else vector.tolist()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return {"object": "list", "data": data, "model": body.get("model", "stub"), "usage": usage}

    @staticmethod
    def events(reply: dict) -> bytes:
        """A chat completion as the server-sent events of `stream: true` (one content chunk, then usage)."""
        text = reply["choices"][0]["message"]["content"]
        base = {"id": "stub", "object": "chat.completion.chunk", "created": 0, "model": reply["model"]}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": reply["usage"]},
        ]
        return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"

    def chat(self, body: dict) -> dict:
        message = {"role": "assistant", "content": "A stub answer [1]."}
        return {
            "id": "stub",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def questions(n: int) -> list[str]:
    found = []
    for path in sorted((HERE / "eval").glob("*.jsonl")):
        found += [json.loads(line)["question"] for line in path.read_text("utf-8").splitlines() if line.strip()]
    return found[:n]


def train(env: dict[str, str], corpus: Path, entries: list[str]) -> dict:
    start = time.perf_counter()
    child = subprocess.Popen(
        [str(CDGPT), "train", "--model", MODEL, *entries], cwd=corpus, env=env, stdout=subprocess.PIPE, text=True
    )
    out = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"training failed ({child.returncode})")
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": usage.ru_maxrss / 1024, "output": out.strip()}


def cold_starts(env: dict[str, str], corpus: Path, asked: list[str], runs: int) -> list[float]:
    times = []
    for question in asked[:runs]:
        start = time.perf_counter()
        child = subprocess.Popen(
            [str(CDGPT), "chat", "--model", MODEL, question], cwd=corpus, env=env, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        first = child.stdout.readline()
        times.append(time.perf_counter() - start)
        child.stdout.read()
        if child.wait() or not first.strip():
            raise SystemExit("chat failed")
    return times


def warm(asked: list[str]) -> dict:
    """chat() with the model loaded: total and overhead (minus embedding and LLM calls) per question."""
    from cdgpt.answer import llm, retrieval
    from cdgpt.answer.answering import chat
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    settings = get_settings()
    store = default_store(settings)
    retrieval._cache.clear()
    start = time.perf_counter()
    model = retrieval.load_model(MODEL, store, settings)
    load_s = time.perf_counter() - start
    outside = [0.0]

    def timed(fn):
        def wrapper(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                outside[0] += time.perf_counter() - begin

        return wrapper

    model.embedder.embed = timed(model.embedder.embed)  # type: ignore[method-assign]
    llm.complete = timed(llm.complete)  # the answer, and a question's rewriting or translation
    totals, overheads = [], []
    for question in asked * 2:  # the first pass warms caches; both are counted
        outside[0] = 0.0
        begin = time.perf_counter()
        chat(MODEL, question, settings=settings, store=store)
        total = time.perf_counter() - begin
        totals.append(total * 1000)
        overheads.append((total - outside[0]) * 1000)
    return {"load_s": load_s, "kind": model.vector_index.kind, "total_ms": totals, "overhead_ms": overheads}


def recall(asked: list[str]) -> float:
    """Top-10 overlap of the HNSW search and an exact scan of the same (float16) vectors."""
    import faiss

    from cdgpt.answer import retrieval
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    settings = get_settings()
    model = retrieval.load_model(MODEL, default_store(settings), settings)
    if model.vector_index.kind != "hnsw":
        return 1.0
    exact = faiss.downcast_index(model.index.storage)
    queries = model.embedder.embed(asked)
    overlap = []
    for query in queries:
        found, _ = model.vector_index.search(query, 10)
        _, truth = exact.search(query.reshape(1, -1), 10)
        overlap.append(len(set(found.tolist()) & set(truth[0].tolist())) / 10)
    return float(np.mean(overlap))


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--local", action="store_true", help="the local 512-d embedder instead of the 1536-d stub")
    parser.add_argument("--questions", type=int, default=300, help="questions for the warm measurement")
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cdgpt-bench-scale")
    parser.add_argument("--reuse-model", action="store_true", help="skip training when the model exists")
    parser.add_argument(
        "--one-worker", action="store_true", help="train on one worker, never sharded (what one Lambda holds)"
    )
    parser.add_argument("--retrain", action="store_true", help="train a second time (every vector reused)")
    args = parser.parse_args()

    corpus = args.work / "corpus"
    begin = time.perf_counter()
    entries = make_corpus(corpus, args.chunks)
    generated_s = time.perf_counter() - begin
    label = "local-512" if args.local else "stub-1536"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDGPT_", "OPENAI_", "ARTIFACTS_BUCKET"))}
    env |= {"CDGPT_DATA_DIR": str(args.work / f"models-{label}"), "CDGPT_SOURCE_ROOT": str(corpus)}
    env |= {"CDGPT_CACHE_DIR": str(args.work / "cache"), "CDGPT_MIN_SCORE": "-1"}
    if args.one_worker:
        env["CDGPT_SHARD_ABOVE_DOCUMENTS"] = str(MAX_DOCUMENTS)
    stub = None
    if args.local:
        env["CDGPT_EMBEDDINGS"] = "local"
    else:
        stub = Stub(1536)
        env |= {"OPENAI_API_KEY": "sk-stub", "OPENAI_BASE_URL": stub.url, "CDGPT_ANSWERS": "llm"}
    os.environ.update(env)

    trained = retrained = None
    models = args.work / f"models-{label}"
    if not (args.reuse_model and (models / "models" / MODEL / "manifest.json").exists()):
        shutil.rmtree(models, ignore_errors=True)
        trained = train(env, corpus, entries)
        if args.retrain:
            retrained = train(env, corpus, entries)  # the same text: every vector is reused
    from cdgpt.models.registry import read_manifest
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    manifest, _ = read_manifest(default_store(get_settings()), MODEL)
    asked = questions(args.questions)
    cold = cold_starts(env, corpus, asked, args.cold_runs)
    measured = warm(asked)
    overlap = recall(asked) if args.local else None

    mb = {name: round(size / 2**20, 1) for name, size in manifest.sizes.items()}
    print(f"\n## {label}: {manifest.counts['chunks']:,} chunks, {manifest.counts['documents']:,} documents")
    print(f"corpus generated in {generated_s:.1f} s; artifacts (MB): {mb}; index: {measured['kind']}")
    if trained:
        print(f"training: {trained['seconds']:.0f} s, peak RSS {trained['peak_rss_mb']:,.0f} MB")
    if retrained:
        print(f"retraining (all reused): {retrained['seconds']:.0f} s, peak RSS {retrained['peak_rss_mb']:,.0f} MB")
    print(f"load in a warm process: {measured['load_s'] * 1000:.0f} ms")
    print("| measure | p50 | p95 | n |")
    print("|---|---|---|---|")
    for name, samples, unit in (
        ("first answer in a new process", [c * 1000 for c in cold], "ms"),
        ("warm chat overhead (no embedding/LLM)", measured["overhead_ms"], "ms"),
        ("warm chat total (stub calls included)", measured["total_ms"], "ms"),
    ):
        print(
            f"| {name} | {percentile(samples, 50):.1f} {unit} | {percentile(samples, 95):.1f} {unit} | {len(samples)} |"
        )
    if overlap is not None:
        print(f"HNSW top-10 overlap with exact search, {len(asked)} real questions about other text: {overlap:.4f}")
    print(f"(max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB)")
    if stub:
        stub.server.shutdown()
    return 0 if statistics.median(measured["overhead_ms"]) > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
