"""End-to-end benchmark on a generated 200-page intranet served from 127.0.0.1.

Trains with the real `cdgpt train` command (URL sources, local embedder by default), then measures
in this process: warm chat latency, search latency, and retrieval quality on one question per page.

    .venv/bin/python benchmarks/bench_site.py [--pages 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


def serve(folder: Path) -> ThreadingHTTPServer:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms (n={len(ordered)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the questions for latency")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cdgpt-bench-"))
    site = work / "site"
    subprocess.run([sys.executable, str(HERE / "make_site.py"), str(site), "--pages", str(args.pages)], check=True)
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_port}"
    urls = [f"{base}/{p.name}" for p in sorted(site.glob("page-*.html"))]

    os.environ.update(CDGPT_DATA_DIR=str(work / "data"), CDGPT_ALLOW_PRIVATE_URLS="1")
    cdgpt = Path(sys.executable).with_name("cdgpt")
    start = time.perf_counter()
    subprocess.run([str(cdgpt), "train", "--model", "site", *urls], check=True)
    train_s = time.perf_counter() - start

    from cdgpt.answer.answering import chat
    from cdgpt.answer.evaluation import evaluate, load_cases
    from cdgpt.answer.retrieval import lexical_weight, load_model, search
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    settings = get_settings()
    cases = load_cases(site / "questions.jsonl")
    start = time.perf_counter()
    chat("site", cases[0].question)
    first_chat_ms = (time.perf_counter() - start) * 1000
    model = load_model("site", default_store(settings), settings)
    questions = [c.question for c in cases] * args.repeat
    it = iter(questions)
    chat_ms = timed(lambda: chat("site", next(it)), len(questions))
    it = iter(questions)
    search_ms = timed(lambda: search(model, next(it), 4, lexical_weight(model, settings)), len(questions))
    it = iter(questions)
    embed_ms = timed(lambda: model.embedder.embed([next(it)]), len(questions))
    lexical_ms = timed(lambda: model.lexical.scores(cases[0].question), 200)
    report = evaluate("site", cases)
    server.shutdown()

    print(
        json.dumps(
            {
                "pages": len(urls),
                "chunks": model.index.ntotal,
                "embedder": f"{model.embedder.provider}/{model.embedder.model}",
                "train_seconds": round(train_s, 2),
                "first_chat_ms_in_process": round(first_chat_ms, 1),
                "warm_chat": summary(chat_ms),
                "search_incl_query_embedding": summary(search_ms),
                "query_embedding": summary(embed_ms),
                "bm25_scoring": summary(lexical_ms),
                "recall_at_1": report["recall_at_1"],
                "recall_at_4": report["recall_at_k"],
                "mrr": report["mrr"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
