"""The ranking alone: how many answerable questions of a half have their page first, and in the first four
documents, before the relevance decision (which may refuse a question) and at any BM25 weights given.
Ideas that change only the order are compared on this (benchmarks/eval/README.md, "the ranking alone").
The models are the ones `benchmarks/eval-sets.sh` trained, in the same CDGPT_DATA_DIR.

    CDGPT_DATA_DIR=.cdgpt-bench CDGPT_SOURCE_ROOT=/usr/share .venv/bin/python benchmarks/ranking.py \
        [--split dev|test] [--weights 0.2,0.4] [SET ...]        (default: the eleven sets, chat's weight)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cdgpt.answer.evaluation import load_cases, matches
from cdgpt.answer.queries import search_query
from cdgpt.answer.retrieval import lexical_weight, load_model, search
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings

SETS = [
    *("debian-en", "libreoffice-en", "policy-en", "nodejs-en", "postgresql-en", "vim-en"),
    *("debian-zh", "libreoffice-zh", "install-zh", "admin-handbook-zh", "gimp-zh"),
]
FIRST = 4  # chat lists four sources (CDGPT_TOP_K)
EVAL = Path(__file__).parent / "eval"


def hits(name: str, split: str, weights: list[float | None]) -> tuple[int, list[tuple[int, int]]]:
    """The set's answerable questions in the half, and per weight its hits at 1 and in the first four."""
    settings = get_settings()
    model = load_model(name, default_store(settings), settings)
    cases = [case for case in load_cases(EVAL / f"{name}.jsonl", split) if case.expected_source]
    counts = []
    for weight in weights:
        first = in_four = 0
        for case in cases:
            query = search_query(case.question, list(case.history), model, settings)
            found = search(model, query, FIRST, lexical_weight(model, settings) if weight is None else weight)
            ranked = [hit.chunk["source"] for hit in found.documents[:FIRST]]
            rank = next((n for n, source in enumerate(ranked, 1) if matches(source, case.expected_source)), None)
            first += rank == 1
            in_four += rank is not None
        counts.append((first, in_four))
    return len(cases), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", default=SETS)
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--weights", help="BM25 weights, comma-separated (default: chat's)")
    args = parser.parse_args()
    weights: list[float | None] = [float(w) for w in args.weights.split(",")] if args.weights else [None]
    labels = ["chat's weight" if w is None else f"weight {w}" for w in weights]
    print("R@1 / R@4 hits, the ranking alone, at " + ", ".join(labels))
    total, sums = 0, [(0, 0)] * len(weights)
    for name in args.sets:
        questions, counts = hits(name, args.split, weights)
        total += questions
        sums = [(a + c, b + d) for (a, b), (c, d) in zip(sums, counts, strict=True)]
        print(f"{name}: {questions} questions  " + "  ".join(f"{a}/{b}" for a, b in counts), flush=True)
    print(f"all: {total} questions  " + "  ".join(f"{a}/{b}" for a, b in sums))


if __name__ == "__main__":
    main()
