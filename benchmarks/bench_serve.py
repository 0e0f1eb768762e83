"""Load on `cdgpt serve`: keep-alive clients chatting with the sample handbook over loopback.

Trains samples/handbook with `cdgpt train`, times `answering.chat` in this process on the sample
questions, alone and from `--clients` threads at once (the same load with no HTTP), then starts
`cdgpt serve` and runs one keep-alive client, then `--clients` keep-alive clients at once, each
sending `--chats` chats. Before the measured runs a short run of as many clients lets the server
start the workers they need, so the figures are of warm workers (Lambda's warm containers).

The clients are threads of this process on http.client connections, light enough not to take much
of the machine's CPU from the server (both share it on loopback); the CPU they and the server use per
chat is reported with the latencies (mean and percentiles) and the throughput.

    .venv/bin/python benchmarks/bench_serve.py [--clients 8] [--chats 250] [--workers 1] [--max-workers 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
MODEL = "handbook"


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    return (
        f"mean {statistics.fmean(ordered):.2f} ms, p50 {statistics.median(ordered):.2f} ms, "
        f"p95 {at(0.95):.2f} ms, p99 {at(0.99):.2f} ms (n={len(ordered)})"
    )


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and the living children its main thread started (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    env: dict[str, str], workers: int, log: Path, max_workers: int | None = None
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(Path(sys.executable).with_name("cdgpt")), "serve", "--port", str(port), "--workers", str(workers)]
    if max_workers is not None:
        command += ["--max-workers", str(max_workers)]
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
    """Each client sends `chats` chats on its own keep-alive connection; latencies (ms), errors, wall time (s)."""
    address = urlsplit(url)
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(n: int) -> None:
        mine, failed = [], 0
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
        for k in range(chats):
            body = json.dumps({"model_name": MODEL, "question": questions[(n * 7 + k) % len(questions)]})
            start = time.perf_counter()
            try:
                connection.request("POST", "/chat", body, headers)
                response = connection.getresponse()
                ok = response.status == 200 and b'"answer"' in response.read()
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()  # the next request opens a new connection
            mine.append((time.perf_counter() - start) * 1000)
            failed += not ok
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    return latencies, errors[0], in_threads(clients, client)


def in_threads(count: int, target) -> float:
    """Seconds to run target(0), ..., target(count - 1), each in a thread of its own, all at once."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


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

    return latencies, in_threads(clients, client)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--chats", type=int, default=250, help="chats per client")
    parser.add_argument("--workers", type=int, default=1, help="cdgpt serve --workers (processes per function)")
    parser.add_argument("--max-workers", type=int, help="cdgpt serve --max-workers (its default if not given)")
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
    cpu_before = own_cpu_seconds()
    loaded, loaded_wall = chat_in_threads(chat, questions, args.clients, args.chats)
    total = args.clients * args.chats
    print(
        f"in-process answering.chat, {args.clients} threads x {args.chats} (the same load, no HTTP): "
        f"{percentiles(loaded)}, {total / loaded_wall:.0f} chats/s, "
        f"CPU {1000 * (own_cpu_seconds() - cpu_before) / total:.2f} ms per chat"
    )

    process, url = start_server(env, args.workers, work / "serve.log", args.max_workers)

    def measured(label: str, clients: int, chats: int) -> int:
        run_clients(url, questions, clients, 30)  # the workers this load needs started, and warm
        client_cpu, server_cpu = own_cpu_seconds(), cpu_seconds(process.pid)
        latencies, errors, wall = run_clients(url, questions, clients, chats)
        n = clients * chats
        client_cpu, server_cpu = own_cpu_seconds() - client_cpu, cpu_seconds(process.pid) - server_cpu
        print(
            f"cdgpt serve, {label}, {clients} keep-alive client{'s' if clients > 1 else ''} x {chats}: "
            f"{errors} errors, {percentiles(latencies)}, {n / wall:.0f} chats/s, CPU per chat: "
            f"server {1000 * server_cpu / n:.2f} ms, clients {1000 * client_cpu / n:.2f} ms"
        )
        return errors

    workers = f"--workers {args.workers}" + (f" --max-workers {args.max_workers}" if args.max_workers else "")
    try:
        errors = measured(workers, 1, 200) + measured(workers, args.clients, args.chats)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
