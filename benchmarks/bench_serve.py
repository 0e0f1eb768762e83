"""Load on `cdgpt serve`: keep-alive clients chatting with the sample handbook over loopback.

Trains samples/handbook with `cdgpt train`, times `answering.chat` in this process on the sample
questions, then starts `cdgpt serve` and runs one keep-alive client, then `--clients` keep-alive
clients at once, each sending `--chats` chats (requests.Session, as browsers and most clients keep
their connections). Reports errors, latency percentiles and throughput.

    .venv/bin/python benchmarks/bench_serve.py [--clients 8] [--chats 250] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
MODEL = "handbook"


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    return f"p50 {statistics.median(ordered):.2f} ms, p95 {at(0.95):.2f} ms, p99 {at(0.99):.2f} ms (n={len(ordered)})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(Path(sys.executable).with_name("cdgpt")), "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"cdgpt serve exited:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)  # polling for the port, with a deadline
    process.kill()
    raise SystemExit("cdgpt serve did not start listening within 120 s")


def run_clients(url: str, questions: list[str], clients: int, chats: int) -> tuple[list[float], int, float]:
    """Each client sends `chats` chats on its own keep-alive session; latencies (ms), errors, wall time (s)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(n: int) -> None:
        mine, failed = [], 0
        with requests.Session() as session:
            session.trust_env = False
            session.headers["Authorization"] = f"Bearer {SECRET}"
            for k in range(chats):
                body = {"model_name": MODEL, "question": questions[(n * 7 + k) % len(questions)]}
                start = time.perf_counter()
                try:
                    ok = session.post(f"{url}/chat", json=body, timeout=60).status_code == 200
                except requests.RequestException:
                    ok = False
                mine.append((time.perf_counter() - start) * 1000)
                failed += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - start


def chat_in_threads(chat, questions: list[str], clients: int, chats: int) -> tuple[list[float], float]:
    """The load of `run_clients` without the server: `clients` threads each calling chat() `chats` times."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        mine = []
        for k in range(chats):
            start = time.perf_counter()
            chat(MODEL, questions[(n * 7 + k) % len(questions)])
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--chats", type=int, default=250, help="chats per client")
    parser.add_argument("--workers", type=int, default=1, help="cdgpt serve --workers (processes per function)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cdgpt-bench-serve-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ARTIFACTS_BUCKET", "CDGPT_"))}
    # every request is still counted against the secret's rate (the local counter file), but never refused
    env.update(
        CDGPT_DATA_DIR=str(work / "data"), CDGPT_EMBEDDINGS="local", API_SECRET=SECRET, CDGPT_RATE_LIMIT="1000000"
    )
    os.environ.update(env)
    cdgpt = str(Path(sys.executable).with_name("cdgpt"))
    subprocess.run([cdgpt, "train", "--model", MODEL, "samples/handbook"], cwd=REPO, env=env, check=True)
    questions = [json.loads(line)["question"] for line in (REPO / "samples/questions.jsonl").open()]

    from cdgpt.answer.answering import chat

    for question in questions:  # warm: the model and the embedder loaded
        chat(MODEL, question)
    in_process = []
    for _ in range(5):
        for question in questions:
            start = time.perf_counter()
            chat(MODEL, question)
            in_process.append((time.perf_counter() - start) * 1000)
    print(f"in-process answering.chat ({len(questions)} questions x 5): {percentiles(in_process)}")
    loaded, loaded_wall = chat_in_threads(chat, questions, args.clients, args.chats)
    print(
        f"in-process answering.chat, {args.clients} threads x {args.chats} (the same load, no HTTP): "
        f"{percentiles(loaded)}, {args.clients * args.chats / loaded_wall:.0f} chats/s"
    )

    process, url = start_server(env, args.workers, work / "serve.log")
    try:
        run_clients(url, questions, 1, 20)  # warm the worker
        one, one_errors, one_wall = run_clients(url, questions, 1, 200)
        print(
            f"cdgpt serve, 1 keep-alive client x 200: {one_errors} errors, {percentiles(one)}, {200 / one_wall:.0f} req/s"
        )
        many, errors, wall = run_clients(url, questions, args.clients, args.chats)
        total = args.clients * args.chats
        print(
            f"cdgpt serve --workers {args.workers}, {args.clients} keep-alive clients x {args.chats}: "
            f"{errors} errors, {percentiles(many)}, {total / wall:.0f} req/s"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 1 if errors or one_errors else 0


if __name__ == "__main__":
    sys.exit(main())
