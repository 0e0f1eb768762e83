"""Extraction speed: pages/s and MB/s by stage on a folder of pages, a whole training, and linear growth.

    .venv/bin/python benchmarks/bench_extract.py stages DIR          # read, extract, chunk (one core), then ingest (all)
    .venv/bin/python benchmarks/bench_extract.py train DIR           # the whole training, embedding timed apart
    .venv/bin/python benchmarks/bench_extract.py linearity           # generated tables, nested divs, a 20 MB page

`train` uses the configured embedder (the local one by default; set OPENAI_BASE_URL to a stub server to
compare with benchmarks' baseline) and reports the time outside embedding, the figure the original
pipeline's `seconds_excluding_embedding` gives, and the CPU time outside embedding (this process's and its
extraction workers'), which moves less than wall-clock times on a shared machine. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path


def peak_mb() -> str:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"peak RSS {own:.0f} MB (largest worker {children:.0f} MB)"


def rate(label: str, seconds: float, pages: int, size: int) -> None:
    print(f"  {label:<28} {seconds:7.3f} s  {pages / seconds:8.1f} pages/s  {size / 1e6 / seconds:7.2f} MB/s")


def pages_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def cmd_stages(args: argparse.Namespace) -> None:
    from cdgpt.ingest.chunking import chunk_document
    from cdgpt.ingest.extract import extract
    from cdgpt.ingest.pipeline import ingest
    from cdgpt.ingest.sources import RawDocument
    from cdgpt.settings import Settings

    folder = Path(args.folder).resolve()
    files = pages_of(folder)
    times: dict[str, list[float]] = {"read": [], "extract": [], "chunk": [], "ingest": []}
    for _ in range(args.repeat):
        start = time.perf_counter()
        raws = [RawDocument(str(f), f.read_bytes(), None, f.name) for f in files]
        times["read"].append(time.perf_counter() - start)
        start = time.perf_counter()
        docs = [extract(raw) for raw in raws]
        times["extract"].append(time.perf_counter() - start)
        start = time.perf_counter()
        chunks = [c for doc in docs for c in chunk_document(doc, 1200, 150)]
        times["chunk"].append(time.perf_counter() - start)
        settings = Settings(CDGPT_SOURCE_ROOT=str(folder))
        if args.processes is not None:
            settings = settings.model_copy(update={"extract_processes": args.processes})
        start = time.perf_counter()
        records, ingested = ingest(["."], settings)
        times["ingest"].append(time.perf_counter() - start)
    size = sum(len(r.content) for r in raws)
    print(f"{len(files)} pages, {size / 1e6:.1f} MB, {len(chunks)} chunks; median of {args.repeat}")
    rate("read", statistics.median(times["read"]), len(files), size)
    rate("extract (one core)", statistics.median(times["extract"]), len(files), size)
    rate("chunk (one core)", statistics.median(times["chunk"]), len(files), size)
    rate("ingest (read+extract+chunk)", statistics.median(times["ingest"]), len(files), size)
    failed = [d for r in records for d in r.documents if "reason" in d]
    print(f"  {len(ingested)} chunks ingested, {len(failed)} documents failed; {peak_mb()}")


def timed(
    owner: object, attribute: str, totals: dict[str, float], name: str, cpu: dict[str, float] | None = None
) -> None:
    """Replace owner.attribute (a function, or a method of a class) by one adding its wall time to totals[name]
    (and this process's CPU time to cpu[name])."""
    inner = getattr(owner, attribute)
    totals.setdefault(name, 0.0)
    if cpu is not None:
        cpu.setdefault(name, 0.0)

    def wrapper(*args, **kwargs):
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start
            if cpu is not None:
                cpu[name] += time.process_time() - start_cpu

    setattr(owner, attribute, wrapper)


def cpu_seconds(who: int) -> float:
    """User and system time of this process (RUSAGE_SELF) or of its children that ended (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def cmd_train(args: argparse.Namespace) -> None:
    # Imported before the clock starts, as the baseline's imports are (Faiss, lxml too): warm processes are
    # compared. Forked extraction workers inherit them.
    import faiss  # noqa: F401
    import lxml.etree  # noqa: F401

    import cdgpt.index.vectors
    import cdgpt.ingest.extract.html  # noqa: F401
    import cdgpt.training.pipeline as training
    from cdgpt.index.embeddings import make_embedder
    from cdgpt.index.lexical import LexicalBuilder
    from cdgpt.settings import Settings

    folder = Path(args.folder).resolve()
    files = pages_of(folder)
    size = sum(f.stat().st_size for f in files)
    totals: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(CDGPT_SOURCE_ROOT=str(folder), CDGPT_DATA_DIR=data)
        if args.processes is not None:
            settings = settings.model_copy(update={"extract_processes": args.processes})
        embedder = make_embedder(settings)
        embedder.embed(["warm-up"])  # the client's first request opens its connection
        timed(embedder, "embed", totals, "embedding", cpu)
        timed(training, "ingest", totals, "ingest")
        timed(LexicalBuilder, "add_counted", totals, "lexical index")
        timed(LexicalBuilder, "finish", totals, "lexical index")
        start = time.perf_counter()
        own, workers = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
        result = training.train("bench", ["."], settings=settings, embedder=embedder)
        total = time.perf_counter() - start
        own, workers = cpu_seconds(resource.RUSAGE_SELF) - own, cpu_seconds(resource.RUSAGE_CHILDREN) - workers
    outside = total - totals["embedding"]
    chunks = result["chunks"] if isinstance(result, dict) else result.chunks  # older versions returned a dict
    print(f"{len(files)} pages, {size / 1e6:.1f} MB -> {chunks} chunks ({embedder.provider} embedder)")
    print(f"  train {total:.3f} s: " + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in totals.items()))
    rate("training outside embedding", outside, len(files), size)
    own -= cpu["embedding"]
    print(
        f"  CPU outside embedding {own + workers:.3f} s: this process {own:.3f} s, extraction workers {workers:.3f} s"
    )
    print(f"  {peak_mb()}")


def table(rows: int) -> bytes:
    body = "".join(f"<tr><td>row {i}</td><td>{i * 7}</td><td>a cell of text</td></tr>\n" for i in range(rows))
    return f"<html><body><h1>Table</h1><table>{body}</table></body></html>".encode()


def nested(divs: int) -> bytes:
    return ("<html><body><p>Text.</p>" + '<div class="sidebar">x ' * divs + "</div>" * divs).encode()


def big_page(size: int) -> bytes:
    section = (
        "<section><h2>Section {n}</h2><p>" + "Plain words in a long paragraph of the page. " * 40 + "</p></section>\n"
    )
    parts, total, n = [], 0, 0
    while total < size - 100:
        part = section.replace("{n}", str(n))
        parts.append(part)
        total += len(part)
        n += 1
    return f"<html><body><main>{''.join(parts)}</main></body></html>".encode()[:size]


def cmd_linearity(args: argparse.Namespace) -> None:
    from cdgpt.errors import SourceFailed
    from cdgpt.ingest.extract import extract
    from cdgpt.ingest.sources import RawDocument

    cases = [(f"table {n} rows", table(n)) for n in (5000, 10000, 20000, 80000)]
    cases += [(f"nested divs {n}", nested(n)) for n in (8000, 100_000)]
    cases.append(("20 MB page", big_page(20 * 1024 * 1024)))
    print(f"{'input':<20} {'MB':>7} {'seconds':>8} {'s per MB':>9}  result")
    for label, body in cases:
        start = time.perf_counter()
        try:
            doc = extract(RawDocument("bench", body, "text/html", "bench.html"))
            result = f"{len(doc.text) / 1e6:.2f} M characters"
        except SourceFailed as exc:
            result = str(exc)
        seconds = time.perf_counter() - start
        print(f"{label:<20} {len(body) / 1e6:7.2f} {seconds:8.3f} {seconds / (len(body) / 1e6):9.3f}  {result}")
    print(peak_mb())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func in (("stages", cmd_stages), ("train", cmd_train)):
        command = commands.add_parser(name)
        command.add_argument("folder")
        command.add_argument("--processes", type=int, help="worker processes (default: one per CPU)")
        command.add_argument("--repeat", type=int, default=3)
        command.set_defaults(func=func)
    commands.add_parser("linearity").set_defaults(func=cmd_linearity)
    args = parser.parse_args()
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
