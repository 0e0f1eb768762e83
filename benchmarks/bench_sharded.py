"""Sharded training benchmark: the same generated corpus trained by one worker and in shards, each step
of the sharded path in a process of its own (as each would be one Lambda invocation), timed, with its
peak memory; then the two models are compared (the same chunks and BM25 bytes, the same vectors).

    .venv/bin/python benchmarks/bench_sharded.py [--chunks 50000] [--shard-documents 500] [--local] [--work DIR]

The corpus and the 1,536-dimensional stub embedding server are bench_scale.py's (nothing downloaded or
committed). Shards run one after another here; on Step Functions they run side by side, so the sharded
path's wall time there is the plan, the slowest shard of each wave, and the merge.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_scale import CDGPT, Stub, make_corpus

STEP = """
import json, sys
from cdgpt import operations
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training.jobs import JobProgress, JobRequest, JobStore
from cdgpt.training.sharded import steps
from cdgpt.training.sharded.plan import plan

step, argument = sys.argv[1], sys.argv[2]
settings = get_settings()
store = default_store(settings)
if step == "plan":
    request = JobRequest(kind="train", model_name="sharded", file_list=json.loads(argument))
    job_id = operations.start_job(request, store=store, run=False).job.job_id
    jobs = JobStore(store, settings)
    held = jobs.claim(job_id, "bench")
    planned = plan(job_id, request, store, settings)
    jobs.hand_over(held, JobProgress(stage="shards", documents_total=planned.documents))
    print(json.dumps({"job_id": job_id, "shards": planned.shards}))
elif step == "work":
    job_id, shard = argument.split(":")
    print(json.dumps({"chunks": steps.work(job_id, int(shard), store=store).chunks}))
else:
    print(json.dumps({"status": steps.merge(argument, store=store).status}))
"""


def run(env: dict[str, str], cwd: Path, command: list[str]) -> tuple[dict, float, float]:
    """A child process's last JSON line, its seconds and its peak RSS (MB)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    out = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{command[:4]} failed")
    last = [line for line in out.splitlines() if line.startswith("{")]
    return (json.loads(last[-1]) if last else {}), time.perf_counter() - start, usage.ru_maxrss / 1024


def compare(env: dict[str, str]) -> dict:
    """Whether the sharded model's files hold what the one-worker model's hold."""
    import faiss

    os.environ.update(env)
    from cdgpt.models.registry import read_manifest
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    store = default_store(get_settings())
    files = {}
    for model in ("single", "sharded"):
        manifest, _ = read_manifest(store, model)
        files[model] = {name: Path(store.location, "models", model, key) for name, key in manifest.files.items()}
    same = {n: files["single"][n].read_bytes() == files["sharded"][n].read_bytes() for n in ("docstore", "lexical")}
    a, b = (faiss.read_index(str(files[m]["index"]), faiss.IO_FLAG_MMAP_IFC) for m in ("single", "sharded"))
    equal = a.ntotal == b.ntotal and all(
        np.array_equal(a.reconstruct_n(i, min(4096, a.ntotal - i)), b.reconstruct_n(i, min(4096, b.ntotal - i)))
        for i in range(0, a.ntotal, 4096)
    )
    return same | {"vectors": equal, "kind": type(a).__name__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--shard-documents", type=int, default=500)
    parser.add_argument("--local", action="store_true", help="the local 256-d embedder instead of the 1536-d stub")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cdgpt-bench-sharded")
    args = parser.parse_args()

    corpus = args.work / "corpus"
    entries = make_corpus(corpus, args.chunks)
    models = args.work / "models"
    shutil.rmtree(models, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDGPT_", "OPENAI_", "ARTIFACTS_BUCKET"))}
    env |= {
        "CDGPT_DATA_DIR": str(models),
        "CDGPT_SOURCE_ROOT": str(corpus),
        "CDGPT_CACHE_DIR": str(args.work / "cache"),
    }
    env |= {"CDGPT_SHARD_DOCUMENTS": str(args.shard_documents), "CDGPT_SHARD_ABOVE_DOCUMENTS": "1"}
    if args.local:
        env["CDGPT_EMBEDDINGS"] = "local"
    else:
        stub = Stub(1536)
        env |= {"OPENAI_API_KEY": "sk-stub", "OPENAI_BASE_URL": stub.url}

    single_env = env | {"CDGPT_SHARD_ABOVE_DOCUMENTS": str(20_000)}
    _, single_s, single_mb = run(single_env, corpus, [str(CDGPT), "train", "--model", "single", *entries])
    step = [sys.executable, "-c", STEP]
    planned, plan_s, plan_mb = run(env, corpus, [*step, "plan", json.dumps(entries)])
    shards = []
    for shard in range(planned["shards"]):
        shards.append(run(env, corpus, [*step, "work", f"{planned['job_id']}:{shard}"]))
    merged, merge_s, merge_mb = run(env, corpus, [*step, "merge", planned["job_id"]])
    if merged.get("status") != "succeeded":
        raise SystemExit(f"merge: {merged}")
    same = compare(env)

    chunks = sum(result["chunks"] for result, _, _ in shards)
    work_s = [s for _, s, _ in shards]
    print(f"\n## {chunks:,} chunks, {'local-256' if args.local else 'stub-1536'}, {len(shards)} shards")
    print("| step | seconds | peak RSS (MB) |")
    print("|---|---|---|")
    print(f"| one worker (`cdgpt train`) | {single_s:.1f} | {single_mb:,.0f} |")
    print(f"| plan | {plan_s:.1f} | {plan_mb:,.0f} |")
    print(
        f"| work, per shard of ~{chunks // len(shards):,} chunks | median {statistics.median(work_s):.1f}, "
        f"max {max(work_s):.1f} (sum {sum(work_s):.1f}) | max {max(mb for _, _, mb in shards):,.0f} |"
    )
    print(f"| merge | {merge_s:.1f} | {merge_mb:,.0f} |")
    print(f"same as one worker: {same}")
    return 0 if same["docstore"] and same["lexical"] and same["vectors"] else 1


if __name__ == "__main__":
    sys.exit(main())
