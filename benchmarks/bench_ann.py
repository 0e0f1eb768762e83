"""How often the approximate (HNSW) index finds the exact top 10, on real questions about real documents.

Reads the models that `benchmarks/eval-sets.sh` trained with every model over the exact-search
threshold (so each has an HNSW index), and compares, for every question of the model's set, the
HNSW search with an exact scan of the same float16 vectors:

    CDGPT_EXACT_SEARCH_MAX_MB=0 CDGPT_DATA_DIR=.cdgpt-ann benchmarks/eval-sets.sh
    CDGPT_DATA_DIR=.cdgpt-ann .venv/bin/python benchmarks/bench_ann.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> int:
    import faiss

    from cdgpt.answer.retrieval import load_model
    from cdgpt.models.registry import model_names
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    settings = get_settings()
    store = default_store(settings)
    print("| set | chunks | index | questions | top-10 overlap | top-1 same |")
    print("|---|---|---|---|---|---|")
    every = []
    for name in model_names(store):
        questions_file = HERE / "eval" / f"{name}.jsonl"
        if not questions_file.exists():
            continue
        model = load_model(name, store, settings)
        if model.vector_index.kind != "hnsw":
            print(f"| {name} | {model.index.ntotal} | exact | - | - | - |")
            continue
        lines = questions_file.read_text("utf-8").splitlines()
        questions = [json.loads(line)["question"] for line in lines if line.strip()]
        queries = model.embedder.embed(questions)
        _, truth = faiss.downcast_index(model.index.storage).search(queries, 10)
        overlap, first = [], []
        for query, exact in zip(queries, truth, strict=True):
            found, _ = model.vector_index.search(query, 10)
            overlap.append(len(set(found.tolist()) & set(exact.tolist())) / 10)
            first.append(bool(len(found)) and found[0] == exact[0])
        every += overlap
        print(
            f"| {name} | {model.index.ntotal:,} | hnsw | {len(questions)} | {np.mean(overlap):.4f} | {np.mean(first):.4f} |"
        )
    if every:
        print(f"all questions: top-10 overlap {np.mean(every):.4f} (n={len(every)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
