"""Training as a job through `cdgpt serve`: how fast `POST /train` answers for a large training, and
how the job's progress and total time look, on pages served from 127.0.0.1.

Generates `--pages` small HTML pages on a local web server, starts `cdgpt serve` (jobs run in their
own process), posts one training of all of them with `wait_seconds: 0`, then polls `GET /jobs/{id}`.

    .venv/bin/python benchmarks/bench_jobs.py [--pages 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import SECRET, start_server

PAGE = "<html><head><title>Page {n}</title></head><body><main><h1>Page {n}</h1><p>{text}</p></main></body></html>"
TEXT = "Room {n} on floor {f} is booked by team {t} for the weekly planning meeting. " * 8


def web_server(pages: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            n = int(self.path.strip("/").removesuffix(".html") or 0)
            body = PAGE.format(n=n, text=TEXT.format(n=n, f=n % 9, t=n % 37)).encode()
            self.send_response(200 if n < pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    args = parser.parse_args()
    site = web_server(args.pages)
    base = f"http://127.0.0.1:{site.server_port}"
    work = Path(tempfile.mkdtemp(prefix="cdgpt-bench-jobs-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ARTIFACTS_BUCKET", "CDGPT_"))}
    env.update(
        CDGPT_DATA_DIR=str(work / "data"), CDGPT_EMBEDDINGS="local", API_SECRET=SECRET, CDGPT_ALLOW_PRIVATE_URLS="1"
    )
    process, url = start_server(env, 1, work / "serve.log")
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {SECRET}"
    try:
        body = {"model_name": "bench", "file_list": [f"{base}/{n}.html" for n in range(args.pages)], "wait_seconds": 0}
        start = time.perf_counter()
        answer = session.post(f"{url}/train", json=body, timeout=60)
        answered = time.perf_counter() - start
        job_id = answer.json()["data"]["job_id"]
        print(f"POST /train of {args.pages} pages: HTTP {answer.status_code} in {answered * 1000:.0f} ms")
        seen = set()
        while True:
            job = session.get(f"{url}/jobs/{job_id}", timeout=60).json()["data"]
            p = job["progress"]
            line = f"{p['stage']:10} documents {p['documents_done']}/{p['documents_total']}, chunks {p['chunks_embedded']}/{p['chunks_total']}"
            if line not in seen:
                seen.add(line)
                print(f"  {time.perf_counter() - start:6.1f} s  {job['status']:9} {line}")
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)  # polling interval of the client
        total = time.perf_counter() - start
        print(f"job {job['status']} after {total:.1f} s: {job.get('result', {}) and job['result']['chunks']} chunks")
    finally:
        process.terminate()
        process.wait(timeout=30)
        site.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
